//! A `bool` parameter used as a number. Choose with it instead:
//! `if double { 2.0 * error } else { error }`.
use losses::prelude::*;

#[loss]
fn weighted_error(y_true: f64, y_pred: f64, #[default(false)] double: bool) -> f64 {
    let error = (y_pred - y_true).abs();
    (1.0 + double) * error
}

fn main() {}
