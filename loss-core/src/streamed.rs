//! Streaming (non-temporal) stores for gradients (and second derivatives) larger than the
//! caches.
//!
//! An ordinary store first reads its cache line from memory, then writes it back: a gradient
//! that does not fit in the caches costs two transfers per line. A streaming store writes the
//! whole line without reading it, so a loss that reads two arrays and writes one moves a
//! quarter fewer bytes (the ceiling of the memory-bound losses, mse and huber). The values
//! and their bits are those of the ordinary loop: only the way the gradient reaches memory
//! changes, and the block sums keep their blocks.
//!
//! On the 2-core test machine (AVX-512, two threads), `value_and_grad_into` over 2^24 `f32`,
//! alternating runs of the binaries before and after (three pairs): mse 6.66-7.82 -> 5.13-5.41
//! ms, huber 6.58-7.48 -> 5.45-6.74 ms.
//!
//! `grad_hess_into` writes two arrays: streamed, it moves a third fewer bytes. Over 2^24 `f32`
//! on two threads, streamed over ordinary in the same rounds (a scratch switch, three runs):
//! mse 0.68, 0.66, 0.70; huber 0.69, 0.69, 0.66 (mse 6.0 ms against 8.7 in the first). Where
//! the second derivative's lines start elsewhere than the gradient's, only the gradient
//! streams: 0.81 and 0.79.
//!
//! With sample weights (`value_and_grad_weighted_into`), the same loop weighs each group as
//! the ordinary weighted loop weighs each element. 2^24 `f32`, two threads, alternating runs
//! of the binaries before and after (three pairs): mse in rows of 16, 7.89-8.81 -> 6.83-8.20
//! ms; with a weight per element, 9.72-10.13 -> 7.90-8.25 ms.
//!
//! Used for element-wise kernels without expensive calls from [`STREAM_MIN_BYTES`] of
//! gradient, where the gradient would leave the caches anyway; smaller gradients stay in the
//! cache for whatever reads them next. Kernels with exponentials or logarithms (staged, and
//! prefetching their blocks' lines instead) write as usual: each block's gradient computed
//! into a buffer and streamed from there took longer, in one process over 2^24 `f32` (20
//! alternating rounds each, streamed over ordinary): bce from logits 1.07 and 1.18, log-cosh
//! 1.16, focal 0.98; 1.31 for bce at 2^22.
//!
//! Long rows (softmax cross-entropy over 1000 classes) are the exception: their kernel
//! writes a row's gradient in a pass of its own, after the row's sums, so each row is computed
//! into a buffer of one row and copied with streaming stores ([`copy_streaming`]).

use crate::Float;
use crate::kernel::{BlockWeights, ElementKernel, RunWeights};
#[cfg(target_arch = "x86_64")]
use crate::simd::Level;
use crate::sum::{BLOCK, PairwiseSum, sum_block};

/// The gradient size from which a run writes it with streaming stores. With its two inputs,
/// such a run moves at least 48 MiB: more than the last-level cache of most CPUs (32 MiB on
/// the test machine), so the gradient would not stay in the caches anyway.
pub(crate) const STREAM_MIN_BYTES: usize = 16 << 20;

/// Elements computed, then stored, together: 64 bytes of `f32`, 128 of `f64`.
const GROUP: usize = 16;

/// Whether a gradient of `n` elements is written with streaming stores.
pub(crate) fn streams<F>(n: usize) -> bool {
    n.saturating_mul(size_of::<F>()) >= STREAM_MIN_BYTES
}

/// [`sum_values_grads`](crate::kernel) with the gradient's whole cache lines written by
/// streaming stores where the CPU has them (AVX2 or AVX-512); `None` where it has not (the
/// caller then runs the ordinary loop). The same values and sums as the ordinary loop.
#[inline(always)]
pub(crate) fn sum_values_grads<F: Float, K: ElementKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    scale: F,
    g: &mut [F],
) -> Option<F> {
    weighed(k, t, p, Scaled(scale), g)
}

