//! A method the loss language does not have (`ln1p`, a typo). Write `x.ln_1p()`.
use losses::prelude::*;

#[loss]
fn log_error(y_true: f64, y_pred: f64) -> f64 {
    let error = y_pred.ln1p() - y_true.ln_1p();
    error * error
}

fn main() {}
