//! The scalar functions of the `#[loss]` language, as ordinary `f64` functions.
//!
//! A `#[loss]` body is ordinary Rust: the annotated function stays a valid scalar function a
//! reader can call. These are the functions it may use beyond `f64`'s own methods; generated
//! code calls their [`Float`](crate::Float) counterparts, which compute the same values.

/// Keras's fuzz factor (`keras.config.epsilon()`): `1e-7`. Probabilities are clipped to
/// `[EPSILON, 1 - EPSILON]` before a logarithm.
pub const EPSILON: f64 = 1e-7;

/// The logistic function `1 / (1 + e^-x)`, without overflow for any `x`:
/// `1 / (1 + exp(-x))` for `x >= 0`, `e / (1 + e)` with `e = exp(x)` otherwise.
///
/// ```
/// assert_eq!(loss_core::sigmoid(0.0), 0.5);
/// assert_eq!(loss_core::sigmoid(-1000.0), 0.0);
/// ```
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    crate::Float::sigmoid(x)
}

/// `ln(1 + e^x)`, computed as `max(x, 0) + ln_1p(exp(-|x|))`: no overflow for large `x`, no
/// loss of precision for very negative `x`.
///
/// ```
/// assert_eq!(loss_core::softplus(1000.0), 1000.0);
/// assert!((loss_core::softplus(0.0) - std::f64::consts::LN_2).abs() < 1e-16);
/// ```
#[inline]
pub fn softplus(x: f64) -> f64 {
    crate::Float::softplus(x)
}

/// `ln(sigmoid(x))`, computed as `-softplus(-x)` (finite for every finite `x`).
///
/// ```
/// assert_eq!(loss_core::log_sigmoid(-1000.0), -1000.0);
/// ```
#[inline]
pub fn log_sigmoid(x: f64) -> f64 {
    crate::Float::log_sigmoid(x)
}

/// `lo` if `x < lo`, `hi` if `x > hi`, else `x`. Unlike `f64::clamp` it never panics (an empty
/// interval `lo > hi` gives `lo` or `hi`), and a NaN `x` stays NaN.
///
/// Its derivative with respect to `x` is 1 on the closed interval `[lo, hi]` and 0 outside:
/// the gradient passes at the bounds (as in JAX and Keras).
///
/// ```
/// use loss_core::{clip, EPSILON};
/// assert_eq!(clip(0.0, EPSILON, 1.0 - EPSILON), EPSILON);
/// ```
#[inline]
pub fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    crate::Float::clip(x, lo, hi)
}

/// `x * ln(y)`, and exactly `0` when `x == 0`, whatever `y` is (as `scipy.special.xlogy`):
/// the convention `0 · ln 0 = 0` of cross-entropies and KL divergence.
///
/// ```
/// assert_eq!(loss_core::xlogy(0.0, 0.0), 0.0);
/// ```
#[inline]
pub fn xlogy(x: f64, y: f64) -> f64 {
    crate::Float::xlogy(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_values() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(sigmoid(-800.0), 0.0);
        let x: f64 = 1.3;
        assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-16);
        assert!((sigmoid(-x) - (-x).exp() / (1.0 + (-x).exp())).abs() < 1e-16);
        assert!(sigmoid(f64::NAN).is_nan());
        assert_eq!(sigmoid(f64::INFINITY), 1.0);
        assert_eq!(sigmoid(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn softplus_values() {
        for x in [-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0] {
            let naive = (1.0 + f64::exp(x)).ln();
            assert!(
                (softplus(x) - naive).abs() <= 1e-15 * naive.abs().max(1.0),
                "{x}"
            );
        }
        assert_eq!(softplus(f64::INFINITY), f64::INFINITY);
        assert_eq!(softplus(f64::NEG_INFINITY), 0.0);
        assert!(softplus(f64::NAN).is_nan());
    }

    #[test]
    fn log_sigmoid_values() {
        for x in [-5.0, -0.5, 0.0, 0.5, 5.0] {
            assert!((log_sigmoid(x) - sigmoid(x).ln()).abs() < 1e-15, "{x}");
        }
        assert_eq!(log_sigmoid(-800.0), -800.0);
        assert_eq!(log_sigmoid(800.0), 0.0);
    }

    #[test]
    fn clip_values() {
        assert_eq!(clip(2.0, 0.0, 1.0), 1.0);
        assert_eq!(clip(-2.0, 0.0, 1.0), 0.0);
        assert_eq!(clip(0.25, 0.0, 1.0), 0.25);
        assert_eq!(clip(0.5, 1.0, 0.0), 1.0);
        assert_eq!(clip(0.0, EPSILON, 1.0 - EPSILON), 1e-7);
        assert!(clip(f64::NAN, 0.0, 1.0).is_nan());
    }

    #[test]
    fn xlogy_values() {
        assert_eq!(xlogy(0.0, 0.0), 0.0);
        assert_eq!(xlogy(0.0, -1.0), 0.0);
        assert_eq!(xlogy(1.0, 0.0), f64::NEG_INFINITY);
        assert!((xlogy(3.0, 2.0) - 3.0 * 2f64.ln()).abs() < 1e-15);
        assert!(xlogy(f64::NAN, 2.0).is_nan());
    }

    #[test]
    fn epsilon_is_keras_fuzz_factor() {
        assert_eq!(EPSILON, 1e-7);
    }
}
