//! [`DynLoss`]: the object-safe face of [`Loss`] for one float type.

use std::fmt;

use ndarray::{ArrayD, ArrayRef, ArrayViewD, IxDyn};

use crate::{Float, Loss, Reduction, Result};

/// A loss chosen at run time (from a name or a spec), for float type `F`: the methods of
/// [`Loss`] over dynamic-dimensional views. Returned by [`get`](crate::get) and
/// [`from_spec`](crate::from_spec); any [`Loss`] becomes one with [`Loss::boxed`].
///
/// ```ignore
/// let loss: Box<dyn DynLoss<f32>> = losses::from_spec("huber(delta=0.5)")?;
/// let (value, grad) = loss.value_and_grad(y_true.view().into_dyn(), y_pred.view().into_dyn())?;
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
    /// See [`Loss::grad_hess`].
    fn grad_hess(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)>;
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
    fn grad_hess(
        &self,
        y_true: ArrayViewD<'_, F>,
        y_pred: ArrayViewD<'_, F>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)> {
        self.0.grad_hess(y_true, y_pred)
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
