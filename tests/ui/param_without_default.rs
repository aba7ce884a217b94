//! A parameter without `#[default(..)]`. Every parameter needs a default: write
//! `#[default(1.0)] delta: f64`.
use losses::prelude::*;

#[loss]
fn huber(y_true: f64, y_pred: f64, delta: f64) -> f64 {
    let error = (y_pred - y_true).abs();
    if error <= delta { 0.5 * error * error } else { delta * (error - 0.5 * delta) }
}

fn main() {}
