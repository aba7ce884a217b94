//! Two independent mistakes in one body (`sigmod` and `y_prd`): both are reported in one
//! build. Write `sigmoid(y_pred)` and `y_pred`.
use losses::prelude::*;

#[loss]
fn logistic(y_true: f64, y_pred: f64) -> f64 {
    let p = sigmod(y_pred);
    let scale = y_prd.abs();
    scale * (p - y_true) * (p - y_true)
}

fn main() {}
