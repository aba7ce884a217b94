//! Accurate, deterministic summation.

use crate::Float;

/// Pairwise summation of a stream of partial sums (block sums, row values).
///
/// Values are combined like the carries of a binary counter: the `k`-th value pushed is added
/// to its neighbour, the pair to the neighbouring pair, and so on, so the result is the sum
/// over a balanced binary tree whose leaves are the values in order. The rounding error grows
/// with `log2(n)` instead of `n`, and the result depends only on the values and their order
/// (not on timing or thread count).
///
/// ```
/// use loss_core::PairwiseSum;
/// let (mut s, mut naive) = (PairwiseSum::<f32>::new(), 0.0f32);
/// for _ in 0..(1 << 22) {
///     s.add(0.1);
///     naive += 0.1;
/// }
/// let exact = 0.1f32 as f64 * (1 << 22) as f64;
/// assert!((s.sum() as f64 - exact).abs() / exact < 1e-6);
/// assert!((naive as f64 - exact).abs() / exact > 1e-3); // one accumulator drifts
/// ```
#[derive(Clone, Debug)]
pub struct PairwiseSum<F> {
    /// `stack[i]` is the sum of a complete subtree; sizes decrease towards the top.
    stack: [F; 64],
    len: usize,
    /// How many values were pushed; its set bits are the subtrees on the stack.
    count: u64,
}

impl<F: Float> Default for PairwiseSum<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> PairwiseSum<F> {
    /// An empty sum.
    #[inline]
    pub fn new() -> Self {
        PairwiseSum {
            stack: [F::ZERO; 64],
            len: 0,
            count: 0,
        }
    }

    /// Adds one value (a leaf of the tree).
    #[inline]
    pub fn add(&mut self, x: F) {
        self.push(x, self.count);
        self.count = self.count.wrapping_add(1);
    }

    /// Pushes the subtree `s`, merging it with the subtrees of its size on the stack: `c` is
    /// the count in units of its size.
    #[inline]
    fn push(&mut self, mut s: F, mut c: u64) {
        while c & 1 == 1 && self.len > 0 {
            self.len -= 1;
            s = self.stack[self.len] + s;
            c >>= 1;
        }
        if self.len < self.stack.len() {
            self.stack[self.len] = s;
            self.len += 1;
        }
    }

    /// Adds eight values with the bits of eight calls to [`add`](Self::add), in one step
    /// when they make a subtree of their own (the count is a multiple of 8). Always inlined:
    /// a grouped row kernel calls it once per eight rows.
    #[inline(always)]
    pub fn add_eight(&mut self, x: &[F; 8]) {
        if !self.count.is_multiple_of(8) {
            for &v in x {
                self.add(v);
            }
            return;
        }
        let s = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
        self.push(s, self.count >> 3);
        self.count = self.count.wrapping_add(8);
    }

    /// The sum of every value added so far (0 if none), smallest subtrees first.
    #[inline]
    pub fn sum(&self) -> F {
        let mut total = F::ZERO;
        let mut i = self.len;
        while i > 0 {
            i -= 1;
            total = self.stack[i] + total;
        }
        total
    }

