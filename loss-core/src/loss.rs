//! The [`Loss`] trait: what every loss type can do, given its kernel.

use ndarray::{Array, ArrayRef, AsArray, Dimension};

use crate::engine::{self, Prepared, Weights};
use crate::{DynLoss, Float, LossError, LossKernel, Reduction, Result};

/// A loss function over ndarray arrays. Implemented by every type `#[loss]` generates; the
/// implementor provides the kernel (the formula) and the runtime provides every method below.
///
/// # Inputs
///
/// `y_true` and `y_pred` are anything that converts to an ndarray view (`&Array`, a view,
/// `&[F]`, `&Vec<F>`, ...), of any dimension `D` and float type `F` ([`Float`]: `f32` or
/// `f64`). The **last axis is the class axis**: a sample (row) is one lane along it, and the
/// per-sample loss of an element-wise loss is the mean of its element losses over that axis
/// (the Keras convention). A 1-D input of length `N` is therefore *one* sample of `N` values;
/// reshape to `[N, 1]` for `N` samples of one value. A 0-d input is one sample of one value.
/// Sparse losses take `y_true` with `y_pred`'s shape but a last axis of length 1, holding
/// class indices.
///
/// Inputs in standard (row-major, contiguous) layout are read in place; others are copied to
/// standard layout first.
///
/// # Reductions and weights
///
/// With per-sample losses `l_i` and sample weights `w_i` (all 1 when none are given):
/// [`Reduction::Mean`] is `Σ w_i l_i / n` (`n` the number of samples), [`Reduction::Sum`] is
/// `Σ w_i l_i`, [`Reduction::WeightedMean`] is `Σ w_i l_i / Σ w_i` (0, with a zero gradient,
/// when the weights sum to 0). A row kernel may ignore rows ([`LossKernel::row_ignored`], e.g.
/// an `ignore_class` label): their loss and gradient are 0 and they are left out of `n` and of
/// `Σ w_i` (the result is 0, with a zero gradient, when no row is left). Sample weights have
/// the per-sample shape, a prefix of it (one weight per leading index, broadcast over the
/// remaining axes), or are 0-d; trailing axes of length 1 beyond the per-sample rank are
/// ignored.
///
/// # Errors
///
/// Bad input never panics: [`LossError::ShapeMismatch`], [`LossError::Empty`],
/// [`LossError::WeightShape`], [`LossError::GradShape`], [`LossError::HessShape`],
/// [`LossError::InvalidLabel`] (sparse losses), and [`LossError::NaNInput`] when a result is
/// NaN because an input holds NaN (the inputs are only scanned when a result is NaN, so a NaN
/// that does not reach the result, e.g. in the flat part of a hinge, is not reported). A loss
/// whose parameters break their domain rule fails every call with
/// [`LossError::InvalidParameter`]. When an `_into` method fails, the content of the buffer is
/// unspecified.
pub trait Loss: Send + Sync {
    /// The kernel evaluating the formula in float type `F`.
    type Kernel<F: Float>: LossKernel<F>;

    /// Builds the kernel for float type `F`, validating the parameters
    /// ([`LossError::InvalidParameter`]).
    fn kernel<F: Float>(&self) -> Result<Self::Kernel<F>, LossError>;

    /// The registered name (`huber`).
    fn name(&self) -> &'static str;

    /// How [`forward`](Loss::forward) reduces the per-sample losses.
    fn reduction(&self) -> Reduction;

    /// The loss with every parameter, as a spec that [`from_spec`](crate::from_spec) reads back:
    /// `huber(delta=0.5, reduction=mean)`.
    fn spec(&self) -> String;

