//! Outer attributes are kept: docs, `#[must_use]`, `#[inline]`,
//! `#[track_caller]`, cfgs (`fail/must-use-is-kept.rs` shows `#[must_use]`
//! still warns).
#![deny(missing_docs)]

use std::panic::Location;

use correlated::correlated;

/// Documented: `missing_docs` would fail the build if this were dropped.
#[must_use]
#[inline]
#[correlated]
pub fn documented() -> u32 {
    1
}

#[track_caller]
#[correlated]
fn caller_line() -> u32 {
    Location::caller().line()
}

#[cfg(any())]
#[correlated]
fn compiled_out() -> u32 {
    compile_error!("a cfg'd-out function is not compiled")
}

#[correlated]
#[cfg(any())]
fn compiled_out_after() -> u32 {
    compile_error!("a cfg after the attribute is kept too")
}

#[correlated]
#[cfg(not(miri))]
fn compiled_in() -> u32 {
    3
}

fn main() {
    let _ = documented();
    assert_eq!(caller_line(), line!());
    assert_eq!(compiled_in(), 3);
}
