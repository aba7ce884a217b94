//! The built-in losses, each declared with `#[loss]`.
