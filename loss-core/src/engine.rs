//! The loops behind [`Loss`](crate::Loss): shape checks, layout, reductions, weights, NaN
//! diagnosis. Everything here works on contiguous slices in standard (row-major) order; the
//! class axis is the last one, so a row is a contiguous run of `c` elements.

use ndarray::{Array, ArrayRef, ArrayView, CowArray, Dimension, IxDyn};

use crate::sum::{PairwiseSum, sum_slice};
use crate::{Float, LossError, LossKernel, Reduction, Result};

/// Both inputs in standard layout (borrowed when they already are), with the row geometry.
pub(crate) struct Prepared<'a, F: Float, D: Dimension> {
    t: CowArray<'a, F, D>,
    p: CowArray<'a, F, D>,
    /// Number of rows (samples).
    pub rows: usize,
    /// Length of a `y_pred` row (the class axis; 1 for a 0-d input).
    pub c: usize,
    /// Length of a `y_true` row: `c`, or 1 for sparse kernels.
    pub ct: usize,
}

fn standard<F: Float, D: Dimension>(v: ArrayView<'_, F, D>) -> CowArray<'_, F, D> {
    if v.is_standard_layout() {
        CowArray::from(v)
    } else {
        CowArray::from(v.as_standard_layout().into_owned())
    }
}

fn slice_of<'s, F: Float, D: Dimension>(a: &'s CowArray<'_, F, D>) -> &'s [F] {
    a.as_slice()
        .expect("arrays are converted to standard layout first")
}

impl<'a, F: Float, D: Dimension> Prepared<'a, F, D> {
    /// Checks shapes and emptiness (and, for sparse kernels, the labels), and brings both
    /// inputs to standard layout.
    pub fn new<K: LossKernel<F>>(
        y_true: ArrayView<'a, F, D>,
        y_pred: ArrayView<'a, F, D>,
    ) -> Result<Self> {
        let (ts, ps) = (y_true.shape(), y_pred.shape());
        let shapes_ok = if K::SPARSE {
            ts.len() == ps.len()
                && match ps.len() {
                    0 => true,
                    n => ts[..n - 1] == ps[..n - 1] && ts[n - 1] == 1,
                }
        } else {
            ts == ps
        };
        if !shapes_ok {
            return Err(LossError::ShapeMismatch {
                y_true: ts.to_vec(),
                y_pred: ps.to_vec(),
            });
        }
        if y_pred.is_empty() {
            return Err(LossError::Empty);
        }
        let c = ps.last().copied().unwrap_or(1);
        let rows = y_pred.len() / c;
        let ct = if K::SPARSE { 1 } else { c };
        let prep = Prepared {
            t: standard(y_true),
            p: standard(y_pred),
            rows,
            c,
            ct,
        };
        if K::SPARSE {
            prep.check_labels()?;
        }
        Ok(prep)
    }

    /// `y_true` as a flat slice, row-major.
    #[inline]
    pub fn t(&self) -> &[F] {
        slice_of(&self.t)
    }

    /// `y_pred` as a flat slice, row-major.
    #[inline]
    pub fn p(&self) -> &[F] {
        slice_of(&self.p)
    }

    pub fn pred_shape(&self) -> &[usize] {
        self.p.shape()
    }

    pub fn pred_dim(&self) -> D {
        self.p.raw_dim()
    }

    /// The shape of the per-sample losses: `y_pred`'s without the last axis.
    pub fn per_sample_shape(&self) -> &[usize] {
        let s = self.p.shape();
        &s[..s.len().saturating_sub(1)]
    }

    fn check_labels(&self) -> Result<()> {
        let classes = self.c as f64;
        for (i, &label) in self.t().iter().enumerate() {
            let l = label.to_f64();
            if l.is_nan() {
                return Err(LossError::NaNInput {
                    which: "y_true",
                    index: unravel(i, self.t.shape()),
                });
            }
            if !(l >= 0.0 && l < classes && l.fract() == 0.0) {
                return Err(LossError::InvalidLabel {
                    index: unravel(i, self.t.shape()),
                    label: l,
                    classes: self.c,
                });
            }
        }
        Ok(())
    }

    /// Called when a result is NaN: names the first NaN of the inputs, if there is one.
    pub fn diagnose_nan(&self, weights: Option<&Weights<'_, F>>) -> Result<()> {
        let inputs = [
            ("y_true", self.t(), self.t.shape()),
            ("y_pred", self.p(), self.p.shape()),
        ];
        for (which, data, shape) in inputs {
            if let Some(i) = data.iter().position(|x| x.is_nan()) {
                return Err(LossError::NaNInput {
                    which,
                    index: unravel(i, shape),
                });
            }
        }
        if let Some(w) = weights
            && let Some(i) = w.w().iter().position(|x| x.is_nan())
        {
            return Err(LossError::NaNInput {
                which: "sample_weight",
                index: unravel(i, w.w.shape()),
            });
        }
        Ok(())
    }

    /// Diagnoses NaN in `values` (a result of the inputs): an error if an input holds NaN.
    fn check_all(&self, values: &[F], weights: Option<&Weights<'_, F>>) -> Result<()> {
        if values.iter().any(|x| x.is_nan()) {
            self.diagnose_nan(weights)?;
        }
        Ok(())
    }

    /// Rows of `y_true` and `y_pred`, zipped.
    #[inline]
    fn rows_iter(&self) -> impl Iterator<Item = (&[F], &[F])> {
        self.t()
            .chunks_exact(self.ct)
            .zip(self.p().chunks_exact(self.c))
    }
}

/// The multi-index of flat index `i` of a row-major array of shape `shape`.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    index
}

