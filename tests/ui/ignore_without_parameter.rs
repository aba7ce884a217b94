//! `#[loss(ignore = "..")]` names an `f64` parameter holding the label to skip.
use losses::prelude::*;

#[loss(ignore = "ignore_class")]
fn sparse_ce(y_true: Class, y_pred: Row) -> f64 {
    logsumexp(y_pred) - at_label(y_pred)
}

fn main() {}
