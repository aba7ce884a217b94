//! Hand-written losses standing in for `#[loss]`-generated code in unit tests: an element-wise
//! kernel (MSE), a parameterised one with validation (Huber), a row kernel (softmax
//! cross-entropy from logits) and a sparse row kernel, each with a struct implementing
//! `Loss` and `FromParams`, registered with `inventory`.

use crate::entry::make_dyn;
use crate::{
    ElementKernel, Elementwise, Entry, Float, FromParams, Kind, Loss, LossError, LossKernel,
    ParamInfo, ParamValue, Reduction, Result, format_spec,
};

macro_rules! location {
    () => {
        concat!(module_path!(), " at ", file!(), ":", line!())
    };
}

// ------------------------------------------------------------------------------------------
// MSE

pub struct MseK;

impl<F: Float> ElementKernel<F> for MseK {
    #[inline(always)]
    fn value(&self, t: F, p: F) -> F {
        let d = p - t;
        d * d
    }
    #[inline(always)]
    fn value_grad(&self, t: F, p: F) -> (F, F) {
        let d = p - t;
        (d * d, (d + d))
    }
    #[inline(always)]
    fn grad_hess(&self, t: F, p: F) -> (F, F) {
        let d = p - t;
        (d + d, F::from_f64(2.0))
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestMse {
    pub reduction: Reduction,
}

impl Loss for TestMse {
    type Kernel<F: Float> = Elementwise<MseK>;
    fn kernel<F: Float>(&self) -> Result<Self::Kernel<F>> {
        Ok(Elementwise(MseK))
    }
    fn name(&self) -> &'static str {
        "test_mse"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn spec(&self) -> String {
        format_spec("test_mse", &[], self.reduction)
    }
}

impl FromParams for TestMse {
    fn from_params(_: &[ParamValue], reduction: Reduction) -> Result<Self> {
        Ok(TestMse { reduction })
    }
}

inventory::submit! {
    Entry {
        name: "test_mse",
        struct_name: "TestMse",
        aliases: &["tmse", "TestMeanSquared"],
        kind: Kind::Elementwise,
        params: &[],
        doc: "Mean squared error (test fixture).",
        formula: "(y_pred - y_true)^2",
        location: location!(),
        make_f32: make_dyn::<TestMse, f32>,
        make_f64: make_dyn::<TestMse, f64>,
    }
}

// ------------------------------------------------------------------------------------------
// Huber, with a float parameter checked `delta > 0.0` and a bool parameter.

pub struct HuberK<F> {
    pub(crate) delta: F,
    pub(crate) double: bool,
}

impl<F: Float> ElementKernel<F> for HuberK<F> {
    #[inline(always)]
    fn value(&self, t: F, p: F) -> F {
        self.value_grad(t, p).0
    }
    #[inline(always)]
    fn value_grad(&self, t: F, p: F) -> (F, F) {
        let half = F::from_f64(0.5);
        let d = p - t;
        let a = d.abs();
        let (v, g) = if a <= self.delta {
            (half * d * d, d)
        } else {
            (self.delta * (a - half * self.delta), self.delta * d.sign0())
        };
        if self.double { (v + v, g + g) } else { (v, g) }
    }
    #[inline(always)]
    fn grad_hess(&self, t: F, p: F) -> (F, F) {
        let d = p - t;
        let (g, h) = if d.abs() <= self.delta {
            (d, F::ONE)
        } else {
            (self.delta * d.sign0(), F::ZERO)
        };
        if self.double { (g + g, h + h) } else { (g, h) }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestHuber {
    pub delta: f64,
    pub double: bool,
    pub reduction: Reduction,
}

impl Default for TestHuber {
    fn default() -> Self {
        TestHuber {
            delta: 1.0,
            double: false,
            reduction: Reduction::Mean,
        }
    }
}

impl Loss for TestHuber {
    type Kernel<F: Float> = Elementwise<HuberK<F>>;
    fn kernel<F: Float>(&self) -> Result<Self::Kernel<F>> {
        if self.delta.is_nan() || self.delta <= 0.0 {
            return Err(LossError::InvalidParameter {
                loss: "test_huber",
                param: "delta",
                value: self.delta,
                rule: "delta > 0.0",
            });
        }
        Ok(Elementwise(HuberK {
            delta: F::from_f64(self.delta),
            double: self.double,
        }))
    }
    fn name(&self) -> &'static str {
        "test_huber"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn spec(&self) -> String {
        format_spec(
            "test_huber",
            &[
                ("delta", ParamValue::Float(self.delta)),
                ("double", ParamValue::Bool(self.double)),
            ],
            self.reduction,
        )
    }
}

impl FromParams for TestHuber {
    fn from_params(values: &[ParamValue], reduction: Reduction) -> Result<Self> {
        let (ParamValue::Float(delta), ParamValue::Bool(double)) = (values[0], values[1]) else {
            unreachable!("the registry checks types")
        };
        let loss = TestHuber {
            delta,
            double,
            reduction,
        };
        loss.kernel::<f64>()?;
        Ok(loss)
    }
}

inventory::submit! {
    Entry {
        name: "test_huber",
        struct_name: "TestHuber",
        aliases: &["smooth_test(delta=0.25)", "thuber"],
        kind: Kind::Elementwise,
        params: &[
            ParamInfo {
                name: "delta",
                default: ParamValue::Float(1.0),
                doc: "Where the quadratic part ends.",
                check: "delta > 0.0",
            },
            ParamInfo {
                name: "double",
                default: ParamValue::Bool(false),
                doc: "Multiply by two.",
                check: "",
            },
        ],
        doc: "Huber loss (test fixture).",
        formula: "0.5 d^2 if |d| <= delta else delta (|d| - delta / 2)",
        location: location!(),
        make_f32: make_dyn::<TestHuber, f32>,
        make_f64: make_dyn::<TestHuber, f64>,
    }
}

// ------------------------------------------------------------------------------------------
// Softmax cross-entropy from logits: a row kernel. l = Σ t_i (lse(p) - p_i).

fn log_sum_exp<F: Float>(p: &[F]) -> F {
    let m = p.iter().copied().fold(F::NEG_INFINITY, F::max);
    let s: F = p.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

pub struct SoftmaxCeK;

impl<F: Float> LossKernel<F> for SoftmaxCeK {
    const ELEMENTWISE: bool = false;

    fn row_value(&self, t: &[F], p: &[F]) -> F {
        let lse = log_sum_exp(p);
        t.iter().zip(p).map(|(&ti, &pi)| ti * (lse - pi)).sum()
    }

    fn row_value_grad(&self, t: &[F], p: &[F], scale: F, grad: &mut [F]) -> F {
        let lse = log_sum_exp(p);
        let st: F = t.iter().copied().sum();
        let mut v = F::ZERO;
        for ((&ti, &pi), g) in t.iter().zip(p).zip(grad) {
            v += ti * (lse - pi);
            *g = scale * ((pi - lse).exp() * st - ti);
        }
        v
    }

    fn row_grad_hess(&self, t: &[F], p: &[F], grad: &mut [F], hess: &mut [F]) {
        let lse = log_sum_exp(p);
        let st: F = t.iter().copied().sum();
        for (((&ti, &pi), g), h) in t.iter().zip(p).zip(grad).zip(hess) {
            let s = (pi - lse).exp();
            *g = s * st - ti;
            *h = st * s * (F::ONE - s);
        }
    }

    fn per_element(&self, _: &[F], _: &[F], out: &mut [F]) {
        out.fill(F::NAN);
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestSoftmaxCe {
    pub reduction: Reduction,
}

impl Loss for TestSoftmaxCe {
    type Kernel<F: Float> = SoftmaxCeK;
    fn kernel<F: Float>(&self) -> Result<Self::Kernel<F>> {
        Ok(SoftmaxCeK)
    }
    fn name(&self) -> &'static str {
        "test_softmax_ce"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn spec(&self) -> String {
        format_spec("test_softmax_ce", &[], self.reduction)
    }
}

impl FromParams for TestSoftmaxCe {
    fn from_params(_: &[ParamValue], reduction: Reduction) -> Result<Self> {
        Ok(TestSoftmaxCe { reduction })
    }
}

inventory::submit! {
    Entry {
        name: "test_softmax_ce",
        struct_name: "TestSoftmaxCe",
        aliases: &["tsce"],
        kind: Kind::Row,
        params: &[],
        doc: "Softmax cross-entropy from logits (test fixture).",
        formula: "sum(y_true * (logsumexp(y_pred) - y_pred))",
        location: location!(),
        make_f32: make_dyn::<TestSoftmaxCe, f32>,
        make_f64: make_dyn::<TestSoftmaxCe, f64>,
    }
}

// ------------------------------------------------------------------------------------------
// Sparse softmax cross-entropy: y_true holds one class index per row.

pub struct SparseCeK;

impl<F: Float> LossKernel<F> for SparseCeK {
    const ELEMENTWISE: bool = false;
    const SPARSE: bool = true;

    fn row_value(&self, t: &[F], p: &[F]) -> F {
        let label = t[0].to_f64() as usize;
        log_sum_exp(p) - p[label]
    }

    fn row_value_grad(&self, t: &[F], p: &[F], scale: F, grad: &mut [F]) -> F {
        let label = t[0].to_f64() as usize;
        let lse = log_sum_exp(p);
        for (i, (&pi, g)) in p.iter().zip(grad).enumerate() {
            let onehot = if i == label { F::ONE } else { F::ZERO };
            *g = scale * ((pi - lse).exp() - onehot);
        }
        lse - p[label]
    }

    fn row_grad_hess(&self, t: &[F], p: &[F], grad: &mut [F], hess: &mut [F]) {
        let label = t[0].to_f64() as usize;
        let lse = log_sum_exp(p);
        for (i, ((&pi, g), h)) in p.iter().zip(grad).zip(hess).enumerate() {
            let s = (pi - lse).exp();
            *g = s - if i == label { F::ONE } else { F::ZERO };
            *h = s * (F::ONE - s);
        }
    }

    fn per_element(&self, _: &[F], _: &[F], out: &mut [F]) {
        out.fill(F::NAN);
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestSparseCe {
    pub reduction: Reduction,
}

impl Loss for TestSparseCe {
    type Kernel<F: Float> = SparseCeK;
    fn kernel<F: Float>(&self) -> Result<Self::Kernel<F>> {
        Ok(SparseCeK)
    }
    fn name(&self) -> &'static str {
        "test_sparse_ce"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn spec(&self) -> String {
        format_spec("test_sparse_ce", &[], self.reduction)
    }
}

impl FromParams for TestSparseCe {
    fn from_params(_: &[ParamValue], reduction: Reduction) -> Result<Self> {
        Ok(TestSparseCe { reduction })
    }
}

inventory::submit! {
    Entry {
        name: "test_sparse_ce",
        struct_name: "TestSparseCe",
        aliases: &[],
        kind: Kind::Sparse,
        params: &[],
        doc: "Sparse softmax cross-entropy from logits (test fixture).",
        formula: "logsumexp(y_pred) - y_pred[y_true]",
        location: location!(),
        make_f32: make_dyn::<TestSparseCe, f32>,
        make_f64: make_dyn::<TestSparseCe, f64>,
    }
}

/// Asserts two arrays have the same shape and elements within `rel` relative or `abs`
/// absolute tolerance (ndarray's `approx` feature is not enabled).
#[track_caller]
pub fn assert_close<F: Float, D: ndarray::Dimension>(
    a: &ndarray::ArrayRef<F, D>,
    b: &ndarray::ArrayRef<F, D>,
    rel: f64,
    abs: f64,
) {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let (x, y) = (x.to_f64(), y.to_f64());
        let ok = x == y || (x - y).abs() <= abs || (x - y).abs() <= rel * x.abs().max(y.abs());
        assert!(ok, "element {i}: {x} vs {y}");
    }
}