    /// How many values were added.
    #[inline]
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<F: Float> Extend<F> for PairwiseSum<F> {
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

impl<F: Float> FromIterator<F> for PairwiseSum<F> {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut s = Self::new();
        s.extend(iter);
        s
    }
}

/// The pairwise sum of a slice: 8 independent accumulators per block of 256 values, block
/// sums combined with [`PairwiseSum`].
#[inline]
pub fn sum_slice<F: Float>(xs: &[F]) -> F {
    if xs.len() <= BLOCK {
        return sum_block(xs);
    }
    let mut s = PairwiseSum::new();
    for b in xs.chunks(BLOCK) {
        s.add(sum_block(b));
    }
    s.sum()
}

/// Values per block of the element loops: summed with [`LANES`] accumulators, then block sums
/// are combined pairwise.
pub(crate) const BLOCK: usize = 256;
/// Independent accumulators inside a block (what lets the loop vectorize).
pub(crate) const LANES: usize = 8;

#[inline(always)]
pub(crate) fn combine_lanes<F: Float>(acc: [F; LANES]) -> F {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// The sum of a block: [`LANES`] accumulators, combined in a fixed tree.
#[inline(always)]
pub(crate) fn sum_block<F: Float>(xs: &[F]) -> F {
    if let Ok(full) = <&[F; BLOCK]>::try_from(xs) {
        return sum_full_block(full);
    }
    let (chunks, rest) = xs.as_chunks::<LANES>();
    let mut acc = [F::ZERO; LANES];
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut tail = F::ZERO;
    for &x in rest {
        tail += x;
    }
    combine_lanes(acc) + tail
}

/// The sum of a full block by halving: each step adds the upper half onto the lower (plain
/// vector additions; the loop over chunks of `sum_block` was vectorized with shuffles).
#[inline(always)]
fn sum_full_block<F: Float>(xs: &[F; BLOCK]) -> F {
    let mut v = *xs;
    let mut half = BLOCK / 2;
    while half >= LANES {
        let (lo, hi) = v.split_at_mut(half);
        for (a, &b) in lo.iter_mut().zip(&hi[..half]) {
            *a += b;
        }
        half /= 2;
    }
    let mut acc = [F::ZERO; LANES];
    acc.copy_from_slice(&v[..LANES]);
    combine_lanes(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exactly_small_counts() {
        for n in 0..200u32 {
            let s: PairwiseSum<f64> = (0..n).map(f64::from).collect();
            assert_eq!(s.sum(), f64::from(n * n.saturating_sub(1) / 2), "{n}");
            assert_eq!(s.count(), u64::from(n));
        }
    }

    #[test]
    fn eight_at_once_is_eight_adds() {
        // Values of very different sizes, so that any other order of additions shows.
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f32::from_bits(0x3000_0000 + (state as u32 >> 4)) // 2^-31 .. 2^+1
        };
        for ones in 0..20 {
            let (mut a, mut b) = (PairwiseSum::<f32>::new(), PairwiseSum::<f32>::new());
            for _ in 0..ones {
                let v = next();
                a.add(v);
                b.add(v);
            }
            for _ in 0..37 {
                let x: [f32; 8] = std::array::from_fn(|_| next());
                x.iter().for_each(|&v| a.add(v));
                b.add_eight(&x);
                assert_eq!(a.sum().to_bits(), b.sum().to_bits(), "{ones}");
                assert_eq!(a.count(), b.count());
            }
        }
    }

    #[test]
    fn is_accurate_in_f32() {
        let n = 1 << 22;
        let xs = vec![0.1f32; n];
        let naive: f32 = xs.iter().fold(0.0, |a, &b| a + b);
        let exact = 0.1f32 as f64 * n as f64;
        let pairwise = sum_slice(&xs) as f64;
        assert!(
            (pairwise - exact).abs() / exact < 1e-6,
            "{pairwise} vs {exact}"
        );
        assert!((naive as f64 - exact).abs() / exact > 1e-3);
    }

    #[test]
    fn is_deterministic_and_tree_shaped() {
        let mut s = PairwiseSum::<f64>::new();
        for x in [1.0, 1e100, 1.0, -1e100] {
            s.add(x);
        }
        // ((1 + 1e100) + (1 + -1e100)) = 1e100 - 1e100 = 0
        assert_eq!(s.sum(), 0.0);
        let xs: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
        assert_eq!(sum_slice(&xs), sum_slice(&xs));
        let direct: f64 = xs.iter().sum();
        assert!((sum_slice(&xs) - direct).abs() < 1e-12);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(PairwiseSum::<f32>::new().sum(), 0.0);
        assert_eq!(sum_slice::<f64>(&[]), 0.0);
    }
}
