//! An `if` without `else`. The loss has a value in every case: write
//! `if margin > 0.0 { margin } else { 0.0 }`.
use losses::prelude::*;

#[loss]
fn hinge(y_true: f64, y_pred: f64) -> f64 {
    let margin = 1.0 - y_true * y_pred;
    if margin > 0.0 {
        margin
    }
}

fn main() {}
