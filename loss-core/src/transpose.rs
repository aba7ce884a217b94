//! The copies between a group of small rows and the transposed layout in which grouped row
//! kernels run (`t[j][row]`: the rows of the group are the vector lanes, see
//! [`LossKernel::group_value_grad`](crate::LossKernel::group_value_grad)).
//!
//! The number of columns is known only at run time, so the plain copy loops move one
//! element at a time: for softmax rows of 16 they took about as long as the exponentials.
//! For `f32` rows of 8 to 16 columns on a CPU with AVX2 the copies go through 8 x 8 register
//! transposes instead (columns `0..8` and `c - 8..c`, which overlap when `c < 16`: the
//! overlapping columns are written twice with the same values). With AVX-512 the columns are
//! stored two at a time, as the loops compiled for it load them (see
//! `avx::rows_to_column_pairs`). Only data moves, so every path gives the same bits.

use crate::Float;
use crate::kernel::{GROUP_MAX_COLS, GROUP_ROWS};

/// A group's rows in the transposed layout: `t[j][row]`.
pub type Columns<F> = [[F; GROUP_ROWS]; GROUP_MAX_COLS];

/// Copies the first `GROUP_ROWS` rows of `c` elements of `rows` to `t[j][row]`, `j < c`
/// (`c` at most `GROUP_MAX_COLS`; the rest of `t` is left as it is).
#[inline(always)]
pub fn rows_to_columns<F: Float>(rows: &[F], c: usize, t: &mut Columns<F>) {
    #[cfg(target_arch = "x86_64")]
    if let Some((rows, t)) = as_f32(rows, c, t) {
        if crate::simd::level() == crate::simd::Level::Avx512 {
            // SAFETY: `as_f32` checked the sizes and the element type; the level, AVX-512.
            unsafe { avx::rows_to_column_pairs(rows, c, t) };
        } else {
            // SAFETY: `as_f32` checked the CPU, the sizes and the element type.
            unsafe { avx::rows_to_columns(rows, c, t) };
        }
        return;
    }
    copy_in(rows, c, t);
}

/// [`rows_to_columns`] one element at a time.
#[inline(always)]
fn copy_in<F: Float>(rows: &[F], c: usize, t: &mut Columns<F>) {
    if c == 0 {
        return;
    }
    for (row, input) in rows.chunks_exact(c).enumerate().take(GROUP_ROWS) {
        for (tj, &x) in t.iter_mut().zip(input) {
            tj[row] = x;
        }
    }
}

/// Copies `t[j][row]`, `j < c`, back to the first `GROUP_ROWS` rows of `c` elements of
/// `rows`: the inverse of [`rows_to_columns`].
#[inline(always)]
pub fn columns_to_rows<F: Float>(t: &Columns<F>, c: usize, rows: &mut [F]) {
    #[cfg(target_arch = "x86_64")]
    if let Some((t, rows)) = as_f32_out(t, c, rows) {
        // SAFETY: `as_f32_out` checked the CPU, the sizes and the element type.
        unsafe { avx::columns_to_rows(t, c, rows) };
        return;
    }
    copy_out(t, c, rows);
}

/// [`columns_to_rows`] one element at a time.
#[inline(always)]
fn copy_out<F: Float>(t: &Columns<F>, c: usize, rows: &mut [F]) {
    if c == 0 {
        return;
    }
    for (row, out) in rows.chunks_exact_mut(c).enumerate().take(GROUP_ROWS) {
        for (o, tj) in out.iter_mut().zip(t) {
            *o = tj[row];
        }
    }
}

/// Whether the register transposes apply: AVX2 (checked once, cached), `f32`, 8 to 16
/// columns, and rows long enough.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fast(size: usize, c: usize, len: usize) -> bool {
    size == 4
        && (8..=GROUP_MAX_COLS).contains(&c)
        && len >= GROUP_ROWS * c
        && crate::simd::level() != crate::simd::Level::Portable
}

