//! The numbers of the seed tutorials, reproduced: focal loss on hard and easy samples,
//! binary cross-entropy, and mean squared error.

use approx::assert_relative_eq;
use losses::ndarray::array;
use losses::prelude::*;
use losses::{BinaryCrossentropy, BinaryFocalCrossentropy, MeanSquaredError};

fn focal() -> BinaryFocalCrossentropy {
    BinaryFocalCrossentropy::default()
        .gamma(2.0)
        .alpha(0.75)
        .apply_class_balancing(true)
}

#[test]
fn focal_loss_on_hard_samples() {
    // mean of alpha_t (1 - p_t)^gamma BCE over [0.5, 0.5] with labels [1, 0].
    let v = focal()
        .forward(&array![[1.0, 0.0]], &array![[0.5, 0.5]])
        .unwrap();
    assert_relative_eq!(v, 0.0866434, max_relative = 1e-6);
    // By hand: p_t = 0.5, (1 - p_t)^2 = 0.25, BCE = ln 2, alpha_t = 0.75 and 0.25.
    let by_hand = (0.75 * 0.25 * 2f64.ln() + 0.25 * 0.25 * 2f64.ln()) / 2.0;
    assert_relative_eq!(v, by_hand, max_relative = 1e-12);
}

#[test]
fn focal_loss_on_easy_samples() {
    let v = focal()
        .forward(&array![[1.0, 0.0]], &array![[0.9, 0.1]])
        .unwrap();
    assert_relative_eq!(v, 0.000526803, max_relative = 1e-6);
}

#[test]
// 0.6931472 is the tutorial's number as printed (it is ln 2, rounded).
#[allow(clippy::approx_constant)]
fn binary_crossentropy_on_the_same_samples() {
    let bce = BinaryCrossentropy::default();
    let hard = bce
        .forward(&array![[1.0, 0.0]], &array![[0.5, 0.5]])
        .unwrap();
    let easy = bce
        .forward(&array![[1.0, 0.0]], &array![[0.9, 0.1]])
        .unwrap();
    assert_relative_eq!(hard, 0.6931472, max_relative = 1e-6);
    assert_relative_eq!(easy, 0.1053605, max_relative = 1e-6);
    // The function form gives the same per-sample value.
    let per_sample = losses::binary_crossentropy(&array![[1.0, 0.0]], &array![[0.9, 0.1]]).unwrap();
    assert_relative_eq!(per_sample[0], -(0.9f64.ln()), max_relative = 1e-12);
}

#[test]
fn mean_squared_error_of_the_tutorial() {
    let v = MeanSquaredError::default()
        .forward(&array![0.0, 0.0, 1.0, 1.0], &array![1.0, 1.0, 1.0, 0.0])
        .unwrap();
    assert_eq!(v, 0.75);
    let f32_value = losses::mean_squared_error(
        &array![0.0f32, 0.0, 1.0, 1.0],
        &array![1.0f32, 1.0, 1.0, 0.0],
    )
    .unwrap();
    assert_eq!(f32_value.into_scalar(), 0.75f32);
}

#[test]
fn pytorch_bce_clamps_the_logarithm_at_minus_100() {
    let l = losses::BceLoss::default();
    // Inside (0, 1) it is the plain cross-entropy: -(ln 0.9) for a positive at 0.9.
    assert_relative_eq!(l.loss_at(1.0, 0.9), -(0.9f64.ln()), max_relative = 1e-15);
    // A certain, wrong prediction costs 100 (PyTorch's clamp), not inf and not Keras's 16.1.
    assert_eq!(l.loss_at(1.0, 0.0), 100.0);
    assert_eq!(l.loss_at(0.0, 1.0), 100.0);
    assert_eq!(l.grad_at(1.0, 0.0), 0.0);
    // And its gradient is (p - y) / (p (1 - p)) inside.
    assert_relative_eq!(
        l.grad_at(1.0, 0.25),
        (0.25 - 1.0) / (0.25 * 0.75),
        max_relative = 1e-14
    );
}
