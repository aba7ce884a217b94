//! Compile-fail tests of the `#[loss]` macro: every misuse in `tests/ui/` must be reported on
//! the user's own tokens with one clear message, and nothing from the generated code.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn macro_rejects() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
