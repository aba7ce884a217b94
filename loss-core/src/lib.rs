//! Runtime of the `losses` crate: the float trait, the [`Loss`] trait and its loops,
//! reductions, errors, the name registry, the scalar functions of the `#[loss]` language,
//! and the built-in losses (declared with `#[loss]` themselves).

// Generated code names `::losses::...`; inside this crate that path must resolve too.
extern crate self as losses;

mod dyn_loss;
mod engine;
mod entry;
mod error;
mod float;
mod functions;
mod kernel;
mod loss;
mod pages;
mod reduction;
mod registry;
mod simd;
mod spec;
mod streamed;
mod sum;
#[cfg(test)]
mod testing;
mod transpose;
mod vmath;

pub mod builtins;

pub use dyn_loss::DynLoss;
pub use engine::{max_threads, set_max_threads};
pub use entry::{Entry, FromParams, Kind, MakeDyn, ParamInfo, ParamValue};
pub use error::LossError;
pub use float::Float;
pub use functions::{EPSILON, clip, log_sigmoid, sigmoid, softplus, xlogy};
pub use kernel::{
    Direct, Either, ElementKernel, Elementwise, LossKernel, RunWeights, STAGE_LEVELS, STAGE_SLOTS,
    Stage,
};
pub use loss::Loss;
pub use reduction::Reduction;
pub use registry::{Conflict, Registry, RegistryEntry, from_spec, get, registry};
pub use spec::format_spec;
pub use sum::PairwiseSum;

pub use builtins::*;
pub use loss_macros::loss;
pub use ndarray;

/// `Result` with [`LossError`].
pub type Result<T, E = LossError> = std::result::Result<T, E>;

/// `use losses::prelude::*;` brings the macro, the traits and `Reduction` into scope.
pub mod prelude {
    pub use crate::{DynLoss, Float, Loss, Reduction, loss};
}

/// Paths used by generated code. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::entry::{
        group_lanes_max, group_lanes_min, group_lanes_sum, lanes_max, lanes_min, lanes_sum,
        make_dyn, one_row, prefetch_after, prefetch_lines_after,
    };
    pub use crate::kernel::{GROUP_MAX_COLS, GROUP_ROWS};
    pub use crate::transpose::{columns_to_rows, rows_to_columns};
    pub use crate::vmath::EXP_BLOCK;
    pub use crate::{
        Direct, Either, ElementKernel, Elementwise, Entry, Float, FromParams, Kind, Loss,
        LossError, LossKernel, PairwiseSum, ParamInfo, ParamValue, Reduction, Stage, format_spec,
    };
    pub use inventory;
    pub use ndarray;
}
