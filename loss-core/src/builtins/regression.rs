//! Regression losses.

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
#[loss(keras = "keras.losses.Huber", pytorch = "torch.nn.HuberLoss")]
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
