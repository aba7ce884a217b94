//! The other entry points of one loss next to `value_and_grad_into`: with sample weights,
//! `grad_hess` (allocating and `_into`), `per_element`, `per_sample`, `forward`. f32, 2^20
//! (or 2^LOG2) elements in rows of 16 (or COLUMNS), medians and minima in ms over
//! interleaved rounds (threads: `LOSSES_NUM_THREADS`).
//!
//! `cargo run --release -p losses-benches --bin paths [-- logcosh|bce|mse|focal|ce16 [COLUMNS [LOG2]]]`

use std::hint::black_box;

use losses::Loss;
use losses::ndarray::{Array1, Array2};
use losses_benches::{Case, Subject, inputs, time_interleaved};

fn main() {
    let case = match std::env::args().nth(1).as_deref() {
        None | Some("bce") => Case::BceLogits,
        Some("logcosh") => Case::LogCosh,
        Some("mse") => Case::Mse,
        Some("focal") => Case::Focal,
        Some("ce16") => Case::Ce16,
        Some(other) => panic!("unknown case {other} (use bce, logcosh, mse, focal or ce16)"),
    };
    match Subject::new(case) {
        Subject::Bce(l) => report(case, &l),
        Subject::LogCosh(l) => report(case, &l),
        Subject::Mse(l) => report(case, &l),
        Subject::Focal(l) => report(case, &l),
        Subject::Ce(l) => report(case, &l),
        Subject::Huber(_) => unreachable!("not offered"),
    }
}

fn report<L: Loss>(case: Case, l: &L) {
    let log2: u32 = std::env::args()
        .nth(3)
        .map_or(20, |s| s.parse().expect("log2 of the size"));
    let mut x = inputs(case, 1 << log2, 7);
    // `paths mse 1`: element-wise losses in rows of 1 (a weight per element).
    if let Some(c) = std::env::args().nth(2) {
        let c: usize = c.parse().expect("columns");
        let shape = (x.p.len() / c, c);
        let reshape = |a: Array2<f32>| a.into_shape_with_order(shape).expect("c divides the size");
        (x.t, x.p) = (reshape(x.t), reshape(x.p));
    }
    let (t, p) = (&x.t, &x.p);
    let rows = p.nrows();
    // Weights between 0.5 and 1.5, one per sample (row).
    let w = Array1::from_shape_fn(rows, |i| 0.5 + (i % 11) as f32 / 10.0);
    let mut g = Array2::<f32>::zeros(p.raw_dim());
    let (mut g2, mut g3, mut h3) = (g.clone(), g.clone(), g.clone());
    let names = [
        "value_and_grad_into",
        "value_and_grad_weighted",
        "value_and_grad_weighted_into",
        "forward",
        "forward_weighted",
        "grad_hess",
        "grad_hess_into",
        "per_element",
        "per_sample",
    ];
    let mut f0 = || {
        black_box(l.value_and_grad_into(t, p, &mut g).unwrap());
    };
    let mut f1 = || {
        black_box(l.value_and_grad_weighted(t, p, &w).unwrap().0);
    };
    let mut f1i = || {
        black_box(l.value_and_grad_weighted_into(t, p, &w, &mut g2).unwrap());
    };
    let mut f2 = || {
        black_box(l.forward(t, p).unwrap());
    };
    let mut f3 = || {
        black_box(l.forward_weighted(t, p, &w).unwrap());
    };
    let mut f4 = || {
        black_box(l.grad_hess(t, p).unwrap().0[[0, 0]]);
    };
    let mut f4i = || {
        l.grad_hess_into(t, p, &mut g3, &mut h3).unwrap();
        black_box(h3[[0, 0]]);
    };
    // Row losses have no per-element values (an error, at once).
    let mut f5 = || {
        black_box(l.per_element(t, p).map(|e| e[[0, 0]]).ok());
    };
    let mut f6 = || {
        black_box(l.per_sample(t, p).unwrap()[0]);
    };
    let times = time_interleaved(
        30,
        &mut [
            &mut f0, &mut f1, &mut f1i, &mut f2, &mut f3, &mut f4, &mut f4i, &mut f5, &mut f6,
        ],
    );
    println!(
        "{} f32 2^{log2} in rows of {}, {} thread(s)",
        case.name(),
        p.ncols(),
        losses::max_threads()
    );
    println!("{:<30} {:>10} {:>10}", "path", "median ms", "min ms");
    for (name, (med, min)) in names.iter().zip(times) {
        println!("{name:<30} {med:>10.3} {min:>10.3}");
    }
}
