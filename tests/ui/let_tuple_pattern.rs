//! A `let` with a tuple pattern. A `let` binds one name: write one `let` per value.
use losses::prelude::*;

#[loss]
fn log_ratio(y_true: f64, y_pred: f64) -> f64 {
    let (a, b) = (y_true + 1.0, y_pred + 1.0);
    (b.ln() - a.ln()).abs()
}

fn main() {}