/// Builds an array of dimension `D2` from row-major data of the given shape.
pub(crate) fn array_from<F: Float, D2: Dimension>(data: Vec<F>, shape: &[usize]) -> Array<F, D2> {
    Array::from_shape_vec(IxDyn(shape), data)
        .and_then(|a| a.into_dimensionality::<D2>())
        .expect("the shape is computed from the input")
}

/// Sample weights in standard layout; each weight covers `group` consecutive rows.
pub(crate) struct Weights<'c, F: Float> {
    w: CowArray<'c, F, IxDyn>,
    group: usize,
}

impl<'c, F: Float> Weights<'c, F> {
    /// Checks the shape of the weights against the per-sample shape: equal, a prefix of it
    /// (the weight of a sample is broadcast over the trailing axes), or 0-d; more generally,
    /// any shape that broadcasts to it once padded with trailing axes of length 1 (`[B, 1]`
    /// for `[B, T]`). Trailing axes of length 1 beyond the per-sample rank are ignored
    /// (Keras's `[batch, 1]` weights for per-sample shape `[batch]`).
    pub fn new<E: Dimension>(
        w: ArrayView<'c, F, E>,
        per_sample: &[usize],
        rows: usize,
    ) -> Result<Self> {
        let ws = w.shape().to_vec();
        let mut q = ws.len();
        // Trailing axes of length 1 broadcast like a shorter prefix.
        while q > 0 && ws[q - 1] == 1 {
            q -= 1;
        }
        let shape_error = || LossError::WeightShape {
            weights: ws.clone(),
            per_sample: per_sample.to_vec(),
        };
        if q > per_sample.len() {
            return Err(shape_error());
        }
        if ws[..q] == per_sample[..q] {
            // A prefix: each weight covers a contiguous run of rows; no copy.
            let w = standard(w.into_dyn());
            let group = rows / w.len().max(1);
            return Ok(Weights { w, group });
        }
        if ws[..q]
            .iter()
            .zip(per_sample)
            .any(|(&a, &b)| a != b && a != 1)
        {
            return Err(shape_error());
        }
        // General broadcasting: materialise one weight per sample.
        let mut padded = ws[..q].to_vec();
        padded.resize(per_sample.len(), 1);
        let w = w.into_dyn();
        let reshaped = w.to_shape(IxDyn(&padded)).map_err(|_| shape_error())?;
        let full = reshaped
            .broadcast(IxDyn(per_sample))
            .ok_or_else(shape_error)?
            .as_standard_layout()
            .into_owned();
        Ok(Weights {
            w: CowArray::from(full),
            group: 1,
        })
    }

    #[inline]
    pub fn w(&self) -> &[F] {
        slice_of(&self.w)
    }
}

