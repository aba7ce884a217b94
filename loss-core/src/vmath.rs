//! Branch-free `ln` and `exp` for `f32` and `f64`, and the functions built on them
//! (`ln_1p`, `exp_m1`, `tanh`, `sigmoid`, `softplus`, `powf`), written so that a loop calling
//! them auto-vectorizes: no table lookups, no calls, no data-dependent branches (special cases
//! are selects), no float-to-int conversions (exponents move through the bits with the
//! "magic number" trick). [`Float`](crate::Float) uses them, so generated kernels do.
//!
//! The arithmetic is IEEE `+ - * /` and, in the polynomials and reductions, explicit fused
//! multiply-adds (`mul_add`, one rounding): never a contraction left to the compiler, so a
//! value is the same bits whichever instruction set a loop was compiled for (the engine
//! compiles its hot loops for AVX-512, AVX2+FMA and the baseline, see `simd`). Where the CPU
//! has no FMA instruction (x86-64 before Haswell and Piledriver) `mul_add` is a call to the
//! runtime library's correctly rounded `fmaf`/`fma` (Rust's `compiler_builtins`): the same
//! bits, about ten times slower (`math_costs`: `exp` 24 ns in the baseline copy against
//! 1.7 ns with separate operations, 0.5 ns with AVX2+FMA). The error-free sums that carry the
//! digits beyond a rounding (Fast2Sum) stay separate additions.
//!
//! `sigmoid` and `softplus` (and `log_sigmoid(x) = -softplus(-x)`) of `x` and of `-x` all need
//! `e^-|x|`: [`exp_neg_abs_f32`] computes it (with the digits beyond its rounding, which keep
//! `sigmoid` within 2 ulp), and `sigmoid_with_*`, `softplus_with_*` take it, so that a
//! formula needing several of them computes one exponential, with the same bits.
//!
//! Accuracy, measured against the exact value (`f32`: the `f64` functions of std; `f64`: a
//! double-double evaluation in the test, as std's own `tanh` is 2 ulp off in places) over
//! millions of random bit patterns and every special value (±0, subnormals, ±inf, NaN), by
//! the test `accuracy_against_std` below. Special values (NaN, ±inf, ±0, overflow and
//! underflow thresholds) follow std exactly.
//!
//! | function | f32 max error | f64 max error |
//! |---|---|---|
//! | `exp` | 1 ulp (0.98 measured) | 1 ulp (0.88) |
//! | `ln` | 1 ulp (0.82) | 1 ulp (0.80) |
//! | `ln_1p` | 1.5 ulp (1.44) | 1.5 ulp (1.44) |
//! | `exp_m1` | 2 ulp (1.60) | 2 ulp (1.54) |
//! | `tanh` | 1.5 ulp (1.30) | 1.5 ulp (1.28) |
//! | `sigmoid` | 1.5 ulp (1.22) | 1.5 ulp (1.11) |
//! | `softplus` (and `log_sigmoid`) | 2 ulp (1.56) | 2 ulp (1.48) |
//! | `powf(x, y)` | `1 + 3·|y ln x|` ulp | `1 + 3·|y ln x|` ulp |
//!
//! (The table is what the test asserts; it prints the maxima it measured.) `f32` `exp` is also
//! checked at every argument from -104 to 89 by an ignored test run in a release build: at
//! most 0.9994 ulp (the Estrin form of its polynomial reached 1.0138).
//! `exp_nonpositive` (the terms of a softmax) has the bits of `exp` down to about the
//! smallest normal result and is 0 below; its test checks exactly that.

// Coefficients are kept as published (Cephes, fdlibm).
#![allow(clippy::excessive_precision)]

// ---------------------------------------------------------------------------------------------
// f32

/// 1.5 · 2^23: adding it rounds an `f32` of magnitude < 2^22 to an integer held in the low
/// mantissa bits.
const MAGIC32: f32 = 12_582_912.0;

/// `2^k` for `k` in `[-126, 127]`, built from the bits.
#[inline(always)]
fn pow2i_f32(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32).wrapping_shl(23))
}

/// `x` with its sign replaced by the sign of `s`.
#[inline(always)]
fn copysign_f32(x: f32, s: f32) -> f32 {
    f32::from_bits((x.to_bits() & 0x7fff_ffff) | (s.to_bits() & 0x8000_0000))
}

/// Reduces `x` (already clamped, or NaN) to `x = k ln2 + r`, `|r| <= ln2/2`; returns
/// `(k as f32, k, r)`.
#[inline(always)]
fn reduce_f32(x: f32) -> (f32, i32, f32) {
    let (z, r) = reduce_z_f32(x);
    (z - MAGIC32, k_of_f32(z), r)
}

/// [`reduce_f32`] as `(z, r)`, where `z = 1.5 · 2^23 + k` holds `k` (see [`k_of_f32`]): a
/// staged loop keeps one float per element between its passes.
#[inline(always)]
fn reduce_z_f32(x: f32) -> (f32, f32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let z = x.mul_add(LOG2E, MAGIC32);
    let kf = z - MAGIC32;
    let r = kf.mul_add(-LN2_HI, x);
    let r = kf.mul_add(-LN2_LO, r);
    (z, r)
}

/// The integer `k` that `z` of [`reduce_z_f32`] holds in its low mantissa bits.
#[inline(always)]
fn k_of_f32(z: f32) -> i32 {
    (z.to_bits() as i32).wrapping_sub(MAGIC32.to_bits() as i32)
}

/// `e^r - 1 - r` for `|r| <= ln2/2` (Cephes `expf` polynomial): pairs of terms, then Horner's
/// scheme in `r^2`. Estrin's scheme (see [`ln_normal_part_f32`]) would also need `r^4`: one
/// multiplication more on the pipes that bound the softmax loops, no shorter a chain here,
/// and less accurate: over every `f32` argument `exp` was at most 1.0138 ulp off with it (at
/// 26.704473, which the sampled test now checks), 0.9994 without.
#[inline(always)]
fn expm1_tail_f32(r: f32) -> f32 {
    let r2 = r * r;
    let q01 = 1.666_666_5e-1f32.mul_add(r, 5.000_000_1e-1);
    let q23 = 8.333_452e-3f32.mul_add(r, 4.166_579_6e-2);
    let q45 = 1.987_569_1e-4f32.mul_add(r, 1.398_199_9e-3);
    let p = q45.mul_add(r2, q23).mul_add(r2, q01);
    p * r2
}

/// `e^r` for `|r| <= ln2/2` as `hi + lo`: `hi` is `1 + (r + tail)` rounded, `lo` the two
/// rounding errors of that sum (each exact by Fast2Sum: `|r| >= |tail|`, `1 >= |r + tail|`).
/// Callers that only need `hi` leave `lo` to dead-code elimination.
#[inline(always)]
fn exp_r_f32(r: f32) -> (f32, f32) {
    let tail = expm1_tail_f32(r);
    let t = r + tail;
    let hi = t + 1.0;
    let lo = (t - (hi - 1.0)) + (tail - (t - r));
    (hi, lo)
}

/// `e^x` for `x` already clamped to `[-104, 89]` (or NaN) as `hi + lo`, `hi` rounded.
#[inline(always)]
fn exp_parts_f32(x: f32) -> (f32, f32) {
    let (_, k, r) = reduce_f32(x);
    let (p, p_lo) = exp_r_f32(r);
    // 2^k in two factors: the result may be subnormal or overflow.
    let k1 = k >> 1;
    let (s1, s2) = (pow2i_f32(k1), pow2i_f32(k.wrapping_sub(k1)));
    (p * s1 * s2, p_lo * s1 * s2)
}

/// [`exp_neg_abs_f32`] of every element of `x_hi` in place, the low parts into `lo`, with
/// the same bits, staged as [`exp_nonpositive_block_f32`] is: the reduction, the polynomial,
/// the rest (the staged element loops call it on the arguments their first pass records).
/// Each pass fills a new array, so no temporary is zeroed first: zeroed, the three
/// temporaries took 48 of a 256-element block's 64 stores of zeros, about an eighth of the
/// samples of binary cross-entropy's loop.
#[inline(always)]
pub fn exp_neg_abs_block_f32<const N: usize>(x_hi: &mut [f32; N], lo: &mut [f32; N]) {
    // The reduction leaves `z`, which holds `k`, in place of the argument.
    let r: [f32; N] = std::array::from_fn(|i| {
        let x = -x_hi[i].abs();
        let x = if x < -104.0 { -104.0 } else { x };
        let (z, r) = reduce_z_f32(x);
        x_hi[i] = z;
        r
    });
    let tail: [f32; N] = std::array::from_fn(|i| expm1_tail_f32(r[i]));
    for i in 0..N {
        // `exp_r_f32`, then the scaling of `exp_parts_f32`.
        let (r, tail, k) = (r[i], tail[i], k_of_f32(x_hi[i]));
        let t = r + tail;
        let p = t + 1.0;
        let p_lo = (t - (p - 1.0)) + (tail - (t - r));
        let k1 = k >> 1;
        let (s1, s2) = (pow2i_f32(k1), pow2i_f32(k.wrapping_sub(k1)));
        x_hi[i] = p * s1 * s2;
        lo[i] = p_lo * s1 * s2;
    }
}

/// `e^x`.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // Clamp (keeping NaN) so that 2^k stays in range; beyond, the result is inf or 0 anyway.
    let x = if x > 89.0 { 89.0 } else { x };
    let x = if x < -104.0 { -104.0 } else { x };
    exp_parts_f32(x).0
}

