//! The rows of issue 5 under divan: f32, mean reduction, 2^20 and 2^24 elements,
//! `value_and_grad_into` (buffer reused) and `value_and_grad` (allocating), the hand-written
//! fused loops for mse and focal, and a STREAM triad.
//!
//! `cargo bench -p losses-benches` (the side-by-side table with peers.py:
//! `cargo run --release -p losses-benches --bin peers_table`).

use divan::Bencher;
use losses::ndarray::Array2;
use losses_benches::{Case, Subject, fused_focal, fused_mse, inputs, triad, triad_arrays};

fn main() {
    divan::main();
}

const SIZES: [u32; 2] = [20, 24];

fn case_of(name: &str) -> Case {
    match name {
        "mse" => Case::Mse,
        "huber" => Case::Huber,
        "log_cosh" => Case::LogCosh,
        "focal" => Case::Focal,
        "bce_logits" => Case::BceLogits,
        "softmax_ce_16" => Case::Ce16,
        _ => Case::Ce1000,
    }
}

const CASES: [&str; 7] = [
    "mse",
    "huber",
    "log_cosh",
    "focal",
    "bce_logits",
    "softmax_ce_16",
    "softmax_ce_1000",
];

#[divan::bench(args = CASES, consts = SIZES, sample_count = 10, sample_size = 1)]
fn value_and_grad_into<const LG: u32>(b: Bencher, case: &str) {
    let case = case_of(case);
    let x = inputs(case, 1 << LG, 7);
    let l = Subject::new(case);
    let mut g = Array2::<f32>::zeros(x.p.raw_dim());
    b.counter(divan::counter::BytesCount::new(x.bytes))
        .bench_local(|| l.value_and_grad_into(&x, &mut g));
}

#[divan::bench(args = CASES, consts = SIZES, sample_count = 10, sample_size = 1)]
fn value_and_grad<const LG: u32>(b: Bencher, case: &str) {
    let case = case_of(case);
    let x = inputs(case, 1 << LG, 7);
    let l = Subject::new(case);
    b.counter(divan::counter::BytesCount::new(x.bytes))
        .bench_local(|| l.value_and_grad(&x).0);
}

#[divan::bench(args = ["mse", "focal"], consts = SIZES, sample_count = 10, sample_size = 1)]
fn hand_written_fused<const LG: u32>(b: Bencher, case: &str) {
    let case = case_of(case);
    let x = inputs(case, 1 << LG, 7);
    let f = if case == Case::Mse {
        fused_mse
    } else {
        fused_focal
    };
    let mut g = vec![0.0f32; x.p.len()];
    let (t, p) = (x.t.as_slice().unwrap(), x.p.as_slice().unwrap());
    b.counter(divan::counter::BytesCount::new(x.bytes))
        .bench_local(|| f(t, p, &mut g));
}

#[divan::bench(consts = SIZES, sample_count = 10, sample_size = 1)]
fn stream_triad<const LG: u32>(b: Bencher) {
    let (mut a, bb, c) = triad_arrays(1 << LG);
    let (a, bb, c) = (
        a.as_slice_mut().unwrap(),
        bb.as_slice().unwrap(),
        c.as_slice().unwrap(),
    );
    b.counter(divan::counter::BytesCount::new(12usize << LG))
        .bench_local(|| triad(a, bb, c, 3.0));
}
