//! `let mut` in a loss body. Bindings are immutable: bind a new name instead
//! (`let error = ..; let squared = error * error;`).
use losses::prelude::*;

#[loss]
fn squared_error(y_true: f64, y_pred: f64) -> f64 {
    let mut error = y_pred - y_true;
    error * error
}

fn main() {}