/// `e^-|x|` as `(hi, lo)`: `hi` is exactly [`exp_f32`]`(-|x|)`, `lo` the digits beyond it
/// (`|lo| <= ulp(hi)`). The one exponential of [`sigmoid_with_f32`] and
/// [`softplus_with_f32`], so that both (of `x` or `-x`) can share it.
#[inline(always)]
pub fn exp_neg_abs_f32(x: f32) -> (f32, f32) {
    let x = -x.abs();
    let x = if x < -104.0 { -104.0 } else { x };
    exp_parts_f32(x)
}

/// `e^x` for `x <= 0` (or NaN): the terms `exp(x - max)` of a softmax. The bits of
/// [`exp_f32`] down to `x = -87.68` (where `e^x` is about the smallest normal number), 0
/// below (`-inf` included): no clamp from above, and `2^k` as one factor instead of two, so
/// the loops summing these terms run a shorter chain of dependent operations. The argument
/// is clamped from below at -88, where `k = -127` and the factor's bits are those of 0, so
/// every argument below -87.68 gives 0 with no floor on `k`. (For `x > 0` the result is not
/// `e^x` beyond `x = 88`.)
#[inline(always)]
pub fn exp_nonpositive_f32(x: f32) -> f32 {
    // Clamped (keeping NaN) so that `-inf` and huge negatives give `r` finite, `k >= -127`.
    let x = if x < -88.0 { -88.0 } else { x };
    let (_, k, r) = reduce_f32(x);
    let (p, _) = exp_r_f32(r);
    p * pow2i_f32(k)
}

/// The elements of a softmax's exponential pass in one block (see
/// [`exp_nonpositive_block_f32`]). The block's loops are unrolled whole, so a longer block
/// spills (sparse CE from logits, C = 1000, 2^20, one thread, 12 alternating rounds: medians
/// 0.706 ms with 64, 0.608 with 32, 0.685 with 128).
pub const EXP_BLOCK: usize = 32;

/// [`exp_nonpositive_f32`] of every element of `xs`, in place, with the same bits, as three
/// loops over the block instead of one: the reduction, the polynomial, the scaling. One
/// exponential is a chain of about 20 dependent operations, so a loop computing one per
/// element fills the out-of-order scheduler with operations waiting on their chain before it
/// runs out of independent work (llvm-mca, znver3: the FP scheduler full in 84% of cycles);
/// three short chains per element, each loop's elements independent, keep it busy.
#[inline(always)]
pub fn exp_nonpositive_block_f32(xs: &mut [f32; EXP_BLOCK]) {
    let mut k = [0i32; EXP_BLOCK];
    let mut r = [0f32; EXP_BLOCK];
    for i in 0..EXP_BLOCK {
        let x = xs[i];
        let x = if x < -88.0 { -88.0 } else { x };
        let (_, ki, ri) = reduce_f32(x);
        k[i] = ki;
        r[i] = ri;
    }
    let mut tail = [0f32; EXP_BLOCK];
    for i in 0..EXP_BLOCK {
        tail[i] = expm1_tail_f32(r[i]);
    }
    for i in 0..EXP_BLOCK {
        // `exp_r_f32`'s `hi`, then the scaling of `exp_nonpositive_f32`.
        let t = r[i] + tail[i];
        let hi = t + 1.0;
        xs[i] = hi * pow2i_f32(k[i]);
    }
}

/// `e^x - 1`, accurate near 0.
#[inline(always)]
pub fn exp_m1_f32(x: f32) -> f32 {
    let xc = if x > 89.0 { 89.0 } else { x };
    let xc = if xc < -40.0 { -40.0 } else { xc };
    let (_, k, r) = reduce_f32(xc);
    let em = expm1_tail_f32(r) + r; // e^r - 1
    let k1 = k >> 1;
    let s1 = pow2i_f32(k1);
    let s2 = pow2i_f32(k.wrapping_sub(k1));
    // 2^k (em + 1) - 1: for small k as 2^k em + (2^k - 1) (exact 2^k - 1), else directly.
    let small = s1 * s2 * em + (s1 * s2 - 1.0);
    let large = (em + 1.0) * s1 * s2 - 1.0;
    let y = if k > 24 { large } else { small };
    // Tiny |x| (incl. ±0): e^x - 1 rounds to x.
    if x.abs() < 2.9802322e-8 { x } else { y }
}

/// `ln x`.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    // Subnormals are scaled into the normal range first.
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * 8_388_608.0 } else { x };
    let y = ln_normal_part_f32(xs, if sub { 127.0 + 23.0 } else { 127.0 });
    let y = if x == f32::INFINITY { x } else { y };
    let y = if x == 0.0 { f32::NEG_INFINITY } else { y };
    if x >= 0.0 { y } else { f32::NAN } // negative or NaN
}

/// `ln x` for `x` a positive normal number or NaN (the same bits as [`ln_f32`] there); any
/// other argument gives an unspecified number. The macro calls it where it has proved the
/// argument's range (`ln(clip(p, eps, 1 - eps))`): it skips the tests of the general one.
#[inline(always)]
pub fn ln_normal_f32(x: f32) -> f32 {
    let y = ln_normal_part_f32(x, 127.0);
    if x.is_nan() { x } else { y }
}

/// `ln x` for a positive normal `x`, its exponent biased by `bias` (127, or 150 for a
/// subnormal scaled by 2^23).
#[inline(always)]
fn ln_normal_part_f32(x: f32, bias: f32) -> f32 {
    const SQRT2: f32 = std::f32::consts::SQRT_2;
    let bits = x.to_bits();
    // The exponent as a float: 2^23 + biased exponent, read through the bits.
    let e = f32::from_bits(0x4b00_0000 | ((bits >> 23) & 0xff)) - (8_388_608.0 + bias);
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    let big = m > SQRT2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1.0 } else { e };
    let f = m - 1.0; // [sqrt(1/2) - 1, sqrt(2) - 1], exact
    let z = f * f;
    // Cephes logf polynomial, evaluated by Estrin's scheme: pairs of terms, then pairs of
    // pairs, so the longest chain of dependent operations is 5 instead of Horner's 16 (the
    // loops calling this are bound by that latency, not by the operation count).
    let z2 = z * z;
    let z4 = z2 * z2;
    let q01 = (-2.499_999_4e-1f32).mul_add(f, 3.333_333_1e-1);
    let q23 = (-1.666_805_8e-1f32).mul_add(f, 2.000_071_4e-1);
    let q45 = (-1.242_014_1e-1f32).mul_add(f, 1.424_932_3e-1);
    let q67 = (-1.151_461e-1f32).mul_add(f, 1.167_699_9e-1);
    let p = q67.mul_add(z, q45).mul_add(z2, q23.mul_add(z, q01));
    let p = 7.037_683_6e-2f32.mul_add(z4, p);
    let y = p * f * z;
    let y = e.mul_add(-2.121_944_4e-4, y);
    let y = y - 0.5 * z;
    let y = f + y;
    e.mul_add(0.693_359_375, y)
}

/// `ln(1 + x)`, accurate near 0.
#[inline(always)]
pub fn ln_1p_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    // ln(u) corrected by the rounding error of 1 + x (Goldberg).
    let y = ln_f32(u) + (x - (u - 1.0)) / u;
    let y = if u == 1.0 { x } else { y }; // tiny x, incl. ±0
    let y = if u == 0.0 { f32::NEG_INFINITY } else { y };
    if x == f32::INFINITY { x } else { y }
}

/// `tanh x`.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    // Near 0: Cephes tanhf's odd polynomial.
    let z = a * a;
    let p = -5.704_988_7e-3f32;
    let p = p.mul_add(z, 2.063_908_9e-2);
    let p = p.mul_add(z, -5.373_971_6e-2);
    let p = p.mul_add(z, 1.333_144_2e-1);
    let p = p.mul_add(z, -3.333_328_2e-1);
    let near = (p * z).mul_add(a, a);
    // Elsewhere 1 - 2 / (e^2a + 1) (1 for large a, also through the overflow of e^2a).
    let far = 1.0 - 2.0 / (exp_f32(a + a) + 1.0);
    copysign_f32(if a < 0.625 { near } else { far }, x)
}

/// `1 / (1 + e^-x)`, without overflow.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    sigmoid_with_f32(x, exp_neg_abs_f32(x))
}

/// [`sigmoid_f32`]`(x)` given `e = `[`exp_neg_abs_f32`]`(x)` (the same bits).
///
/// `e / (1 + e)` for `x < 0`, `1 - e / (1 + e)` otherwise (at least 1/2: no cancellation).
/// Rounded as written, the error of `e`, the rounding of `1 + e` and the division add up to
/// 2.5 ulp where the result falls just below a power of 2 (its ulp halves there). So `e`
/// comes with its low part and `1 + e` with its rounding error (`s + s_lo`), and the quotient
/// `q = e / s` is corrected to first order: `(e + e_lo) / (s + s_lo) ~ q + (e_lo - q s_lo) / s`,
/// where `1 / s` is `1 - q`: no second division. The one division is the same for `x` and
/// `-x`, so a formula with both sigmoids (the gradient of a cross-entropy from logits)
/// divides once.
#[inline(always)]
pub fn sigmoid_with_f32(x: f32, e: (f32, f32)) -> f32 {
    let small = logistic_small_f32(e);
    if x >= 0.0 { 1.0 - small } else { small } // NaN: e is NaN
}

