//! Expansion snapshots of `#[correlated]` (`tests/expand/*.expanded.rs`):
//! the documentation of what the attribute generates, reviewed like code.
//!
//! `MACROTEST=overwrite cargo test -p correlated-ui-tests --test expand`
//! rewrites them; without it a missing or changed snapshot fails the test.

#[test]
fn expand() {
    if std::env::var_os("MACROTEST").is_some() {
        macrotest::expand("tests/expand/*.rs");
    } else {
        macrotest::expand_without_refresh("tests/expand/*.rs");
    }
}
