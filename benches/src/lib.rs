//! Shared pieces of the benchmarks of issue 5: the inputs of `../shared/bench/peers.py`
//! (same distributions and shapes), the losses under test, hand-written fused loops (the
//! "zero-cost" references) and a STREAM triad (the memory ceiling).

use losses::ndarray::{Array1, Array2};
use losses::prelude::*;
use losses::{BinaryCrossentropy, BinaryFocalCrossentropy, Huber, LogCosh, MeanSquaredError};
use rayon::prelude::*;

/// The rows of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    Mse,
    Huber,
    LogCosh,
    Focal,
    BceLogits,
    Ce16,
    Ce1000,
}

impl Case {
    pub const ALL: [Case; 7] = [
        Case::Mse,
        Case::Huber,
        Case::LogCosh,
        Case::Focal,
        Case::BceLogits,
        Case::Ce16,
        Case::Ce1000,
    ];

    /// The name peers.py prints.
    pub fn name(self) -> &'static str {
        match self {
            Case::Mse => "mse",
            Case::Huber => "huber(delta=1)",
            Case::LogCosh => "logcosh",
            Case::Focal => "binary_focal_ce(g=2,a=.25,prob)",
            Case::BceLogits => "bce_with_logits",
            Case::Ce16 => "softmax_ce_logits(C=16)",
            Case::Ce1000 => "softmax_ce_logits(C=1000)",
        }
    }

    /// Row length: 16 for element-wise losses (peers.py's shape (n/16, 16)), else C.
    pub fn cols(self) -> usize {
        match self {
            Case::Ce1000 => 1000,
            _ => 16,
        }
    }

    pub fn is_ce(self) -> bool {
        matches!(self, Case::Ce16 | Case::Ce1000)
    }
}

/// xorshift64* with a Box-Muller normal.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Inputs for one case: `y_true` (labels as a column for the softmax rows), `y_pred`, and the
/// bytes peers.py counts (inputs read + gradient written; int32 labels).
pub struct Inputs {
    pub t: Array2<f32>,
    pub p: Array2<f32>,
    pub bytes: usize,
}

/// The distributions of peers.py's `make_inputs`, for about `n` elements.
pub fn inputs(case: Case, n: usize, seed: u64) -> Inputs {
    let mut r = Rng::new(seed);
    let c = case.cols();
    let rows = n / c;
    if case.is_ce() {
        let p = Array2::from_shape_simple_fn((rows, c), || (r.normal() * 3.0) as f32);
        let t = Array2::from_shape_simple_fn((rows, 1), || (r.next_u64() % c as u64) as f32);
        return Inputs {
            t,
            p,
            bytes: 8 * rows * c + 4 * rows,
        };
    }
    let (t, p) = match case {
        Case::Focal => (
            Array2::from_shape_simple_fn((rows, c), || f32::from(r.unit() < 0.3)),
            Array2::from_shape_simple_fn((rows, c), || (0.01 + 0.98 * r.unit()) as f32),
        ),
        Case::BceLogits => (
            Array2::from_shape_simple_fn((rows, c), || f32::from(r.unit() < 0.3)),
            Array2::from_shape_simple_fn((rows, c), || (r.normal() * 3.0) as f32),
        ),
        _ => (
            Array2::from_shape_simple_fn((rows, c), || r.normal() as f32),
            Array2::from_shape_simple_fn((rows, c), || (r.normal() * 1.5) as f32),
        ),
    };
    Inputs {
        t,
        p,
        bytes: 12 * rows * c,
    }
}

/// The losses under test, configured as in the issue (mean reduction).
pub enum Subject {
    Mse(MeanSquaredError),
    Huber(Huber),
    LogCosh(LogCosh),
    Focal(BinaryFocalCrossentropy),
    Bce(BinaryCrossentropy),
    Ce(losses::SparseCategoricalCrossentropy),
}

