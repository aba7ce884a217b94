//! Prints, for this library, the table `../shared/bench/peers.py` prints for JAX, PyTorch
//! and numpy: f32, value and gradient with mean reduction, median ms of 100 (2^20) / 20 (2^24)
//! timed runs after 2 warm-ups, and effective GB/s counted as peers.py counts bytes. `into` and
//! the hand-written loop are timed in alternation, one call each per round, so that their
//! ratio is measured under the same load.
//!
//! `cargo run --release -p losses-benches --bin peers_table [-- --sizes 20,24 --quick --only NAME]`

use losses::ndarray::Array2;
use losses_benches::{
    Case, Subject, fused_focal, fused_mse, inputs, medians, paired_ratio, time_interleaved,
    time_ms, time_rounds, triad, triad_arrays, triad_streamed,
};

fn main() {
    let mut sizes = vec![20u32, 24];
    let mut quick = false;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sizes" => {
                let v = args.next().expect("--sizes 20,24");
                sizes = v
                    .split(',')
                    .map(|s| s.trim().parse().expect("log2 sizes"))
                    .collect();
            }
            "--quick" => quick = true,
            "--only" => only = Some(args.next().expect("--only <part of a loss name>")),
            other => panic!("unknown argument {other} (use --sizes 20,24, --quick, --only NAME)"),
        }
    }
    println!("# losses: loss value+grad (mean reduction), float32, CPU");
    println!(
        "# threads: {} (LOSSES_NUM_THREADS); median of {} (2^20) / {} (2^24) runs after 2 warm-ups, implementations alternating",
        losses::max_threads(),
        if quick { 10 } else { 100 },
        if quick { 10 } else { 20 }
    );
    println!(
        "{:<32} {:>5} {:>9}  {:<14} {:<34} {:>9} {:>9} {:>6}   {:<14}",
        "loss", "log2N", "elements", "shape", "impl", "median_ms", "min_ms", "GB/s", "value"
    );
    let mut summary = Vec::new();
    let mut shares = Vec::new();
    let mut versus_hand = Vec::new();
    // The triad's arrays, for the rows timed against it (mse and huber at 2^24).
    let (mut ta, tb, tc) = triad_arrays(1 << 24);
    let mut ta2 = ta.clone();
    for &lg in &sizes {
        let n = 1usize << lg;
        let runs = match (quick, lg > 20) {
            (true, _) => 10,
            (false, true) => 20,
            (false, false) => 100,
        };
        for (li, case) in Case::ALL.into_iter().enumerate() {
            if only.as_deref().is_some_and(|o| !case.name().contains(o)) {
                continue;
            }
            let x = inputs(case, n, 1000 * u64::from(lg) + li as u64);
            let subject = Subject::new(case);
            let shape = format!("({},{})", x.p.nrows(), x.p.ncols());
            let elements = x.p.len();
            let mut g = Array2::<f32>::zeros(x.p.raw_dim());
            let row = |label: &str, (med, min): (f64, f64), value: f32| {
                println!(
                    "{:<32} {:>5} {:>9}  {:<14} {:<34} {:>9.3} {:>9.3} {:>6.2}   {:<14.7}",
                    case.name(),
                    lg,
                    elements,
                    shape,
                    label,
                    med,
                    min,
                    x.bytes as f64 / (med / 1e3) / 1e9,
                    value
                );
                med
            };
            let fused = match case {
                Case::Mse => Some(fused_mse as fn(&[f32], &[f32], &mut [f32]) -> f32),
                Case::Focal => Some(fused_focal as fn(&[f32], &[f32], &mut [f32]) -> f32),
                _ => None,
            };
            let (t, p) = (x.t.as_slice().unwrap(), x.p.as_slice().unwrap());
            // The hand-written loop writes its own gradient (only where there is one).
            let mut g3 = fused.map(|_| Array2::<f32>::zeros(x.p.raw_dim()));
            let (mut v, mut v2, mut v3) = (0.0, 0.0, 0.0);
            let mut into = || v = subject.value_and_grad_into(&x, &mut g);
            let mut alloc = || v2 = subject.value_and_grad(&x).0;
            let mut hand = || {
                if let (Some(f), Some(g3)) = (fused, g3.as_mut()) {
                    v3 = f(t, p, g3.as_slice_mut().unwrap());
                }
            };
            // The memory-bound rows at the triad's size also time the triad in the same rounds,
            // so that the share of its bandwidth is measured under one load.
            let with_triad = lg == 24 && matches!(case, Case::Mse | Case::Huber);
            let (ta, ta2, tb, tc) = (
                ta.as_slice_mut().unwrap(),
                ta2.as_slice_mut().unwrap(),
                tb.as_slice().unwrap(),
                tc.as_slice().unwrap(),
            );
            let mut tri = || triad(ta, tb, tc, 3.0);
            let mut tri_nt = || triad_streamed(ta2, tb, tc, 3.0);
            // The allocating call runs on its own: its fresh pages and their faults would
            // otherwise land in the others' caches and timings.
            let mut fs: Vec<&mut dyn FnMut()> = vec![&mut into];
            if fused.is_some() {
                fs.push(&mut hand);
            }
            if with_triad {
                fs.push(&mut tri);
                fs.push(&mut tri_nt);
            }
            let rounds = time_rounds(runs, &mut fs);
            let ts = medians(&rounds);
            let into = row("losses value_and_grad_into", ts[0], v);
            row(
                "losses value_and_grad (allocating)",
                time_ms(runs, &mut alloc),
                v2,
            );
            if fused.is_some() {
                row("hand-written fused loop", ts[1], v3);
                let ratio = paired_ratio(&rounds[0], &rounds[1]);
                versus_hand.push((case.name(), lg, into / ts[1].0, ratio));
            }
            if with_triad {
                let k = ts.len() - 2;
                // The triad moves 12 bytes per element, as these rows do.
                row("rust triad (same rounds)", ts[k], f32::NAN);
                row(
                    "rust triad, streaming stores (same rounds)",
                    ts[k + 1],
                    f32::NAN,
                );
                shares.push((
                    case.name(),
                    paired_ratio(&rounds[k], &rounds[0]),
                    paired_ratio(&rounds[k + 1], &rounds[0]),
                ));
            }
            summary.push((case.name(), lg, into, x.bytes));
        }
    }
    let n = 1 << 24;
    let (a, b, c) = (
        ta.as_slice_mut().unwrap(),
        tb.as_slice().unwrap(),
        tc.as_slice().unwrap(),
    );
    let a2 = ta2.as_slice_mut().unwrap();
    let ts = time_interleaved(
        10,
        &mut [&mut || triad(a, b, c, 3.0), &mut || {
            triad_streamed(a2, b, c, 3.0)
        }],
    );
    println!();
    println!(
        "# memory-bandwidth ceiling, 2^24 float32 elements per array (64 MiB), STREAM byte counting"
    );
    println!(
        "{:<64} {:>7} {:>9} {:>8} {:>9} {:>9}",
        "kernel", "threads", "median_ms", "min_ms", "GB/s(med)", "GB/s(min)"
    );
    let bytes = 12.0 * n as f64;
    let kinds = [
        "rust triad a=b+s*c (rayon, fixed chunks)",
        "rust triad a=b+s*c, streaming stores (AVX-512)",
    ];
    for (kind, (med, min)) in kinds.into_iter().zip(ts) {
        println!(
            "{:<64} {:>7} {:>9.3} {:>8.3} {:>9.2} {:>9.2}",
            kind,
            losses::max_threads(),
            med,
            min,
            bytes / (med / 1e3) / 1e9,
            bytes / (min / 1e3) / 1e9
        );
    }
    if !shares.is_empty() {
        println!();
        println!(
            "# share of the triad's bandwidth (median over the rounds of triad time / loss time)"
        );
        println!(
            "{:<32} {:>5} {:>9} {:>9}",
            "loss", "log2N", "triad", "streaming"
        );
        for (name, share, share_nt) in &shares {
            let (a, b) = (100.0 * share, 100.0 * share_nt);
            println!("{name:<32} {:>5} {a:>8.0}% {b:>8.0}%", 24);
        }
    }
    if !versus_hand.is_empty() {
        println!();
        println!("# generated against hand-written (value_and_grad_into / hand-written loop)");
        println!(
            "{:<32} {:>5} {:>17} {:>26}",
            "loss", "log2N", "ratio of medians", "median of rounds' ratios"
        );
        for (name, lg, of_medians, of_rounds) in versus_hand {
            println!("{name:<32} {lg:>5} {of_medians:>17.3} {of_rounds:>26.3}");
        }
    }
    println!();
    println!("# summary: median ms (effective GB/s)");
    println!(
        "{:<32} {:>5} {:>25}",
        "loss", "log2N", "losses value_and_grad_into"
    );
    for (name, lg, med, bytes) in summary {
        let gbs = bytes as f64 / (med / 1e3) / 1e9;
        println!(
            "{name:<32} {lg:>5} {:>25}",
            format!("{med:>8.3} ({gbs:>5.2} GB/s)")
        );
    }
}
