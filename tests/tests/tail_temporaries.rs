//! The tail-temporary cases of the edition-2021 crate
//! (`ui-tests/edition-2021`), run again here on edition 2024: temporaries in
//! a sync `#[correlated]` fn's tail are dropped in the function's context
//! (docs/semantics.md, Promise 13).

#[path = "../../ui-tests/edition-2021/tests/tail_temporaries.rs"]
mod edition_2021_cases;