/// `e / (1 + e)` for `e = e^-|x|` (given as `(hi, lo)`): `sigmoid(-|x|)`, the smaller of the
/// two sigmoids (see [`sigmoid_with_f32`]).
#[inline(always)]
fn logistic_small_f32((e, e_lo): (f32, f32)) -> f32 {
    let s = 1.0 + e;
    let s_lo = (e - (s - 1.0)) + e_lo; // Fast2Sum: e <= 1
    let q = e / s;
    (-q).mul_add(s_lo, e_lo).mul_add(1.0 - q, q)
}

/// What `softplus`, `log_sigmoid` and `sigmoid` of `x` and `-x` all take, as
/// `(ln(1 + e), e / (1 + e))` with `e = e^-|x|`: the bits [`softplus_with_f32`] and
/// [`sigmoid_with_f32`] compute from `e`, which `Float::softplus_of_parts` and
/// `Float::sigmoid_of_parts` finish.
#[inline(always)]
pub fn logistic_parts_f32(x: f32) -> (f32, f32) {
    let e = exp_neg_abs_f32(x);
    (ln_1p_unit_f32(e.0, e.1), logistic_small_f32(e))
}

/// [`logistic_parts_f32`] of a block in place: `x_l` from the arguments to the logarithms,
/// `small` to the small sigmoids (only where `sigmoid`; otherwise it ends up holding other
/// numbers, which nothing reads). The same bits, as four loops over the block (the
/// exponential's three, then both parts): the staged element loops call it on the arguments
/// their first pass records.
///
/// The exponential's low parts go into `small`, each read just before its sigmoid replaces
/// it. Returned as an array of their own they cost a 1 KiB `memcpy` per block of 256 `f32`
/// (7% of the samples of bce from logits); a third array, zeroed, then filled in place, took
/// 1.03 to 1.06 times as long (bce, 2^20 on one thread and 2^24 on two, same rounds).
#[inline(always)]
pub fn logistic_parts_block_f32<const N: usize>(
    x_l: &mut [f32; N],
    small: &mut [f32; N],
    sigmoid: bool,
) {
    exp_neg_abs_block_f32(x_l, small);
    if sigmoid {
        for i in 0..N {
            let e = (x_l[i], small[i]);
            small[i] = logistic_small_f32(e);
            x_l[i] = ln_1p_unit_f32(e.0, e.1);
        }
    } else {
        for i in 0..N {
            x_l[i] = ln_1p_unit_f32(x_l[i], small[i]);
        }
    }
}

/// `ln(1 + e^x)`, without overflow.
#[inline(always)]
pub fn softplus_f32(x: f32) -> f32 {
    softplus_with_f32(x, exp_neg_abs_f32(x))
}

/// [`softplus_f32`]`(x)` given `e = `[`exp_neg_abs_f32`]`(x)` (the same bits):
/// `max(x, 0) + ln_1p(e)`, with the low part of `e` joining the correction of `ln_1p` for the
/// rounding of `1 + e` (`e` is in `[0, 1]`, so none of `ln_1p`'s special cases arise).
#[inline(always)]
pub fn softplus_with_f32(x: f32, (e, e_lo): (f32, f32)) -> f32 {
    let m = if x > 0.0 { x } else { 0.0 };
    m + ln_1p_unit_f32(e, e_lo)
}

/// `ln(1 + e + lo)` for `e` in `[0, 1]` (or NaN) and a tiny `lo`: the logarithm of
/// [`softplus_with_f32`], which needs none of [`ln_1p_f32`]'s special cases, exponent
/// extraction or correction for the rounding of `1 + e`. `1 + e = 2^k (1 + f)` with `f`
/// exact: `f = e` below 1/2, else `(e - 1) / 2` (exact by Sterbenz's lemma). `lo` joins to
/// first order as `lo / (1 + e)`, with `1 / (1 + e)` taken as `1 - e / 2` (within 9%: `lo` is
/// below an ulp of `e`).
#[inline(always)]
fn ln_1p_unit_f32(e: f32, lo: f32) -> f32 {
    let big = e >= 0.5;
    let f = if big { (e - 1.0) * 0.5 } else { e };
    let k = if big { 1.0 } else { 0.0 };
    // fdlibm's logf: ln(1 + f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f).
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let r = z.mul_add(
        w.mul_add(2.849_878_67e-1, 6.666_666_27e-1),
        w * w.mul_add(2.427_907_88e-1, 4.000_097_22e-1),
    );
    let hfsq = 0.5 * f * f;
    let y = k * 6.931_381_225_6e-1 - ((hfsq - s.mul_add(hfsq + r, k * 9.058_000_614_5e-6)) - f);
    lo.mul_add(1.0 - 0.5 * e, y)
}

/// `x^y` with the special cases of `f32::powf`, as `exp(y ln|x|)` in `f32`.
#[inline(always)]
pub fn powf_f32(x: f32, y: f32) -> f32 {
    let r = exp_f32(y * ln_f32(x.abs()));
    pow_specials_f32(x, y, r)
}

/// Applies the special cases of `pow` to `r = |x|^y` (computed as `exp(y ln|x|)`).
#[inline(always)]
fn pow_specials_f32(x: f32, y: f32, r: f32) -> f32 {
    // y an integer, and odd: |y| >= 2^23 is an even integer; below, round through MAGIC32.
    let ay = y.abs();
    let big = ay >= 8_388_608.0;
    let rounded = (ay + MAGIC32) - MAGIC32;
    let y_int = big || rounded == ay;
    let half = ay * 0.5;
    let y_odd = !big && y_int && ((half + MAGIC32) - MAGIC32) != half;
    let x_neg = x.to_bits() >> 31 != 0;
    let r = if x_neg && y_odd { -r } else { r };
    let r = if x < 0.0 && x > f32::NEG_INFINITY && !y_int {
        f32::NAN
    } else {
        r
    };
    // |x| == 1 with y = ±inf gives 0 * inf = NaN above; pow gives 1.
    let r = if x.abs() == 1.0 && ay == f32::INFINITY {
        1.0
    } else {
        r
    };
    if y == 0.0 || x == 1.0 { 1.0 } else { r }
}

// ---------------------------------------------------------------------------------------------
// f64

/// 1.5 · 2^52 (see [`MAGIC32`]).
const MAGIC64: f64 = 6_755_399_441_055_744.0;

/// `2^k` for `k` in `[-1022, 1023]`.
#[inline(always)]
fn pow2i_f64(k: i64) -> f64 {
    f64::from_bits((k.wrapping_add(1023) as u64).wrapping_shl(52))
}

#[inline(always)]
fn copysign_f64(x: f64, s: f64) -> f64 {
    f64::from_bits((x.to_bits() & !(1 << 63)) | (s.to_bits() & (1 << 63)))
}

const LN2_HI64: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO64: f64 = 1.908_214_929_270_587_700_02e-10;

/// `x = k ln2 + hi - lo`: returns `(k, hi, lo)`.
#[inline(always)]
fn reduce_f64(x: f64) -> (i64, f64, f64) {
    let z = x.mul_add(std::f64::consts::LOG2_E, MAGIC64);
    let kf = z - MAGIC64;
    let k = (z.to_bits() as i64).wrapping_sub(MAGIC64.to_bits() as i64);
    (k, kf.mul_add(-LN2_HI64, x), kf * LN2_LO64)
}

/// fdlibm's `r - r^2 (P1 + ...)`: `e^r = 1 + r + r c / (2 - c)`.
#[inline(always)]
fn exp_c_f64(r: f64) -> f64 {
    let t = r * r;
    let p = 4.138_136_797_057_238_460_39e-8f64;
    let p = p.mul_add(t, -1.653_390_220_546_525_153_90e-6);
    let p = p.mul_add(t, 6.613_756_321_437_934_361_17e-5);
    let p = p.mul_add(t, -2.777_777_777_701_559_338_42e-3);
    let p = p.mul_add(t, 1.666_666_666_666_660_190_37e-1);
    (-t).mul_add(p, r)
}

/// `e^r - 1` for the reduced `r = hi - lo` as `em + em_lo`: fdlibm's `r + r c / (2 - c)`,
/// with the rounding error of its last subtraction (Fast2Sum: `|hi| >= |lo - r c / (2 - c)|`).
#[inline(always)]
fn expm1_r_f64(hi: f64, lo: f64) -> (f64, f64) {
    let r = hi - lo;
    let c = exp_c_f64(r);
    let v = lo - (r * c) / (2.0 - c);
    let em = hi - v;
    (em, (hi - em) - v)
}

/// `e^x` for `x` already clamped to `[-746, 710]` (or NaN) as `hi + lo`, `hi` rounded.
#[inline(always)]
fn exp_parts_f64(x: f64) -> (f64, f64) {
    let (k, hi, lo) = reduce_f64(x);
    let (em, em_lo) = expm1_r_f64(hi, lo);
    let p = 1.0 + em;
    let p_lo = (em - (p - 1.0)) + em_lo; // Fast2Sum: |em| < 1
    let k1 = k >> 1;
    let (s1, s2) = (pow2i_f64(k1), pow2i_f64(k.wrapping_sub(k1)));
    (p * s1 * s2, p_lo * s1 * s2)
}

/// `e^x`.
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    let x = if x > 710.0 { 710.0 } else { x };
    let x = if x < -746.0 { -746.0 } else { x };
    exp_parts_f64(x).0
}

