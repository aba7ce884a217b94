//! Quick start: declare a loss as the formula of one element, get its gradient for free, look
//! a built-in up by name, and fit a small model with the derived gradient.
//!
//! Run with `cargo run --example quickstart` (a debug build: the example runs in a blink,
//! and its build is minutes shorter than a release build of every built-in loss).

use losses::ndarray::{Array1, array};
use losses::prelude::*;

/// Squared error that punishes under-prediction `under` times harder than over-prediction
/// (think of stock-outs costing more than surplus).
#[loss]
fn asymmetric_squared(
    y_true: f64,
    y_pred: f64,
    /// How much more an under-prediction costs.
    #[default(3.0)]
    #[check(under > 0.0)]
    under: f64,
) -> f64 {
    let error = y_pred - y_true;
    if error < 0.0 {
        under * error * error
    } else {
        error * error
    }
}

fn main() -> Result<(), losses::LossError> {
    // 1. The loss and its derived gradient on a small batch (2 samples x 2 outputs).
    let y_true = array![[1.0, 2.0], [3.0, 4.0]];
    let y_pred = array![[1.5, 1.0], [2.0, 4.5]];
    let loss = AsymmetricSquared::default();
    let (value, grad) = loss.value_and_grad(&y_true, &y_pred)?;
    println!(
        "asymmetric_squared per sample: {}",
        loss.per_sample(&y_true, &y_pred)?
    );
    println!("asymmetric_squared mean: {value:.4}");
    println!("d mean / d y_pred:\n{grad:.4}");
    println!(
        "second derivative at one element: {}",
        loss.hess_at(2.0, 1.0)
    );

    // 2. Losses by name, as a config file would name them: ours registered itself.
    let ours: Box<dyn DynLoss<f64>> = losses::from_spec("asymmetric_squared(under=2)")?;
    println!(
        "{} = {:.4}",
        ours.spec(),
        ours.forward(y_true.view().into_dyn(), y_pred.view().into_dyn())?
    );
    let huber: Box<dyn DynLoss<f64>> = losses::from_spec("huber(delta=0.5)")?;
    let h = huber.forward(y_true.view().into_dyn(), y_pred.view().into_dyn())?;
    println!("{} = {h:.4}", huber.spec());

    // 3. Fit y = w x + b by gradient descent, with the derived gradient of our custom loss.
    let x = Array1::linspace(-1.0, 1.0, 64);
    let target = x.mapv(|v: f64| 2.0 * v + 1.0 + 0.1 * (7.0 * v).sin());
    let (mut w, mut b) = (0.0_f64, 0.0_f64);
    let mut grad = Array1::zeros(x.len());
    let learning_rate = 0.1;
    for step in 0..=200 {
        let prediction = x.mapv(|v| w * v + b);
        let value = loss.value_and_grad_into(&target, &prediction, &mut grad)?;
        // Chain rule through the model: d loss/d w = sum(grad * x), d loss/d b = sum(grad).
        w -= learning_rate * (&grad * &x).sum();
        b -= learning_rate * grad.sum();
        if step % 25 == 0 {
            println!("step {step:3}: loss {value:.6}  w = {w:.4}  b = {b:.4}");
        }
    }
    Ok(())
}
