//! A `#[check(..)]` is a condition on the parameter: `#[check(delta > 0.0)]`, not `#[check(delta)]`.
use losses::prelude::*;

#[loss]
fn scaled(y_true: f64, y_pred: f64, #[default(1.0)] #[check(delta)] delta: f64) -> f64 {
    delta * (y_pred - y_true).powi(2)
}

fn main() {}