/// `e^x` for `x <= 0` (or NaN): the bits of [`exp_f64`] down to `x = -708.74`, 0 below
/// (see [`exp_nonpositive_f32`]).
#[inline(always)]
pub fn exp_nonpositive_f64(x: f64) -> f64 {
    let x = if x < -746.0 { -746.0 } else { x };
    let (k, hi, lo) = reduce_f64(x);
    let (em, _) = expm1_r_f64(hi, lo);
    (1.0 + em) * pow2i_f64(k.max(-1023))
}

/// [`exp_nonpositive_f64`] of every element of `xs`, in place, with the same bits, as two
/// loops: the reduction, then the rest (see [`exp_nonpositive_block_f32`]).
#[inline(always)]
pub fn exp_nonpositive_block_f64(xs: &mut [f64; EXP_BLOCK]) {
    let mut k = [0i64; EXP_BLOCK];
    let mut hi = [0f64; EXP_BLOCK];
    let mut lo = [0f64; EXP_BLOCK];
    for i in 0..EXP_BLOCK {
        let x = xs[i];
        let x = if x < -746.0 { -746.0 } else { x };
        (k[i], hi[i], lo[i]) = reduce_f64(x);
    }
    for i in 0..EXP_BLOCK {
        let (em, _) = expm1_r_f64(hi[i], lo[i]);
        xs[i] = (1.0 + em) * pow2i_f64(k[i].max(-1023));
    }
}

/// [`exp_neg_abs_f64`] of every element of `x_hi` in place, the low parts into `lo`, with the
/// same bits, as two loops: the reduction, then the rest (see [`exp_neg_abs_block_f32`]).
#[inline(always)]
pub fn exp_neg_abs_block_f64<const N: usize>(x_hi: &mut [f64; N], lo: &mut [f64; N]) {
    let mut k = [0i64; N];
    let mut hi = [0f64; N];
    let mut r_lo = [0f64; N];
    for i in 0..N {
        let x = -x_hi[i].abs();
        let x = if x < -746.0 { -746.0 } else { x };
        (k[i], hi[i], r_lo[i]) = reduce_f64(x);
    }
    for i in 0..N {
        // `exp_parts_f64` from its reduction on.
        let (em, em_lo) = expm1_r_f64(hi[i], r_lo[i]);
        let p = 1.0 + em;
        let p_lo = (em - (p - 1.0)) + em_lo;
        let k = k[i];
        let k1 = k >> 1;
        let (s1, s2) = (pow2i_f64(k1), pow2i_f64(k.wrapping_sub(k1)));
        x_hi[i] = p * s1 * s2;
        lo[i] = p_lo * s1 * s2;
    }
}

/// `e^-|x|` as `(hi, lo)` (see [`exp_neg_abs_f32`]).
#[inline(always)]
pub fn exp_neg_abs_f64(x: f64) -> (f64, f64) {
    let x = -x.abs();
    let x = if x < -746.0 { -746.0 } else { x };
    exp_parts_f64(x)
}

/// `e^x - 1` as `hi + lo` (tiny `x` aside: `exp_m1_f64` returns those as they are).
#[inline(always)]
fn exp_m1_parts_f64(x: f64) -> (f64, f64) {
    let xc = if x > 710.0 { 710.0 } else { x };
    let xc = if xc < -60.0 { -60.0 } else { xc };
    let (k, hi, lo) = reduce_f64(xc);
    let (em, em_lo) = expm1_r_f64(hi, lo);
    let k1 = k >> 1;
    let s1 = pow2i_f64(k1);
    let s2 = pow2i_f64(k.wrapping_sub(k1));
    // 2^k (em + 1) - 1: for small k as 2^k em + (2^k - 1) (exact 2^k - 1), with the rounding
    // of that sum (Fast2Sum: |2^k - 1| >= |2^k em| for k != 0, and 2^k - 1 = 0 for k = 0) and
    // the low part of em; else directly.
    let (a, b) = (s1 * s2 * em, s1 * s2 - 1.0);
    let small = b + a;
    let small_lo = (a - (small - b)) + s1 * s2 * em_lo;
    let large = (em + 1.0) * s1 * s2 - 1.0;
    if k > 53 {
        (large, 0.0)
    } else {
        (small, small_lo)
    }
}

/// `e^x - 1`, accurate near 0.
#[inline(always)]
pub fn exp_m1_f64(x: f64) -> f64 {
    // The low part would bring the error from 1.54 to 1.33 ulp at a quarter more time; `tanh`,
    // which needs it, takes it.
    let (y, _) = exp_m1_parts_f64(x);
    if x.abs() < 5.551_115_123_125_783e-17 {
        x
    } else {
        y
    }
}

/// `ln x`.
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * 18_014_398_509_481_984.0 } else { x }; // 2^54
    let y = ln_normal_part_f64(xs, if sub { 1023.0 + 54.0 } else { 1023.0 });
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x >= 0.0 { y } else { f64::NAN }
}

/// `ln x` for `x` a positive normal number or NaN (the same bits as [`ln_f64`] there); see
/// [`ln_normal_f32`].
#[inline(always)]
pub fn ln_normal_f64(x: f64) -> f64 {
    let y = ln_normal_part_f64(x, 1023.0);
    if x.is_nan() { x } else { y }
}

/// `ln x` for a positive normal `x`, its exponent biased by `bias` (1023, or 1077 for a
/// subnormal scaled by 2^54).
#[inline(always)]
fn ln_normal_part_f64(x: f64, bias: f64) -> f64 {
    const SQRT2: f64 = std::f64::consts::SQRT_2;
    const TWO52: f64 = 4_503_599_627_370_496.0;
    let bits = x.to_bits();
    let e = f64::from_bits(0x4330_0000_0000_0000 | ((bits >> 52) & 0x7ff)) - (TWO52 + bias);
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > SQRT2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1.0 } else { e };
    ln_reduced_f64(m - 1.0, e)
}

/// `k ln 2 + ln(1 + f)` for `f` in `[sqrt(1/2) - 1, sqrt(2) - 1]` (fdlibm: `ln(1 + f) = f -
/// hfsq + s (hfsq + R)`, `s = f / (2 + f)`).
#[inline(always)]
fn ln_reduced_f64(f: f64, k: f64) -> f64 {
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w.mul_add(1.531_383_769_920_937_332e-1, 2.222_219_843_214_978_396e-1);
    let t1 = w * t1.mul_add(w, 3.999_999_999_940_941_908e-1);
    let t2 = w.mul_add(1.479_819_860_511_658_591e-1, 1.818_357_216_161_805_012e-1);
    let t2 = t2.mul_add(w, 2.857_142_874_366_239_149e-1);
    let t2 = t2.mul_add(w, 6.666_666_666_666_735_130e-1);
    let r = z.mul_add(t2, t1);
    let hfsq = 0.5 * f * f;
    k * LN2_HI64 - ((hfsq - s.mul_add(hfsq + r, k * LN2_LO64)) - f)
}

/// `ln(1 + x)`, accurate near 0.
#[inline(always)]
pub fn ln_1p_f64(x: f64) -> f64 {
    let u = 1.0 + x;
    let y = ln_f64(u) + (x - (u - 1.0)) / u;
    let y = if u == 1.0 { x } else { y };
    let y = if u == 0.0 { f64::NEG_INFINITY } else { y };
    if x == f64::INFINITY { x } else { y }
}

/// `tanh x`.
#[inline(always)]
pub fn tanh_f64(x: f64) -> f64 {
    // tanh rounds to 1 beyond 19.1.
    let a = x.abs();
    let a = if a > 20.0 { 20.0 } else { a };
    // tanh a = m / (m + 2) with m = e^2a - 1 = m_hi + m_lo, one exponential for every a. As
    // in `sigmoid_with_f64`, the quotient is corrected for m_lo and for the rounding of
    // m + 2 (2Sum), with 1 / (m + 2) = (1 - q) / 2. (Tiny and subnormal a, where m = 2a,
    // come out as a; the sign is set last.)
    let (m, m_lo) = exp_m1_parts_f64(a + a);
    let d = m + 2.0;
    let bb = d - m;
    let d_lo = ((m - (d - bb)) + (2.0 - bb)) + m_lo;
    let q = m / d;
    let y = (-q).mul_add(d_lo, m_lo).mul_add((1.0 - q) * 0.5, q);
    copysign_f64(y, x)
}

/// `1 / (1 + e^-x)`, without overflow.
#[inline(always)]
pub fn sigmoid_f64(x: f64) -> f64 {
    sigmoid_with_f64(x, exp_neg_abs_f64(x))
}

/// [`sigmoid_f64`]`(x)` given `e = `[`exp_neg_abs_f64`]`(x)` (the same bits); computed as
/// [`sigmoid_with_f32`].
#[inline(always)]
pub fn sigmoid_with_f64(x: f64, e: (f64, f64)) -> f64 {
    let small = logistic_small_f64(e);
    if x >= 0.0 { 1.0 - small } else { small }
}

/// `e / (1 + e)` (see [`logistic_small_f32`]).
#[inline(always)]
fn logistic_small_f64((e, e_lo): (f64, f64)) -> f64 {
    let s = 1.0 + e;
    let s_lo = (e - (s - 1.0)) + e_lo;
    let q = e / s;
    (-q).mul_add(s_lo, e_lo).mul_add(1.0 - q, q)
}

