//! Bad input is a `LossError`, never a panic: shapes, empty arrays, NaN, weights, gradient
//! buffers, invalid parameters.

use losses::ndarray::{Array1, Array2, Array3, array};
use losses::prelude::*;
use losses::{BinaryCrossentropy, Huber, LossError, MeanSquaredError};

#[test]
fn mismatched_shapes_name_both() {
    let err = MeanSquaredError::default()
        .forward(&Array2::<f64>::zeros((2, 3)), &Array2::<f64>::zeros((3, 2)))
        .unwrap_err();
    assert!(
        matches!(&err, LossError::ShapeMismatch { y_true, y_pred } if y_true == &[2, 3] && y_pred == &[3, 2])
    );
    assert!(
        err.to_string().contains("[2, 3]") && err.to_string().contains("[3, 2]"),
        "{err}"
    );
}

#[test]
fn empty_inputs_are_errors() {
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(matches!(
        MeanSquaredError::default().forward(&empty, &empty),
        Err(LossError::Empty)
    ));
    let no_classes = Array2::<f32>::zeros((3, 0));
    assert!(matches!(
        MeanSquaredError::default().gradient(&no_classes, &no_classes),
        Err(LossError::Empty)
    ));
    assert!(matches!(
        losses::huber(&no_classes, &no_classes),
        Err(LossError::Empty)
    ));
}

#[test]
fn nan_inputs_are_reported_with_their_place() {
    let t = array![[0.0, 1.0], [1.0, 0.0]];
    let p = array![[0.2, 0.8], [f64::NAN, 0.1]];
    let err = BinaryCrossentropy::default().forward(&t, &p).unwrap_err();
    assert!(
        matches!(&err, LossError::NaNInput { which: "y_pred", index } if index == &[1, 0]),
        "{err}"
    );
    let err = MeanSquaredError::default()
        .value_and_grad(&p, &t)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            LossError::NaNInput {
                which: "y_true",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn sample_weights_of_the_wrong_shape() {
    let t = Array2::<f64>::zeros((4, 3));
    let err = MeanSquaredError::default()
        .forward_weighted(&t, &t, &Array1::<f64>::ones(3))
        .unwrap_err();
    assert!(
        matches!(&err, LossError::WeightShape { weights, per_sample } if weights == &[3] && per_sample == &[4]),
        "{err}"
    );
    // A prefix of the per-sample shape broadcasts (Keras: one weight per sample).
    let t3 = Array3::<f64>::zeros((2, 5, 3));
    assert!(
        MeanSquaredError::default()
            .forward_weighted(&t3, &t3, &Array1::<f64>::ones(2))
            .is_ok()
    );
}

#[test]
fn gradient_buffers_of_the_wrong_shape() {
    let t = Array2::<f64>::zeros((2, 3));
    let mut grad = Array2::<f64>::zeros((3, 2));
    let err = Huber::default()
        .gradient_into(&t, &t, &mut grad)
        .unwrap_err();
    assert!(matches!(err, LossError::GradShape { .. }), "{err}");
    let mut good = Array2::<f64>::zeros((2, 3));
    let err = Huber::default()
        .grad_hess_into(&t, &t, &mut good, &mut grad)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "second-derivative buffer has shape [3, 2] but y_pred has shape [2, 3] (they must be equal)"
    );
}

#[test]
fn invalid_parameters_name_the_rule() {
    let t = array![1.0, 2.0];
    for delta in [0.0, -1.0, f64::NAN] {
        let err = Huber::default().delta(delta).forward(&t, &t).unwrap_err();
        assert!(
            matches!(
                err,
                LossError::InvalidParameter {
                    loss: "huber",
                    param: "delta",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = Huber::new(-2.0).unwrap_err();
    assert!(err.to_string().contains("delta > 0"), "{err}");
    assert!(Huber::new(0.5).is_ok());
    let err = BinaryCrossentropy::default()
        .label_smoothing(1.5)
        .gradient(&t, &t)
        .unwrap_err();
    assert!(
        matches!(
            err,
            LossError::InvalidParameter {
                param: "label_smoothing",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn any_dimension_and_layout() {
    let loss = MeanSquaredError::default();
    // 1-D: one sample of four elements; 0-d per-sample result.
    let one = loss
        .per_sample(&array![0.0, 0.0, 1.0, 1.0], &array![1.0, 1.0, 1.0, 0.0])
        .unwrap();
    assert_eq!(one.into_scalar(), 0.75);
    // A transposed (non-standard layout) view gives the same as its standard copy.
    let t = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let p = array![[1.5, 2.0, 2.0], [4.0, 7.0, 6.5]];
    let (v1, g1) = loss.value_and_grad(t.t(), p.t()).unwrap();
    let (v2, g2) = loss
        .value_and_grad(&t.t().as_standard_layout(), &p.t().as_standard_layout())
        .unwrap();
    assert_eq!(v1, v2);
    assert_eq!(g1, g2);
}
