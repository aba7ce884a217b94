//! Constants from your scope are `f64`: declare `const SCALE: f64`, not `f32`.
use losses::prelude::*;

const SCALE: f32 = 2.0;

#[loss]
fn scaled(y_true: f64, y_pred: f64) -> f64 {
    SCALE * (y_pred - y_true).powi(2)
}

fn main() {}
