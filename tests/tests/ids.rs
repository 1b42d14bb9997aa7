//! docs/semantics.md, promises 22 to 28: generated IDs are canonical UUIDv7s,
//! unique and time-ordered; anything from outside passes the floor (1 to 128
//! bytes of visible ASCII) and is kept verbatim, or is rejected with the rule
//! it broke and without ever echoing the value.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use correlated::{CorrelationId, IntoCorrelationId, InvalidCorrelationId, InvalidIdKind};
use proptest::prelude::*;

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The 48-bit Unix-millisecond timestamp at the front of a UUIDv7.
fn timestamp_of(id: &CorrelationId) -> u64 {
    let text = id.as_str();
    let hex = format!("{}{}", &text[0..8], &text[9..13]);
    u64::from_str_radix(&hex, 16).unwrap()
}

fn assert_canonical_v7(id: &CorrelationId) {
    let text = id.as_str();
    assert_eq!(text.len(), 36, "{text}");
    for (i, byte) in text.bytes().enumerate() {
        match i {
            8 | 13 | 18 | 23 => assert_eq!(byte, b'-', "{text}"),
            _ => assert!(matches!(byte, b'0'..=b'9' | b'a'..=b'f'), "{text}"),
        }
    }
    assert_eq!(&text[14..15], "7", "version 7: {text}");
    assert!(
        matches!(&text[19..20], "8" | "9" | "a" | "b"),
        "RFC variant: {text}"
    );
}

