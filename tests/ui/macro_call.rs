//! A macro call (`println!`) in a loss body. The macro cannot see what macros expand to:
//! remove it, and print `loss.loss_at(y_true, y_pred)` outside the loss instead.
use losses::prelude::*;

#[loss]
fn squared_error(y_true: f64, y_pred: f64) -> f64 {
    let error = y_pred - y_true;
    println!("error = {error}");
    error * error
}

fn main() {}
