//! Multi-class losses, written over one row of the class axis (`y_true: Row, y_pred: Row`)
//! or one class index per row (`y_true: Class`).

use crate::loss;

/// Categorical cross-entropy between a distribution `y_true` over the classes and predicted
/// probabilities (or logits with `from_logits`).
///
/// As in Keras, probabilities are first renormalised to sum to 1 over the row, then clipped
/// to `[EPSILON, 1 - EPSILON]`. From logits the loss is `-sum(y * log_softmax(y_pred))`,
/// finite for any logits. Label smoothing mixes `y_true` with the uniform distribution:
/// `y * (1 - label_smoothing) + label_smoothing / count()`.
#[loss(
    alias = "cce",
    alias = "softmax_cross_entropy(from_logits=true)",
    keras = "keras.losses.CategoricalCrossentropy",
    pytorch = "torch.nn.CrossEntropyLoss with probability targets"
)]
pub fn categorical_crossentropy(
    y_true: Row,
    y_pred: Row,
    /// Whether `y_pred` holds logits instead of probabilities.
    #[default(false)]
    from_logits: bool,
    /// How much of the uniform distribution to mix into `y_true`.
    #[default(0.0)]
    #[check(label_smoothing >= 0.0 && label_smoothing <= 1.0)]
    label_smoothing: f64,
) -> f64 {
    let y = y_true * (1.0 - label_smoothing) + label_smoothing / count();
    if from_logits {
        let log_softmax = y_pred - logsumexp(y_pred);
        -sum(y * log_softmax)
    } else {
        let p = clip(y_pred / sum(y_pred), EPSILON, 1.0 - EPSILON);
        -sum(y * p.ln())
    }
}

/// Categorical cross-entropy with one class index per row (Keras's sparse form): `y_true`
/// has the shape of `y_pred` with a last axis of length 1, holding the index.
///
/// Rows whose label equals `ignore_class` are skipped: their loss and gradient are 0 and
/// they are left out of the mean (Keras's `ignore_class`; the default -100 matches no class,
/// like PyTorch's `ignore_index`). `label_smoothing` is as in [`CategoricalCrossentropy`].
#[loss(
    alias = "scce",
    ignore = "ignore_class",
    keras = "keras.losses.SparseCategoricalCrossentropy"
)]
pub fn sparse_categorical_crossentropy(
    y_true: Class,
    y_pred: Row,
    /// Whether `y_pred` holds logits instead of probabilities.
    #[default(false)]
    from_logits: bool,
    /// A label whose rows are skipped.
    #[default(-100.0)]
    ignore_class: f64,
    /// How much of the uniform distribution to mix into the one-hot label.
    #[default(0.0)]
    #[check(label_smoothing >= 0.0 && label_smoothing <= 1.0)]
    label_smoothing: f64,
) -> f64 {
    let log_p = if from_logits {
        y_pred - logsumexp(y_pred)
    } else {
        clip(y_pred / sum(y_pred), EPSILON, 1.0 - EPSILON).ln()
    };
    -(1.0 - label_smoothing) * at_label(log_p) - label_smoothing * mean(log_p)
}

/// PyTorch's `CrossEntropyLoss`: logits and one class index per row, rows labelled
/// `ignore_index` skipped (and left out of the mean), optional label smoothing.
#[loss(
    alias = "CrossEntropyLoss",
    ignore = "ignore_index",
    pytorch = "torch.nn.CrossEntropyLoss"
)]
pub fn cross_entropy(
    y_true: Class,
    y_pred: Row,
    /// A label whose rows are skipped.
    #[default(-100.0)]
    ignore_index: f64,
    /// How much of the uniform distribution to mix into the one-hot label.
    #[default(0.0)]
    #[check(label_smoothing >= 0.0 && label_smoothing <= 1.0)]
    label_smoothing: f64,
) -> f64 {
    let log_softmax = y_pred - logsumexp(y_pred);
    -(1.0 - label_smoothing) * at_label(log_softmax) - label_smoothing * mean(log_softmax)
}