// ---------------------------------------------------------------------------------------------
// Computations. `K::ELEMENTWISE` is a constant, so each function compiles to one branch.

/// The per-sample losses (row values), in row order.
pub(crate) fn per_sample<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
) -> Result<Vec<F>> {
    let mut out = vec![F::ZERO; prep.rows];
    for ((t, p), o) in prep.rows_iter().zip(&mut out) {
        *o = k.row_value(t, p);
    }
    prep.check_all(&out, None)?;
    Ok(out)
}

/// The unreduced element losses (element-wise kernels only).
pub(crate) fn per_element<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    name: &'static str,
) -> Result<Vec<F>> {
    if !K::ELEMENTWISE {
        return Err(LossError::NotElementwise { loss: name });
    }
    let mut out = vec![F::ZERO; prep.p().len()];
    k.per_element(prep.t(), prep.p(), &mut out);
    prep.check_all(&out, None)?;
    Ok(out)
}

/// The sum of the row values of a run of rows.
#[inline]
fn sum_rows<F: Float, K: LossKernel<F>>(k: &K, t: &[F], p: &[F], ct: usize, c: usize) -> F {
    if K::ELEMENTWISE {
        // A mean over the whole run, times the number of rows: the sum of the row means.
        let rows = p.len() / c;
        return k.row_value(t, p) * F::from_usize(rows);
    }
    let mut s = PairwiseSum::new();
    for (tr, pr) in t.chunks_exact(ct).zip(p.chunks_exact(c)) {
        s.add(k.row_value(tr, pr));
    }
    s.sum()
}

/// The sum of the row values of a run of rows; `grad = scale * d(row value)/d y_pred`.
#[inline]
fn sum_rows_grad<F: Float, K: LossKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    ct: usize,
    c: usize,
    scale: F,
    g: &mut [F],
) -> F {
    if K::ELEMENTWISE {
        let cf = F::from_usize(c);
        return k.flat_value_grad(t, p, scale / cf, g) / cf;
    }
    let mut s = PairwiseSum::new();
    for ((tr, pr), gr) in t
        .chunks_exact(ct)
        .zip(p.chunks_exact(c))
        .zip(g.chunks_exact_mut(c))
    {
        s.add(k.row_value_grad(tr, pr, scale, gr));
    }
    s.sum()
}

/// The reduced loss without weights.
pub(crate) fn value<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    reduction: Reduction,
) -> Result<F> {
    let v = if K::ELEMENTWISE {
        // The mean over every element is the mean of the row means.
        let mean = k.row_value(prep.t(), prep.p());
        match reduction {
            Reduction::Sum => mean * F::from_usize(prep.rows),
            Reduction::Mean | Reduction::WeightedMean => mean,
        }
    } else {
        let s = sum_rows(k, prep.t(), prep.p(), prep.ct, prep.c);
        match reduction {
            Reduction::Sum => s,
            Reduction::Mean | Reduction::WeightedMean => s / F::from_usize(prep.rows),
        }
    };
    prep.check_all(&[v], None)?;
    Ok(v)
}

/// The reduced loss without weights and its gradient, in one pass. `g` has `y_pred`'s length.
pub(crate) fn value_grad<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    reduction: Reduction,
    g: &mut [F],
) -> Result<F> {
    let (t, p) = (prep.t(), prep.p());
    let v = if K::ELEMENTWISE {
        // One flat pass: SUM of element values, each gradient scaled by 1 / denominator.
        let denom = match reduction {
            Reduction::Sum => F::from_usize(prep.c),
            Reduction::Mean | Reduction::WeightedMean => F::from_usize(p.len()),
        };
        k.flat_value_grad(t, p, F::ONE / denom, g) / denom
    } else {
        let denom = match reduction {
            Reduction::Sum => F::ONE,
            Reduction::Mean | Reduction::WeightedMean => F::from_usize(prep.rows),
        };
        sum_rows_grad(k, t, p, prep.ct, prep.c, F::ONE / denom, g) / denom
    };
    prep.check_all(&[v], None)?;
    Ok(v)
}