/// `(ln(1 + e), e / (1 + e))` for `e = e^-|x|` (see [`logistic_parts_f32`]).
#[inline(always)]
pub fn logistic_parts_f64(x: f64) -> (f64, f64) {
    let e = exp_neg_abs_f64(x);
    (ln_1p_unit_f64(e), logistic_small_f64(e))
}

/// [`logistic_parts_f64`] of a block in place, the low parts of the exponential through
/// `small` (see [`logistic_parts_block_f32`]).
#[inline(always)]
pub fn logistic_parts_block_f64<const N: usize>(
    x_l: &mut [f64; N],
    small: &mut [f64; N],
    sigmoid: bool,
) {
    exp_neg_abs_block_f64(x_l, small);
    if sigmoid {
        for i in 0..N {
            let e = (x_l[i], small[i]);
            small[i] = logistic_small_f64(e);
            x_l[i] = ln_1p_unit_f64(e);
        }
    } else {
        for i in 0..N {
            x_l[i] = ln_1p_unit_f64((x_l[i], small[i]));
        }
    }
}

/// `ln(1 + e^x)`, without overflow.
#[inline(always)]
pub fn softplus_f64(x: f64) -> f64 {
    softplus_with_f64(x, exp_neg_abs_f64(x))
}

/// [`softplus_f64`]`(x)` given `e = `[`exp_neg_abs_f64`]`(x)` (the same bits); computed as
/// [`softplus_with_f32`].
#[inline(always)]
pub fn softplus_with_f64(x: f64, e: (f64, f64)) -> f64 {
    let m = if x > 0.0 { x } else { 0.0 };
    m + ln_1p_unit_f64(e)
}

/// `ln(1 + e + e_lo)` for `e` in `[0, 1]` (see [`ln_1p_unit_f32`]).
#[inline(always)]
fn ln_1p_unit_f64((e, e_lo): (f64, f64)) -> f64 {
    // As `ln_1p_unit_f32`, but the polynomial of `ln_reduced_f64` is not good enough up to
    // f = 1/2: above sqrt(2) - 1 the reduction is taken, and below 1/2 `e - 1` is rounded:
    // its error `c` (Fast2Sum) joins `e_lo`.
    let big = e > std::f64::consts::SQRT_2 - 1.0;
    let d = e - 1.0;
    let c = if big { e - (d + 1.0) } else { 0.0 };
    let f = if big { d * 0.5 } else { e };
    let k = if big { 1.0 } else { 0.0 };
    (e_lo + c).mul_add(1.0 - 0.5 * e, ln_reduced_f64(f, k))
}

