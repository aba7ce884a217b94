//! An early `return` in the middle of the body. A loss is one formula: write
//! `if error < 1.0 { 0.5 * error * error } else { error - 0.5 }`.
use losses::prelude::*;

#[loss]
fn smooth_l1(y_true: f64, y_pred: f64) -> f64 {
    let error = (y_pred - y_true).abs();
    if error < 1.0 {
        return 0.5 * error * error;
    }
    error - 0.5
}

fn main() {}