/// [`sum_values_grads`] with sample weights: each value times its element's weight, each
/// derivative times the weight and `scale` (the bits of the ordinary weighted loop).
#[inline(always)]
pub(crate) fn sum_weighted_values_grads<F: Float, K: ElementKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    w: RunWeights<'_, F>,
    scale: F,
    g: &mut [F],
) -> Option<F> {
    let weights = Weighted {
        run: w,
        scale,
        block: BlockWeights::new(),
    };
    weighed(k, t, p, weights, g)
}

/// The streamed value loop for the instruction set of this CPU, `None` where it has no
/// streaming stores.
#[inline(always)]
fn weighed<F: Float, K: ElementKernel<F>, W: Weigh<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    w: W,
    g: &mut [F],
) -> Option<F> {
    #[cfg(target_arch = "x86_64")]
    return match x86::streaming_level(g)? {
        // SAFETY: the CPU supports these features (checked by `level`).
        Level::Avx512 => Some(unsafe { x86::avx512(k, t, p, w, g) }),
        Level::Avx2 => Some(unsafe { x86::avx2(k, t, p, w, g) }),
        Level::Portable => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (k, t, p, w, g);
        None
    }
}

/// What the value loop sums and stores of each element: its value and its derivative
/// times the run's scale ([`Scaled`]), or both weighted ([`Weighted`]). The loop computes
/// a group's values and derivatives as the unweighted loop does, then hands them here, a
/// group at a time: LLVM left the group loop scalar when the weighting sat inside it.
trait Weigh<F> {
    /// Makes ready the elements `from .. from + n` of the run (`n <= BLOCK`).
    fn prepare(&mut self, from: usize, n: usize);
    /// The summed value and the stored derivative of element `i` of those.
    fn one(&self, i: usize, value: F, d: F) -> (F, F);
    /// [`one`](Self::one) for the elements of group `q` of those, in place.
    fn group(&self, q: usize, values: &mut [F; GROUP], ds: &mut [F; GROUP]);
}

/// No sample weights: the value as it is, the derivative times the scale.
struct Scaled<F>(F);

impl<F: Float> Weigh<F> for Scaled<F> {
    #[inline(always)]
    fn prepare(&mut self, _: usize, _: usize) {}
    #[inline(always)]
    fn one(&self, _: usize, value: F, d: F) -> (F, F) {
        (value, self.0 * d)
    }
    #[inline(always)]
    fn group(&self, _: usize, _: &mut [F; GROUP], ds: &mut [F; GROUP]) {
        for d in ds {
            *d = self.0 * *d;
        }
    }
}

/// Sample weights, as the ordinary weighted loop applies them: the value times the weight
/// (times one), the derivative times the weight times the scale.
struct Weighted<'a, F> {
    run: RunWeights<'a, F>,
    scale: F,
    block: BlockWeights<F>,
}

impl<F: Float> Weigh<F> for Weighted<'_, F> {
    #[inline(always)]
    fn prepare(&mut self, from: usize, n: usize) {
        self.block.fill(&self.run, from, n, self.scale);
    }
    #[inline(always)]
    fn one(&self, i: usize, value: F, d: F) -> (F, F) {
        (value * self.block.value[i], self.block.grad[i] * d)
    }
    #[inline(always)]
    fn group(&self, q: usize, values: &mut [F; GROUP], ds: &mut [F; GROUP]) {
        // Always `Some` (`q < BLOCK / GROUP`); a check per group, none per element.
        let (Some(wv), Some(wg)) = (
            self.block.value[q * GROUP..].first_chunk::<GROUP>(),
            self.block.grad[q * GROUP..].first_chunk::<GROUP>(),
        ) else {
            return;
        };
        for j in 0..GROUP {
            (values[j], ds[j]) = (values[j] * wv[j], wg[j] * ds[j]);
        }
    }
}

/// The first and second derivatives of a run into `g` and `hs`, written with streaming
/// stores where the CPU has them (`None` where it has not: the caller then runs the
/// ordinary loop): `g` always, `hs` where its lines start at the same element as `g`'s (as
/// two large arrays from `malloc` often do, but not always), as usual otherwise. `Some` of
/// NaN if a derivative in `g` is NaN, of 0 otherwise. The same values as the ordinary loop.
#[inline(always)]
pub(crate) fn grads_hess<F: Float, K: ElementKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    g: &mut [F],
    hs: &mut [F],
) -> Option<F> {
    #[cfg(target_arch = "x86_64")]
    return match x86::streaming_level(g)? {
        // SAFETY: the CPU supports these features (checked by `level`).
        Level::Avx512 => Some(unsafe { x86::avx512_grad_hess(k, t, p, g, hs) }),
        Level::Avx2 => Some(unsafe { x86::avx2_grad_hess(k, t, p, g, hs) }),
        Level::Portable => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (k, t, p, g, hs);
        None
    }
}

