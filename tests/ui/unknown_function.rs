//! A call to a function the loss language does not have (`sigmod`, a typo). Write
//! `sigmoid(y_pred)`.
use losses::prelude::*;

#[loss]
fn logistic(y_true: f64, y_pred: f64) -> f64 {
    let p = sigmod(y_pred);
    (p - y_true) * (p - y_true)
}

fn main() {}
