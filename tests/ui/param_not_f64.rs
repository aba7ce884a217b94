//! A parameter of type `u32`. Parameters are `f64` or `bool`: write
//! `#[default(2.0)] power: f64` (and `x.powf(power)`).
use losses::prelude::*;

#[loss]
fn power_error(y_true: f64, y_pred: f64, #[default(2)] power: u32) -> f64 {
    (y_pred - y_true).abs().powf(power)
}

fn main() {}
