//! Compile tests of `#[correlated]`: every supported shape compiles and runs
//! (`pass/`), every misuse is one error on the offending token (`fail/`).
//!
//! `TRYBUILD=overwrite cargo test -p correlated-ui-tests --test ui` rewrites
//! the `.stderr` snapshots; review each one like code.

#[test]
fn ui() {
    let tests = trybuild::TestCases::new();
    tests.pass("tests/pass/*.rs");
    tests.compile_fail("tests/fail/*.rs");
}
