//! `y_pred` declared as `f32`. Write the loss for `f64`: the macro makes it generic over the
//! float type, so it also runs on `f32` arrays.
use losses::prelude::*;

#[loss]
fn absolute_error(y_true: f64, y_pred: f32) -> f64 {
    (y_pred - y_true).abs()
}

fn main() {}
