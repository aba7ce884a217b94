//! A `match` in a loss body. Write the cases with `if .. else if .. else ..`.
use losses::prelude::*;

#[loss]
fn hinge(y_true: f64, y_pred: f64) -> f64 {
    let margin = 1.0 - y_true * y_pred;
    match margin > 0.0 {
        true => margin,
        false => 0.0,
    }
}

fn main() {}
