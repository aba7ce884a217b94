//! A body that does not use `y_pred`: its gradient would be zero everywhere. Compare the
//! prediction with the label, e.g. `(y_pred - y_true).abs()`.
use losses::prelude::*;

#[loss]
fn label_size(y_true: f64, y_pred: f64) -> f64 {
    let size = y_true.abs();
    size * size
}

fn main() {}