/// The row lengths, in bytes, whose gradients a run of rows streams from [`STREAM_MIN_BYTES`]
/// of gradient: each row is computed into a buffer of one row, which stays in the first-level
/// cache, and copied to the gradient from there. Shorter rows have too few whole lines (and
/// rows of up to 16 go in groups); longer ones would not keep their buffer in that cache.
pub(crate) const STREAM_ROW_BYTES: core::ops::RangeInclusive<usize> = 256..=(32 << 10);

/// Whether a run of rows of `c` elements, `n` in all, streams its gradient: where the CPU has
/// streaming stores, for long gradients of rows of [`STREAM_ROW_BYTES`].
pub(crate) fn streams_rows<F>(n: usize, c: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    let has_stores = crate::simd::level() != Level::Portable;
    #[cfg(not(target_arch = "x86_64"))]
    let has_stores = false;
    has_stores && streams::<F>(n) && STREAM_ROW_BYTES.contains(&c.saturating_mul(size_of::<F>()))
}

/// Copies `src` to `dst` (the same length): groups from `dst`'s first 64-byte line by
/// streaming stores (as the element loops store theirs), the elements before that line and
/// after the last whole group by ordinary ones. Call [`fence`] before the stores
/// are read by another thread. Where the CPU has no streaming stores, an ordinary copy.
#[inline]
pub(crate) fn copy_streaming<F: Float>(dst: &mut [F], src: &[F]) {
    #[cfg(target_arch = "x86_64")]
    match crate::simd::level() {
        // SAFETY: the CPU supports these features (checked by `level`).
        Level::Avx512 => return unsafe { x86::copy_avx512(dst, src) },
        Level::Avx2 => return unsafe { x86::copy_avx2(dst, src) },
        Level::Portable => {}
    }
    dst.copy_from_slice(src);
}

