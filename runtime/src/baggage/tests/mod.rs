//! The unit tests of `baggage`, one file per file they test, and the
//! helpers and strategies they share.

use ::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::BAGGAGE;

#[cfg(feature = "tracing")]
mod logging;
mod parse;
mod write;

fn headers(lines: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        map.append(BAGGAGE, HeaderValue::from_str(line).unwrap());
    }
    map
}

fn members(count: usize) -> String {
    (0..count)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A key: a token.
fn key() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

/// Any text, as an application would put in a value.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(.|[ ,;=%\"\\\\]){0,16}").unwrap()
}

/// Optional spaces and tabs.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}