#[test]
fn generated_ids_are_unique_across_threads() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(|| {
                (0..10_000)
                    .map(|_| CorrelationId::generate())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for thread in threads {
        for id in thread.join().unwrap() {
            assert!(all.insert(id.clone()), "duplicate {id}");
        }
    }
    assert_eq!(all.len(), 40_000);
}

#[test]
fn generated_ids_are_canonical_uuid_v7_ordered_by_millisecond() {
    let before = unix_millis();
    let ids: Vec<_> = (0..5_000).map(|_| CorrelationId::generate()).collect();
    let after = unix_millis();
    for id in &ids {
        assert_canonical_v7(id);
        let at = timestamp_of(id);
        assert!(
            (before..=after).contains(&at),
            "{id}: {at} not in {before}..={after}"
        );
    }
    for pair in ids.windows(2) {
        assert!(
            timestamp_of(&pair[0]) <= timestamp_of(&pair[1]),
            "{} was generated before {} but carries a later time",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn id_traits_agree_with_its_text() {
    let short = CorrelationId::parse("req-1").unwrap();
    let long_text = "L".repeat(100);
    let long = CorrelationId::parse(&long_text).unwrap();
    for (id, text) in [(&short, "req-1"), (&long, long_text.as_str())] {
        assert_eq!(id.as_str(), text);
        assert_eq!(id.as_ref() as &str, text);
        assert_eq!(id.to_string(), text);
        assert_eq!(format!("{id:?}"), format!("CorrelationId({text:?})"));
        assert_eq!(text.parse::<CorrelationId>().unwrap(), *id);
        assert_eq!(id.clone(), *id);
        assert_eq!(*id, text);
        let hasher = RandomState::new();
        assert_eq!(hasher.hash_one(id), hasher.hash_one(id.clone()));
    }
    let a = CorrelationId::parse("a").unwrap();
    let b = CorrelationId::parse("b").unwrap();
    assert!(a < b);
    assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
}

#[test]
fn from_uuid_is_canonical() {
    let id = CorrelationId::parse_uuid("0192F0C3E1B27C3A8F4D2B1A0C9E8D7F").unwrap();
    assert_eq!(id.as_str(), "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f");
    let generated = CorrelationId::generate();
    let via_text = CorrelationId::parse_uuid(&generated.as_str().to_uppercase()).unwrap();
    assert_eq!(via_text, generated);
}

#[test]
fn floor_boundaries() {
    assert_eq!(CorrelationId::MAX_LEN, 128);
    assert!(CorrelationId::parse(&"x".repeat(128)).is_ok());
    assert_eq!(
        CorrelationId::parse(&"x".repeat(129)).unwrap_err().kind(),
        InvalidIdKind::TooLong { len: 129 }
    );
    assert_eq!(
        CorrelationId::parse("").unwrap_err().kind(),
        InvalidIdKind::Empty
    );
    for (bad, position) in [
        ("a b", 1),
        ("a\tb", 1),
        ("\r\n", 0),
        ("ab\0", 2),
        ("x\u{7f}", 1),
        ("é", 0),
        ("ok\u{1F600}", 2),
    ] {
        assert_eq!(
            CorrelationId::parse(bad).unwrap_err().kind(),
            InvalidIdKind::ForbiddenByte { position },
            "{bad:?}"
        );
    }
    assert!(CorrelationId::parse("!").is_ok());
    assert!(CorrelationId::parse("~").is_ok());
}

#[test]
fn parse_uuid_accepts_only_uuids_in_hyphenated_or_simple_form() {
    let canonical = "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f";
    for accepted in [
        canonical,
        "0192F0C3-E1B2-7C3A-8F4D-2B1A0C9E8D7F",
        "0192f0c3e1b27c3a8f4d2b1a0c9e8d7f",
    ] {
        assert_eq!(
            CorrelationId::parse_uuid(accepted).unwrap().as_str(),
            canonical
        );
    }
    for rejected in [
        "{0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f}",
        "urn:uuid:0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f",
        "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7",
        "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7fa",
        "0192f0c3ee1b2-7c3a-8f4d-2b1a0c9e8d7f",
        "g192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f",
        "req-42",
    ] {
        assert_eq!(
            CorrelationId::parse_uuid(rejected).unwrap_err().kind(),
            InvalidIdKind::NotUuid,
            "{rejected}"
        );
    }
    // The floor comes first.
    assert_eq!(
        CorrelationId::parse_uuid("").unwrap_err().kind(),
        InvalidIdKind::Empty
    );
    assert_eq!(
        CorrelationId::parse_uuid("0192f0c3 e1b2")
            .unwrap_err()
            .kind(),
        InvalidIdKind::ForbiddenByte { position: 8 }
    );
}

#[test]
fn parse_with_applies_the_floor_first_then_the_validator() {
    let ours = |value: &str| value.starts_with("req-");
    assert_eq!(
        CorrelationId::parse_with("req-7", ours).unwrap().as_str(),
        "req-7"
    );
    assert_eq!(
        CorrelationId::parse_with("job-7", ours).unwrap_err().kind(),
        InvalidIdKind::Rejected
    );
    let called = std::cell::Cell::new(false);
    let error = CorrelationId::parse_with("req 7", |_| {
        called.set(true);
        true
    })
    .unwrap_err();
    assert_eq!(error.kind(), InvalidIdKind::ForbiddenByte { position: 3 });
    assert!(
        !called.get(),
        "the validator saw a value that failed the floor"
    );
}

#[test]
fn panicking_validator_counts_as_invalid() {
    let error = CorrelationId::parse_with("req-7", |_| panic!("validator bug")).unwrap_err();
    assert_eq!(error.kind(), InvalidIdKind::ValidatorPanicked);
}

#[test]
fn into_correlation_id_turns_missing_or_invalid_into_none() {
    assert_eq!("req-1".into_correlation_id().unwrap().as_str(), "req-1");
    assert_eq!(
        String::from("req-2")
            .into_correlation_id()
            .unwrap()
            .as_str(),
        "req-2"
    );
    assert!("bad value".into_correlation_id().is_none());
    assert!("".into_correlation_id().is_none());
    assert!(None::<&str>.into_correlation_id().is_none());
    assert_eq!(
        Some("req-3").into_correlation_id().unwrap().as_str(),
        "req-3"
    );
    let id = CorrelationId::generate();
    assert_eq!((&id).into_correlation_id(), Some(id.clone()));
    assert_eq!(id.clone().into_correlation_id(), Some(id));
}

fn assert_is_error<E: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn invalid_correlation_id_is_a_std_error() {
    assert_is_error::<InvalidCorrelationId>();
}

/// What the floor says about `value`, computed independently.
fn floor_verdict(value: &str) -> Result<(), InvalidIdKind> {
    if value.is_empty() {
        return Err(InvalidIdKind::Empty);
    }
    if value.len() > 128 {
        return Err(InvalidIdKind::TooLong { len: value.len() });
    }
    match value.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
        Some(position) => Err(InvalidIdKind::ForbiddenByte { position }),
        None => Ok(()),
    }
}

/// The error must never echo the value. Values of a few bytes can occur in
/// the fixed wording by chance ("a", "is"), so the check starts at 6 bytes.
fn assert_not_echoed(error: &InvalidCorrelationId, value: &str) {
    if value.len() >= 6 {
        assert!(
            !error.to_string().contains(value),
            "{error} echoes {value:?}"
        );
        assert!(
            !format!("{error:?}").contains(value),
            "{error:?} echoes {value:?}"
        );
    }
}

fn inputs() -> impl Strategy<Value = String> {
    prop_oneof![
        // Mostly visible ASCII, sometimes a forbidden byte, any length
        // around the limit.
        "[!-~]{0,140}",
        "[!-~ \t\r\n\u{0}\u{7f}]{0,140}",
        "[!-~]{120,135}",
        // Anything at all.
        any::<String>(),
        // Header-injection shapes.
        "[a-z]{6,20}\r\n[A-Za-z-]{1,10}: [a-z]{1,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_keeps_a_value_that_passes_the_floor_verbatim_and_rejects_the_rest(value in inputs()) {
        match (CorrelationId::parse(&value), floor_verdict(&value)) {
            (Ok(id), Ok(())) => {
                prop_assert_eq!(id.as_str(), value.as_str());
                prop_assert_eq!(id.to_string(), value.clone());
                prop_assert_eq!(value.parse::<CorrelationId>().unwrap(), id.clone());
                prop_assert_eq!(CorrelationId::parse(id.as_str()).unwrap(), id);
            }
            (Err(error), Err(kind)) => {
                prop_assert_eq!(error.kind(), kind);
                assert_not_echoed(&error, &value);
            }
            (got, want) => prop_assert!(false, "parse gave {:?}, the floor says {:?}", got, want),
        }
    }

    #[test]
    fn parse_uuid_accepts_only_uuid_shapes_and_normalises_them(value in inputs()) {
        let is_hex = |b: u8| b.is_ascii_hexdigit();
        let shape = match value.len() {
            32 => value.bytes().all(is_hex),
            36 => value.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => is_hex(b),
            }),
            _ => false,
        };
        match CorrelationId::parse_uuid(&value) {
            Ok(id) => {
                prop_assert!(shape, "accepted {:?}", value);
                let hex: String = value.chars().filter(|c| *c != '-').collect();
                let canonical: String = id.as_str().chars().filter(|c| *c != '-').collect();
                prop_assert_eq!(canonical, hex.to_lowercase());
            }
            Err(error) => {
                let expected = floor_verdict(&value).err().unwrap_or(InvalidIdKind::NotUuid);
                prop_assert_eq!(error.kind(), expected);
                assert_not_echoed(&error, &value);
            }
        }
    }

    #[test]
    fn parse_uuid_accepts_every_rfc_9562_uuid_in_any_case(
        mut bytes in any::<[u8; 16]>(),
        version in 1u8..=8,
        upper in any::<bool>(),
        simple in any::<bool>(),
    ) {
        bytes[6] = (version << 4) | (bytes[6] & 0x0f);
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let canonical = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        let mut form = if simple { hex.clone() } else { canonical.clone() };
        if upper {
            form = form.to_uppercase();
        }
        let id = CorrelationId::parse_uuid(&form).unwrap();
        prop_assert_eq!(id.as_str(), canonical.as_str());
    }

    #[test]
    fn parse_with_follows_the_validator_after_the_floor(value in inputs(), verdict in any::<bool>()) {
        let result = CorrelationId::parse_with(&value, |_| verdict);
        match floor_verdict(&value) {
            Err(kind) => prop_assert_eq!(result.unwrap_err().kind(), kind),
            Ok(()) if verdict => {
                let id = result.unwrap();
                prop_assert_eq!(id.as_str(), value.as_str());
            }
            Ok(()) => {
                let error = result.unwrap_err();
                prop_assert_eq!(error.kind(), InvalidIdKind::Rejected);
                assert_not_echoed(&error, &value);
            }
        }
    }
}

#[test]
fn every_kind_of_id_source_gives_its_id() {
    let uuid = uuid::Uuid::now_v7();
    let from_uuid = CorrelationId::from(uuid);
    assert_eq!(from_uuid.as_str(), uuid.hyphenated().to_string());
    assert_eq!(uuid.into_correlation_id().as_ref(), Some(&from_uuid));
    assert_eq!((&uuid).into_correlation_id().as_ref(), Some(&from_uuid));

    let text = String::from("source-1");
    assert_eq!((&text).into_correlation_id().unwrap(), "source-1");
    assert_eq!(text.clone().into_correlation_id().unwrap(), "source-1");
    assert_eq!(text.as_str().into_correlation_id().unwrap(), "source-1");
    assert!((&String::from("bad value")).into_correlation_id().is_none());
}
