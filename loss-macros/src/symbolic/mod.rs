//! The symbolic core of the `#[loss]` compiler: the expression DAG ([`ir`]), its simplifying
//! constructors ([`simplify`]), the derivative with respect to `y_pred` ([`diff`]), a reference
//! evaluator with an independent forward-mode check ([`eval`]), value ranges ([`range`]), and
//! math text for rustdoc ([`text`]).
//!
//! Only `std` and `proc_macro2::Span` are used here, so every stage is testable without a
//! proc-macro context and without `syn`.

// The macro uses a part of this API (the evaluators serve the tests and compile-time checks);
// the whole of it is exercised by the tests below.
#![allow(dead_code)]

pub mod diff;
pub mod eval;
pub mod ir;
pub mod range;
pub mod rowdiff;
pub mod roweval;
pub mod simplify;
pub mod specialize;
pub mod text;

// Re-exported for the stages and tests that use them; not every build uses every one.
#[allow(unused_imports)]
pub use eval::{Env, eval, eval_bool, eval_dual2};
pub use ir::*;
#[allow(unused_imports)]
pub use text::{Names, render, render_program};

#[cfg(test)]
mod tests_diff;
#[cfg(test)]
mod tests_property;
#[cfg(test)]
mod tests_rowdiff;
#[cfg(test)]
mod tests_simplify;
#[cfg(test)]
mod tests_text;
