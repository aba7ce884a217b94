//! Prints, for this library, the table `../shared/bench/peers.py` prints for JAX, PyTorch
//! and numpy: f32, value and gradient with mean reduction, timed as peers.py times each
//! implementation (one call repeated on the same arrays, median of 100 (2^20) / 20 (2^24)
//! runs after 2 warm-ups, two passes over the whole set in opposite orders, the lower
//! per-pass median), and effective GB/s counted as peers.py counts bytes. In a first pass
//! `value_and_grad_into` is also timed in alternation with the hand-written loop and the
//! triad, one call each per round, so that their ratios are measured under the same load
//! (rows marked "paired rounds").
//!
//! `cargo run --release -p losses-benches --bin peers_table [-- OPTIONS]`, options
//! `--sizes 20,24`, `--quick` (10 runs), `--passes N` (2), `--only NAME` (part of a loss name).

use losses::ndarray::Array2;
use losses_benches::{
    Case, Subject, fused_focal, fused_mse, inputs, medians, paired_ratio, time_interleaved,
    time_ms, time_rounds, triad, triad_arrays, triad_streamed,
};

fn main() {
    let mut sizes = vec![20u32, 24];
    let mut quick = false;
    let mut passes = 2;
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
            "--passes" => {
                passes = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--passes N (at least 1)");
            }
            "--only" => only = Some(args.next().expect("--only <part of a loss name>")),
            other => panic!(
                "unknown argument {other} (use --sizes 20,24, --quick, --passes N, --only NAME)"
            ),
        }
    }
    let runs_for = |lg: u32| match (quick, lg > 20) {
        (true, _) => 10,
        (false, true) => 20,
        (false, false) => 100,
    };
    println!("# losses: loss value+grad (mean reduction), float32, CPU");
    println!(
        "# threads: {} (LOSSES_NUM_THREADS); median of {} (2^20) / {} (2^24) back-to-back runs after 2 warm-ups, {} passes (the lower per-pass median, as peers.py)",
        losses::max_threads(),
        runs_for(20),
        runs_for(24),
        passes
    );
    println!(
        "# (paired rounds): timed in alternation with the hand-written loop and the triad, one call each per round (first pass)"
    );
    println!(
        "{:<32} {:>5} {:>9}  {:<14} {:<44} {:>9} {:>9} {:>6}   {:<14}",
        "loss", "log2N", "elements", "shape", "impl", "median_ms", "min_ms", "GB/s", "value"
    );
    let cases: Vec<Case> = Case::ALL
        .into_iter()
        .filter(|case| only.as_deref().is_none_or(|o| case.name().contains(o)))
        .collect();
    // Per (size, case): the description of its inputs and its rows, in the order printed.
    let mut table: Vec<Entry> = Vec::new();
    let mut shares = Vec::new();
    let mut versus_hand = Vec::new();
    // The triad's arrays, for the rows timed against it (mse and huber at 2^24).
    let (mut ta, tb, tc) = triad_arrays(1 << 24);
    let mut ta2 = ta.clone();
    for pass in 0..passes {
        // peers.py reverses the order of its implementations on every other pass; here the
        // order of the losses, so that none always follows the same one.
        let mut order: Vec<(u32, usize)> = sizes
            .iter()
            .flat_map(|&lg| (0..cases.len()).map(move |i| (lg, i)))
            .collect();
        if pass % 2 == 1 {
            order.reverse();
        }
        for (lg, ci) in order {
            let case = cases[ci];
            let li = Case::ALL.iter().position(|&c| c == case).expect("a case");
            let runs = runs_for(lg);
            let x = inputs(case, 1usize << lg, 1000 * u64::from(lg) + li as u64);
            let subject = Subject::new(case);
            let mut g = Array2::<f32>::zeros(x.p.raw_dim());
            let at = match table.iter().position(|e| e.lg == lg && e.case == case) {
                Some(at) => at,
                None => {
                    table.push(Entry {
                        case,
                        lg,
                        elements: x.p.len(),
                        shape: format!("({},{})", x.p.nrows(), x.p.ncols()),
                        bytes: x.bytes,
                        rows: Vec::new(),
                    });
                    table.len() - 1
                }
            };
            // As peers.py times each implementation: one call repeated on the same arrays.
            let mut v = 0.0;
            let t_into = time_ms(runs, || v = subject.value_and_grad_into(&x, &mut g));
            table[at].add(INTO, t_into, v);
            let mut v2 = 0.0;
            let t_alloc = time_ms(runs, || v2 = subject.value_and_grad(&x).0);
            table[at].add(ALLOC, t_alloc, v2);
            if pass > 0 {
                continue;
            }
            let fused = match case {
                Case::Mse => Some(fused_mse as fn(&[f32], &[f32], &mut [f32]) -> f32),
                Case::Focal => Some(fused_focal as fn(&[f32], &[f32], &mut [f32]) -> f32),
                _ => None,
            };
            // The memory-bound rows at the triad's size also time the triad in the same rounds,
            // so that the share of its bandwidth is measured under one load.
            let with_triad = lg == 24 && matches!(case, Case::Mse | Case::Huber);
            if fused.is_none() && !with_triad {
                continue;
            }
            let (t, p) = (x.t.as_slice().unwrap(), x.p.as_slice().unwrap());
            // The hand-written loop writes the same gradient buffer: the two differ only in
            // their code, not in the pages they write.
            let g = std::cell::RefCell::new(g);
            let (mut v, mut v3) = (0.0, 0.0);
            let mut into = || v = subject.value_and_grad_into(&x, &mut g.borrow_mut());
            let mut hand = || {
                if let Some(f) = fused {
                    v3 = f(t, p, g.borrow_mut().as_slice_mut().unwrap());
                }
            };
            let (ta, ta2, tb, tc) = (
                ta.as_slice_mut().unwrap(),
                ta2.as_slice_mut().unwrap(),
                tb.as_slice().unwrap(),
                tc.as_slice().unwrap(),
            );
            let mut tri = || triad(ta, tb, tc, 3.0);
            let mut tri_nt = || triad_streamed(ta2, tb, tc, 3.0);
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
            table[at].add(INTO_PAIRED, ts[0], v);
            if fused.is_some() {
                table[at].add("hand-written fused loop (paired rounds)", ts[1], v3);
                let ratio = paired_ratio(&rounds[0], &rounds[1]);
                versus_hand.push((case.name(), lg, ts[0].0 / ts[1].0, ratio));
            }
            if with_triad {
                let k = ts.len() - 2;
                // The triad moves 12 bytes per element, as these rows do.
                table[at].add("rust triad (paired rounds)", ts[k], f32::NAN);
                table[at].add(
                    "rust triad, streaming stores (paired rounds)",
                    ts[k + 1],
                    f32::NAN,
                );
                shares.push((
                    case.name(),
                    paired_ratio(&rounds[k], &rounds[0]),
                    paired_ratio(&rounds[k + 1], &rounds[0]),
                ));
            }
        }
    }
    let mut summary = Vec::new();
    for e in &table {
        for r in &e.rows {
            let (med, min) = (r.median(), r.min());
            println!(
                "{:<32} {:>5} {:>9}  {:<14} {:<44} {:>9.3} {:>9.3} {:>6.2}   {:<14.7}",
                e.case.name(),
                e.lg,
                e.elements,
                e.shape,
                r.label,
                med,
                min,
                e.bytes as f64 / (med / 1e3) / 1e9,
                r.value
            );
        }
        let into = e.rows.iter().find(|r| r.label == INTO).expect("timed");
        summary.push((e.case.name(), e.lg, into.median(), e.bytes, into.passes()));
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
        "{:<32} {:>5} {:>25}   pass medians",
        "loss", "log2N", "losses value_and_grad_into"
    );
    for (name, lg, med, bytes, passes) in summary {
        let gbs = bytes as f64 / (med / 1e3) / 1e9;
        println!(
            "{name:<32} {lg:>5} {:>25}   {passes}",
            format!("{med:>8.3} ({gbs:>5.2} GB/s)")
        );
    }
}