    /// The loss of each sample (Keras's function form): `y_pred`'s shape without the last
    /// axis (0-d for a 1-D or 0-d input).
    fn per_sample<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
    ) -> Result<Array<F, D::Smaller>> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let out = engine::per_sample(&k, &prep)?;
        Ok(engine::array_from(out, prep.per_sample_shape()))
    }

    /// The loss of each element, `y_pred`'s shape (PyTorch's `reduction='none'`). Only for
    /// element-wise losses; others return [`LossError::NotElementwise`].
    fn per_element<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
    ) -> Result<Array<F, D>> {
        let k = self.kernel::<F>()?;
        if !<Self::Kernel<F> as LossKernel<F>>::ELEMENTWISE {
            return Err(LossError::NotElementwise { loss: self.name() });
        }
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let out = engine::per_element(&k, &prep, self.name())?;
        Ok(engine::array_from(out, prep.pred_shape()))
    }

    /// The loss, reduced with [`reduction`](Loss::reduction).
    fn forward<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
    ) -> Result<F> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        engine::value(&k, &prep, self.reduction())
    }

    /// The loss with one weight per sample (see the trait docs for the weight shapes).
    fn forward_weighted<'a, 'b, 'c, F: Float, D: Dimension, E: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
        sample_weight: impl AsArray<'c, F, E>,
    ) -> Result<F> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let w = Weights::new(sample_weight.into(), prep.per_sample_shape(), prep.rows)?;
        engine::weighted_value(&k, &prep, &w, self.reduction())
    }

    /// The gradient of [`forward`](Loss::forward) with respect to `y_pred`.
    fn gradient<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
    ) -> Result<Array<F, D>> {
        Ok(self.value_and_grad(y_true, y_pred)?.1)
    }

    /// Writes the gradient of [`forward`](Loss::forward) into `grad` (`y_pred`'s shape, any
    /// layout): a training loop reuses one buffer instead of allocating one per step.
    fn gradient_into<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
        grad: &mut ArrayRef<F, D>,
    ) -> Result<()> {
        self.value_and_grad_into(y_true, y_pred, grad).map(|_| ())
    }

    /// [`forward`](Loss::forward) and its gradient, computed in one fused pass.
    fn value_and_grad<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
    ) -> Result<(F, Array<F, D>)> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let mut grad = engine::zeros_like(&prep);
        let g = grad.as_slice_mut().expect("a fresh array is contiguous");
        let v = engine::value_grad(&k, &prep, self.reduction(), g)?;
        Ok((v, grad))
    }

    /// [`forward`](Loss::forward), returned, and its gradient, written into `grad`, in one
    /// fused pass.
    fn value_and_grad_into<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
        grad: &mut ArrayRef<F, D>,
    ) -> Result<F> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        engine::into_buffer(grad, prep.pred_shape(), |g| {
            engine::value_grad(&k, &prep, self.reduction(), g)
        })
    }

    /// [`forward_weighted`](Loss::forward_weighted) and its gradient, in one fused pass.
    fn value_and_grad_weighted<'a, 'b, 'c, F: Float, D: Dimension, E: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
        sample_weight: impl AsArray<'c, F, E>,
    ) -> Result<(F, Array<F, D>)> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let w = Weights::new(sample_weight.into(), prep.per_sample_shape(), prep.rows)?;
        let mut grad = engine::zeros_like(&prep);
        let g = grad.as_slice_mut().expect("a fresh array is contiguous");
        let v = engine::weighted_value_grad(&k, &prep, &w, self.reduction(), g)?;
        Ok((v, grad))
    }

    /// [`value_and_grad_weighted`](Loss::value_and_grad_weighted) with the gradient written
    /// into `grad` (`y_pred`'s shape, any layout), as in
    /// [`value_and_grad_into`](Loss::value_and_grad_into).
    fn value_and_grad_weighted_into<'a, 'b, 'c, F: Float, D: Dimension, E: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
        sample_weight: impl AsArray<'c, F, E>,
        grad: &mut ArrayRef<F, D>,
    ) -> Result<F> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let w = Weights::new(sample_weight.into(), prep.per_sample_shape(), prep.rows)?;
        engine::into_buffer(grad, prep.pred_shape(), |g| {
            engine::weighted_value_grad(&k, &prep, &w, self.reduction(), g)
        })
    }

    /// The first and second derivative of each unreduced term with respect to its own
    /// `y_pred`: of the element loss for element-wise losses, of the row loss (the diagonal of
    /// its Hessian) for row losses. Not scaled by any reduction: what a gradient-boosting
    /// custom objective needs.
    fn grad_hess<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
    ) -> Result<(Array<F, D>, Array<F, D>)> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        let mut grad = engine::zeros_like(&prep);
        let mut hess = engine::zeros_like(&prep);
        let g = grad.as_slice_mut().expect("a fresh array is contiguous");
        let h = hess.as_slice_mut().expect("a fresh array is contiguous");
        engine::grad_hess(&k, &prep, g, h)?;
        Ok((grad, hess))
    }

    /// [`grad_hess`](Loss::grad_hess) written into `grad` and `hess` (each `y_pred`'s shape,
    /// any layout): a boosting loop reuses both buffers round after round instead of
    /// allocating two arrays per round.
    fn grad_hess_into<'a, 'b, F: Float, D: Dimension>(
        &self,
        y_true: impl AsArray<'a, F, D>,
        y_pred: impl AsArray<'b, F, D>,
        grad: &mut ArrayRef<F, D>,
        hess: &mut ArrayRef<F, D>,
    ) -> Result<()> {
        let k = self.kernel::<F>()?;
        let prep = Prepared::new(&k, y_true.into(), y_pred.into())?;
        engine::into_buffers(grad, hess, prep.pred_shape(), |g, h| {
            engine::grad_hess(&k, &prep, g, h)
        })
    }

    /// This loss behind the object-safe [`DynLoss`] face, for float type `F`.
    fn boxed<F: Float>(self) -> Box<dyn DynLoss<F>>
    where
        Self: Sized + 'static,
    {
        crate::dyn_loss::boxed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestHuber, TestMse, TestSoftmaxCe, TestSparseCe, assert_close};
    use approx::assert_relative_eq;
    use ndarray::{Array0, Array1, Array2, Array3, ArrayD, ArrayView2, Axis, IxDyn, array};

    fn data2(rows: usize, cols: usize, seed: f64) -> (Array2<f64>, Array2<f64>) {
        let t = Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * cols + j) as f64 * 0.37 + seed).sin()
        });
        let p = Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * cols + j) as f64 * 0.91 - seed).cos()
        });
        (t, p)
    }

    /// Probability-like targets (rows sum to 1) for cross-entropies.
    fn targets(rows: usize, cols: usize) -> Array2<f64> {
        let mut t =
            Array2::from_shape_fn((rows, cols), |(i, j)| 1.0 + ((i * 7 + j * 3) % 5) as f64);
        for mut r in t.rows_mut() {
            let s = r.sum();
            r /= s;
        }
        t
    }

    /// Central finite differences of `f` with respect to each element of `p`.
    fn numeric_grad(f: impl Fn(&Array2<f64>) -> f64, p: &Array2<f64>) -> Array2<f64> {
        let h = 1e-6;
        let mut g = Array2::zeros(p.raw_dim());
        for idx in 0..p.len() {
            let (i, j) = (idx / p.ncols(), idx % p.ncols());
            let mut a = p.clone();
            a[[i, j]] += h;
            let mut b = p.clone();
            b[[i, j]] -= h;
            g[[i, j]] = (f(&a) - f(&b)) / (2.0 * h);
        }
        g
    }

    fn check_grads<L: Loss>(loss: &L, t: &Array2<f64>, p: &Array2<f64>, w: Option<&Array1<f64>>) {
        let (v, g) = match w {
            Some(w) => loss.value_and_grad_weighted(t, p, w).unwrap(),
            None => loss.value_and_grad(t, p).unwrap(),
        };
        let fwd = |p: &Array2<f64>| match w {
            Some(w) => loss.forward_weighted(t, p, w).unwrap(),
            None => loss.forward(t, p).unwrap(),
        };
        assert_relative_eq!(v, fwd(p), max_relative = 1e-12, epsilon = 1e-15);
        let num = numeric_grad(fwd, p);
        for (a, b) in g.iter().zip(&num) {
            assert!(
                (a - b).abs() < 1e-7 * (1.0 + b.abs()),
                "{} analytic {a} numeric {b}",
                loss.spec()
            );
        }
        if w.is_none() {
            assert_eq!(loss.gradient(t, p).unwrap(), g);
        }
    }

    #[test]
    fn mse_values_match_naive() {
        let (t, p) = data2(5, 3, 0.1);
        let d2 = (&p - &t).mapv(|x| x * x);
        let per_sample = d2.mean_axis(Axis(1)).unwrap();
        let mse = TestMse::default();
        assert_close(&mse.per_sample(&t, &p).unwrap(), &per_sample, 1e-14, 0.0);
        assert_close(&mse.per_element(&t, &p).unwrap(), &d2, 1e-14, 0.0);
        assert_relative_eq!(
            mse.forward(&t, &p).unwrap(),
            per_sample.mean().unwrap(),
            max_relative = 1e-14
        );
        let sum = TestMse {
            reduction: Reduction::Sum,
        };
        assert_relative_eq!(
            sum.forward(&t, &p).unwrap(),
            per_sample.sum(),
            max_relative = 1e-14
        );
        let wm = TestMse {
            reduction: Reduction::WeightedMean,
        };
        assert_relative_eq!(
            wm.forward(&t, &p).unwrap(),
            per_sample.mean().unwrap(),
            max_relative = 1e-14
        );
    }

    #[test]
    fn weighted_reductions() {
        let (t, p) = data2(4, 3, 0.2);
        let w = array![0.5, 2.0, 0.0, 1.5];
        let l = TestMse::default().per_sample(&t, &p).unwrap();
        let wl = (&l * &w).sum();
        for (r, want) in [
            (Reduction::Mean, wl / 4.0),
            (Reduction::Sum, wl),
            (Reduction::WeightedMean, wl / w.sum()),
        ] {
            let loss = TestMse { reduction: r };
            assert_relative_eq!(
                loss.forward_weighted(&t, &p, &w).unwrap(),
                want,
                max_relative = 1e-14
            );
            let ce = TestSoftmaxCe { reduction: r };
            let lc = ce.per_sample(&t, &p).unwrap();
            let wlc = (&lc * &w).sum();
            let wantc = match r {
                Reduction::Mean => wlc / 4.0,
                Reduction::Sum => wlc,
                Reduction::WeightedMean => wlc / w.sum(),
            };
            assert_relative_eq!(
                ce.forward_weighted(&t, &p, &w).unwrap(),
                wantc,
                max_relative = 1e-14
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (t, p) = data2(4, 5, 0.3);
        let probs = targets(4, 5);
        let w = array![0.5, 2.0, 0.0, 1.5];
        for r in Reduction::ALL {
            for w in [None, Some(&w)] {
                check_grads(&TestMse { reduction: r }, &t, &p, w);
                let huber = TestHuber {
                    delta: 0.3,
                    double: true,
                    reduction: r,
                };
                check_grads(&huber, &t, &p, w);
                check_grads(&TestSoftmaxCe { reduction: r }, &probs, &p, w);
                let labels = Array2::from_shape_fn((4, 1), |(i, _)| (i % 5) as f64);
                let sparse = TestSparseCe { reduction: r };
                let (v, g) = match w {
                    Some(w) => sparse.value_and_grad_weighted(&labels, &p, w).unwrap(),
                    None => sparse.value_and_grad(&labels, &p).unwrap(),
                };
                let f = |p: &Array2<f64>| match w {
                    Some(w) => sparse.forward_weighted(&labels, p, w).unwrap(),
                    None => sparse.forward(&labels, p).unwrap(),
                };
                assert_relative_eq!(v, f(&p), max_relative = 1e-12);
                let num = numeric_grad(f, &p);
                assert_close(&g, &num, 0.0, 1e-7);
            }
        }
    }

    #[test]
    fn sparse_equals_dense_one_hot() {
        let (_, p) = data2(6, 4, 0.4);
        let labels = Array2::from_shape_fn((6, 1), |(i, _)| ((i * 3) % 4) as f64);
        let onehot = Array2::from_shape_fn((6, 4), |(i, j)| f64::from(j == (i * 3) % 4));
        let a = TestSparseCe::default().per_sample(&labels, &p).unwrap();
        let b = TestSoftmaxCe::default().per_sample(&onehot, &p).unwrap();
        assert_close(&a, &b, 1e-14, 0.0);
        let (ga, ha) = TestSparseCe::default().grad_hess(&labels, &p).unwrap();
        let (gb, hb) = TestSoftmaxCe::default().grad_hess(&onehot, &p).unwrap();
        assert_close(&ga, &gb, 0.0, 1e-15);
        assert_close(&ha, &hb, 0.0, 1e-15);
    }

    #[test]
    fn grad_hess_is_unreduced() {
        let (t, p) = data2(3, 4, 0.5);
        let (g, h) = TestMse {
            reduction: Reduction::Sum,
        }
        .grad_hess(&t, &p)
        .unwrap();
        assert_eq!(g, (&p - &t) * 2.0);
        assert!(h.iter().all(|&x| x == 2.0));
        // Row loss: the diagonal of the Hessian, checked against differences of the gradient.
        let probs = targets(3, 4);
        let ce = TestSoftmaxCe {
            reduction: Reduction::Sum,
        };
        let (g, h) = ce.grad_hess(&probs, &p).unwrap();
        assert_close(&g, &ce.gradient(&probs, &p).unwrap(), 0.0, 1e-15);
        let eps = 1e-6;
        for i in 0..3 {
            for j in 0..4 {
                let mut a = p.clone();
                a[[i, j]] += eps;
                let mut b = p.clone();
                b[[i, j]] -= eps;
                let d = (ce.gradient(&probs, &a).unwrap()[[i, j]]
                    - ce.gradient(&probs, &b).unwrap()[[i, j]])
                    / (2.0 * eps);
                assert!((d - h[[i, j]]).abs() < 1e-7);
            }
        }
    }

    #[test]
    fn layouts_and_buffers() {
        let (t, p) = data2(6, 7, 0.6);
        let tt = t.t().to_owned(); // 7x6, standard
        let pt = p.t().to_owned();
        // tt.t() and pt.t() are 6x7 views in Fortran order: copied to standard layout.
        let (v0, g0) = TestHuber::default().value_and_grad(&t, &p).unwrap();
        let (v1, g1) = TestHuber::default().value_and_grad(tt.t(), pt.t()).unwrap();
        assert_eq!(v0, v1);
        assert_eq!(g0, g1);
        // A grad buffer in Fortran order gets the result through a temporary.
        let mut buf = Array2::<f64>::zeros((7, 6));
        let mut view = buf.view_mut().reversed_axes();
        let v2 = TestHuber::default()
            .value_and_grad_into(&t, &p, &mut view)
            .unwrap();
        assert_eq!(v2, v0);
        assert_eq!(buf.t(), g0);
        // A standard one is written in place.
        let mut out = Array2::<f64>::from_elem((6, 7), f64::NAN);
        TestHuber::default()
            .gradient_into(&t, &p, &mut out)
            .unwrap();
        assert_eq!(out, g0);
        // Sliced (strided) inputs.
        let big_t = Array2::from_shape_fn((12, 7), |(i, j)| t[[i / 2, j]]);
        let big_p = Array2::from_shape_fn((12, 7), |(i, j)| p[[i / 2, j]]);
        let sl = ndarray::s![..;2, ..];
        let v3 = TestHuber::default()
            .forward(big_t.slice(sl), big_p.slice(sl))
            .unwrap();
        assert_eq!(v3, v0);
    }

    #[test]
    fn grad_hess_into_has_the_bits_of_grad_hess_in_any_layout() {
        let (t, p) = data2(6, 7, 0.3);
        let labels = Array2::from_shape_fn((6, 1), |(i, _)| ((i * 3) % 7) as f64);
        let huber: Box<dyn DynLoss<f64>> = TestHuber::default().boxed();
        let sparse: Box<dyn DynLoss<f64>> = TestSparseCe::default().boxed();
        for (t, loss) in [(&t, huber), (&labels, sparse)] {
            let (t, p) = (t.view().into_dyn(), p.view().into_dyn());
            let (g0, h0) = loss.grad_hess(t.view(), p.view()).unwrap();
            // Buffers reused from an earlier round hold stale values: all are overwritten.
            let mut g = ArrayD::from_elem(IxDyn(&[6, 7]), f64::NAN);
            let mut h = g.clone();
            loss.grad_hess_into(t.view(), p.view(), &mut g, &mut h)
                .unwrap();
            assert_eq!((&g, &h), (&g0, &h0));
            // Buffers in Fortran order go through temporaries, one of them or both.
            for fortran in [[true, false], [false, true], [true, true]] {
                let mut gf = ArrayD::from_elem(IxDyn(&[7, 6]), f64::NAN);
                let mut hf = gf.clone();
                let mut g = ArrayD::from_elem(IxDyn(&[6, 7]), f64::NAN);
                let mut h = g.clone();
                let mut gv = gf.view_mut().reversed_axes();
                let mut hv = hf.view_mut().reversed_axes();
                let gb = if fortran[0] {
                    &mut gv
                } else {
                    &mut g.view_mut()
                };
                let hb = if fortran[1] {
                    &mut hv
                } else {
                    &mut h.view_mut()
                };
                loss.grad_hess_into(t.view(), p.view(), gb, hb).unwrap();
                let got_g = if fortran[0] { gf.t().to_owned() } else { g };
                let got_h = if fortran[1] { hf.t().to_owned() } else { h };
                assert_eq!((&got_g, &got_h), (&g0, &h0), "{fortran:?}");
            }
        }
    }

    #[test]
    fn weighted_into_has_the_bits_of_the_allocating_call() {
        let (t, p) = data2(6, 7, 0.8);
        let w = Array1::from_shape_fn(6, |i| 0.5 + i as f64 * 0.25);
        for r in [Reduction::Mean, Reduction::Sum, Reduction::WeightedMean] {
            let huber = TestHuber {
                delta: 0.4,
                reduction: r,
                ..TestHuber::default()
            };
            let (v0, g0) = huber.value_and_grad_weighted(&t, &p, &w).unwrap();
            let mut g = Array2::from_elem((6, 7), f64::NAN);
            let v = huber
                .value_and_grad_weighted_into(&t, &p, &w, &mut g)
                .unwrap();
            assert_eq!((v, &g), (v0, &g0));
            let mut gf = Array2::from_elem((7, 6), f64::NAN);
            let v = huber
                .value_and_grad_weighted_into(&t, &p, &w, &mut gf.view_mut().reversed_axes())
                .unwrap();
            assert_eq!((v, gf.t()), (v0, g0.view()));
        }
    }

    #[test]
    fn into_buffer_shapes_are_checked() {
        let (t, p) = data2(2, 3, 0.0);
        let w = Array1::<f64>::ones(2);
        let (mut good, mut bad) = (Array2::<f64>::zeros((2, 3)), Array2::<f64>::zeros((3, 2)));
        let grad_err = LossError::GradShape {
            grad: vec![3, 2],
            y_pred: vec![2, 3],
        };
        let mse = TestMse::default();
        let e = mse.grad_hess_into(&t, &p, &mut bad, &mut good).unwrap_err();
        assert_eq!(e, grad_err);
        let e = mse.grad_hess_into(&t, &p, &mut good, &mut bad).unwrap_err();
        assert_eq!(
            e,
            LossError::HessShape {
                hess: vec![3, 2],
                y_pred: vec![2, 3]
            }
        );
        let mut bad2 = bad.clone();
        let e = mse.grad_hess_into(&t, &p, &mut bad, &mut bad2).unwrap_err();
        assert_eq!(e, grad_err, "the gradient buffer is checked first");
        let e = mse
            .value_and_grad_weighted_into(&t, &p, &w, &mut bad)
            .unwrap_err();
        assert_eq!(e, grad_err);
        let e = mse
            .value_and_grad_weighted_into(&t, &p, &Array1::<f64>::ones(3), &mut good)
            .unwrap_err();
        assert!(matches!(e, LossError::WeightShape { .. }), "{e}");
    }

    #[test]
    fn grad_buffer_shape_is_checked() {
        let (t, p) = data2(2, 3, 0.0);
        let mut g = Array2::<f64>::zeros((3, 2));
        let e = TestMse::default()
            .value_and_grad_into(&t, &p, &mut g)
            .unwrap_err();
        assert_eq!(
            e,
            LossError::GradShape {
                grad: vec![3, 2],
                y_pred: vec![2, 3]
            }
        );
    }

    #[test]
    fn shape_errors_and_empty_inputs() {
        let (t, p) = data2(2, 3, 0.0);
        let p2 = Array2::<f64>::zeros((3, 2));
        let e = TestMse::default().forward(&t, &p2).unwrap_err();
        assert_eq!(
            e,
            LossError::ShapeMismatch {
                y_true: vec![2, 3],
                y_pred: vec![3, 2]
            }
        );
        let e = TestMse::default().forward(&Array2::<f64>::zeros((0, 3)), &Array2::zeros((0, 3)));
        assert_eq!(e, Err(LossError::Empty));
        let e = TestMse::default().forward(&Array2::<f64>::zeros((3, 0)), &Array2::zeros((3, 0)));
        assert_eq!(e, Err(LossError::Empty));
        let empty: &[f64] = &[];
        assert_eq!(
            TestMse::default().per_sample(empty, empty),
            Err(LossError::Empty)
        );
        // Dynamic dimensions with different ranks.
        let a = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
        let b = ArrayD::<f64>::zeros(IxDyn(&[6]));
        assert!(matches!(
            TestMse::default().forward(&a, &b),
            Err(LossError::ShapeMismatch { .. })
        ));
        // Sparse: y_true's last axis is 1.
        let e = TestSparseCe::default().forward(&t, &p).unwrap_err();
        assert!(matches!(e, LossError::ShapeMismatch { .. }));
        assert_eq!(
            TestMse::default().per_element(&t, &p).unwrap().shape(),
            &[2, 3]
        );
        assert_eq!(
            TestSoftmaxCe::default().per_element(&t, &p),
            Err(LossError::NotElementwise {
                loss: "test_softmax_ce"
            })
        );
    }

    #[test]
    fn sparse_labels_are_checked() {
        let (_, p) = data2(3, 4, 0.0);
        let l = TestSparseCe::default();
        for (bad, at) in [(4.0, 1), (-1.0, 2), (1.5, 0)] {
            let mut labels = Array2::<f64>::zeros((3, 1));
            labels[[at, 0]] = bad;
            assert_eq!(
                l.forward(&labels, &p),
                Err(LossError::InvalidLabel {
                    index: vec![at, 0],
                    label: bad,
                    classes: 4
                })
            );
        }
        let labels = array![[0.0], [f64::NAN], [1.0]];
        assert_eq!(
            l.value_and_grad(&labels, &p).unwrap_err(),
            LossError::NaNInput {
                which: "y_true",
                index: vec![1, 0]
            }
        );
    }

    #[test]
    fn nan_inputs_are_named() {
        let (t, mut p) = data2(3, 4, 0.0);
        p[[2, 1]] = f64::NAN;
        let nan = LossError::NaNInput {
            which: "y_pred",
            index: vec![2, 1],
        };
        let l = TestMse::default();
        assert_eq!(l.forward(&t, &p), Err(nan.clone()));
        assert_eq!(l.value_and_grad(&t, &p).unwrap_err(), nan);
        assert_eq!(l.per_sample(&t, &p).unwrap_err(), nan);
        assert_eq!(l.per_element(&t, &p).unwrap_err(), nan);
        assert_eq!(l.grad_hess(&t, &p).unwrap_err(), nan);
        assert_eq!(TestSoftmaxCe::default().forward(&t, &p), Err(nan.clone()));
        let (t, p) = data2(3, 4, 0.0);
        let w = array![1.0, f64::NAN, 1.0];
        assert_eq!(
            l.forward_weighted(&t, &p, &w),
            Err(LossError::NaNInput {
                which: "sample_weight",
                index: vec![1]
            })
        );
        // An infinite result that no input NaN caused is a value, not an error.
        let mut p = p;
        p[[0, 0]] = f64::INFINITY;
        assert_eq!(l.forward(&t, &p), Ok(f64::INFINITY));
    }

    #[test]
    fn weight_shapes() {
        // [B, T, C] input: per-sample shape [B, T]; weights [B, T], [B], [B, 1], 0-d.
        let t = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i + j + k) as f64 * 0.1);
        let p = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * j + k) as f64 * 0.2);
        let l = TestMse {
            reduction: Reduction::WeightedMean,
        };
        let full = Array2::from_shape_fn((2, 3), |(i, _)| [0.5, 2.0][i]);
        let want = l.value_and_grad_weighted(&t, &p, &full).unwrap();
        let prefix = array![0.5, 2.0];
        assert_relative_eq!(
            l.value_and_grad_weighted(&t, &p, &prefix).unwrap().0,
            want.0,
            max_relative = 1e-15
        );
        assert_close(
            &l.value_and_grad_weighted(&t, &p, &prefix).unwrap().1,
            &want.1,
            0.0,
            1e-16,
        );
        let col = array![[0.5], [2.0]];
        assert_eq!(
            l.forward_weighted(&t, &p, &col).unwrap(),
            l.forward_weighted(&t, &p, &prefix).unwrap()
        );
        let scalar = Array0::from_elem((), 3.0);
        let plain = l.forward(&t, &p).unwrap();
        assert_relative_eq!(
            l.forward_weighted(&t, &p, &scalar).unwrap(),
            plain,
            max_relative = 1e-14
        );
        let bad = array![1.0, 2.0, 3.0];
        assert_eq!(
            l.forward_weighted(&t, &p, &bad),
            Err(LossError::WeightShape {
                weights: vec![3],
                per_sample: vec![2, 3]
            })
        );
        let rows = Array2::from_shape_fn((1, 3), |(_, j)| [0.5, 1.0, 2.0][j]);
        let full = Array2::from_shape_fn((2, 3), |(_, j)| [0.5, 1.0, 2.0][j]);
        let a = l.value_and_grad_weighted(&t, &p, &rows).unwrap();
        let b = l.value_and_grad_weighted(&t, &p, &full).unwrap();
        assert_eq!(a, b);
        let bad = Array2::<f64>::ones((3, 2));
        assert!(matches!(
            l.forward_weighted(&t, &p, &bad),
            Err(LossError::WeightShape { .. })
        ));
    }

    #[test]
    fn zero_weights_under_weighted_mean() {
        let (t, p) = data2(3, 2, 0.0);
        let w = Array1::<f64>::zeros(3);
        let l = TestSoftmaxCe {
            reduction: Reduction::WeightedMean,
        };
        let (v, g) = l.value_and_grad_weighted(&t, &p, &w).unwrap();
        assert_eq!(v, 0.0);
        assert!(g.iter().all(|&x| x == 0.0));
        assert_eq!(l.forward_weighted(&t, &p, &w), Ok(0.0));
        // Under Mean, zero weights give 0 through the arithmetic.
        let m = TestMse::default();
        assert_eq!(m.forward_weighted(&t, &p, &w), Ok(0.0));
    }

    #[test]
    fn low_rank_inputs() {
        // 1-D: one sample of N values; the per-sample result is 0-d.
        let t = array![1.0, 2.0, 3.0];
        let p = array![1.0, 2.0, 5.0];
        let ps = TestMse::default().per_sample(&t, &p).unwrap();
        assert_eq!(ps.shape(), &[] as &[usize]);
        assert_relative_eq!(ps.into_scalar(), 4.0 / 3.0);
        assert_relative_eq!(
            TestMse {
                reduction: Reduction::Sum
            }
            .forward(&t, &p)
            .unwrap(),
            4.0 / 3.0
        );
        // Slices and vectors are inputs too.
        let tv = vec![1.0, 2.0, 3.0];
        assert_relative_eq!(
            TestMse::default()
                .forward(&tv, &[1.0, 2.0, 5.0][..])
                .unwrap(),
            4.0 / 3.0
        );
        // 0-d: one sample of one value.
        let t0 = Array0::from_elem((), 1.0);
        let p0 = Array0::from_elem((), 3.0);
        let ps = TestMse::default().per_sample(&t0, &p0).unwrap();
        assert_eq!(ps.into_scalar(), 4.0);
        let (v, g) = TestMse::default().value_and_grad(&t0, &p0).unwrap();
        assert_eq!((v, g.into_scalar()), (4.0, 4.0));
        // Dynamic dimensions: per_sample drops the last axis.
        let td = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 4]));
        let pd = ArrayD::<f64>::ones(IxDyn(&[2, 3, 4]));
        assert_eq!(
            TestMse::default().per_sample(&td, &pd).unwrap().shape(),
            &[2, 3]
        );
    }

    #[test]
    fn f32_and_large_inputs() {
        let n = 3000;
        let t = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f32 * 0.01).sin());
        let p = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f32 * 0.02).cos());
        let want: f64 = t
            .iter()
            .zip(&p)
            .map(|(&a, &b)| (f64::from(b) - f64::from(a)).powi(2))
            .sum::<f64>();
        for r in Reduction::ALL {
            let l = TestMse { reduction: r };
            let v = f64::from(l.forward(&t, &p).unwrap());
            let expect = match r {
                Reduction::Sum => want / 3.0,
                _ => want / (3 * n) as f64,
            };
            assert!((v - expect).abs() / expect < 1e-6, "{r:?}: {v} vs {expect}");
            let (vg, g) = l.value_and_grad(&t, &p).unwrap();
            assert!((f64::from(vg) - expect).abs() / expect < 1e-6);
            let scale = match r {
                Reduction::Sum => 1.0 / 3.0,
                _ => 1.0 / (3 * n) as f32,
            };
            assert_close(&g, &((&p - &t) * (2.0 * scale)), 1e-5, 0.0);
        }
    }

    #[test]
    fn invalid_parameters_fail_every_call() {
        let l = TestHuber {
            delta: -1.0,
            ..Default::default()
        };
        let (t, p) = data2(2, 2, 0.0);
        let e = LossError::InvalidParameter {
            loss: "test_huber",
            param: "delta",
            value: -1.0,
            rule: "delta > 0.0",
        };
        assert_eq!(l.forward(&t, &p), Err(e.clone()));
        assert_eq!(l.gradient(&t, &p).unwrap_err(), e);
        let v: ArrayView2<'_, f64> = t.view();
        assert_eq!(l.per_sample(v, v).unwrap_err(), e);
    }
}
