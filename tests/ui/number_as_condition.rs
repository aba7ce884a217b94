//! A number used as an `if` condition. Compare it: `if y_true > 0.5 { .. } else { .. }`.
use losses::prelude::*;

#[loss]
fn binary_error(y_true: f64, y_pred: f64) -> f64 {
    if y_true { 1.0 - y_pred } else { y_pred }
}

fn main() {}
