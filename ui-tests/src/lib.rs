//! Compile-fail and expansion tests of `#[correlated]` live in `tests/`.
