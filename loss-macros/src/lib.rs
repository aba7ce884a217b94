//! The `#[loss]` attribute macro: a small compiler from the scalar formula of a loss to a
//! complete loss (see the `losses` crate for the language and what is generated).
//!
//! Stages, one module each: `attr` and `ast` parse, `lower` builds the IR, `symbolic`
//! differentiates and simplifies (no `syn` there), `emit` schedules and writes the kernels,
//! `expand` assembles the items, `fallback` stands in when there are errors.

mod ast;
mod attr;
mod ctxt;
mod docs;
mod emit;
mod emit_row;
mod expand;
mod fallback;
mod lower;
mod symbolic;

/// Turns the loss of one element, written as a plain `f64` function, into a complete loss.
/// See the `losses` crate's documentation for the language and the generated items.
#[proc_macro_attribute]
pub fn loss(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::loss(args.into(), item.into()).into()
}
