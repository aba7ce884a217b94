//! A misspelled constant (`EPSILOM`). UPPER_CASE names are constants from your scope, so
//! rustc reports it, once. Write `EPSILON`.
use losses::prelude::*;

#[loss]
fn log_error(y_true: f64, y_pred: f64) -> f64 {
    let error = (y_pred + EPSILOM).ln() - (y_true + EPSILON).ln();
    error * error
}

fn main() {}
