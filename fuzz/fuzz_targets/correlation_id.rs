//! `CorrelationId::parse`, `parse_uuid`, `FromStr` and `Display` on arbitrary
//! input: never a panic; what is accepted passes the floor and is kept
//! verbatim; `parse_uuid`'s output is canonical and parses to itself.
#![no_main]

use correlated::CorrelationId;
use libfuzzer_sys::fuzz_target;

/// The floor, written out again independently of the crate's own check.
fn passes_floor(text: &str) -> bool {
    (1..=CorrelationId::MAX_LEN).contains(&text.len())
        && text.bytes().all(|byte| (0x21..=0x7e).contains(&byte))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let parsed = CorrelationId::parse(text);
    assert_eq!(
        parsed.is_ok(),
        passes_floor(text),
        "parse disagrees with the floor"
    );
    if let Ok(id) = &parsed {
        assert_eq!(id.as_str(), text, "parse keeps the value verbatim");
        assert_eq!(id.to_string(), text, "Display writes the value");
        assert_eq!(&text.parse::<CorrelationId>().expect("FromStr agrees"), id);
        assert_eq!(CorrelationId::parse(id.as_str()).as_ref(), Ok(id));
    } else {
        assert!(text.parse::<CorrelationId>().is_err(), "FromStr agrees");
    }

    if let Ok(uuid) = CorrelationId::parse_uuid(text) {
        assert!(parsed.is_ok(), "a UUID passes the floor");
        let canonical = uuid.as_str();
        assert_eq!(canonical.len(), 36);
        assert!(
            canonical
                .bytes()
                .enumerate()
                .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-')
                    && (b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
            "canonical lowercase hyphenated"
        );
        assert_eq!(
            canonical.replace('-', ""),
            text.replace('-', "").to_ascii_lowercase()
        );
        assert_eq!(CorrelationId::parse_uuid(canonical).as_ref(), Ok(&uuid));
    }

    // A validator's verdict is applied after the floor. (Its panic, which
    // also rejects, is tested in the crate: libFuzzer aborts on any panic.)
    let verdict = data.first().is_some_and(|byte| byte % 3 == 0);
    let with = CorrelationId::parse_with(text, |_| verdict);
    assert_eq!(with.is_ok(), parsed.is_ok() && verdict);
});
