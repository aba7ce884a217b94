//! A `;` after the final expression. The last expression is the loss value: remove the `;`.
use losses::prelude::*;

#[loss]
fn squared_error(y_true: f64, y_pred: f64) -> f64 {
    let error = y_pred - y_true;
    error * error;
}

fn main() {}
