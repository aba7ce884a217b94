//! A loss without `y_pred`. The signature is `fn name(y_true: f64, y_pred: f64, ..) -> f64`:
//! the gradient is taken with respect to `y_pred`.
use losses::prelude::*;

#[loss]
fn half_square(y_true: f64) -> f64 {
    0.5 * y_true * y_true
}

fn main() {}
