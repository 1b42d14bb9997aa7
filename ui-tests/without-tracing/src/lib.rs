//! Compile tests of `#[correlated]` in a crate without `correlated`'s
//! `tracing` feature (see `tests/ui.rs`).
