//! A default that is not a literal. Write the value: `#[default(0.5)]`.
use losses::prelude::*;

#[loss]
fn huber(y_true: f64, y_pred: f64, #[default(1.0 / 2.0)] delta: f64) -> f64 {
    let error = (y_pred - y_true).abs();
    if error <= delta { 0.5 * error * error } else { delta * (error - 0.5 * delta) }
}

fn main() {}
