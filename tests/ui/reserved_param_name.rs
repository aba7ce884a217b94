//! A parameter named `reduction`: the generated loss already has a `reduction` field and
//! method. Rename the parameter (e.g. `scale`).
use losses::prelude::*;

#[loss]
fn scaled_error(y_true: f64, y_pred: f64, #[default(1.0)] reduction: f64) -> f64 {
    reduction * (y_pred - y_true).abs()
}

fn main() {}