/// Orders the streaming stores before any later store (such as the one that hands a task's
/// sum to another thread).
#[inline]
pub(crate) fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_sfence()
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ElementKernel, Float, GROUP, Weigh, streamed, streamed_grad_hess};
    use crate::simd::{Level, level};
    use core::arch::x86_64::{
        __m256i, __m512i, _mm_sfence, _mm256_loadu_si256, _mm256_stream_si256, _mm512_loadu_si512,
        _mm512_stream_si512,
    };

    /// The instruction set whose streaming stores write `g`: none where the CPU has none, or
    /// where `g`'s lines do not start within a group (`align_offset` may answer "never",
    /// `usize::MAX`, and streaming stores need whole lines).
    #[inline(always)]
    pub(super) fn streaming_level<F>(g: &[F]) -> Option<Level> {
        let level = level();
        (g.as_ptr().align_offset(64) < GROUP && level != Level::Portable).then_some(level)
    }

    /// The loops for one instruction set, storing each group of derivatives as `$vector`s.
    macro_rules! level {
        (
            $name:ident,
            $grad_hess:ident,
            $copy:ident,
            $features:literal,
            $vector:ty,
            $load:ident,
            $stream:ident
        ) => {
            #[target_feature(enable = $features)]
            pub(super) fn $name<F: Float, K: ElementKernel<F>, W: Weigh<F>>(
                k: &K,
                t: &[F],
                p: &[F],
                w: W,
                g: &mut [F],
            ) -> F {
                let s = streamed(k, t, p, w, g, store!($vector, $load, $stream));
                // Streaming stores are not ordered with the ordinary stores that hand the sum
                // to another thread: fence them before returning.
                _mm_sfence();
                s
            }

            #[target_feature(enable = $features)]
            pub(super) fn $grad_hess<F: Float, K: ElementKernel<F>>(
                k: &K,
                t: &[F],
                p: &[F],
                g: &mut [F],
                hs: &mut [F],
            ) -> F {
                let flag = streamed_grad_hess(k, t, p, g, hs, store!($vector, $load, $stream));
                _mm_sfence();
                flag
            }

            /// `copy_streaming`: the groups from `dst`'s first line by streaming stores.
            #[target_feature(enable = $features)]
            pub(super) fn $copy<F: Float>(dst: &mut [F], src: &[F]) {
                let h = dst.as_ptr().align_offset(64).min(dst.len());
                let (head, body) = dst.split_at_mut(h);
                let (src_head, src_body) = src.split_at(h);
                head.copy_from_slice(src_head);
                let (groups, rest) = body.as_chunks_mut::<GROUP>();
                let (src_groups, src_rest) = src_body.as_chunks::<GROUP>();
                rest.copy_from_slice(src_rest);
                let store = store!($vector, $load, $stream);
                for (d, s) in groups.iter_mut().zip(src_groups) {
                    store(d, s);
                }
            }
        };
    }

    /// A closure storing one group to a 64-byte-aligned destination with streaming stores.
    macro_rules! store {
        ($vector:ty, $load:ident, $stream:ident) => {
            |dst: &mut [F; GROUP], src: &[F; GROUP]| {
                let dst = dst.as_mut_ptr().cast::<$vector>();
                let src = src.as_ptr().cast::<$vector>();
                for i in 0..size_of::<[F; GROUP]>() / size_of::<$vector>() {
                    // SAFETY: both groups hold whole vectors (64 or 128 bytes), and the loops
                    // pass destinations aligned to 64 bytes.
                    unsafe { $stream(dst.add(i), $load(src.add(i))) }
                }
            }
        };
    }

    level!(
        avx512,
        avx512_grad_hess,
        copy_avx512,
        "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma",
        __m512i,
        _mm512_loadu_si512,
        _mm512_stream_si512
    );
    level!(
        avx2,
        avx2_grad_hess,
        copy_avx2,
        "avx2,fma",
        __m256i,
        _mm256_loadu_si256,
        _mm256_stream_si256
    );
}

/// What the loop of a run keeps between blocks, aligned to 64 bytes so that each group's
/// values are stored as whole vectors. `grads` is the group about to be stored: as a field
/// rather than a local array, LLVM keeps it in registers (a local array of 16 came out
/// partly scalar, lanes extracted and inserted one at a time).
#[repr(C, align(64))]
struct Window<F> {
    vals: [F; BLOCK + 2 * GROUP],
    grads: [F; GROUP],
}

