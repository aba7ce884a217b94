//! A `for` loop in a loss body. A loss is the formula of one element; the macro applies it to
//! every element. Write `(y_pred - y_true) * (y_pred - y_true)` instead of looping.
use losses::prelude::*;

#[loss]
fn squared_error(y_true: f64, y_pred: f64) -> f64 {
    let error = y_pred - y_true;
    for _ in 0..2 {}
    error * error
}

fn main() {}