impl Subject {
    pub fn new(case: Case) -> Self {
        match case {
            Case::Mse => Subject::Mse(MeanSquaredError::default()),
            Case::Huber => Subject::Huber(Huber::default().delta(1.0)),
            Case::LogCosh => Subject::LogCosh(LogCosh::default()),
            Case::Focal => Subject::Focal(
                BinaryFocalCrossentropy::default()
                    .gamma(2.0)
                    .alpha(0.25)
                    .apply_class_balancing(true),
            ),
            Case::BceLogits => Subject::Bce(BinaryCrossentropy::default().from_logits(true)),
            Case::Ce16 | Case::Ce1000 => {
                Subject::Ce(losses::SparseCategoricalCrossentropy::default().from_logits(true))
            }
        }
    }

    /// `value_and_grad_into`: the gradient written into a reused buffer.
    pub fn value_and_grad_into(&self, x: &Inputs, g: &mut Array2<f32>) -> f32 {
        let (t, p) = (&x.t, &x.p);
        match self {
            Subject::Mse(l) => l.value_and_grad_into(t, p, g),
            Subject::Huber(l) => l.value_and_grad_into(t, p, g),
            Subject::LogCosh(l) => l.value_and_grad_into(t, p, g),
            Subject::Focal(l) => l.value_and_grad_into(t, p, g),
            Subject::Bce(l) => l.value_and_grad_into(t, p, g),
            Subject::Ce(l) => l.value_and_grad_into(t, p, g),
        }
        .expect("valid inputs")
    }

