//! The one error type of the crate.

use std::fmt;

/// Everything that can go wrong when building or evaluating a loss. Bad input never panics:
/// it ends up here, with enough detail to fix the call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LossError {
    /// `y_true` and `y_pred` have different shapes (for sparse losses: `y_true` must be
    /// `y_pred`'s shape with a last axis of length 1).
    ShapeMismatch {
        y_true: Vec<usize>,
        y_pred: Vec<usize>,
    },
    /// The sample weights neither have the per-sample shape, nor a prefix of it, nor are 0-d.
    WeightShape {
        weights: Vec<usize>,
        per_sample: Vec<usize>,
    },
    /// The gradient buffer of an `_into` call does not have `y_pred`'s shape.
    GradShape {
        grad: Vec<usize>,
        y_pred: Vec<usize>,
    },
    /// The second-derivative buffer of `grad_hess_into` does not have `y_pred`'s shape.
    HessShape {
        hess: Vec<usize>,
        y_pred: Vec<usize>,
    },
    /// The input has no elements (or a last axis of length 0).
    Empty,
    /// An input holds a NaN; `index` is the index of the first one (in logical order).
    NaNInput {
        /// `"y_true"`, `"y_pred"` or `"sample_weight"`.
        which: &'static str,
        index: Vec<usize>,
    },
    /// A parameter value breaks the loss's domain rule.
    InvalidParameter {
        loss: &'static str,
        param: &'static str,
        value: f64,
        /// The rule as written in the `#[loss]` declaration (`delta > 0.0`).
        rule: &'static str,
    },
    /// No registered loss has this name.
    UnknownLoss {
        name: String,
        /// Up to 3 of the closest known names, in their registered spelling.
        suggestions: Vec<String>,
    },
    /// The loss has no parameter of this name.
    UnknownParameter {
        loss: &'static str,
        param: String,
        suggestions: Vec<String>,
    },
    /// A parameter was given a value of the wrong type (`delta=true`).
    ParameterType {
        loss: &'static str,
        param: &'static str,
        /// What the parameter takes (`"a number"`, `"true or false"`, ...).
        expected: &'static str,
        /// The value given, as written.
        found: String,
    },
    /// A loss spec (`huber(delta=0.5)`) could not be parsed.
    MalformedSpec {
        spec: String,
        /// Byte offset in `spec` where parsing failed.
        position: usize,
        /// What was expected there.
        message: String,
    },
    /// Two registered losses claim the same (normalised) name.
    DuplicateLoss {
        name: String,
        /// `location` of one entry (`module::path at file:line`).
        first: String,
        /// `location` of the other.
        second: String,
    },
    /// `per_element` was asked of a loss that is not a mean of element terms.
    NotElementwise { loss: &'static str },
    /// A class index of a sparse loss is not an integer in `0..classes`.
    InvalidLabel {
        /// Index of the label in `y_true`.
        index: Vec<usize>,
        label: f64,
        classes: usize,
    },
    /// A reduction name that is not `mean`, `sum` or `weighted_mean`.
    UnknownReduction { name: String },
}

fn shape(s: &[usize]) -> String {
    let inner: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    if s.len() == 1 {
        format!("[{},]", inner[0])
    } else {
        format!("[{}]", inner.join(", "))
    }
}

fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    q.join(", ")
}

