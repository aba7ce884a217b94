//! `#[loss]` on a struct. It goes on a function:
//! `fn name(y_true: f64, y_pred: f64) -> f64 { .. }`.
use losses::prelude::*;

#[loss]
struct SquaredError;

fn main() {}
