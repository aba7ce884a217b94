//! An error inside a loss body (`log`, which has no base in the loss language; write
//! `x.ln()`), in a file that also uses the generated struct and function. Only the loss's own
//! error is reported: the struct `Focal`, its setter `gamma` and the function `focal` still
//! exist, so the uses below compile.
use losses::ndarray::array;
use losses::prelude::*;

#[loss]
fn focal(y_true: f64, y_pred: f64, #[default(2.0)] gamma: f64) -> f64 {
    -y_true * (1.0 - y_pred).powf(gamma) * y_pred.log()
}

fn main() {
    let a = array![[1.0, 0.0]];
    let b = array![[0.9, 0.2]];
    let loss = Focal::default().gamma(3.0);
    let _ = loss.forward(&a, &b);
    let _ = focal(&a, &b);
}
