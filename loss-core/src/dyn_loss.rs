//! [`DynLoss`]: the object-safe face of [`Loss`] for one float type.

use std::fmt;

use ndarray::{ArrayD, ArrayRef, ArrayViewD, IxDyn};

use crate::{Float, Loss, Reduction, Result};

/// A loss chosen at run time (from a name or a spec), for float type `F`: the methods of
/// [`Loss`] over dynamic-dimensional views. Returned by [`get`](crate::get) and
/// [`from_spec`](crate::from_spec); any [`Loss`] becomes one with [`Loss::boxed`].
///
/// ```
/// # use loss_core as losses;
/// use losses::DynLoss;
/// use losses::ndarray::{ArrayD, IxDyn};
///
/// let loss: Box<dyn DynLoss<f32>> = losses::from_spec("huber(delta=0.5)")?;
/// let y_true = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
/// let y_pred = ArrayD::<f32>::ones(IxDyn(&[2, 3]));
/// let (value, grad) = loss.value_and_grad(y_true.view(), y_pred.view())?;
/// assert_eq!(value, 0.375); // 0.5 * (1 - 0.5 / 2), the linear part of Huber
/// assert_eq!(grad.shape(), &[2, 3]);
/// # Ok::<(), losses::LossError>(())
/// ```
///
/// The semantics (class axis last, reductions, weights, errors) are those of [`Loss`].
pub trait DynLoss<F: Float>: Send + Sync {
    /// See [`Loss::per_sample`].
    fn per_sample(&self, y_true: ArrayViewD<'_, F>, y_pred: ArrayViewD<'_, F>)
    -> Result<ArrayD<F>>;
    /// See [`Loss::per_element`].
    fn per_element(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<ArrayD<F>>;
    /// See [`Loss::forward`].
    fn forward(&self, y_true: ArrayViewD<'_, F>, y_pred: ArrayViewD<'_, F>) -> Result<F>;
    /// See [`Loss::forward_weighted`].
    fn forward_weighted(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        sample_weight: ArrayViewD<'_, F>,
    ) -> Result<F>;
    /// See [`Loss::gradient`].
    fn gradient(&self, y_true: ArrayViewD<'_, F>, y_pred: ArrayViewD<'_, F>) -> Result<ArrayD<F>>;
    /// See [`Loss::gradient_into`]. `grad` is any `&mut ArrayD` or `&mut ArrayViewMutD`.
    fn gradient_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
    ) -> Result<()>;
    /// See [`Loss::value_and_grad`].
    fn value_and_grad(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<(F, ArrayD<F>)>;
    /// See [`Loss::value_and_grad_into`].
    fn value_and_grad_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
    ) -> Result<F>;
    /// See [`Loss::value_and_grad_weighted`].
    fn value_and_grad_weighted(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        sample_weight: ArrayViewD<'_, F>,
    ) -> Result<(F, ArrayD<F>)>;
    /// See [`Loss::value_and_grad_weighted_into`].
    fn value_and_grad_weighted_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        sample_weight: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
    ) -> Result<F>;
    /// See [`Loss::grad_hess`].
    fn grad_hess(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)>;
    /// See [`Loss::grad_hess_into`].
    fn grad_hess_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
        hess: &mut ArrayRef<F, IxDyn>,
    ) -> Result<()>;
    /// See [`Loss::name`].
    fn name(&self) -> &'static str;
    /// See [`Loss::reduction`].
    fn reduction(&self) -> Reduction;
    /// See [`Loss::spec`].
    fn spec(&self) -> String;
}

impl<F: Float> fmt::Debug for dyn DynLoss<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DynLoss<{}>({})", F::NAME, self.spec())
    }
}

/// Wraps a [`Loss`]: a blanket `impl DynLoss for L: Loss` would make every method call on a
/// concrete loss ambiguous when both traits are in scope.
struct Adapter<L>(L);

/// `loss` as a boxed [`DynLoss`] for float type `F`.
pub(crate) fn boxed<L: Loss + 'static, F: Float>(loss: L) -> Box<dyn DynLoss<F>> {
    Box::new(Adapter(loss))
}

impl<L: Loss, F: Float> DynLoss<F> for Adapter<L> {
    fn per_sample(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<ArrayD<F>> {
        self.0.per_sample(y_true, y_pred)
    }
    fn per_element(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<ArrayD<F>> {
        self.0.per_element(y_true, y_pred)
    }
    fn forward(&self, y_true: ArrayViewD<'_, F>, y_pred: ArrayViewD<'_, F>) -> Result<F> {
        self.0.forward(y_true, y_pred)
    }
    fn forward_weighted(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        sample_weight: ArrayViewD<'_, F>,
    ) -> Result<F> {
        self.0.forward_weighted(y_true, y_pred, sample_weight)
    }
    fn gradient(&self, y_true: ArrayViewD<'_, F>, y_pred: ArrayViewD<'_, F>) -> Result<ArrayD<F>> {
        self.0.gradient(y_true, y_pred)
    }
    fn gradient_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
    ) -> Result<()> {
        self.0.gradient_into(y_true, y_pred, grad)
    }
    fn value_and_grad(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<(F, ArrayD<F>)> {
        self.0.value_and_grad(y_true, y_pred)
    }
    fn value_and_grad_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
    ) -> Result<F> {
        self.0.value_and_grad_into(y_true, y_pred, grad)
    }
    fn value_and_grad_weighted(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        sample_weight: ArrayViewD<'_, F>,
    ) -> Result<(F, ArrayD<F>)> {
        self.0
            .value_and_grad_weighted(y_true, y_pred, sample_weight)
    }
    fn value_and_grad_weighted_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        sample_weight: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
    ) -> Result<F> {
        self.0
            .value_and_grad_weighted_into(y_true, y_pred, sample_weight, grad)
    }
    fn grad_hess(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)> {
        self.0.grad_hess(y_true, y_pred)
    }
    fn grad_hess_into(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
        grad: &mut ArrayRef<F, IxDyn>,
        hess: &mut ArrayRef<F, IxDyn>,
    ) -> Result<()> {
        self.0.grad_hess_into(y_true, y_pred, grad, hess)
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn reduction(&self) -> Reduction {
        self.0.reduction()
    }
    fn spec(&self) -> String {
        self.0.spec()
    }
}

#[cfg(test)]
mod tests {
    // Both traits in scope: calls on a concrete loss must stay unambiguous.
    use crate::prelude::*;
    use crate::testing::{TestHuber, TestSoftmaxCe, TestSparseCe, assert_close};
    use crate::{LossError, Result};
    use ndarray::{Array2, ArrayD, IxDyn};

