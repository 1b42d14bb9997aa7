//! Every supported shape of `#[correlated]` (the `pass/` files of the
//! edition-2024 UI tests) also compiles and runs in an edition-2021 crate.

#[test]
fn every_shape_compiles_and_runs_on_edition_2021() {
    trybuild::TestCases::new().pass("../tests/pass/*.rs");
}
