//! In a row loss `max(e)` reduces over the row; the larger of two numbers is `a.max(b)`.
use losses::prelude::*;

#[loss]
fn margin(y_true: Row, y_pred: Row) -> f64 {
    max(sum(y_true * y_pred), 0.0)
}

fn main() {}