    fn inputs() -> (ArrayD<f64>, ArrayD<f64>) {
        let t = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64 * 0.1).into_dyn();
        let p = Array2::from_shape_fn((4, 3), |(i, j)| ((i + 2 * j) as f64 * 0.3).sin()).into_dyn();
        (t, p)
    }

    #[test]
    fn adapter_matches_the_loss() -> Result<()> {
        let loss = TestHuber {
            delta: 0.2,
            double: true,
            reduction: Reduction::Sum,
        };
        let (t, p) = inputs();
        let w = ndarray::array![1.0, 0.5, 0.0, 2.0].into_dyn();
        let direct_value = loss.forward(&t, &p)?;
        let direct_vg = loss.value_and_grad(&t, &p)?;
        let direct_w = loss.value_and_grad_weighted(&t, &p, &w)?;
        let dynl: Box<dyn DynLoss<f64>> = loss.clone().boxed();
        let (tv, pv) = (t.view(), p.view());
        assert_eq!(dynl.forward(tv.view(), pv.view())?, direct_value);
        assert_eq!(dynl.value_and_grad(tv.view(), pv.view())?, direct_vg);
        assert_eq!(dynl.gradient(tv.view(), pv.view())?, direct_vg.1);
        assert_eq!(
            dynl.forward_weighted(tv.view(), pv.view(), w.view())?,
            direct_w.0
        );
        assert_eq!(
            dynl.value_and_grad_weighted(tv.view(), pv.view(), w.view())?,
            direct_w
        );
        assert_eq!(
            dynl.per_sample(tv.view(), pv.view())?,
            loss.per_sample(&t, &p)?
        );
        assert_eq!(
            dynl.per_element(tv.view(), pv.view())?,
            loss.per_element(&t, &p)?
        );
        assert_eq!(
            dynl.grad_hess(tv.view(), pv.view())?,
            loss.grad_hess(&t, &p)?
        );
        // Into an owned buffer and into a (non-standard) view.
        let mut buf = ArrayD::<f64>::zeros(IxDyn(&[4, 3]));
        assert_eq!(
            dynl.value_and_grad_into(tv.view(), pv.view(), &mut buf)?,
            direct_vg.0
        );
        assert_eq!(buf, direct_vg.1);
        let mut back = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
        let mut view = back.view_mut().reversed_axes();
        dynl.gradient_into(tv.view(), pv.view(), &mut view)?;
        assert_eq!(back.t(), direct_vg.1);
        assert_eq!(dynl.name(), "test_huber");
        assert_eq!(dynl.reduction(), Reduction::Sum);
        assert_eq!(dynl.spec(), loss.spec());
        assert_eq!(
            format!("{dynl:?}"),
            "DynLoss<f64>(test_huber(delta=0.2, double=true, reduction=sum))"
        );
        Ok(())
    }

    #[test]
    fn errors_pass_through() {
        let (t, p) = inputs();
        let ce: Box<dyn DynLoss<f64>> = TestSoftmaxCe::default().boxed();
        assert_eq!(
            ce.per_element(t.view(), p.view()),
            Err(LossError::NotElementwise {
                loss: "test_softmax_ce"
            })
        );
        let sparse: Box<dyn DynLoss<f64>> = TestSparseCe::default().boxed();
        assert!(matches!(
            sparse.forward(t.view(), p.view()),
            Err(LossError::ShapeMismatch { .. })
        ));
        let mut wrong = ArrayD::<f64>::zeros(IxDyn(&[12]));
        assert!(matches!(
            ce.gradient_into(t.view(), p.view(), &mut wrong),
            Err(LossError::GradShape { .. })
        ));
    }

    #[test]
    fn f32_boxes() -> Result<()> {
        let l: Box<dyn DynLoss<f32>> = TestHuber::default().boxed();
        let t = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
        let p = ArrayD::<f32>::from_elem(IxDyn(&[2, 2]), 2.0);
        let (v, g) = l.value_and_grad(t.view(), p.view())?;
        assert_eq!(v, 1.5);
        assert_close(&g, &ArrayD::from_elem(IxDyn(&[2, 2]), 0.25), 1e-7, 0.0);
        Ok(())
    }
}