/// The loop of [`sum_values_grads`] for one instruction set: `store` writes one group of
/// gradient values to a 64-byte-aligned destination.
///
/// The gradient's lines start `h` elements into the run (`h < GROUP`), so groups of `GROUP`
/// elements from there fill whole lines; the `h` elements before the first line and those
/// after the last whole block of groups are stored as usual. Block sums keep the blocks of
/// the ordinary loop (and so its bits): the values of block `b` are elements `256 b ..`, and
/// `vals` holds them from `GROUP - h` on, so that the groups land on aligned offsets. When
/// the 16 groups from element `256 b + h` are in, the block is summed and the last group,
/// whose last `h` values open the next block, moves to the front.
#[inline(always)]
fn streamed<F: Float, K: ElementKernel<F>, W: Weigh<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    mut w: W,
    g: &mut [F],
    store: impl Fn(&mut [F; GROUP], &[F; GROUP]),
) -> F {
    const GROUPS: usize = BLOCK / GROUP;
    let n = t.len().min(p.len()).min(g.len());
    let (t, p, g) = (&t[..n], &p[..n], &mut g[..n]);
    let h = g.as_ptr().align_offset(64);
    debug_assert!(h < GROUP, "checked by sum_values_grads");
    let h = h.min(n);
    let start = GROUP - h;
    let mut window = Window {
        vals: [F::ZERO; BLOCK + 2 * GROUP],
        grads: [F::ZERO; GROUP],
    };
    let Window { vals, grads } = &mut window;
    let mut s = PairwiseSum::new();
    w.prepare(0, h);
    for i in 0..h {
        let (v, d) = k.value_grad(t[i], p[i]);
        (vals[start + i], g[i]) = w.one(i, v, d);
    }
    let (tb, _) = t[h..].as_chunks::<BLOCK>();
    let (pb, _) = p[h..].as_chunks::<BLOCK>();
    let (gb, _) = g[h..].as_chunks_mut::<BLOCK>();
    let whole = tb.len();
    let mut from = h;
    for ((tb, pb), gb) in tb.iter().zip(pb).zip(gb) {
        w.prepare(from, BLOCK);
        from += BLOCK;
        let (tg, _) = tb.as_chunks::<GROUP>();
        let (pg, _) = pb.as_chunks::<GROUP>();
        let (gg, _) = gb.as_chunks_mut::<GROUP>();
        let (vg, _) = vals[GROUP..].as_chunks_mut::<GROUP>();
        // A count of its own rather than `enumerate`: with that, LLVM left the unweighted
        // group loop scalar (2^24 f32: 13 ms against 6).
        let mut q = 0;
        #[allow(clippy::explicit_counter_loop)]
        for (((tg, pg), gg), vg) in tg.iter().zip(pg).zip(gg).zip(vg).take(GROUPS) {
            for j in 0..GROUP {
                (vg[j], grads[j]) = k.value_grad(tg[j], pg[j]);
            }
            w.group(q, vg, grads);
            q += 1;
            debug_assert!((gg.as_ptr() as usize).is_multiple_of(64));
            store(gg, grads);
        }
        s.add(sum_block(&vals[start..start + BLOCK]));
        vals.copy_within(BLOCK..BLOCK + GROUP, 0);
    }
    // The rest, fewer than BLOCK + GROUP elements: the open block has `h` values.
    let mut filled = h;
    let rest = h + BLOCK * whole;
    w.prepare(rest, n - rest);
    for i in rest..n {
        let (v, d) = k.value_grad(t[i], p[i]);
        (vals[start + filled], g[i]) = w.one(i - rest, v, d);
        filled += 1;
        if filled == BLOCK {
            s.add(sum_block(&vals[start..start + BLOCK]));
            filled = 0;
        }
    }
    if filled > 0 {
        s.add(sum_block(&vals[start..start + filled]));
    }
    s.sum()
}

/// The derivatives of one group, kept together so that LLVM holds both in registers (see
/// [`Window`]).
#[repr(C, align(64))]
struct Pair<F> {
    grads: [F; GROUP],
    hess: [F; GROUP],
}

