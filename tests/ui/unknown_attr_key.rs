//! An unknown key in `#[loss(..)]` (`pytorh`, a typo). Write `pytorch = "torch.nn.L1Loss"`.
use losses::prelude::*;

#[loss(pytorh = "torch.nn.L1Loss")]
fn absolute_error(y_true: f64, y_pred: f64) -> f64 {
    (y_pred - y_true).abs()
}

fn main() {}