/// PyTorch's `NLLLoss`: `-y_pred[label]` for log-probabilities `y_pred`, rows labelled
/// `ignore_index` skipped. The second derivative is zero.
#[loss(
    alias = "NLLLoss",
    ignore = "ignore_index",
    pytorch = "torch.nn.NLLLoss"
)]
pub fn nll_loss(
    y_true: Class,
    y_pred: Row,
    /// A label whose rows are skipped.
    #[default(-100.0)]
    ignore_index: f64,
) -> f64 {
    -at_label(y_pred)
}

/// Categorical focal cross-entropy: each class's cross-entropy term scaled by
/// `alpha (1 - p)^gamma`, with `p` the renormalised, clipped probability (as in Keras).
#[loss(keras = "keras.losses.CategoricalFocalCrossentropy")]
pub fn categorical_focal_crossentropy(
    y_true: Row,
    y_pred: Row,
    /// The weight of every class term.
    #[default(0.25)]
    #[check(alpha >= 0.0)]
    alpha: f64,
    /// The focusing parameter: 0 gives `alpha` times the cross-entropy.
    #[default(2.0)]
    #[check(gamma >= 0.0)]
    gamma: f64,
    /// Whether `y_pred` holds logits instead of probabilities.
    #[default(false)]
    from_logits: bool,
    /// How much of the uniform distribution to mix into `y_true`.
    #[default(0.0)]
    #[check(label_smoothing >= 0.0 && label_smoothing <= 1.0)]
    label_smoothing: f64,
) -> f64 {
    let y = y_true * (1.0 - label_smoothing) + label_smoothing / count();
    let probability = if from_logits {
        (y_pred - logsumexp(y_pred)).exp()
    } else {
        y_pred
    };
    let p = clip(probability / sum(probability), EPSILON, 1.0 - EPSILON);
    sum(alpha * (1.0 - p).powf(gamma) * -y * p.ln())
}

/// Kullback-Leibler divergence `sum(y_true ln(y_true / y_pred))`, with both clipped to
/// `[EPSILON, 1]` as in Keras.
#[loss(alias = "kld", keras = "keras.losses.KLDivergence")]
pub fn kl_divergence(y_true: Row, y_pred: Row) -> f64 {
    let t = clip(y_true, EPSILON, 1.0);
    let p = clip(y_pred, EPSILON, 1.0);
    sum(t * (t / p).ln())
}

/// Categorical hinge: `max(neg - pos + 1, 0)` with `pos = sum(y_true y_pred)` and `neg` the
/// largest `(1 - y_true) y_pred`. Ties for the largest share its gradient equally; the
/// second derivative is zero.
#[loss(keras = "keras.losses.CategoricalHinge")]
pub fn categorical_hinge(y_true: Row, y_pred: Row) -> f64 {
    let pos = sum(y_true * y_pred);
    let neg = max((1.0 - y_true) * y_pred);
    (neg - pos + 1.0).max(0.0)
}

/// Cosine similarity as a loss: `-sum(y_true y_pred) / (|y_true| |y_pred|)`, between -1
/// (same direction) and 1. As in Keras, the norms are floored at `EPSILON`, so a zero vector
/// gives 0 (and gradient 0 for a zero `y_true`).
#[loss(keras = "keras.losses.CosineSimilarity")]
pub fn cosine_similarity(y_true: Row, y_pred: Row) -> f64 {
    let inv_norm_true = sum(y_true * y_true).sqrt().recip().min(1.0 / EPSILON);
    let inv_norm_pred = sum(y_pred * y_pred).sqrt().recip().min(1.0 / EPSILON);
    -sum(y_true * y_pred) * inv_norm_true * inv_norm_pred
}

/// optax's PolyLoss (Leng et al., 2022): the softmax cross-entropy from logits plus
/// `epsilon * sum(y_true * (1 - softmax))`.
#[loss(alias = "poly_loss")]
pub fn poly_loss_cross_entropy(
    y_true: Row,
    y_pred: Row,
    /// The weight of the polynomial term.
    #[default(2.0)]
    epsilon: f64,
) -> f64 {
    let log_softmax = y_pred - logsumexp(y_pred);
    -sum(y_true * log_softmax) + epsilon * sum(y_true * (1.0 - log_softmax.exp()))
}
