//! A closure in a loss body. Bind intermediate values with `let`:
//! `let error = y_pred - y_true; error * error`.
use losses::prelude::*;

#[loss]
fn squared_error(y_true: f64, y_pred: f64) -> f64 {
    let square = |x: f64| x * x;
    square(y_pred - y_true)
}

fn main() {}
