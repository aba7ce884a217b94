//! A misspelled name (`y_prd`). Write `y_pred`.
use losses::prelude::*;

#[loss]
fn absolute_error(y_true: f64, y_pred: f64) -> f64 {
    (y_prd - y_true).abs()
}

fn main() {}