    /// `value_and_grad`: a new gradient array each call.
    pub fn value_and_grad(&self, x: &Inputs) -> (f32, Array2<f32>) {
        let (t, p) = (&x.t, &x.p);
        match self {
            Subject::Mse(l) => l.value_and_grad(t, p),
            Subject::Huber(l) => l.value_and_grad(t, p),
            Subject::LogCosh(l) => l.value_and_grad(t, p),
            Subject::Focal(l) => l.value_and_grad(t, p),
            Subject::Bce(l) => l.value_and_grad(t, p),
            Subject::Ce(l) => l.value_and_grad(t, p),
        }
        .expect("valid inputs")
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-written fused loops: the same work split (fixed chunks over rayon, partial sums in
// order), the same target features, the formula written out by hand.

const CHUNK: usize = 1 << 15;
const BLOCK: usize = 256;

/// Runs `block(t, p, g) -> block sum` over fixed blocks, chunks spread over the threads,
/// partial sums added in order (f64 accumulation of f32 block sums).
#[inline(always)]
fn fused(
    t: &[f32],
    p: &[f32],
    g: &mut [f32],
    block: impl Fn(&[f32], &[f32], &mut [f32]) -> f32 + Sync,
) -> f64 {
    let partials: Vec<f64> = t
        .par_chunks(CHUNK)
        .zip(p.par_chunks(CHUNK))
        .zip(g.par_chunks_mut(CHUNK))
        .with_min_len(8)
        .map(|((t, p), g)| {
            let mut s = 0.0f64;
            for ((t, p), g) in t
                .chunks(BLOCK)
                .zip(p.chunks(BLOCK))
                .zip(g.chunks_mut(BLOCK))
            {
                s += f64::from(block(t, p, g));
            }
            s
        })
        .collect();
    partials.iter().sum()
}

/// Sums `v` with 16 lanes.
#[inline(always)]
fn lanes_sum(v: &[f32]) -> f32 {
    let (ch, rest) = v.as_chunks::<16>();
    let mut acc = [0.0f32; 16];
    for c in ch {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

#[inline(always)]
fn mse_block(t: &[f32], p: &[f32], g: &mut [f32], scale: f32) -> f32 {
    let mut v = [0.0f32; BLOCK];
    let n = t.len();
    for (((v, g), &t), &p) in v[..n].iter_mut().zip(&mut g[..n]).zip(t).zip(p) {
        let d = p - t;
        *v = d * d;
        *g = scale * (d + d);
    }
    lanes_sum(&v[..n])
}

#[inline(always)]
fn focal_block(t: &[f32], p: &[f32], g: &mut [f32], scale: f32) -> f32 {
    const EPS: f32 = 1e-7;
    let mut v = [0.0f32; BLOCK];
    let n = t.len();
    for (((v, g), &y), &p) in v[..n].iter_mut().zip(&mut g[..n]).zip(t).zip(p) {
        let inside = p > EPS && p < 1.0 - EPS;
        let pc = p.clamp(EPS, 1.0 - EPS);
        let (lp, l1p) = (Float::ln(pc), Float::ln(1.0 - pc));
        let bce = -(y * lp + (1.0 - y) * l1p);
        let one_m_pt = 1.0 - (y * p + (1.0 - y) * (1.0 - p));
        let w = y * 0.25 + (1.0 - y) * 0.75;
        let m = one_m_pt * one_m_pt;
        *v = w * m * bce;
        let dbce = if inside {
            -y / pc + (1.0 - y) / (1.0 - pc)
        } else {
            0.0
        };
        let s = 2.0 * y - 1.0;
        *g = scale * (w * (-2.0 * one_m_pt * s * bce + m * dbce));
    }
    lanes_sum(&v[..n])
}

macro_rules! dispatched {
    ($name:ident, $block:ident) => {
        /// Hand-written fused value and gradient (mean reduction) for one formula.
        pub fn $name(t: &[f32], p: &[f32], g: &mut [f32]) -> f32 {
            let scale = 1.0 / t.len() as f32;
            #[inline(always)]
            fn portable(t: &[f32], p: &[f32], g: &mut [f32], scale: f32) -> f64 {
                fused(t, p, g, |t, p, g| $block(t, p, g, scale))
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn avx512(t: &[f32], p: &[f32], g: &mut [f32], scale: f32) -> f64 {
                    fused(t, p, g, |t, p, g| $block(t, p, g, scale))
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2(t: &[f32], p: &[f32], g: &mut [f32], scale: f32) -> f64 {
                    fused(t, p, g, |t, p, g| $block(t, p, g, scale))
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the features were detected.
                    return (unsafe { avx512(t, p, g, scale) } * f64::from(scale)) as f32;
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the features were detected.
                    return (unsafe { avx2(t, p, g, scale) } * f64::from(scale)) as f32;
                }
            }
            (portable(t, p, g, scale) * f64::from(scale)) as f32
        }
    };
}

dispatched!(fused_mse_cached, mse_block);
dispatched!(fused_focal, focal_block);

/// Hand-written mse value and gradient (mean reduction). A gradient of 16 MiB or more is
/// written with streaming stores where the CPU has AVX-512, as the library writes it.
pub fn fused_mse(t: &[f32], p: &[f32], g: &mut [f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if size_of_val(g) >= 16 << 20
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("fma")
    {
        let scale = 1.0 / t.len() as f32;
        let partials: Vec<f64> = t
            .par_chunks(CHUNK)
            .zip(p.par_chunks(CHUNK))
            .zip(g.par_chunks_mut(CHUNK))
            .with_min_len(8)
            // SAFETY: the features were detected.
            .map(|((t, p), g)| unsafe { mse_streamed_avx512(t, p, g, scale) })
            .collect();
        return (partials.iter().sum::<f64>() * f64::from(scale)) as f32;
    }
    fused_mse_cached(t, p, g)
}

/// One chunk of [`fused_mse`] with streaming stores: ordinary blocks up to the gradient's
/// first 64-byte line, then blocks of 16 whole lines.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn mse_streamed_avx512(t: &[f32], p: &[f32], g: &mut [f32], scale: f32) -> f64 {
    use std::arch::x86_64::{
        _mm_sfence, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps,
        _mm512_storeu_ps, _mm512_stream_ps, _mm512_sub_ps,
    };
    let n = t.len().min(p.len()).min(g.len());
    let h = g.as_ptr().align_offset(64).min(n);
    let mut s = f64::from(mse_block(&t[..h], &p[..h], &mut g[..h], scale));
    let (t, p, g) = (&t[h..n], &p[h..n], &mut g[h..n]);
    let (tb, t_rest) = t.as_chunks::<BLOCK>();
    let (pb, p_rest) = p.as_chunks::<BLOCK>();
    let (gb, g_rest) = g.as_chunks_mut::<BLOCK>();
    let sc = _mm512_set1_ps(scale);
    let mut v = [0.0f32; BLOCK];
    for ((t, p), g) in tb.iter().zip(pb).zip(gb) {
        for j in (0..BLOCK).step_by(16) {
            // SAFETY: j + 16 <= BLOCK for all three blocks; `g` starts on a 64-byte line.
            unsafe {
                let d = _mm512_sub_ps(
                    _mm512_loadu_ps(p.as_ptr().add(j)),
                    _mm512_loadu_ps(t.as_ptr().add(j)),
                );
                _mm512_storeu_ps(v.as_mut_ptr().add(j), _mm512_mul_ps(d, d));
                _mm512_stream_ps(
                    g.as_mut_ptr().add(j),
                    _mm512_mul_ps(sc, _mm512_add_ps(d, d)),
                );
            }
        }
        s += f64::from(lanes_sum(&v));
    }
    for ((t, p), g) in t_rest
        .chunks(BLOCK)
        .zip(p_rest.chunks(BLOCK))
        .zip(g_rest.chunks_mut(BLOCK))
    {
        s += f64::from(mse_block(t, p, g, scale));
    }
    _mm_sfence();
    s
}

/// STREAM triad `a = b + s c` over the threads (12 bytes per element counted).
pub fn triad(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .zip(c.par_chunks(CHUNK))
        .with_min_len(8)
        .for_each(|((a, b), c)| {
            for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                *a = b + s * c;
            }
        });
}

/// [`triad`] writing `a` with streaming stores where the CPU has AVX-512 (as compilers do for
/// STREAM with large arrays): the ceiling for a loss that streams its gradient.
pub fn triad_streamed(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
    {
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .zip(c.par_chunks(CHUNK))
            .with_min_len(8)
            // SAFETY: the features were detected.
            .for_each(|((a, b), c)| unsafe { triad_streamed_avx512(a, b, c, s) });
        return;
    }
    triad(a, b, c, s);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn triad_streamed_avx512(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    use std::arch::x86_64::{
        _mm_sfence, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_stream_ps,
    };
    let n = a.len().min(b.len()).min(c.len());
    let h = a.as_ptr().align_offset(64).min(n);
    let body = h + (n - h) / 16 * 16;
    let sv = _mm512_set1_ps(s);
    for i in (0..h).chain(body..n) {
        a[i] = b[i] + s * c[i];
    }
    for i in (h..body).step_by(16) {
        // SAFETY: i + 16 <= body <= n for all three; `a` is on a 64-byte line from `h`.
        unsafe {
            let v = _mm512_add_ps(
                _mm512_loadu_ps(b.as_ptr().add(i)),
                _mm512_mul_ps(sv, _mm512_loadu_ps(c.as_ptr().add(i))),
            );
            _mm512_stream_ps(a.as_mut_ptr().add(i), v);
        }
    }
    _mm_sfence();
}

/// Triad arrays of `n` elements.
pub fn triad_arrays(n: usize) -> (Array1<f32>, Array1<f32>, Array1<f32>) {
    let mut r = Rng::new(1);
    (
        Array1::from_shape_simple_fn(n, || r.unit() as f32),
        Array1::from_shape_simple_fn(n, || r.unit() as f32),
        Array1::from_shape_simple_fn(n, || r.unit() as f32),
    )
}

/// Median and minimum of `runs` timed calls after 2 warm-ups, in milliseconds.
pub fn time_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    time_interleaved(runs, &mut [&mut f])[0]
}

/// Median and minimum, in milliseconds, of each of `fs` over `runs` rounds after 2 warm-up
/// rounds; a round calls every function once, in order (in reverse order every other round).
/// A burst of load from elsewhere on the host then falls on all of them alike, so their ratio
/// is steadier than that of timings taken one function after another.
pub fn time_interleaved(runs: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<(f64, f64)> {
    medians(&time_rounds(runs, fs))
}

/// Median and minimum of each function's times from [`time_rounds`].
pub fn medians(rounds: &[Vec<f64>]) -> Vec<(f64, f64)> {
    rounds.iter().map(|t| median_min(&mut t.clone())).collect()
}

/// The times of [`time_interleaved`] round by round, in milliseconds: `result[i][r]` is
/// function `i` in round `r`.
pub fn time_rounds(runs: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    for _ in 0..2 {
        fs.iter_mut().for_each(|f| f());
    }
    let mut ts = vec![Vec::with_capacity(runs); fs.len()];
    for r in 0..runs {
        // Every other round runs them in reverse, so that none always follows the same one.
        let mut order: Vec<usize> = (0..fs.len()).collect();
        if r % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let t0 = std::time::Instant::now();
            fs[i]();
            ts[i].push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    ts
}

/// The median over rounds of `a[r] / b[r]`: the ratio of two functions timed in the same
/// rounds, each round's load falling on both. Steadier than the ratio of their medians when
/// the host's speed drifts during the measurement.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    median_min(&mut r).0
}

/// Median and minimum (both NaN for no times).
fn median_min(ts: &mut [f64]) -> (f64, f64) {
    if ts.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    ts.sort_by(f64::total_cmp);
    let m = ts.len() / 2;
    let median = if ts.len().is_multiple_of(2) {
        0.5 * (ts[m - 1] + ts[m])
    } else {
        ts[m]
    };
    (median, ts[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_hand_mse_matches_the_cached_loop() {
        // 16 MiB of gradient and a tail: the streamed loop where the CPU has AVX-512.
        let n = (4 << 20) + 37;
        let mut r = Rng::new(3);
        let t: Vec<f32> = (0..n).map(|_| r.unit() as f32).collect();
        let p: Vec<f32> = (0..n).map(|_| r.normal() as f32).collect();
        let mut want = vec![f32::NAN; n];
        let v_want = fused_mse_cached(&t, &p, &mut want);
        for off in [0, 1, 5] {
            let mut g = vec![f32::NAN; n + off];
            let v = fused_mse(&t, &p, &mut g[off..]);
            // The blocks start at the gradient's first line, so the sum may round apart.
            assert!((v - v_want).abs() <= 1e-6 * v_want.abs(), "{v} {v_want}");
            assert!(
                g[off..]
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
    }

    #[test]
    fn paired_ratio_is_the_median_of_the_rounds_ratios() {
        // Ratios 1, 5 and 0.5: the median is 1, where the ratio of the medians is 3 / 2.
        assert_eq!(paired_ratio(&[1.0, 10.0, 3.0], &[1.0, 2.0, 6.0]), 1.0);
        // An even count: the mean of the middle two ratios (1.5 and 2.5).
        assert_eq!(
            paired_ratio(&[1.0, 5.0, 3.0, 8.0], &[1.0, 2.0, 2.0, 2.0]),
            2.0
        );
        // A slow spell in round 2 falls on both and cancels.
        assert_eq!(paired_ratio(&[1.1, 3.3, 1.1], &[1.0, 3.0, 1.0]), 1.1);
        assert!(paired_ratio(&[], &[]).is_nan());
    }

    #[test]
    fn streamed_triad_matches_the_triad() {
        let (a, b, c) = triad_arrays(100_003);
        let (b, c) = (b.as_slice().unwrap(), c.as_slice().unwrap());
        let mut want = a.to_vec();
        triad(&mut want, b, c, 3.0);
        for off in [0, 3] {
            let mut got = vec![f32::NAN; want.len() + off];
            triad_streamed(&mut got[off..], b, c, 3.0);
            assert!(
                got[off..]
                    .iter()
                    .zip(&want)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
        }
    }
}
