//! `sum(..)` reduces over the row: it needs a row loss (`y_true: Row, y_pred: Row`).
use losses::prelude::*;

#[loss]
fn normalised(y_true: f64, y_pred: f64) -> f64 {
    (y_pred / sum(y_pred) - y_true).powi(2)
}

fn main() {}