impl fmt::Display for LossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossError::ShapeMismatch { y_true, y_pred } => write!(
                f,
                "shape mismatch: y_true has shape {} but y_pred has shape {} (they must be \
                 equal; for a sparse loss y_true is y_pred's shape with a last axis of 1)",
                shape(y_true),
                shape(y_pred)
            ),
            LossError::WeightShape {
                weights,
                per_sample,
            } => {
                write!(
                    f,
                    "sample_weight has shape {} but the per-sample losses have shape {} (the \
                     weights must have that shape, a prefix of it, or be a single number)",
                    shape(weights),
                    shape(per_sample)
                )?;
                if per_sample.is_empty() && weights.len() == 1 {
                    write!(
                        f,
                        "; a 1-D input is a single sample whose last axis is the class axis: \
                         reshape it to [{}, 1] for {} samples",
                        weights[0], weights[0]
                    )?;
                }
                Ok(())
            }
            LossError::GradShape { grad, y_pred } => write!(
                f,
                "gradient buffer has shape {} but y_pred has shape {} (they must be equal)",
                shape(grad),
                shape(y_pred)
            ),
            LossError::HessShape { hess, y_pred } => write!(
                f,
                "second-derivative buffer has shape {} but y_pred has shape {} (they must be equal)",
                shape(hess),
                shape(y_pred)
            ),
            LossError::Empty => write!(
                f,
                "empty input: a loss needs at least one element (and a last axis longer than 0)"
            ),
            LossError::NaNInput { which, index } => {
                write!(f, "{which} contains NaN at index {}", shape(index))
            }
            LossError::InvalidParameter {
                loss,
                param,
                value,
                rule,
            } => write!(
                f,
                "invalid parameter of `{loss}`: {param} = {value:?} breaks the rule `{rule}`"
            ),
            LossError::UnknownLoss { name, suggestions } => {
                write!(f, "unknown loss `{name}`")?;
                if suggestions.is_empty() {
                    write!(f, " (`losses::registry()` lists the known losses)")
                } else {
                    write!(f, "; did you mean {}?", quoted_list(suggestions))
                }
            }
            LossError::UnknownParameter {
                loss,
                param,
                suggestions,
            } => {
                write!(f, "loss `{loss}` has no parameter `{param}`")?;
                if suggestions.is_empty() {
                    Ok(())
                } else {
                    write!(f, "; did you mean {}?", quoted_list(suggestions))
                }
            }
            LossError::ParameterType {
                loss,
                param,
                expected,
                found,
            } => write!(
                f,
                "parameter `{param}` of `{loss}` takes {expected}, not `{found}`"
            ),
            LossError::MalformedSpec {
                spec,
                position,
                message,
            } => {
                write!(f, "malformed loss spec at byte {position}: {message}")?;
                if !spec.contains('\n') {
                    let col = spec
                        .get(..*position)
                        .map(|s| s.chars().count())
                        .unwrap_or(*position);
                    write!(f, "\n    {spec}\n    {}^", " ".repeat(col))?;
                }
                Ok(())
            }
            LossError::DuplicateLoss {
                name,
                first,
                second,
            } => write!(
                f,
                "two losses are registered as `{name}`: one at {first}, the other at {second} \
                 (rename one, or give it a different `name`)"
            ),
            LossError::NotElementwise { loss } => write!(
                f,
                "`{loss}` is not an element-wise loss: it has no per-element values (use \
                 per_sample)"
            ),
            LossError::InvalidLabel {
                index,
                label,
                classes,
            } => write!(
                f,
                "y_true holds {label:?} at index {}, which is not a class index (an integer in \
                 0..{classes})",
                shape(index)
            ),
            LossError::UnknownReduction { name } => {
                if name.eq_ignore_ascii_case("none") {
                    write!(
                        f,
                        "reduction `none` is not a reduction here: call `per_sample` (one value \
                         per sample) or `per_element` (one value per element) for unreduced \
                         losses"
                    )
                } else {
                    write!(
                        f,
                        "unknown reduction `{name}` (expected `mean`, `sum`, `weighted_mean` or \
                         `sum_over_batch_size`)"
                    )
                }
            }
        }
    }
}

impl std::error::Error for LossError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_both_shapes() {
        let e = LossError::ShapeMismatch {
            y_true: vec![2, 3],
            y_pred: vec![3, 2],
        };
        let s = e.to_string();
        assert!(s.contains("[2, 3]") && s.contains("[3, 2]"), "{s}");
        let e = LossError::GradShape {
            grad: vec![4],
            y_pred: vec![],
        };
        assert!(e.to_string().contains("[4,]") && e.to_string().contains("[]"));
    }

    #[test]
    fn suggestions_are_listed() {
        let e = LossError::UnknownLoss {
            name: "hubr".into(),
            suggestions: vec!["huber".into(), "pseudo_huber".into()],
        };
        assert_eq!(
            e.to_string(),
            "unknown loss `hubr`; did you mean `huber`, `pseudo_huber`?"
        );
        let e = LossError::UnknownLoss {
            name: "zzz".into(),
            suggestions: vec![],
        };
        assert!(e.to_string().contains("registry()"));
    }

    #[test]
    fn invalid_parameter_names_rule() {
        let e = LossError::InvalidParameter {
            loss: "huber",
            param: "delta",
            value: -1.0,
            rule: "delta > 0.0",
        };
        assert_eq!(
            e.to_string(),
            "invalid parameter of `huber`: delta = -1.0 breaks the rule `delta > 0.0`"
        );
    }

    #[test]
    fn malformed_spec_points_at_position() {
        let e = LossError::MalformedSpec {
            spec: "huber(delta=)".into(),
            position: 12,
            message: "expected a value".into(),
        };
        let s = e.to_string();
        assert!(s.ends_with("huber(delta=)\n                ^"), "{s}");
    }

    #[test]
    fn weight_shape_hints_at_1d_inputs() {
        let e = LossError::WeightShape {
            weights: vec![5],
            per_sample: vec![],
        };
        assert!(e.to_string().contains("reshape it to [5, 1]"));
    }

    #[test]
    fn none_reduction_points_to_unreduced_methods() {
        let e = LossError::UnknownReduction {
            name: "none".into(),
        };
        assert!(e.to_string().contains("per_sample"));
        assert!(e.to_string().contains("per_element"));
    }

    #[test]
    fn is_std_error() {
        fn check<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
        check(&LossError::Empty);
    }
}
