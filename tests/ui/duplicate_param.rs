//! The same parameter declared twice. Give each parameter its own name.
use losses::prelude::*;

#[loss]
fn scaled(y_true: f64, y_pred: f64, #[default(1.0)] scale: f64, #[default(2.0)] scale: f64) -> f64 {
    scale * (y_pred - y_true).abs()
}

fn main() {}
