//! `#[correlated(span)]` without `correlated`'s `tracing` feature is one
//! error, on `span`, naming the feature; every other argument still works
//! without it (the `pass/` files of `ui-tests` that do not use `span` are
//! covered by `ui-tests/edition-2021` and `ui-tests` itself).
//!
//! `TRYBUILD=overwrite cargo test -p correlated-ui-tests-without-tracing`
//! rewrites the `.stderr` snapshots.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/fail/*.rs");
}
