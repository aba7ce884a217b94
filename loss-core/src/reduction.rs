//! How per-sample losses are reduced to one number.

use std::fmt;
use std::str::FromStr;

use crate::LossError;

/// How `forward` reduces the per-sample losses `l_i` (with sample weights `w_i`, all 1 when
/// none are given) to one number.
///
/// | reduction      | value                        | Keras / PyTorch                                     |
/// |----------------|------------------------------|-----------------------------------------------------|
/// | `Mean`         | `Σ w_i l_i / (number of l_i)` | `sum_over_batch_size`; PyTorch `mean` when the last axis has length 1 |
/// | `Sum`          | `Σ w_i l_i`                  | `sum`                                               |
/// | `WeightedMean` | `Σ w_i l_i / Σ w_i` (0 if `Σ w_i = 0`) | `mean_with_sample_weight`                 |
///
/// Unreduced values come from `per_sample` and `per_element`; there is no `None` reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reduction {
    /// The sum of the weighted per-sample losses divided by their number.
    #[default]
    Mean,
    /// The sum of the weighted per-sample losses.
    Sum,
    /// The sum of the weighted per-sample losses divided by the sum of the weights.
    WeightedMean,
}

impl Reduction {
    /// Every reduction.
    pub const ALL: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::WeightedMean];

    /// The name used in specs: `mean`, `sum` or `weighted_mean`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
            Reduction::WeightedMean => "weighted_mean",
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reduction {
    type Err = LossError;

    /// Accepts `mean`, `sum`, `weighted_mean` and Keras's names `sum_over_batch_size` (=
    /// `Mean`) and `mean_with_sample_weight` (= `WeightedMean`), ignoring ASCII case. `none`
    /// is rejected with a message pointing to `per_sample` / `per_element`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "mean" | "sum_over_batch_size" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "weighted_mean" | "mean_with_sample_weight" => Ok(Reduction::WeightedMean),
            _ => Err(LossError::UnknownReduction { name: s.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_mean() {
        assert_eq!(Reduction::default(), Reduction::Mean);
    }

    #[test]
    fn round_trips() {
        for r in Reduction::ALL {
            assert_eq!(r.as_str().parse::<Reduction>().unwrap(), r);
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    #[test]
    fn keras_names() {
        assert_eq!(
            "sum_over_batch_size".parse::<Reduction>(),
            Ok(Reduction::Mean)
        );
        assert_eq!("SUM".parse::<Reduction>(), Ok(Reduction::Sum));
        assert_eq!(
            "mean_with_sample_weight".parse::<Reduction>(),
            Ok(Reduction::WeightedMean)
        );
    }

    #[test]
    fn none_is_rejected_with_a_pointer() {
        let e = "none".parse::<Reduction>().unwrap_err();
        assert!(matches!(e, LossError::UnknownReduction { .. }));
        assert!(e.to_string().contains("per_sample"));
        let e = "avg".parse::<Reduction>().unwrap_err();
        assert!(e.to_string().contains("weighted_mean"));
    }
}
