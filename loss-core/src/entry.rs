//! What one `#[loss]` contributes to the registry. Generated code builds these as statics.

use crate::{DynLoss, Float, Loss, LossError, Reduction};

/// The value of one loss parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamValue {
    Float(f64),
    Bool(bool),
}

/// One parameter of a registered loss, as declared in its `#[loss]` function.
#[derive(Debug)]
pub struct ParamInfo {
    pub name: &'static str,
    pub default: ParamValue,
    /// The parameter's doc comment, if any.
    pub doc: &'static str,
    /// The domain rule as written (`delta > 0.0`), or "" when there is none.
    pub check: &'static str,
}

/// How a loss reads its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A mean over the last axis of independent element terms.
    Elementwise,
    /// A formula over the whole last axis (row).
    Row,
    /// A row formula whose `y_true` is one class index per row.
    Sparse,
}

/// Builds a boxed loss for one float type from parameter values in declaration order (the
/// registry has filled in defaults and checked the types).
pub type MakeDyn<F> = fn(&[ParamValue], Reduction) -> Result<Box<dyn DynLoss<F>>, LossError>;

/// A registry entry: one per `#[loss]`, collected at link time.
pub struct Entry {
    /// The canonical name (`huber`).
    pub name: &'static str,
    /// The generated struct's name (`Huber`); lookups accept it too.
    pub struct_name: &'static str,
    /// Other names. An alias may carry preset parameters written as a spec,
    /// e.g. `"BCEWithLogitsLoss(from_logits=true)"`.
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub params: &'static [ParamInfo],
    /// The user's doc comment.
    pub doc: &'static str,
    /// The formula and derived gradient as text.
    pub formula: &'static str,
    /// Where the loss was declared (`module::path at file:line`), to name both sides of a
    /// duplicate.
    pub location: &'static str,
    pub make_f32: MakeDyn<f32>,
    pub make_f64: MakeDyn<f64>,
}

inventory::collect!(Entry);

/// Generated for every `#[loss]` struct: construction from registry values.
pub trait FromParams: Loss + Sized + 'static {
    /// `values` are complete and in declaration order. Validates like the constructor.
    fn from_params(values: &[ParamValue], reduction: Reduction) -> Result<Self, LossError>;
}

/// The `make_f32` / `make_f64` of a generated entry.
pub fn make_dyn<L: FromParams, F: Float>(
    values: &[ParamValue],
    reduction: Reduction,
) -> Result<Box<dyn DynLoss<F>>, LossError> {
    let loss = L::from_params(values, reduction)?;
    Ok(crate::dyn_loss::boxed(loss))
}

/// One row as two `(1, n)` views, for the scalar access (`loss_at`, ...) of row losses: the
/// engine then checks the row as it checks any input.
pub fn one_row<'a, F: Float>(
    y_true: &'a [F],
    y_pred: &'a [F],
) -> Result<(ndarray::ArrayView2<'a, F>, ndarray::ArrayView2<'a, F>), LossError> {
    let view = |row: &'a [F]| ndarray::ArrayView2::from_shape((1, row.len()), row);
    match (view(y_true), view(y_pred)) {
        (Ok(t), Ok(p)) => Ok((t, p)),
        _ => Err(LossError::Empty),
    }
}

/// The sum of the lane accumulators of a generated row loop, in a fixed (pairwise) order.
#[inline(always)]
pub fn lanes_sum<F: Float>(lanes: &[F; 8]) -> F {
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

/// [`lanes_sum`] for each row of a group (`lanes[lane][row]`): the same additions, for all
/// rows at once.
#[inline(always)]
pub fn group_lanes_sum<F: Float, const G: usize>(lanes: &[[F; G]; 8]) -> [F; G] {
    let [a0, a1, a2, a3, a4, a5, a6, a7] = lanes;
    let mut out = [F::ZERO; G];
    for r in 0..G {
        out[r] = ((a0[r] + a1[r]) + (a2[r] + a3[r])) + ((a4[r] + a5[r]) + (a6[r] + a7[r]));
    }
    out
}

/// [`lanes_max`] for each row of a group.
#[inline(always)]
pub fn group_lanes_max<F: Float, const G: usize>(lanes: &[[F; G]; 8]) -> [F; G] {
    group_fold(lanes, F::NEG_INFINITY, F::max)
}

/// [`lanes_min`] for each row of a group.
#[inline(always)]
pub fn group_lanes_min<F: Float, const G: usize>(lanes: &[[F; G]; 8]) -> [F; G] {
    group_fold(lanes, F::INFINITY, F::min)
}

/// For each row, `op` folded over the lanes in order from `start` (as `lanes_max` folds).
#[inline(always)]
fn group_fold<F: Float, const G: usize>(
    lanes: &[[F; G]; 8],
    start: F,
    op: impl Fn(F, F) -> F,
) -> [F; G] {
    let mut out = [start; G];
    for lane in lanes {
        for (o, &x) in out.iter_mut().zip(lane) {
            *o = op(*o, x);
        }
    }
    out
}

/// The largest of the lane accumulators of a generated row loop.
#[inline(always)]
pub fn lanes_max<F: Float>(lanes: &[F; 8]) -> F {
    lanes.iter().fold(F::NEG_INFINITY, |m, &x| m.max(x))
}

/// The smallest of the lane accumulators of a generated row loop.
#[inline(always)]
pub fn lanes_min<F: Float>(lanes: &[F; 8]) -> F {
    lanes.iter().fold(F::INFINITY, |m, &x| m.min(x))
}

/// [`prefetch_after`] for the `len` elements from offset `i`, one hint per 64-byte line: a
/// staged block asks once for its lines instead of once per chunk of lanes, which also lets
/// the compiler load the block as whole vectors.
#[inline(always)]
pub fn prefetch_lines_after<F>(row: &[F], i: usize, len: usize) {
    let step = (64 / size_of::<F>()).max(1);
    let mut o = 0;
    while o < len {
        prefetch_after(row, i + o);
        o += step;
    }
}

/// Asks the cache for the elements just past `row` (where the next row of a contiguous batch
/// lies), at offset `i`: a generated row loop calls it once per chunk of its longest pass, so
/// the next row arrives while this one computes instead of stalling the next row's first
/// pass. A hint only: it never faults and changes no value.
#[inline(always)]
pub fn prefetch_after<F>(row: &[F], i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = row.as_ptr().wrapping_add(row.len().wrapping_add(i));
        // SAFETY: a prefetch reads nothing architecturally and never faults, whatever the
        // address; SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (row, i);
}
