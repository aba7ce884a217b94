//! The registry seen from a user's crate: losses declared here register themselves, built-ins
//! resolve by every name a Keras or PyTorch user knows, and every spec round-trips.

use losses::ndarray::{ArrayD, IxDyn, array};
use losses::prelude::*;
use losses::{Kind, LossError, ParamValue};

/// A loss declared in this test crate.
#[loss(name = "cubed_error", alias = "cube")]
fn cubed_error(
    y_true: f64,
    y_pred: f64,
    #[default(1.0)]
    #[check(scale > 0.0)]
    scale: f64,
) -> f64 {
    scale * (y_pred - y_true).abs().powi(3)
}

#[test]
fn a_loss_declared_in_the_users_crate_is_found() {
    let l: Box<dyn DynLoss<f64>> = losses::get("cubed_error").unwrap();
    let t = array![[0.0, 0.0]].into_dyn();
    let p = array![[1.0, 2.0]].into_dyn();
    assert_eq!(l.forward(t.view(), p.view()).unwrap(), 4.5);
    let by_alias: Box<dyn DynLoss<f64>> = losses::from_spec("CUBE(scale=2)").unwrap();
    assert_eq!(by_alias.forward(t.view(), p.view()).unwrap(), 9.0);
    assert_eq!(by_alias.spec(), "cubed_error(scale=2.0, reduction=mean)");
    let by_struct: Box<dyn DynLoss<f32>> = losses::get("CubedError").unwrap();
    assert_eq!(by_struct.name(), "cubed_error");
}

#[test]
fn keras_and_pytorch_names_resolve() {
    for (name, canonical) in [
        ("mse", "mean_squared_error"),
        ("MSE", "mean_squared_error"),
        ("MeanSquaredError", "mean_squared_error"),
        ("mean-squared-error", "mean_squared_error"),
        ("MSELoss", "mean_squared_error"),
        ("mae", "mean_absolute_error"),
        ("L1Loss", "mean_absolute_error"),
        ("mape", "mean_absolute_percentage_error"),
        ("msle", "mean_squared_logarithmic_error"),
        ("Huber", "huber"),
        ("HuberLoss", "huber"),
        ("logcosh", "log_cosh"),
        ("LogCosh", "log_cosh"),
        ("bce", "binary_crossentropy"),
        ("BCELoss", "bce_loss"),
        ("BinaryFocalCrossentropy", "binary_focal_crossentropy"),
        ("SmoothL1Loss", "smooth_l1"),
        ("pinball", "quantile"),
        ("PoissonNLLLoss", "log_poisson"),
        ("SoftMarginLoss", "soft_margin"),
        ("BCEWithLogitsLoss", "bce_with_logits"),
        ("Hinge", "hinge"),
        ("squared_hinge", "squared_hinge"),
        ("Poisson", "poisson"),
        ("pseudo_huber", "pseudo_huber"),
        ("cce", "categorical_crossentropy"),
        ("CategoricalCrossentropy", "categorical_crossentropy"),
        ("softmax_cross_entropy", "categorical_crossentropy"),
        ("scce", "sparse_categorical_crossentropy"),
        (
            "SparseCategoricalCrossentropy",
            "sparse_categorical_crossentropy",
        ),
        (
            "CategoricalFocalCrossentropy",
            "categorical_focal_crossentropy",
        ),
        ("kld", "kl_divergence"),
        ("KLDivergence", "kl_divergence"),
        ("CategoricalHinge", "categorical_hinge"),
        ("CosineSimilarity", "cosine_similarity"),
        ("CrossEntropyLoss", "cross_entropy"),
        ("NLLLoss", "nll_loss"),
        ("poly_loss", "poly_loss_cross_entropy"),
    ] {
        let l: Box<dyn DynLoss<f64>> = losses::get(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.name(), canonical, "{name}");
    }
}

#[test]
fn every_spec_round_trips_with_every_parameter() {
    let registry = losses::registry();
    assert!(registry.entries().len() >= 17);
    for entry in registry.entries() {
        // Every parameter moved off its default, so a dropped one would show.
        let params: Vec<String> = entry
            .params()
            .iter()
            .map(|p| match p.default {
                ParamValue::Float(v) => {
                    format!("{}={:?}", p.name, if v == 0.0 { 0.125 } else { v * 0.5 })
                }
                ParamValue::Bool(b) => format!("{}={}", p.name, !b),
            })
            .chain(["reduction=sum".to_string()])
            .collect();
        let spec = format!("{}({})", entry.name(), params.join(", "));
        let l: Box<dyn DynLoss<f64>> =
            losses::from_spec(&spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let again: Box<dyn DynLoss<f64>> = losses::from_spec(&l.spec()).unwrap();
        assert_eq!(again.spec(), l.spec());
        for p in &params {
            let (key, value) = p.split_once('=').unwrap();
            let written = format!("{key}={value}");
            assert!(l.spec().contains(&written), "{} lost {written}", l.spec());
        }
        assert!(matches!(
            entry.kind(),
            Kind::Elementwise | Kind::Row | Kind::Sparse
        ));
        assert!(
            !entry.formula().is_empty(),
            "{} has no formula text",
            entry.name()
        );
    }
}

#[test]
fn unknown_names_suggest_the_closest() {
    let err = losses::get::<f64>("hubr").unwrap_err();
    assert!(
        matches!(&err, LossError::UnknownLoss { suggestions, .. } if suggestions.iter().any(|s| s == "huber")),
        "{err}"
    );
    assert!(err.to_string().contains("huber"), "{err}");
    let err = losses::from_spec::<f64>("huber(detla=0.5)").unwrap_err();
    assert!(err.to_string().contains("delta"), "{err}");
}

#[test]
fn malformed_specs_and_invalid_parameters_are_errors() {
    let err = losses::from_spec::<f64>("huber(delta=)").unwrap_err();
    assert!(
        matches!(err, LossError::MalformedSpec { position: 12, .. }),
        "{err}"
    );
    let err = losses::from_spec::<f64>("huber(delta=-1)").unwrap_err();
    assert!(
        matches!(err, LossError::InvalidParameter { param: "delta", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("delta > 0"), "{err}");
    let err = losses::from_spec::<f64>("huber(delta=true)").unwrap_err();
    assert!(matches!(err, LossError::ParameterType { .. }), "{err}");
    let err = losses::from_spec::<f64>("huber(reduction=none)").unwrap_err();
    assert!(err.to_string().contains("per_sample"), "{err}");
}

#[test]
fn dyn_losses_drive_a_training_step() {
    let l: Box<dyn DynLoss<f32>> = losses::from_spec("binary_focal_crossentropy(gamma=3)").unwrap();
    let t = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f32, 0.0, 0.0, 1.0]).unwrap();
    let p = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.8f32, 0.3, 0.1, 0.6]).unwrap();
    let mut grad = ArrayD::zeros(IxDyn(&[2, 2]));
    let v = l
        .value_and_grad_into(t.view(), p.view(), &mut grad)
        .unwrap();
    let (v2, g2) = l.value_and_grad(t.view(), p.view()).unwrap();
    assert_eq!(v, v2);
    assert_eq!(grad, g2);
    // The gradient points uphill: a small step against it lowers the loss.
    let stepped = &p - &(&grad * 0.1f32);
    assert!(l.forward(t.view(), stepped.view()).unwrap() < v);
}