/// `x^y` with the special cases of `f64::powf`, as `exp(y ln|x|)`.
#[inline(always)]
pub fn powf_f64(x: f64, y: f64) -> f64 {
    let r = exp_f64(y * ln_f64(x.abs()));
    let ay = y.abs();
    let big = ay >= 4_503_599_627_370_496.0;
    let rounded = (ay + MAGIC64) - MAGIC64;
    let y_int = big || rounded == ay;
    let half = ay * 0.5;
    let y_odd = !big && y_int && ((half + MAGIC64) - MAGIC64) != half;
    let x_neg = x.to_bits() >> 63 != 0;
    let r = if x_neg && y_odd { -r } else { r };
    let r = if x < 0.0 && x > f64::NEG_INFINITY && !y_int {
        f64::NAN
    } else {
        r
    };
    let r = if x.abs() == 1.0 && ay == f64::INFINITY {
        1.0
    } else {
        r
    };
    if y == 0.0 || x == 1.0 { 1.0 } else { r }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Float;

    /// xorshift64*: reproducible pseudo-random bits.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub(crate) fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Inputs: random bit patterns, uniform samples over `lo..hi`, log-uniform magnitudes of
    /// both signs, and the special values.
    fn points32(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f32> {
        let mut r = Rng(seed);
        let mut v = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::from_bits(0x007f_ffff),
            f32::MAX,
            f32::MIN,
            1.0,
            -1.0,
            0.5,
            2.0,
            88.72283,
            88.72284,
            -87.33654,
            -103.97208,
            -103.972_09,
            f32::EPSILON,
            // `exp` was 1.014 ulp off here when its polynomial took Estrin's scheme.
            26.704_473,
        ];
        for i in 0..n {
            v.push(match i % 3 {
                0 => f32::from_bits(r.next() as u32),
                1 => (lo + (hi - lo) * r.unit()) as f32,
                _ => {
                    let m = (2f64).powf(-150.0 + 280.0 * r.unit());
                    (if r.next() & 1 == 0 { m } else { -m }) as f32
                }
            });
        }
        v
    }

    fn points64(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
        let mut r = Rng(seed);
        let mut v = vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0,
            0.5,
            2.0,
            709.782_712_893_384,
            709.782_712_893_385,
            -708.396_418_532_264,
            -745.133_219_101_941,
            -745.133_219_101_942,
            f64::EPSILON,
        ];
        for i in 0..n {
            v.push(match i % 3 {
                0 => f64::from_bits(r.next()),
                1 => lo + (hi - lo) * r.unit(),
                _ => {
                    let m = (2f64).powf(-1075.0 + 2100.0 * r.unit());
                    if r.next() & 1 == 0 { m } else { -m }
                }
            });
        }
        v
    }

    /// Error of an f32 result in ulps of the exact value `want` (an f64 from std).
    fn ulps32(got: f32, want: f64) -> f64 {
        if want.is_nan() {
            return if got.is_nan() { 0.0 } else { f64::INFINITY };
        }
        let w32 = want as f32;
        if w32.is_infinite() || w32 == 0.0 || got.is_infinite() || got == 0.0 {
            // Overflow, underflow and zeros must match exactly (with the sign).
            return if got == w32 && got.is_sign_negative() == w32.is_sign_negative() {
                0.0
            } else if (f64::from(got) - want).abs() <= 1.401_298_5e-45 {
                1.0 // the smallest subnormal either side of 0
            } else {
                f64::INFINITY
            };
        }
        let e = (want.abs().log2().floor() as i32).max(-126);
        let ulp = (2f64).powi(e - 23);
        (f64::from(got) - want).abs() / ulp
    }

    /// Distance in representable f64 values.
    fn ulps64(got: f64, want: f64) -> f64 {
        if want.is_nan() || got.is_nan() {
            return if want.is_nan() && got.is_nan() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        if got == want {
            return if got == 0.0 && got.is_sign_negative() != want.is_sign_negative() {
                f64::INFINITY
            } else {
                0.0
            };
        }
        let key = |x: f64| {
            let b = x.to_bits() as i64;
            if b < 0 { i64::MIN - b } else { b }
        };
        (key(got) as i128 - key(want) as i128).unsigned_abs() as f64
    }

    /// The largest of `err` over `xs` (a NaN counts as the largest), and the first input
    /// where it occurs; on every core (the `f64` reference is slow).
    fn worst<T: Copy + Default + Send + Sync>(xs: &[T], err: impl Fn(T) -> f64 + Sync) -> (f64, T) {
        let worst_of = |xs: &[T]| {
            let mut worst = (0.0, T::default());
            for &x in xs {
                let e = err(x);
                if e > worst.0 || e.is_nan() {
                    worst = (e, x);
                }
            }
            worst
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = xs.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let jobs: Vec<_> = xs
                .chunks(chunk)
                .map(|part| scope.spawn(move || worst_of(part)))
                .collect();
            let mut worst = (0.0, T::default());
            for job in jobs {
                let w = job.join().expect("no panic");
                if w.0 > worst.0 || w.0.is_nan() {
                    worst = w;
                }
            }
            worst
        })
    }

    fn worst32(xs: &[f32], f: fn(f32) -> f32, exact: fn(f64) -> f64) -> (f64, f32) {
        worst(xs, |x| ulps32(f(x), exact(f64::from(x))))
    }

    /// Error of an f64 result in ulps of the exact value `want`. Where std's result `std` is
    /// a special value (NaN, ±inf, or a zero with its sign), `got` must be the same.
    fn ulps64_exact(got: f64, want: exact::Exact, std: f64) -> f64 {
        if !std.is_finite() || want.m.0 == 0.0 || (got == 0.0 && std == 0.0) {
            let same = got.to_bits() == std.to_bits() || (got.is_nan() && std.is_nan());
            return if same { 0.0 } else { f64::INFINITY };
        }
        // The exponent of the exact value (subnormals: that of the smallest normal), from the
        // bits of the leading part.
        let e = ((want.m.0.to_bits() >> 52) & 0x7ff) as i32 - 1023 + want.k;
        let e = e.max(-1022);
        let got_m = exact::Dd::of(got).scale(-want.k).0; // a power of 2: exact
        ((got_m - want.m.0) - want.m.1).abs() / 2f64.powf(f64::from(e - 52 - want.k))
    }

    fn worst64(
        xs: &[f64],
        f: fn(f64) -> f64,
        std: fn(f64) -> f64,
        exact: fn(f64) -> exact::Exact,
    ) -> (f64, f64) {
        worst(xs, |x| {
            let want = std(x);
            // Special inputs and results are std's, to be matched exactly.
            if x.is_finite() && want.is_finite() {
                ulps64_exact(f(x), exact(x), want)
            } else {
                ulps64_exact(f(x), exact::Dd::of(want).into(), want)
            }
        })
    }

    /// Reference values for the `f64` functions, to ~2^-100 relative: double-double
    /// arithmetic (with `mul_add`, exact here: this is the test, not the kernels), `e^x` by
    /// its series after `x = k ln2 + r`, `ln` by `atanh`. A value is `m · 2^k`, so that
    /// subnormal results keep all their digits.
    mod exact {
        /// `hi + lo`, `|lo| <= ulp(hi) / 2`.
        #[derive(Clone, Copy)]
        pub struct Dd(pub f64, pub f64);

        fn two_sum(a: f64, b: f64) -> Dd {
            let s = a + b;
            let bb = s - a;
            Dd(s, (a - (s - bb)) + (b - bb))
        }

        impl Dd {
            pub fn of(x: f64) -> Dd {
                Dd(x, 0.0)
            }
            pub fn add(self, o: Dd) -> Dd {
                let s = two_sum(self.0, o.0);
                let t = two_sum(self.1, o.1);
                let s = two_sum(s.0, s.1 + t.0);
                two_sum(s.0, s.1 + t.1)
            }
            pub fn sub(self, o: Dd) -> Dd {
                self.add(Dd(-o.0, -o.1))
            }
            pub fn mul(self, o: Dd) -> Dd {
                let p = self.0 * o.0;
                let e = self.0.mul_add(o.0, -p);
                two_sum(p, e + (self.0 * o.1 + self.1 * o.0))
            }
            pub fn div(self, o: Dd) -> Dd {
                let q1 = self.0 / o.0;
                let r = self.sub(o.mul(Dd::of(q1)));
                let q2 = r.0 / o.0;
                let r = r.sub(o.mul(Dd::of(q2)));
                two_sum(q1, q2).add(Dd::of(r.0 / o.0))
            }
            /// `self · 2^k`, exact unless the result is subnormal.
            pub fn scale(self, k: i32) -> Dd {
                let (s1, s2) = (pow2(k / 2), pow2(k - k / 2));
                Dd(self.0 * s1 * s2, self.1 * s1 * s2)
            }
        }

        fn pow2(k: i32) -> f64 {
            f64::from_bits(((k + 1023) as u64) << 52)
        }

        /// `m · 2^k`.
        #[derive(Clone, Copy)]
        pub struct Exact {
            pub m: Dd,
            pub k: i32,
        }

        impl From<Dd> for Exact {
            fn from(m: Dd) -> Exact {
                Exact { m, k: 0 }
            }
        }

        impl Exact {
            pub fn value(self) -> Dd {
                self.m.scale(self.k)
            }
        }

        const LN2: Dd = Dd(std::f64::consts::LN_2, 2.319_046_813_846_299_6e-17);

        /// `1/n` (`[0]`: 1) and `1/n!`, as double-doubles.
        fn inverses() -> &'static ([Dd; 48], [Dd; 16]) {
            static INV: std::sync::OnceLock<([Dd; 48], [Dd; 16])> = std::sync::OnceLock::new();
            INV.get_or_init(|| {
                let inv: [Dd; 48] =
                    std::array::from_fn(|n| Dd::of(1.0).div(Dd::of(n.max(1) as f64)));
                let mut fact = [Dd::of(1.0); 16];
                for n in 1..16 {
                    fact[n] = fact[n - 1].mul(inv[n]);
                }
                (inv, fact)
            })
        }

        /// `e^r - 1` for `|r| <= 1/2`: the series (13 terms) at `r / 32`, then squared 5 times
        /// as `e^2a - 1 = m (m + 2)`.
        fn expm1_series(r: Dd) -> Dd {
            let (_, fact) = inverses();
            let r = r.scale(-5);
            let mut t = fact[13];
            for n in (1..13).rev() {
                t = fact[n].add(t.mul(r));
            }
            let mut m = r.mul(t);
            for _ in 0..5 {
                m = m.mul(m.add(Dd::of(2.0)));
            }
            m
        }

        /// `e^x` for finite `x` (beyond `±1100` as at `±1100`: 0 or inf all the same).
        pub fn exp(x: f64) -> Exact {
            let x = x.clamp(-1100.0, 1100.0);
            let k = (x / std::f64::consts::LN_2).round();
            let r = Dd::of(x).sub(LN2.mul(Dd::of(k)));
            let m = expm1_series(r).add(Dd::of(1.0));
            Exact { m, k: k as i32 }
        }

        pub fn exp_m1(x: f64) -> Exact {
            if x.abs() < 1e-200 {
                Dd(x, 0.5 * x * x).into() // r / 32 above would lose digits
            } else if x.abs() <= 0.5 {
                expm1_series(Dd::of(x)).into()
            } else if x > 700.0 {
                exp(x) // - 1 is below its last digit
            } else {
                exp(x).value().sub(Dd::of(1.0)).into()
            }
        }

        /// `ln u` for a positive finite `u`.
        pub fn ln_dd(u: Dd) -> Dd {
            let k = u.0.log2().round() as i32;
            let m = u.scale(-k); // in [sqrt(1/2), sqrt(2)]
            let z = m.sub(Dd::of(1.0)).div(m.add(Dd::of(1.0)));
            let z2 = z.mul(z);
            // ln m = 2 atanh z = 2 (z + z^3/3 + ..), |z| <= 0.18.
            let (inv, _) = inverses();
            let mut t = Dd::of(0.0);
            for n in (0..22).rev() {
                t = t.mul(z2).add(inv[2 * n + 1]);
            }
            LN2.mul(Dd::of(f64::from(k))).add(z.mul(t).mul(Dd::of(2.0)))
        }

        pub fn ln(x: f64) -> Exact {
            ln_dd(Dd::of(x)).into()
        }

        pub fn ln_1p(x: f64) -> Exact {
            if x.abs() < 1e-30 {
                Dd(x, -0.5 * x * x).into()
            } else {
                ln_dd(two_sum(1.0, x)).into()
            }
        }

        pub fn tanh(x: f64) -> Exact {
            if x.abs() > 20.0 {
                Dd::of(x.signum()).into() // 1 - 2e-17 rounds to 1
            } else if x.abs() < 1e-30 {
                Dd::of(x).into()
            } else {
                let m = exp_m1(2.0 * x).value();
                m.div(m.add(Dd::of(2.0))).into()
            }
        }

        pub fn sigmoid(x: f64) -> Exact {
            let e = exp(-x.abs());
            let den = e.value().add(Dd::of(1.0));
            if x >= 0.0 {
                Dd::of(1.0).div(den).into()
            } else {
                Exact {
                    m: e.m.div(den),
                    k: e.k,
                }
            }
        }

        pub fn softplus(x: f64) -> Exact {
            let e = exp(-x.abs());
            // ln(1 + e) = e (1 - e/2 + ..): below 2^-900 the tail is far below the last digit.
            let l = if e.k < -900 {
                e
            } else {
                ln_dd(e.value().add(Dd::of(1.0))).into()
            };
            if x > 0.0 {
                Dd::of(x).add(l.value()).into()
            } else {
                l
            }
        }
    }

    fn sigmoid_ref(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            x.exp() / (1.0 + x.exp())
        }
    }

    fn softplus_ref(x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }

    /// Points per function (and per float type); ~1M each in debug builds, more in release.
    const N: usize = if cfg!(debug_assertions) {
        1 << 20
    } else {
        1 << 23
    };

    #[test]
    fn accuracy_against_std() {
        type Case32 = (&'static str, fn(f32) -> f32, fn(f64) -> f64, f64, f64, f64);
        let cases32: [Case32; 7] = [
            ("exp", exp_f32, f64::exp, -110.0, 90.0, 1.0),
            ("ln", ln_f32, f64::ln, 0.0, 4.0, 1.0),
            ("ln_1p", ln_1p_f32, f64::ln_1p, -1.0, 4.0, 1.5),
            ("exp_m1", exp_m1_f32, f64::exp_m1, -20.0, 90.0, 2.0),
            ("tanh", tanh_f32, f64::tanh, -10.0, 10.0, 1.5),
            ("sigmoid", sigmoid_f32, sigmoid_ref, -110.0, 110.0, 1.5),
            ("softplus", softplus_f32, softplus_ref, -110.0, 110.0, 2.0),
        ];
        let mut failures = Vec::new();
        for (i, (name, f, exact, lo, hi, bound)) in cases32.into_iter().enumerate() {
            let xs = points32(N, lo, hi, 17 + i as u64);
            let (e, at) = worst32(&xs, f, exact);
            println!("f32 {name}: max {e:.3} ulp at {at:e}");
            if e > bound {
                failures.push(format!("f32 {name}: {e} ulp at {at:e}"));
            }
        }
        type Case64 = (
            &'static str,
            fn(f64) -> f64,
            fn(f64) -> f64,
            fn(f64) -> exact::Exact,
            f64,
            f64,
            f64,
        );
        let cases64: [Case64; 7] = [
            ("exp", exp_f64, f64::exp, exact::exp, -750.0, 712.0, 1.0),
            ("ln", ln_f64, f64::ln, exact::ln, 0.0, 4.0, 1.0),
            ("ln_1p", ln_1p_f64, f64::ln_1p, exact::ln_1p, -1.0, 4.0, 1.5),
            (
                "exp_m1",
                exp_m1_f64,
                f64::exp_m1,
                exact::exp_m1,
                -40.0,
                712.0,
                2.0,
            ),
            ("tanh", tanh_f64, f64::tanh, exact::tanh, -20.0, 20.0, 1.5),
            (
                "sigmoid",
                sigmoid_f64,
                sigmoid_ref,
                exact::sigmoid,
                -750.0,
                750.0,
                1.5,
            ),
            (
                "softplus",
                softplus_f64,
                softplus_ref,
                exact::softplus,
                -750.0,
                750.0,
                2.0,
            ),
        ];
        for (i, (name, f, std, exact, lo, hi, bound)) in cases64.into_iter().enumerate() {
            let xs = points64(N, lo, hi, 31 + i as u64);
            let (e, at) = worst64(&xs, f, std, exact);
            println!("f64 {name}: max {e:.3} ulp at {at:e}");
            if e > bound {
                failures.push(format!("f64 {name}: {e} ulp at {at:e}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// The softmax exponential: the bits of `exp` down to about the smallest normal number
    /// (so its accuracy is `exp`'s), 0 below it, NaN for NaN; over random points, the ends of
    /// the range and the special values.
    #[test]
    fn exp_nonpositive_is_exp_down_to_the_normal_numbers() {
        fn check<F: Into<f64> + Copy + std::fmt::LowerExp>(
            xs: Vec<F>,
            f: fn(F) -> F,
            exp: fn(F) -> F,
            (exact_from, zero_below): (f64, f64),
        ) -> usize {
            let mut compared = 0;
            for x in xs
                .into_iter()
                .filter(|&x| x.into() <= 0.0 || x.into().is_nan())
            {
                let (got, want) = (f(x).into(), exp(x).into());
                let ok = if x.into() >= exact_from {
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
                } else if x.into() < zero_below {
                    got == 0.0
                } else {
                    got == 0.0 || got.to_bits() == want.to_bits()
                };
                assert!(ok, "{x:e}: {got:e}, exp gives {want:e}");
                compared += 1;
            }
            compared
        }
        let mut xs = points32(N, -110.0, 0.0, 7);
        xs.extend([
            -87.33f32,
            -87.68,
            -87.69,
            -87.99,
            -88.0,
            -88.01,
            -103.972_09,
            -1e30,
        ]);
        let n32 = check(xs, exp_nonpositive_f32, exp_f32, (-87.67, -87.69));
        let mut xs = points64(N, -750.0, 0.0, 8);
        xs.extend([-708.39, -708.74, -708.75, -745.2, -1e300]);
        let n64 = check(xs, exp_nonpositive_f64, exp_f64, (-708.73, -708.75));
        // The ends, where a wrong flush or a wrong scale would show.
        assert!(exp_nonpositive_f32(-87.67) > 0.0 && exp_nonpositive_f32(-87.69) == 0.0);
        assert!(exp_nonpositive_f64(-708.73) > 0.0 && exp_nonpositive_f64(-708.75) == 0.0);
        assert!(exp_nonpositive_f32(f32::NEG_INFINITY) == 0.0);
        assert!(exp_nonpositive_f64(f64::NEG_INFINITY) == 0.0);
        assert!(exp_nonpositive_f32(f32::NAN).is_nan() && exp_nonpositive_f64(f64::NAN).is_nan());
        assert!(n32 > N / 4 && n64 > N / 4, "{n32} and {n64} points");
    }

    /// The staged block gives the bits of one element at a time, everywhere: random points of
    /// the softmax range and beyond it, both signs, and the special values.
    #[test]
    fn exp_nonpositive_block_has_the_bits_of_exp_nonpositive() {
        fn check<F: Copy + PartialEq + std::fmt::LowerExp>(
            mut xs: Vec<F>,
            block: fn(&mut [F; EXP_BLOCK]),
            one: fn(F) -> F,
            bits: fn(F) -> u64,
        ) -> usize {
            xs.truncate(xs.len() - xs.len() % EXP_BLOCK);
            for chunk in xs.chunks_exact(EXP_BLOCK) {
                let mut b: [F; EXP_BLOCK] = chunk.try_into().unwrap();
                block(&mut b);
                for (&x, &got) in chunk.iter().zip(&b) {
                    let want = one(x);
                    assert!(
                        bits(got) == bits(want),
                        "{x:e}: {got:e} in a block, {want:e} alone"
                    );
                }
            }
            xs.len()
        }
        let mut xs = points32(N, -110.0, 90.0, 9);
        xs.extend([
            0.0f32,
            -0.0,
            -87.68,
            -87.69,
            -104.0,
            -1e30,
            f32::MIN_POSITIVE,
        ]);
        xs.extend([
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
            1e-45,
            -1e-45,
        ]);
        xs.extend([88.0f32, 89.0, 1e30]);
        xs.rotate_right(16); // the special values inside a block, not only at its end
        let n32 = check(xs, exp_nonpositive_block_f32, exp_nonpositive_f32, |x| {
            u64::from(x.to_bits())
        });
        let mut xs = points64(N, -750.0, 712.0, 10);
        xs.extend([
            0.0f64,
            -0.0,
            -708.74,
            -708.75,
            -746.0,
            -1e300,
            f64::MIN_POSITIVE,
        ]);
        xs.extend([
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
            5e-324,
            -5e-324,
        ]);
        xs.extend([709.0f64, 710.0, 1e300]);
        xs.rotate_right(16);
        let n64 = check(
            xs,
            exp_nonpositive_block_f64,
            exp_nonpositive_f64,
            f64::to_bits,
        );
        assert!(n32 > N / 2 && n64 > N / 2, "{n32} and {n64} points");
    }

    /// The logistic parts give the bits of `sigmoid` and `softplus` of `x` and `-x`, and the
    /// staged block the bits of one element at a time (with and without the small sigmoids).
    #[test]
    fn logistic_parts_have_the_bits_of_sigmoid_and_softplus() {
        let mut xs = points32(N, -110.0, 110.0, 13);
        xs.extend([0.0f32, -0.0, 1e-45, -1e-45, 87.68, -104.5, 1e30, -1e30]);
        xs.extend([f32::NEG_INFINITY, f32::INFINITY, f32::NAN]);
        xs.rotate_right(16);
        xs.truncate(xs.len() - xs.len() % 256);
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits();
        for chunk in xs.chunks_exact(256) {
            let mut l: [f32; 256] = chunk.try_into().unwrap();
            let mut small = [0f32; 256];
            logistic_parts_block_f32(&mut l, &mut small, true);
            let mut l_only: [f32; 256] = chunk.try_into().unwrap();
            logistic_parts_block_f32(&mut l_only, &mut [0f32; 256], false);
            for (i, &x) in chunk.iter().enumerate() {
                let parts = logistic_parts_f32(x);
                assert!(
                    same(l[i], parts.0) && same(small[i], parts.1),
                    "{x:e}: block"
                );
                assert!(same(l_only[i], parts.0), "{x:e}: block without sigmoids");
                for z in [x, -x] {
                    assert!(same(z.sigmoid_of_parts(parts), sigmoid_f32(z)), "{z:e}");
                    assert!(same(z.softplus_of_parts(parts), softplus_f32(z)), "{z:e}");
                    let ls = z.log_sigmoid_of_parts(parts);
                    let want = Float::log_sigmoid(z);
                    assert!(same(ls, want) || (ls.is_nan() && want.is_nan()), "{z:e}");
                }
            }
        }
        let mut xs = points64(N, -750.0, 750.0, 14);
        xs.extend([0.0f64, -0.0, 5e-324, -5e-324, 708.74, -746.5, 1e300, -1e300]);
        xs.extend([f64::NEG_INFINITY, f64::INFINITY, f64::NAN]);
        xs.rotate_right(16);
        xs.truncate(xs.len() - xs.len() % 256);
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        for chunk in xs.chunks_exact(256) {
            let mut l: [f64; 256] = chunk.try_into().unwrap();
            let mut small = [0f64; 256];
            logistic_parts_block_f64(&mut l, &mut small, true);
            for (i, &x) in chunk.iter().enumerate() {
                let parts = logistic_parts_f64(x);
                assert!(
                    same(l[i], parts.0) && same(small[i], parts.1),
                    "{x:e}: block"
                );
                for z in [x, -x] {
                    assert!(same(z.sigmoid_of_parts(parts), sigmoid_f64(z)), "{z:e}");
                    assert!(same(z.softplus_of_parts(parts), softplus_f64(z)), "{z:e}");
                    let ls = z.log_sigmoid_of_parts(parts);
                    let want = Float::log_sigmoid(z);
                    assert!(same(ls, want) || (ls.is_nan() && want.is_nan()), "{z:e}");
                }
            }
        }
    }

    /// The staged `exp_neg_abs` gives the bits of one element at a time, both parts.
    #[test]
    fn exp_neg_abs_block_has_the_bits_of_exp_neg_abs() {
        fn check<F: Copy + Default + std::fmt::LowerExp>(
            mut xs: Vec<F>,
            block: fn(&mut [F; 256], &mut [F; 256]),
            one: fn(F) -> (F, F),
            bits: fn(F) -> u64,
        ) -> usize {
            xs.truncate(xs.len() - xs.len() % 256);
            for chunk in xs.chunks_exact(256) {
                let mut hi: [F; 256] = chunk.try_into().unwrap();
                let mut lo = hi;
                block(&mut hi, &mut lo);
                for (i, &x) in chunk.iter().enumerate() {
                    let (h, l) = one(x);
                    assert!(
                        bits(hi[i]) == bits(h) && bits(lo[i]) == bits(l),
                        "{x:e}: ({:e}, {:e}) in a block, ({h:e}, {l:e}) alone",
                        hi[i],
                        lo[i]
                    );
                }
            }
            xs.len()
        }
        let mut xs = points32(N, -110.0, 110.0, 11);
        xs.extend([
            0.0f32,
            -0.0,
            87.68,
            -104.0,
            104.5,
            1e30,
            -1e30,
            f32::MIN_POSITIVE,
        ]);
        xs.extend([
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
            1e-45,
            -1e-45,
        ]);
        xs.rotate_right(16);
        let n32 = check(xs, exp_neg_abs_block_f32, exp_neg_abs_f32, |x| {
            u64::from(x.to_bits())
        });
        let mut xs = points64(N, -750.0, 750.0, 12);
        xs.extend([
            0.0f64,
            -0.0,
            708.74,
            -746.0,
            746.5,
            1e300,
            -1e300,
            f64::MIN_POSITIVE,
        ]);
        xs.extend([
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
            5e-324,
            -5e-324,
        ]);
        xs.rotate_right(16);
        let n64 = check(xs, exp_neg_abs_block_f64, exp_neg_abs_f64, f64::to_bits);
        assert!(n32 > N / 2 && n64 > N / 2, "{n32} and {n64} points");
    }

    #[test]
    fn powf_against_std() {
        let mut r = Rng(99);
        let specials32 = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            2.0,
            -2.0,
            3.0,
            -3.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-45,
            16_777_216.0,
            16_777_217.0,
        ];
        let mut worst32 = 0.0f64;
        let mut worst64 = 0.0f64;
        // Special results (0, ±1, ±inf, NaN) are exact, with their sign; others close.
        for &x in &specials32 {
            for &y in &specials32 {
                let (got, want) = (powf_f32(x, y), x.powf(y));
                let ok = if want.is_finite() && want != 0.0 && want.abs() != 1.0 {
                    let (x, y) = (f64::from(x), f64::from(y));
                    ulps32(got, x.powf(y)) <= 1.0 + 3.0 * (y * x.abs().ln()).abs()
                } else {
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
                };
                assert!(ok, "powf({x}, {y}) = {got}, std {want}");
                let (x, y) = (f64::from(x), f64::from(y));
                let (got, want) = (powf_f64(x, y), x.powf(y));
                let ok = if want.is_finite() && want != 0.0 && want.abs() != 1.0 {
                    ulps64(got, want) <= 1.0 + 3.0 * (y * x.abs().ln()).abs()
                } else {
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
                };
                assert!(ok, "powf({x}, {y}) = {got}, std {want}");
            }
        }
        for i in 0..N {
            let x = match i % 3 {
                0 => r.unit() * 4.0,
                1 => f64::from(f32::from_bits(r.next() as u32)),
                _ => -(r.unit() * 3.0),
            };
            let y = match i % 4 {
                0 => (r.unit() - 0.5) * 20.0,
                1 => ((r.unit() - 0.5) * 20.0).round(),
                2 => 2.0,
                _ => (r.unit() - 0.5) * 200.0,
            };
            let (x32, y32) = (x as f32, y as f32);
            let want = f64::from(x32).powf(f64::from(y32));
            let allowed32 = 1.0 + 3.0 * (f64::from(y32) * f64::from(x32.abs()).ln()).abs();
            let e32 = ulps32(powf_f32(x32, y32), want);
            assert!(
                e32 <= allowed32 || allowed32.is_nan(),
                "powf({x32}, {y32}): {e32} ulp (allowed {allowed32})"
            );
            worst32 = worst32.max(e32 / allowed32);
            // f64: the bound grows with |y ln x|, the magnitude of the exponent.
            let e = ulps64(powf_f64(x, y), x.powf(y));
            let allowed = 1.0 + 3.0 * (y * x.abs().ln()).abs();
            let allowed = if allowed.is_nan() { 0.0 } else { allowed };
            assert!(e <= allowed, "powf({x}, {y}): {e} ulp (allowed {allowed})");
            worst64 = worst64.max(e / allowed);
        }
        println!("powf: max {worst32:.3} (f32), {worst64:.3} (f64) of the bound");
    }

    /// Every `f32` from -104 to 89 (about 2.2e9 arguments; beyond, the result is 0 or inf):
    /// `exp_f32` within 1 ulp of `f64::exp`. Too slow for a debug build, so it runs on demand:
    /// `cargo test -p loss-core --release --lib exp_f32_everywhere -- --ignored --nocapture`.
    #[test]
    #[ignore = "exhaustive: about a minute on two cores in a release build"]
    fn exp_f32_everywhere_within_one_ulp() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let (worst, at) = std::thread::scope(|s| {
            let scans: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        let (mut worst, mut at) = (0.0f64, 0f32);
                        for bits in (t..1 << 32).step_by(threads as usize) {
                            let x = f32::from_bits(bits as u32);
                            if (-104.0..=89.0).contains(&x) {
                                let e = ulps32(exp_f32(x), f64::from(x).exp());
                                if e > worst {
                                    (worst, at) = (e, x);
                                }
                            }
                        }
                        (worst, at)
                    })
                })
                .collect();
            let found = scans.into_iter().map(|h| h.join().unwrap());
            found.fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a })
        });
        println!("f32 exp, every argument: max {worst:.4} ulp at {at:e}");
        assert!(worst <= 1.0, "{worst} ulp at {at:e}");
    }

    /// `ln_normal` is `ln` wherever its contract holds: positive normal numbers and NaN
    /// (random bit patterns, uniform and log-uniform samples; the ends of the range).
    #[test]
    fn ln_normal_has_the_bits_of_ln_on_positive_normals_and_nan() {
        macro_rules! check {
            ($t:ty, $points:ident, $seed:expr, $ln:ident, $ln_normal:ident) => {
                let keep = |x: &$t| x.is_nan() || (x.is_normal() && *x > 0.0);
                let mut xs: Vec<$t> = $points(N, 0.0, 4.0, $seed)
                    .into_iter()
                    .filter(keep)
                    .collect();
                xs.extend([<$t>::MIN_POSITIVE, <$t>::MAX, 1e-7, 1.0 - 1e-7, -<$t>::NAN]);
                assert!(xs.len() > N / 4, "{} points", xs.len());
                for x in xs {
                    let (want, got) = ($ln(x), $ln_normal(x));
                    assert!(
                        want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                        "{} at {x:e}: ln {want:e}, ln_normal {got:e}",
                        stringify!($t)
                    );
                }
            };
        }
        check!(f32, points32, 5, ln_f32, ln_normal_f32);
        check!(f64, points64, 6, ln_f64, ln_normal_f64);
    }

    /// The bits of every function, computed in a loop compiled for the baseline (where
    /// `mul_add` is the runtime library's `fma` on x86-64) and in the same loop compiled for
    /// AVX2+FMA (where it is one instruction and the loop is vectorized): the contract of
    /// `simd`, that the instruction set a loop runs on never changes a result.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        const W: usize = 13;
        #[inline(always)]
        fn bits32(xs: &[f32], out: &mut [[u32; W]]) {
            for (&x, o) in xs.iter().zip(out.iter_mut()) {
                let (l, s) = logistic_parts_f32(x);
                let ys = [
                    exp_f32(x),
                    exp_nonpositive_f32(-x.abs()),
                    ln_f32(x),
                    ln_normal_f32(x.abs()),
                    ln_1p_f32(x),
                    exp_m1_f32(x),
                    tanh_f32(x),
                    sigmoid_f32(x),
                    softplus_f32(x),
                    powf_f32(x, 2.5),
                    powf_f32(1.5, x),
                    l,
                    s,
                ];
                *o = ys.map(f32::to_bits);
            }
        }
        #[inline(always)]
        fn bits64(xs: &[f64], out: &mut [[u64; W]]) {
            for (&x, o) in xs.iter().zip(out.iter_mut()) {
                let (l, s) = logistic_parts_f64(x);
                let ys = [
                    exp_f64(x),
                    exp_nonpositive_f64(-x.abs()),
                    ln_f64(x),
                    ln_normal_f64(x.abs()),
                    ln_1p_f64(x),
                    exp_m1_f64(x),
                    tanh_f64(x),
                    sigmoid_f64(x),
                    softplus_f64(x),
                    powf_f64(x, 2.5),
                    powf_f64(1.5, x),
                    l,
                    s,
                ];
                *o = ys.map(f64::to_bits);
            }
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn bits32_avx2(xs: &[f32], out: &mut [[u32; W]]) {
            bits32(xs, out)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn bits64_avx2(xs: &[f64], out: &mut [[u64; W]]) {
            bits64(xs, out)
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let xs = points32(1 << 18, -120.0, 120.0, 7);
            let (mut base, mut avx) = (vec![[0; W]; xs.len()], vec![[0; W]; xs.len()]);
            bits32(&xs, &mut base);
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { bits32_avx2(&xs, &mut avx) };
            for ((x, b), a) in xs.iter().zip(&base).zip(&avx) {
                assert_eq!(b, a, "f32 at {x:e}: baseline vs AVX2+FMA");
            }
            let xs = points64(1 << 18, -800.0, 800.0, 8);
            let (mut base, mut avx) = (vec![[0; W]; xs.len()], vec![[0; W]; xs.len()]);
            bits64(&xs, &mut base);
            // SAFETY: as above.
            unsafe { bits64_avx2(&xs, &mut avx) };
            for ((x, b), a) in xs.iter().zip(&base).zip(&avx) {
                assert_eq!(b, a, "f64 at {x:e}: baseline vs AVX2+FMA");
            }
        } else {
            println!("no AVX2+FMA on this CPU: nothing to compare");
        }
    }
}