/// The denominator of a weighted reduction (None: the weights sum to 0 under WeightedMean).
fn weighted_denominator<F: Float>(
    rows: usize,
    w: &Weights<'_, F>,
    reduction: Reduction,
) -> Option<F> {
    match reduction {
        Reduction::Mean => Some(F::from_usize(rows)),
        Reduction::Sum => Some(F::ONE),
        Reduction::WeightedMean => {
            let total = sum_slice(w.w()) * F::from_usize(w.group);
            if total == F::ZERO { None } else { Some(total) }
        }
    }
}

/// The reduced loss with sample weights.
pub(crate) fn weighted_value<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    w: &Weights<'_, F>,
    reduction: Reduction,
) -> Result<F> {
    let Some(denom) = weighted_denominator(prep.rows, w, reduction) else {
        return Ok(F::ZERO);
    };
    let (gt, gp) = (w.group * prep.ct, w.group * prep.c);
    let mut s = PairwiseSum::new();
    for ((t, p), &wi) in prep
        .t()
        .chunks_exact(gt)
        .zip(prep.p().chunks_exact(gp))
        .zip(w.w())
    {
        s.add(wi * sum_rows(k, t, p, prep.ct, prep.c));
    }
    let v = s.sum() / denom;
    if v.is_nan() {
        prep.diagnose_nan(Some(w))?;
    }
    Ok(v)
}

/// The reduced loss with sample weights and its gradient, in one pass.
pub(crate) fn weighted_value_grad<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    w: &Weights<'_, F>,
    reduction: Reduction,
    g: &mut [F],
) -> Result<F> {
    let Some(denom) = weighted_denominator(prep.rows, w, reduction) else {
        g.fill(F::ZERO);
        return Ok(F::ZERO);
    };
    let (gt, gp) = (w.group * prep.ct, w.group * prep.c);
    let mut s = PairwiseSum::new();
    let groups = prep.t().chunks_exact(gt).zip(prep.p().chunks_exact(gp));
    for (((t, p), gg), &wi) in groups.zip(g.chunks_exact_mut(gp)).zip(w.w()) {
        s.add(wi * sum_rows_grad(k, t, p, prep.ct, prep.c, wi / denom, gg));
    }
    let v = s.sum() / denom;
    if v.is_nan() {
        prep.diagnose_nan(Some(w))?;
    }
    Ok(v)
}

/// First and second derivatives of each unreduced term.
pub(crate) fn grad_hess<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    g: &mut [F],
    h: &mut [F],
) -> Result<()> {
    if K::ELEMENTWISE {
        k.row_grad_hess(prep.t(), prep.p(), g, h);
    } else {
        let c = prep.c;
        for ((tr, pr), (gr, hr)) in prep
            .rows_iter()
            .zip(g.chunks_exact_mut(c).zip(h.chunks_exact_mut(c)))
        {
            k.row_grad_hess(tr, pr, gr, hr);
        }
    }
    prep.check_all(g, None)
}

/// Runs `f` on `grad` as a flat row-major slice: directly when `grad` is in standard layout,
/// through a temporary and `assign` otherwise. Checks `grad`'s shape first.
pub(crate) fn into_buffer<F: Float, D: Dimension, R>(
    grad: &mut ArrayRef<F, D>,
    pred_shape: &[usize],
    f: impl FnOnce(&mut [F]) -> Result<R>,
) -> Result<R> {
    if grad.shape() != pred_shape {
        return Err(LossError::GradShape {
            grad: grad.shape().to_vec(),
            y_pred: pred_shape.to_vec(),
        });
    }
    if let Some(s) = grad.as_slice_mut() {
        return f(s);
    }
    let mut tmp = vec![F::ZERO; grad.len()];
    let r = f(&mut tmp)?;
    let view =
        ArrayView::from_shape(grad.raw_dim(), &tmp).expect("the temporary has the buffer's shape");
    grad.assign(&view);
    Ok(r)
}

/// A zeroed array of `y_pred`'s shape (`calloc`ed: its pages are touched only when written).
pub(crate) fn zeros_like<F: Float, D: Dimension>(prep: &Prepared<'_, F, D>) -> Array<F, D> {
    Array::from_elem(prep.pred_dim(), F::ZERO)
}

#[cfg(test)]
mod tests {
    use super::unravel;

    #[test]
    fn unravel_row_major() {
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
        assert_eq!(unravel(4, &[5]), vec![4]);
    }
}
