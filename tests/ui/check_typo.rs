//! A `#[check(..)]` that names a parameter that does not exist (`delt`). A check is a
//! condition over the parameters: write `#[check(delta > 0.0)]`.
use losses::prelude::*;

#[loss]
fn huber(y_true: f64, y_pred: f64, #[default(1.0)] #[check(delt > 0.0)] delta: f64) -> f64 {
    let error = (y_pred - y_true).abs();
    if error <= delta { 0.5 * error * error } else { delta * (error - 0.5 * delta) }
}

fn main() {}