/// `rows` and `t` as `f32` when [`fast`] holds.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn as_f32<'a, F: Float>(
    rows: &'a [F],
    c: usize,
    t: &'a mut Columns<F>,
) -> Option<(&'a [f32], &'a mut Columns<f32>)> {
    if !fast(std::mem::size_of::<F>(), c, rows.len()) {
        return None;
    }
    // SAFETY: `Float` is sealed and implemented for f32 and f64 only, so an F of 4 bytes is
    // f32: same size, alignment and validity.
    unsafe {
        Some((
            std::slice::from_raw_parts(rows.as_ptr().cast::<f32>(), rows.len()),
            &mut *(t as *mut Columns<F>).cast::<Columns<f32>>(),
        ))
    }
}

/// `t` and `rows` as `f32` when [`fast`] holds.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn as_f32_out<'a, F: Float>(
    t: &'a Columns<F>,
    c: usize,
    rows: &'a mut [F],
) -> Option<(&'a Columns<f32>, &'a mut [f32])> {
    if !fast(std::mem::size_of::<F>(), c, rows.len()) {
        return None;
    }
    // SAFETY: as in `as_f32`.
    unsafe {
        Some((
            &*(t as *const Columns<F>).cast::<Columns<f32>>(),
            std::slice::from_raw_parts_mut(rows.as_mut_ptr().cast::<f32>(), rows.len()),
        ))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::Columns;
    use crate::kernel::GROUP_ROWS;
    use std::arch::x86_64::*;

    // The transposes below move 8 rows.
    const _: () = assert!(GROUP_ROWS == 8);

    /// Transposes the 8 x 8 matrix whose rows are `r`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ]
    }

    /// The first column of each 8 x 8 block: `0`, and `c - 8` when `c > 8`.
    #[inline(always)]
    fn blocks(c: usize) -> impl Iterator<Item = usize> {
        [0, c - 8].into_iter().take(if c > 8 { 2 } else { 1 })
    }

    /// Columns `at..at + 8` of the 8 rows of `c` elements in `rows`, one vector each.
    ///
    /// # Safety
    /// The CPU supports AVX2; `at + 8 <= c` and `rows.len() >= 8 * c`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_columns(rows: &[f32], c: usize, at: usize) -> [__m256; 8] {
        // SAFETY: row r's elements at..at + 8 end at r * c + c <= 8 * c <= rows.len().
        let r: [__m256; 8] =
            std::array::from_fn(|r| unsafe { _mm256_loadu_ps(rows.as_ptr().add(r * c + at)) });
        transpose8(r)
    }

    /// # Safety
    /// The CPU supports AVX2; `8 <= c <= 16` and `rows.len() >= 8 * c`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn rows_to_columns(rows: &[f32], c: usize, t: &mut Columns<f32>) {
        debug_assert!((8..=t.len()).contains(&c) && rows.len() >= GROUP_ROWS * c);
        for at in blocks(c) {
            // SAFETY: the caller's contract.
            for (k, col) in unsafe { block_columns(rows, c, at) }
                .into_iter()
                .enumerate()
            {
                // SAFETY: at + k < c <= 16 columns of 8 f32 each.
                unsafe { _mm256_storeu_ps(t[at + k].as_mut_ptr(), col) };
            }
        }
    }

    /// [`rows_to_columns`] storing two columns at a time, 64 bytes: loops compiled for
    /// AVX-512 load two columns of 8 as one vector, and a load that spans two narrower stores
    /// cannot be forwarded from them (it waits until both reach the cache). At softmax rows of
    /// 16 that wait took a fifth of the group loop's time (Intel, `perf annotate`).
    ///
    /// # Safety
    /// The CPU supports AVX-512F and AVX2; `8 <= c <= 16` and `rows.len() >= 8 * c`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn rows_to_column_pairs(rows: &[f32], c: usize, t: &mut Columns<f32>) {
        debug_assert!((8..=t.len()).contains(&c) && rows.len() >= GROUP_ROWS * c);
        let out = t.as_mut_ptr().cast::<f32>();
        for at in blocks(c) {
            // SAFETY: the caller's contract.
            let cols = unsafe { block_columns(rows, c, at) };
            for k in (0..8).step_by(2) {
                let lo = _mm512_castps_pd(_mm512_castps256_ps512(cols[k]));
                let pair = _mm512_insertf64x4::<1>(lo, _mm256_castps_pd(cols[k + 1]));
                // SAFETY: columns at + k and at + k + 1 < c <= 16, 8 f32 each, contiguous in
                // `t` (a pointer to the whole array).
                unsafe { _mm512_storeu_ps(out.add((at + k) * GROUP_ROWS), _mm512_castpd_ps(pair)) };
            }
        }
    }

    /// # Safety
    /// As [`rows_to_columns`].
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn columns_to_rows(t: &Columns<f32>, c: usize, rows: &mut [f32]) {
        debug_assert!((8..=t.len()).contains(&c) && rows.len() >= GROUP_ROWS * c);
        for at in blocks(c) {
            let cols: [__m256; 8] =
                std::array::from_fn(|k| unsafe { _mm256_loadu_ps(t[at + k].as_ptr()) });
            for (r, row) in transpose8(cols).into_iter().enumerate() {
                // SAFETY: as in `rows_to_columns`.
                unsafe { _mm256_storeu_ps(rows.as_mut_ptr().add(r * c + at), row) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type In<F> = fn(&[F], usize, &mut Columns<F>);
    type Out<F> = fn(&Columns<F>, usize, &mut [F]);

    /// Every column count, both float types, the dispatched copies (register transposes for
    /// f32 from 8 columns on this CPU, if it has AVX2) and the element-by-element ones: each
    /// element lands where the definition says, the columns beyond `c` are untouched, and the
    /// way back restores the rows without writing past them.
    #[test]
    fn transposes_move_every_element_to_its_place() {
        fn check<F: Float>(copy_in: In<F>, copy_out: Out<F>) {
            for c in 1..=GROUP_MAX_COLS {
                let rows: Vec<F> = (0..GROUP_ROWS * c + 3)
                    .map(|i| F::from_f64(i as f64 + 0.5))
                    .collect();
                let sentinel = F::from_f64(-1.0);
                let mut t = [[sentinel; GROUP_ROWS]; GROUP_MAX_COLS];
                copy_in(&rows, c, &mut t);
                for (j, tj) in t.iter().enumerate() {
                    for (row, &x) in tj.iter().enumerate() {
                        let want = if j < c { rows[row * c + j] } else { sentinel };
                        assert!(x == want, "c={c} t[{j}][{row}] = {x}, want {want}");
                    }
                }
                let mut back = vec![sentinel; rows.len()];
                copy_out(&t, c, &mut back);
                let n = GROUP_ROWS * c;
                assert!(back[..n] == rows[..n], "c={c}: the way back");
                assert!(
                    back[n..].iter().all(|&x| x == sentinel),
                    "c={c}: past the rows"
                );
            }
        }
        check::<f32>(rows_to_columns, columns_to_rows);
        check::<f64>(rows_to_columns, columns_to_rows);
        check::<f32>(super::copy_in, super::copy_out);
        check::<f64>(super::copy_in, super::copy_out);
        // The AVX-512 copy in directly, whatever `LOSSES_SIMD` chose.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            fn pairs(rows: &[f32], c: usize, t: &mut Columns<f32>) {
                if (8..=GROUP_MAX_COLS).contains(&c) {
                    // SAFETY: AVX-512F (and so AVX2) detected; 8 <= c <= 16; the rows are
                    // long enough (`check` passes GROUP_ROWS * c + 3 elements).
                    unsafe { super::avx::rows_to_column_pairs(rows, c, t) };
                } else {
                    super::copy_in(rows, c, t);
                }
            }
            check::<f32>(pairs, super::copy_out);
        }
    }
}
