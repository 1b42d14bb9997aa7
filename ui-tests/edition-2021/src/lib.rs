//! Tests only: `#[correlated]` in a crate on edition 2021 (see `tests/`).
