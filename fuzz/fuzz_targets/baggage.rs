//! The W3C Baggage parser on arbitrary header lines: never a panic; an
//! accepted list written back canonically parses to the same list, and
//! writing is idempotent; the correlation ID it yields passes the floor;
//! adding a member never drops or rewrites the members already there.
#![no_main]

use correlated::CorrelationId;
use correlated::baggage::{self, BAGGAGE, Baggage};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Up to three header lines, split at 0xFF bytes (never valid in a line).
    let mut headers = HeaderMap::new();
    for line in data.split(|&byte| byte == 0xff).take(3) {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(BAGGAGE, value);
        }
    }
    let Ok(Some(parsed)) = Baggage::from_headers(&headers) else {
        return;
    };
    let written = parsed.to_string();
    let reparsed = Baggage::parse(&written).expect("the canonical form parses");
    assert_eq!(reparsed, parsed);
    assert_eq!(reparsed.to_string(), written, "writing is idempotent");

    if let Ok(Some(id)) = parsed.correlation_id() {
        assert_eq!(CorrelationId::parse(id.as_str()).as_ref(), Ok(&id));
    }

    // Adding a member keeps every member there, in order, byte for byte.
    let before: Vec<(String, String)> = parsed
        .members()
        .map(|member| (member.key().to_owned(), member.raw_value().to_owned()))
        .collect();
    let mut grown = headers.clone();
    if baggage::add_member(&mut grown, "fuzz_added", "a value, with = and %").is_ok() {
        let after = Baggage::from_headers(&grown)
            .expect("still valid")
            .expect("present");
        let kept: Vec<(String, String)> = after
            .members()
            .take(before.len())
            .map(|member| (member.key().to_owned(), member.raw_value().to_owned()))
            .collect();
        assert_eq!(kept, before);
        assert_eq!(after.len(), before.len() + 1);
        let added = after.members().last().expect("the new member");
        assert_eq!(added.value(), "a value, with = and %");
    }
});
