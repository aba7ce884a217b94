//! With `y_true: Class` (one class index per row), `y_pred` is the row of scores: `y_pred: Row`.
use losses::prelude::*;

#[loss]
fn sparse(y_true: Class, y_pred: f64) -> f64 {
    y_pred
}

fn main() {}
