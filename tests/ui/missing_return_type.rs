//! A loss without a return type. A loss returns the loss of one element: add `-> f64`.
use losses::prelude::*;

#[loss]
fn absolute_error(y_true: f64, y_pred: f64) {
    (y_pred - y_true).abs()
}

fn main() {}
