//! Generics on the loss function. Write it for `f64`: the macro makes it generic over the
//! float type.
use losses::prelude::*;

#[loss]
fn squared_error<T>(y_true: f64, y_pred: f64) -> f64 {
    (y_pred - y_true) * (y_pred - y_true)
}

fn main() {}
