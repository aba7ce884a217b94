//! The built-in losses, each declared with `#[loss]`: the macro's first users.
//!
//! Numerics follow Keras 3 (clipping probabilities to `[EPSILON, 1 - EPSILON]` where Keras
//! does); the PyTorch names resolve through registry aliases.

mod categorical;
mod classification;
mod regression;

pub use categorical::*;
pub use classification::*;
pub use regression::*;
