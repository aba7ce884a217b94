//! `at_label(..)` reads the element at the label: it needs `y_true: Class`.
use losses::prelude::*;

#[loss]
fn picked(y_true: Row, y_pred: Row) -> f64 {
    logsumexp(y_pred) - at_label(y_pred)
}

fn main() {}
