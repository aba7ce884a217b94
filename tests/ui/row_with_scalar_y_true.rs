//! `y_true` and `y_pred` are both `f64` (element-wise) or both `Row` (a row loss); for one
//! class index per row write `y_true: Class`.
use losses::prelude::*;

#[loss]
fn mixed(y_true: f64, y_pred: Row) -> f64 {
    sum(y_pred) - y_true
}

fn main() {}
