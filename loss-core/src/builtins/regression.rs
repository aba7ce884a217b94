//! Regression losses.

use std::f64::consts::PI;

use crate::loss;

/// Mean squared error: `(y_pred - y_true)^2`, averaged over the last axis.
#[loss(
    alias = "mse",
    alias = "MSELoss",
    keras = "keras.losses.MeanSquaredError",
    pytorch = "torch.nn.MSELoss"
)]
pub fn mean_squared_error(y_true: f64, y_pred: f64) -> f64 {
    let error = y_pred - y_true;
    error * error
}

/// Mean absolute error: `|y_pred - y_true|`, averaged over the last axis.
///
/// The second derivative is zero everywhere (the loss is piecewise linear): a
/// gradient-boosting objective needs a Hessian substitute. At `y_pred == y_true` the gradient
/// is 0 (`abs'(0) = 0`).
#[loss(
    alias = "mae",
    alias = "L1Loss",
    keras = "keras.losses.MeanAbsoluteError",
    pytorch = "torch.nn.L1Loss"
)]
pub fn mean_absolute_error(y_true: f64, y_pred: f64) -> f64 {
    (y_pred - y_true).abs()
}

/// Huber loss: quadratic for errors up to `delta`, linear beyond.
///
/// The second derivative is 1 on the quadratic part and 0 on the linear part. At
/// `|error| == delta` the quadratic branch is taken (Keras uses `<=`).
#[loss(
    alias = "HuberLoss",
    keras = "keras.losses.Huber",
    pytorch = "torch.nn.HuberLoss"
)]
pub fn huber(
    y_true: f64,
    y_pred: f64,
    /// Where the loss turns from quadratic to linear.
    #[default(1.0)]
    #[check(delta > 0.0)]
    delta: f64,
) -> f64 {
    let error = y_pred - y_true;
    let abs_error = error.abs();
    if abs_error <= delta {
        0.5 * error * error
    } else {
        delta * abs_error - 0.5 * delta * delta
    }
}

/// Logarithm of the hyperbolic cosine of the error, computed stably as
/// `x + softplus(-2x) - ln 2` (as Keras does), so large errors do not overflow.
#[loss(alias = "logcosh", keras = "keras.losses.LogCosh")]
pub fn log_cosh(y_true: f64, y_pred: f64) -> f64 {
    let x = y_pred - y_true;
    x + softplus(-2.0 * x) - std::f64::consts::LN_2
}

/// Mean absolute percentage error: `100 |y_true - y_pred| / max(|y_true|, EPSILON)`.
///
/// Where `y_true == 0` the denominator is `EPSILON` (as in Keras), so the loss is large but
/// finite. The second derivative is zero everywhere.
#[loss(alias = "mape", keras = "keras.losses.MeanAbsolutePercentageError")]
pub fn mean_absolute_percentage_error(y_true: f64, y_pred: f64) -> f64 {
    100.0 * (y_true - y_pred).abs() / y_true.abs().max(EPSILON)
}

/// Mean squared logarithmic error: `(ln(1 + max(y_pred, EPSILON)) - ln(1 + max(y_true, EPSILON)))^2`.
///
/// Negative predictions are raised to `EPSILON` first (as in Keras), so their gradient is 0.
#[loss(alias = "msle", keras = "keras.losses.MeanSquaredLogarithmicError")]
pub fn mean_squared_logarithmic_error(y_true: f64, y_pred: f64) -> f64 {
    let log_pred = y_pred.max(EPSILON).ln_1p();
    let log_true = y_true.max(EPSILON).ln_1p();
    (log_pred - log_true).powi(2)
}

/// Poisson loss: `y_pred - y_true ln(y_pred + EPSILON)`, for count data with `y_pred` the
/// predicted rate (Keras's form; see `log_poisson` for PyTorch's).
#[loss(keras = "keras.losses.Poisson")]
pub fn poisson(y_true: f64, y_pred: f64) -> f64 {
    y_pred - y_true * (y_pred + EPSILON).ln()
}

/// PyTorch's smooth L1 loss: `0.5 e^2 / beta` for `|e| < beta`, `|e| - 0.5 beta` beyond.
///
/// At `|e| == beta` the linear branch is taken (PyTorch uses `<`). With `beta = 0` it is the
/// L1 loss. The second derivative is `1 / beta` on the quadratic part and 0 on the linear
/// part.
#[loss(alias = "SmoothL1Loss", pytorch = "torch.nn.SmoothL1Loss")]
pub fn smooth_l1(
    y_true: f64,
    y_pred: f64,
    /// Where the loss turns from quadratic to linear.
    #[default(1.0)]
    #[check(beta >= 0.0)]
    beta: f64,
) -> f64 {
    let error = y_pred - y_true;
    if error.abs() < beta {
        0.5 * error * error / beta
    } else {
        error.abs() - 0.5 * beta
    }
}

/// Quantile (pinball) loss: `max(tau e, (tau - 1) e)` with `e = y_true - y_pred`; its
/// minimiser is the `tau`-quantile. The second derivative is zero everywhere; at `e = 0` the
/// gradient is 0 (minimum-norm subgradient).
#[loss(alias = "pinball")]
pub fn quantile(
    y_true: f64,
    y_pred: f64,
    /// The quantile to estimate, in `[0, 1]`.
    #[default(0.5)]
    #[check(tau >= 0.0 && tau <= 1.0)]
    tau: f64,
) -> f64 {
    let error = y_true - y_pred;
    (tau * error).max((tau - 1.0) * error)
}

/// Pseudo-Huber loss: `delta^2 (sqrt(1 + (e / delta)^2) - 1)`, a smooth Huber (quadratic
/// near 0, linear with slope `delta` far away), twice differentiable everywhere.
#[loss]
pub fn pseudo_huber(
    y_true: f64,
    y_pred: f64,
    /// The slope far from 0, and the scale of the quadratic region.
    #[default(1.0)]
    #[check(delta > 0.0)]
    delta: f64,
) -> f64 {
    let scaled = (y_pred - y_true) / delta;
    delta * delta * ((1.0 + scaled * scaled).sqrt() - 1.0)
}

/// PyTorch's Poisson negative log-likelihood (`PoissonNLLLoss`): with `log_input`,
/// `exp(y_pred) - y_true y_pred` (y_pred is the log-rate); otherwise
/// `y_pred - y_true ln(y_pred + eps)`. With `full`, Stirling's approximation of `ln(y_true!)`,
/// `y_true ln(y_true) - y_true + 0.5 ln(2 pi y_true)`, is added where `y_true > 1`.
#[loss(alias = "PoissonNLLLoss", pytorch = "torch.nn.PoissonNLLLoss")]
pub fn log_poisson(
    y_true: f64,
    y_pred: f64,
    /// Whether `y_pred` is the log of the rate.
    #[default(true)]
    log_input: bool,
    /// Whether to add the Stirling term (a constant in `y_pred`).
    #[default(false)]
    full: bool,
    /// Added to the rate before the logarithm when `log_input` is false.
    #[default(1e-8)]
    #[check(eps >= 0.0)]
    eps: f64,
) -> f64 {
    let nll = if log_input {
        y_pred.exp() - y_true * y_pred
    } else {
        y_pred - y_true * (y_pred + eps).ln()
    };
    if full && y_true > 1.0 {
        nll + y_true * y_true.ln() - y_true + 0.5 * (2.0 * PI * y_true).ln()
    } else {
        nll
    }
}
