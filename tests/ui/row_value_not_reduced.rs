//! The loss of a row is one number: reduce the element expression with `sum(..)` or `mean(..)`.
use losses::prelude::*;

#[loss]
fn unreduced(y_true: Row, y_pred: Row) -> f64 {
    -y_true * y_pred.ln()
}

fn main() {}
