//! Binary classification losses.

use crate::loss;

/// Binary cross-entropy between labels in `[0, 1]` and predicted probabilities (or logits
/// with `from_logits`).
///
/// Probabilities are clipped to `[EPSILON, 1 - EPSILON]` as in Keras, so the gradient is 0
/// where a prediction lies outside that range. With `from_logits` the loss is
/// `y softplus(-x) + (1 - y) softplus(x)` (that is, `-(y log_sigmoid(x) + (1 - y)
/// log_sigmoid(-x))` with the signs taken out: the same bits in fewer operations, but for the
/// sign of a gradient of exactly 0, `+0` as in Keras), which stays finite (and its gradient
/// exact) for any logit.
#[loss(alias = "bce", keras = "keras.losses.BinaryCrossentropy")]
pub fn binary_crossentropy(
    y_true: f64,
    y_pred: f64,
    /// Whether `y_pred` holds logits instead of probabilities.
    #[default(false)]
    from_logits: bool,
    /// Labels are squeezed towards 0.5: `y * (1 - label_smoothing) + 0.5 * label_smoothing`.
    #[default(0.0)]
    #[check(label_smoothing >= 0.0 && label_smoothing <= 1.0)]
    label_smoothing: f64,
) -> f64 {
    let y = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing;
    if from_logits {
        y * softplus(-y_pred) + (1.0 - y) * softplus(y_pred)
    } else {
        let p = clip(y_pred, EPSILON, 1.0 - EPSILON);
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    }
}

/// Binary focal cross-entropy (Lin et al., 2017): the cross-entropy scaled by
/// `(1 - p_t)^gamma`, which down-weights easy examples, optionally balanced by `alpha`.
///
/// For `0 < gamma < 2` the second derivative is unbounded where `p_t` reaches 1 (a perfect
/// prediction): `grad_hess` returns infinity there, the true value. For `gamma >= 2` (the
/// default is 2) it is finite everywhere the loss is.
#[loss(keras = "keras.losses.BinaryFocalCrossentropy")]
pub fn binary_focal_crossentropy(
    y_true: f64,
    y_pred: f64,
    /// Whether to weight positives by `alpha` and negatives by `1 - alpha`.
    #[default(false)]
    apply_class_balancing: bool,
    /// The weight of the positive class when `apply_class_balancing`.
    #[default(0.25)]
    #[check(alpha >= 0.0 && alpha <= 1.0)]
    alpha: f64,
    /// The focusing parameter: 0 gives the plain cross-entropy.
    #[default(2.0)]
    #[check(gamma >= 0.0)]
    gamma: f64,
    /// Whether `y_pred` holds logits instead of probabilities.
    #[default(false)]
    from_logits: bool,
    /// Labels are squeezed towards 0.5: `y * (1 - label_smoothing) + 0.5 * label_smoothing`.
    #[default(0.0)]
    #[check(label_smoothing >= 0.0 && label_smoothing <= 1.0)]
    label_smoothing: f64,
) -> f64 {
    let y = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing;
    let p = if from_logits { sigmoid(y_pred) } else { y_pred };
    let p_clipped = clip(p, EPSILON, 1.0 - EPSILON);
    let bce = -(y * p_clipped.ln() + (1.0 - y) * (1.0 - p_clipped).ln());
    let p_t = y * p + (1.0 - y) * (1.0 - p);
    let focal_bce = (1.0 - p_t).powf(gamma) * bce;
    if apply_class_balancing {
        (y * alpha + (1.0 - y) * (1.0 - alpha)) * focal_bce
    } else {
        focal_bce
    }
}

/// Hinge loss: `max(1 - y y_pred, 0)` for labels `y` in `{-1, 1}`.
///
/// Labels 0 are read as -1, so 0/1 labels work as in Keras. (Keras decides this per batch:
/// when every label is 0 or 1 it maps 0 -> -1 and 1 -> 1; here each 0 is mapped, which
/// differs only for batches mixing 0 with labels other than 1.) At the margin the gradient is
/// 0; the second derivative is zero everywhere.
#[loss(keras = "keras.losses.Hinge")]
pub fn hinge(y_true: f64, y_pred: f64) -> f64 {
    let y = if y_true == 0.0 { -1.0 } else { y_true };
    (1.0 - y * y_pred).max(0.0)
}

/// Squared hinge loss: `max(1 - y y_pred, 0)^2`, labels as in [`Hinge`].
///
/// The second derivative is 2 inside the margin and zero where the margin is met
/// (`y y_pred >= 1`).
#[loss(keras = "keras.losses.SquaredHinge")]
pub fn squared_hinge(y_true: f64, y_pred: f64) -> f64 {
    let y = if y_true == 0.0 { -1.0 } else { y_true };
    (1.0 - y * y_pred).max(0.0).powi(2)
}

/// PyTorch's soft margin loss: `ln(1 + exp(-y y_pred))` for labels in `{-1, 1}`, computed as
/// `softplus(-y y_pred)` so it stays finite for any margin.
#[loss(alias = "SoftMarginLoss", pytorch = "torch.nn.SoftMarginLoss")]
pub fn soft_margin(y_true: f64, y_pred: f64) -> f64 {
    softplus(-y_true * y_pred)
}

/// PyTorch's `BCEWithLogitsLoss` with a scalar `pos_weight`:
/// `-(pos_weight y log_sigmoid(x) + (1 - y) log_sigmoid(-x))` for logits `x`, computed as
/// `pos_weight y softplus(-x) + (1 - y) softplus(x)` (the same bits but for the sign of a zero
/// gradient), finite (and with an exact gradient) for any logit.
#[loss(alias = "BCEWithLogitsLoss", pytorch = "torch.nn.BCEWithLogitsLoss")]
pub fn bce_with_logits(
    y_true: f64,
    y_pred: f64,
    /// The weight of positive examples.
    #[default(1.0)]
    #[check(pos_weight >= 0.0)]
    pos_weight: f64,
) -> f64 {
    pos_weight * y_true * softplus(-y_pred) + (1.0 - y_true) * softplus(y_pred)
}

/// PyTorch's `BCELoss`: binary cross-entropy on probabilities with each logarithm clamped
/// to be at least -100 (instead of Keras's clipping of the probability), so a prediction of
/// exactly 0 or 1 for the wrong label costs 100. Where a logarithm is clamped its gradient
/// is 0 (PyTorch's backward divides by `max(p (1 - p), 1e-12)` there instead).
#[loss(alias = "BCELoss", pytorch = "torch.nn.BCELoss")]
pub fn bce_loss(y_true: f64, y_pred: f64) -> f64 {
    -(y_true * y_pred.ln().max(-100.0) + (1.0 - y_true) * (1.0 - y_pred).ln().max(-100.0))
}
