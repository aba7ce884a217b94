//! Streaming (non-temporal) stores for gradients larger than the caches.
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
//! Used for element-wise kernels without expensive calls from [`STREAM_MIN_BYTES`] of
//! gradient, where the gradient would leave the caches anyway; smaller gradients stay in the
//! cache for whatever reads them next. Kernels with exponentials or logarithms (staged, and
//! prefetching their blocks' lines instead) write as usual: each block's gradient computed
//! into a buffer and streamed from there took longer, in one process over 2^24 `f32` (20
//! alternating rounds each, streamed over ordinary): bce from logits 1.07 and 1.18, log-cosh
//! 1.16, focal 0.98; 1.31 for bce at 2^22.

use crate::Float;
use crate::kernel::ElementKernel;
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
    // `align_offset` may answer "never" (usize::MAX), and streaming stores need whole lines.
    #[cfg(target_arch = "x86_64")]
    if g.as_ptr().align_offset(64) < GROUP {
        use crate::simd::{Level, level};
        match level() {
            // SAFETY: the CPU supports these features (checked by `level`).
            Level::Avx512 => return Some(unsafe { x86::avx512(k, t, p, scale, g) }),
            Level::Avx2 => return Some(unsafe { x86::avx2(k, t, p, scale, g) }),
            Level::Portable => {}
        }
    }
    let _ = (k, t, p, scale, g);
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ElementKernel, Float, GROUP, streamed};
    use core::arch::x86_64::{
        __m256i, __m512i, _mm_sfence, _mm256_loadu_si256, _mm256_stream_si256, _mm512_loadu_si512,
        _mm512_stream_si512,
    };

    /// The loop for one instruction set, storing each group of gradients as `$vector`s.
    macro_rules! level {
        ($name:ident, $features:literal, $vector:ty, $load:ident, $stream:ident) => {
            #[target_feature(enable = $features)]
            pub(super) fn $name<F: Float, K: ElementKernel<F>>(
                k: &K,
                t: &[F],
                p: &[F],
                scale: F,
                g: &mut [F],
            ) -> F {
                let store = |dst: &mut [F; GROUP], src: &[F; GROUP]| {
                    let dst = dst.as_mut_ptr().cast::<$vector>();
                    let src = src.as_ptr().cast::<$vector>();
                    for i in 0..size_of::<[F; GROUP]>() / size_of::<$vector>() {
                        // SAFETY: both groups hold whole vectors (64 or 128 bytes), and
                        // `streamed` passes destinations aligned to 64 bytes.
                        unsafe { $stream(dst.add(i), $load(src.add(i))) }
                    }
                };
                let s = streamed(k, t, p, scale, g, store);
                // Streaming stores are not ordered with the ordinary stores that hand the sum
                // to another thread: fence them before returning.
                _mm_sfence();
                s
            }
        };
    }

    level!(
        avx512,
        "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma",
        __m512i,
        _mm512_loadu_si512,
        _mm512_stream_si512
    );
    level!(
        avx2,
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
fn streamed<F: Float, K: ElementKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    scale: F,
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
    for i in 0..h {
        let (v, d) = k.value_grad(t[i], p[i]);
        (vals[start + i], g[i]) = (v, scale * d);
    }
    let (tb, _) = t[h..].as_chunks::<BLOCK>();
    let (pb, _) = p[h..].as_chunks::<BLOCK>();
    let (gb, _) = g[h..].as_chunks_mut::<BLOCK>();
    let whole = tb.len();
    for ((tb, pb), gb) in tb.iter().zip(pb).zip(gb) {
        let (tg, _) = tb.as_chunks::<GROUP>();
        let (pg, _) = pb.as_chunks::<GROUP>();
        let (gg, _) = gb.as_chunks_mut::<GROUP>();
        let (vg, _) = vals[GROUP..].as_chunks_mut::<GROUP>();
        for (((tg, pg), gg), vg) in tg.iter().zip(pg).zip(gg).zip(vg).take(GROUPS) {
            for j in 0..GROUP {
                let (v, d) = k.value_grad(tg[j], pg[j]);
                (vg[j], grads[j]) = (v, scale * d);
            }
            debug_assert!((gg.as_ptr() as usize).is_multiple_of(64));
            store(gg, grads);
        }
        s.add(sum_block(&vals[start..start + BLOCK]));
        vals.copy_within(BLOCK..BLOCK + GROUP, 0);
    }
    // The rest, fewer than BLOCK + GROUP elements: the open block has `h` values.
    let mut filled = h;
    for i in h + BLOCK * whole..n {
        let (v, d) = k.value_grad(t[i], p[i]);
        (vals[start + filled], g[i]) = (v, scale * d);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Elementwise, LossKernel};
    use crate::testing::{HuberK, MseK};

    /// The streamed loop against the ordinary one, for every offset of the gradient's lines,
    /// lengths around the groups and blocks, and a few lengths of whole chunks.
    fn same_bits<F: Float, K: ElementKernel<F>>(k: K, to_bits: impl Fn(F) -> u64) {
        let len = (1 << 15) + 40;
        let t: Vec<F> = (0..len)
            .map(|i| F::from_f64((i as f64 * 0.7).sin()))
            .collect();
        let p: Vec<F> = (0..len)
            .map(|i| F::from_f64((i as f64 * 0.3).cos() * 1.7))
            .collect();
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
                let Some(v_got) =
                    sum_values_grads(&ordinary.0, t, p, F::from_f64(0.3), &mut got[off..][..n])
                else {
                    // No streaming stores on this CPU: nothing to compare.
                    return;
                };
                assert_eq!(to_bits(v_got), to_bits(v_want), "value, n {n} offset {off}");
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let (a, b) = (to_bits(*a), to_bits(*b));
                    assert_eq!(a, b, "gradient element {i}, n {n} offset {off}");
                }
            }
        }
    }

    #[test]
    fn streamed_loops_give_the_bits_of_the_ordinary_ones() {
        same_bits::<f32, _>(MseK, |x| u64::from(x.to_bits()));
        same_bits::<f64, _>(MseK, f64::to_bits);
        let h32 = HuberK {
            delta: 0.5f32,
            double: false,
        };
        same_bits::<f32, _>(h32, |x| u64::from(x.to_bits()));
        let h64 = HuberK {
            delta: 0.5f64,
            double: true,
        };
        same_bits::<f64, _>(h64, f64::to_bits);
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
