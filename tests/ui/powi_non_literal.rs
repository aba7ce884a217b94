//! `powi` with an exponent that is not an integer literal. Write `x.powi(2)`, or
//! `x.powf(power)` for a parameter.
use losses::prelude::*;

#[loss]
fn power_error(y_true: f64, y_pred: f64, #[default(2.0)] power: f64) -> f64 {
    (y_pred - y_true).abs().powi(power)
}

fn main() {}
