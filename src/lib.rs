#![doc = include_str!("../README.md")]

pub use loss_core::*;