/// The loop of [`grads_hess`]: `store` writes one group to a 64-byte-aligned destination.
/// Groups start on the gradient's lines; the elements before its first line and after its
/// last whole group are stored as usual, and so is every group of `hs` if its lines start
/// elsewhere. No sums, so the groups need not meet any blocks.
#[inline(always)]
fn streamed_grad_hess<F: Float, K: ElementKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    g: &mut [F],
    hs: &mut [F],
    store: impl Fn(&mut [F; GROUP], &[F; GROUP]),
) -> F {
    let n = t.len().min(p.len()).min(g.len()).min(hs.len());
    let (t, p, g, hs) = (&t[..n], &p[..n], &mut g[..n], &mut hs[..n]);
    let h = g.as_ptr().align_offset(64).min(n);
    let hess_lined_up = hs.as_ptr().align_offset(64) == g.as_ptr().align_offset(64);
    // One flag per lane (a vector of comparisons), combined at the end.
    let mut nan = [false; GROUP];
    let mut ordinary = |t: &[F], p: &[F], g: &mut [F], hs: &mut [F]| {
        for (((&t, &p), g), hs) in t.iter().zip(p).zip(g).zip(hs) {
            (*g, *hs) = k.grad_hess(t, p);
            nan[0] |= g.is_nan();
        }
    };
    ordinary(&t[..h], &p[..h], &mut g[..h], &mut hs[..h]);
    let (tg, t_rest) = t[h..].as_chunks::<GROUP>();
    let (pg, p_rest) = p[h..].as_chunks::<GROUP>();
    let (gg, g_rest) = g[h..].as_chunks_mut::<GROUP>();
    let (hg, h_rest) = hs[h..].as_chunks_mut::<GROUP>();
    ordinary(t_rest, p_rest, g_rest, h_rest);
    let mut pair = Pair {
        grads: [F::ZERO; GROUP],
        hess: [F::ZERO; GROUP],
    };
    for (((tg, pg), gg), hg) in tg.iter().zip(pg).zip(gg).zip(hg) {
        for j in 0..GROUP {
            (pair.grads[j], pair.hess[j]) = k.grad_hess(tg[j], pg[j]);
            nan[j] |= pair.grads[j].is_nan();
        }
        store(gg, &pair.grads);
        if hess_lined_up {
            store(hg, &pair.hess);
        } else {
            *hg = pair.hess;
        }
    }
    if nan.iter().any(|&x| x) {
        F::NAN
    } else {
        F::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Elementwise, LossKernel};
    use crate::testing::{HuberK, MseK};

    /// `y_true` and `y_pred` of `len` elements for the comparisons below.
    fn inputs<F: Float>(len: usize) -> (Vec<F>, Vec<F>) {
        let t = (0..len).map(|i| F::from_f64((i as f64 * 0.7).sin()));
        let p = (0..len).map(|i| F::from_f64((i as f64 * 0.3).cos() * 1.7));
        (t.collect(), p.collect())
    }

    /// Whether this CPU (or `LOSSES_SIMD`) gives the loops streaming stores.
    fn streams_here() -> bool {
        cfg!(target_arch = "x86_64") && crate::simd::level() != crate::simd::Level::Portable
    }

    /// The streamed loop against the ordinary one, for every offset of the gradient's lines,
    /// lengths around the groups and blocks, and a few lengths of whole chunks.
    fn same_bits<F: Float, K: ElementKernel<F>>(k: K, to_bits: impl Fn(F) -> u64) {
        let len = (1 << 15) + 40;
        let (t, p) = inputs::<F>(len);
        let ordinary = Elementwise(k);
        let lengths = [
            1,
            15,
            16,
            17,
            255,
            256,
            257,
            271,
            272,
            273,
            511,
            517,
            775,
            4097,
            1 << 15,
        ];
        for n in lengths {
            for off in 0..GROUP + 1 {
                let (t, p) = (&t[off..off + n], &p[off..off + n]);
                let mut want = vec![F::NAN; len];
                let mut got = vec![F::NAN; len];
                let v_want =
                    ordinary.flat_value_grad(t, p, F::from_f64(0.3), &mut want[off..][..n]);
                let v_got =
                    sum_values_grads(&ordinary.0, t, p, F::from_f64(0.3), &mut got[off..][..n]);
                let Some(v_got) = v_got else {
                    assert!(!streams_here(), "n {n} offset {off}: not streamed");
                    return; // no streaming stores on this CPU: nothing to compare
                };
                assert_eq!(to_bits(v_got), to_bits(v_want), "value, n {n} offset {off}");
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let (a, b) = (to_bits(*a), to_bits(*b));
                    assert_eq!(a, b, "gradient element {i}, n {n} offset {off}");
                }
            }
        }
    }

    /// The weighted streamed loop against the ordinary weighted loop, as `same_bits` does,
    /// for weights of one element, of rows of 3, 16, 17 and 1000, starting within a row.
    fn same_weighted<F: Float, K: ElementKernel<F>>(k: K, to_bits: impl Fn(F) -> u64) {
        if !streams_here() {
            return;
        }
        let len = 4096 + 40;
        let (t, p) = inputs::<F>(len);
        let w: Vec<F> = (0..len + 8)
            .map(|i| F::from_f64(0.25 + (i as f64 * 0.37).sin().abs()))
            .collect();
        let ordinary = Elementwise(k);
        let scale = F::from_f64(0.3);
        for (group, start) in [
            (1, 0),
            (1, 5),
            (3, 7),
            (16, 0),
            (16, 9),
            (17, 30),
            (1000, 999),
        ] {
            let run = RunWeights {
                w: &w,
                group,
                start,
            };
            for n in [1, 15, 16, 17, 255, 256, 257, 273, 517, 4096] {
                for off in 0..GROUP + 1 {
                    let (t, p) = (&t[off..off + n], &p[off..off + n]);
                    let mut want = vec![F::NAN; len];
                    let mut got = vec![F::NAN; len];
                    let g_want = &mut want[off..][..n];
                    let v_want = ordinary.flat_weighted_value_grad(t, p, run, scale, g_want);
                    let g_got = &mut got[off..][..n];
                    let v_got = sum_weighted_values_grads(&ordinary.0, t, p, run, scale, g_got);
                    let at = format!("n {n} offset {off}, rows of {group} from {start}");
                    let v_got = v_got.unwrap_or_else(|| panic!("not streamed, {at}"));
                    assert_eq!(to_bits(v_got), to_bits(v_want), "value, {at}");
                    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(to_bits(*a), to_bits(*b), "gradient element {i}, {at}");
                    }
                }
            }
        }
    }

    /// The streamed derivatives against the ordinary loop, as `same_bits` does, with the
    /// second derivative's lines where the gradient's start or one element on, and a NaN in
    /// the gradient flagged wherever it falls.
    fn same_derivatives<F: Float, K: ElementKernel<F>>(k: K, to_bits: impl Fn(F) -> u64) {
        if !streams_here() {
            return;
        }
        let len = 4096 + 40;
        let (t, p) = inputs::<F>(len);
        let ordinary = Elementwise(k);
        // The second derivative's buffer from where its lines start as the gradient's do.
        let lined_up = |g: &[F], h: &[F]| {
            (0..GROUP)
                .find(|&s| h[s..].as_ptr().align_offset(64) == g.as_ptr().align_offset(64))
                .unwrap()
        };
        let same = |a: &[F], b: &[F]| a.iter().zip(b).all(|(a, b)| to_bits(*a) == to_bits(*b));
        for n in [1, 15, 16, 17, 31, 33, 255, 256, 257, 1000, 4096] {
            for (off, shift) in (0..GROUP + 1).flat_map(|off| [(off, 0), (off, 1)]) {
                let (t, p) = (&t[off..off + n], &p[off..off + n]);
                let (mut g_want, mut h_want) = (vec![F::NAN; n], vec![F::NAN; n]);
                ordinary.row_grad_hess(t, p, &mut g_want, &mut h_want);
                let (mut g_got, mut h_got) = (vec![F::NAN; len], vec![F::NAN; len + GROUP + 1]);
                let s = lined_up(&g_got, &h_got) + shift;
                let g_got = &mut g_got[off..][..n];
                let h_got = &mut h_got[s + off..][..n];
                let at = format!("n {n} offset {off}, second derivative shifted by {shift}");
                let flag = grads_hess(&ordinary.0, t, p, g_got, h_got);
                assert!(flag.is_some_and(|f| f == F::ZERO), "{at}");
                assert!(same(g_got, &g_want), "gradient, {at}");
                assert!(same(h_got, &h_want), "second derivative, {at}");
                // A NaN prediction: before the first line, in a group, after the last group.
                for i in [0, n / 2, n - 1] {
                    let mut p = p.to_vec();
                    p[i] = F::NAN;
                    let flag = grads_hess(&ordinary.0, t, &p, g_got, h_got);
                    assert!(flag.is_some_and(|f| f.is_nan()), "NaN at {i}, {at}");
                }
            }
        }
    }

    /// The streamed loops of one kernel against the ordinary ones.
    fn same_all<F: Float, K: ElementKernel<F>>(k: impl Fn() -> K, to_bits: impl Fn(F) -> u64) {
        same_bits(k(), &to_bits);
        same_weighted(k(), &to_bits);
        same_derivatives(k(), &to_bits);
    }

    #[test]
    fn streamed_loops_give_the_bits_of_the_ordinary_ones() {
        let (bits32, bits64) = (|x: f32| u64::from(x.to_bits()), f64::to_bits);
        same_all(|| MseK, bits32);
        same_all(|| MseK, bits64);
        let (delta, double) = (0.5, false);
        same_all(|| HuberK { delta, double }, bits32);
        let (delta, double) = (0.5, true);
        same_all(|| HuberK { delta, double }, bits64);
    }

    #[test]
    fn only_gradients_past_the_caches_stream() {
        assert!(!streams::<f32>((4 << 20) - 1));
        assert!(streams::<f32>(4 << 20));
        assert!(streams::<f64>(2 << 20));
        assert!(!streams::<f64>((2 << 20) - 1));
        assert!(streams::<f32>(usize::MAX));
    }
}
