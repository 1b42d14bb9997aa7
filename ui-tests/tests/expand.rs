//! Expansion snapshots of `#[correlated]` (`tests/expand/*.expanded.rs`):
//! the documentation of what the attribute generates, reviewed like code.
//!
//! `MACROTEST=overwrite cargo test -p correlated-ui-tests --test expand`
//! rewrites them; without it a missing or changed snapshot fails the test.
//!
//! `#[correlated(span)]` has no snapshot here: its expansion calls
//! `tracing::span!`, which `cargo expand` expands too, and that embeds
//! `file!()` (the absolute path of the checkout) and macrotest's generated
//! crate name, so the snapshot would differ on every machine. Its generated
//! code is checked before `span!` expands, in `macros/src/expand.rs`'s unit
//! tests, and its behaviour in `tests/tests/spans.rs`.

#[test]
fn expand() {
    if std::env::var_os("MACROTEST").is_some() {
        macrotest::expand("tests/expand/*.rs");
    } else {
        macrotest::expand_without_refresh("tests/expand/*.rs");
    }
}