/// The headline rows, timed as peers.py times its implementations.
const INTO: &str = "losses value_and_grad_into";
const ALLOC: &str = "losses value_and_grad (allocating)";
const INTO_PAIRED: &str = "losses value_and_grad_into (paired rounds)";

/// One loss at one size: its inputs and its timed rows.
struct Entry {
    case: Case,
    lg: u32,
    elements: usize,
    shape: String,
    bytes: usize,
    rows: Vec<Row>,
}

impl Entry {
    /// Records one pass's (median, minimum) of `label` (a new row on its first pass).
    fn add(&mut self, label: &'static str, (med, min): (f64, f64), value: f32) {
        match self.rows.iter_mut().find(|r| r.label == label) {
            Some(r) => r.times.push((med, min)),
            None => self.rows.push(Row {
                label,
                times: vec![(med, min)],
                value,
            }),
        }
    }
}

/// One implementation's medians and minima, a pair per pass.
struct Row {
    label: &'static str,
    times: Vec<(f64, f64)>,
    value: f32,
}

impl Row {
    /// The lower per-pass median, as peers.py reports.
    fn median(&self) -> f64 {
        self.times.iter().map(|t| t.0).fold(f64::INFINITY, f64::min)
    }

    fn min(&self) -> f64 {
        self.times.iter().map(|t| t.1).fold(f64::INFINITY, f64::min)
    }

    /// Every pass's median, in the order of the passes.
    fn passes(&self) -> String {
        let ms: Vec<String> = self.times.iter().map(|t| format!("{:.3}", t.0)).collect();
        ms.join(" ")
    }
}
