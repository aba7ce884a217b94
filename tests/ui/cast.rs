//! An `as` cast in a loss body. Every number is `f64`: write `2.0` instead of `2 as f64`.
use losses::prelude::*;

#[loss]
fn doubled_error(y_true: f64, y_pred: f64) -> f64 {
    (2 as f64) * (y_pred - y_true).abs()
}

fn main() {}
