//! The parser: the grammar, the limits, the correlation ID member, and
//! errors and `Debug` that never show a value.

use ::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::super::parse::is_token;
use super::super::write::percent_encode_into;
use super::super::*;
use super::{headers, key, members, ows, text};
use crate::id::InvalidIdKind;

fn kind(value: &str) -> Option<InvalidBaggageKind> {
    Baggage::parse(value).err().map(|err| err.kind())
}

#[test]
fn the_specification_examples_parse() {
    let baggage = Baggage::parse(
        "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
    )
    .unwrap();
    let shown: Vec<_> = baggage.members().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "key1=value1;property1;property2",
            "key2=value2",
            "key3=value3;propertyKey=propertyValue"
        ]
    );
    let split = headers(&[
        "userId =   alice",
        "serverNode = DF%2028, isProduction = false",
    ]);
    let baggage = Baggage::from_headers(&split).unwrap().unwrap();
    let pairs: Vec<_> = baggage
        .members()
        .map(|m| (m.key(), m.value().into_owned()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("userId", "alice".to_owned()),
            ("serverNode", "DF 28".to_owned()),
            ("isProduction", "false".to_owned()),
        ]
    );
}

#[test]
fn valid_edge_cases() {
    // Values may hold `=`; empty values; tabs as OWS; every tchar in keys;
    // every baggage-octet class in values; lowercase escapes.
    let baggage =
        Baggage::parse("k=a=b==,e=,\tt\t=\tx\t,!#$%&'*+-.^_`|~09AZaz=!#+-:<[]~,l=%c3%a9").unwrap();
    assert_eq!(baggage.get("k").unwrap().raw_value(), "a=b==");
    assert_eq!(baggage.get("e").unwrap().value(), "");
    assert_eq!(baggage.get("t").unwrap().value(), "x");
    assert_eq!(
        baggage.get("!#$%&'*+-.^_`|~09AZaz").unwrap().raw_value(),
        "!#+-:<[]~"
    );
    assert_eq!(baggage.get("l").unwrap().value(), "\u{e9}");
    // Property values may hold `%` that is not an escape: opaque.
    let baggage = Baggage::parse("k=v;p=100%;q").unwrap();
    let properties: Vec<_> = baggage.get("k").unwrap().properties().collect();
    assert_eq!(properties.len(), 2);
    assert_eq!(properties[0].raw_value(), Some("100%"));
}

#[test]
fn empty_lines_hold_no_members() {
    for value in ["", " ", "\t \t"] {
        assert!(Baggage::parse(value).unwrap().is_empty(), "{value:?}");
    }
    let map = headers(&["a=1", "", "  ", "b=2"]);
    assert_eq!(Baggage::from_headers(&map).unwrap().unwrap().len(), 2);
    assert_eq!(Baggage::from_headers(&HeaderMap::new()), Ok(None));
}

#[test]
fn malformed_values_are_refused_with_the_rule_they_broke() {
    use InvalidBaggageKind as K;
    let cases: &[(&str, K)] = &[
        ("a=1,,b=2", K::EmptyMember { member: 1 }),
        (",a=1", K::EmptyMember { member: 0 }),
        ("a=1,", K::EmptyMember { member: 1 }),
        ("a=1, \t ,b=2", K::EmptyMember { member: 1 }),
        ("a", K::MissingEquals { member: 0 }),
        ("a=1,b;c=2", K::MissingEquals { member: 1 }),
        ("=v", K::Key { member: 0 }),
        ("a b=v", K::Key { member: 0 }),
        ("k(1)=v", K::Key { member: 0 }),
        ("k/=v", K::Key { member: 0 }),
        ("k@x=v", K::Key { member: 0 }),
        ("\"k\"=v", K::Key { member: 0 }),
        ("a=1,k{}=v", K::Key { member: 1 }),
        ("k=two words", K::Value { member: 0 }),
        ("k=\"quoted\"", K::Value { member: 0 }),
        ("k=back\\slash", K::Value { member: 0 }),
        ("k=tab\tinside", K::Value { member: 0 }),
        ("k=%", K::PercentEncoding { member: 0 }),
        ("k=%4", K::PercentEncoding { member: 0 }),
        ("k=%zz", K::PercentEncoding { member: 0 }),
        ("k=ok%20then%g0", K::PercentEncoding { member: 0 }),
        ("a=1,k=100%", K::PercentEncoding { member: 1 }),
        ("k=v;", K::Property { member: 0 }),
        ("k=v;;p", K::Property { member: 0 }),
        ("k=v; ;p", K::Property { member: 0 }),
        ("k=v;=x", K::Property { member: 0 }),
        ("k=v;p q", K::Property { member: 0 }),
        ("k=v;p=a b", K::Property { member: 0 }),
        ("k=v;p=\"x\"", K::Property { member: 0 }),
        ("k=caf\u{e9}", K::NotAscii),
    ];
    for (value, expected) in cases {
        assert_eq!(kind(value), Some(*expected), "{value:?}");
    }
    // Control characters, which `HeaderValue` refuses, are refused here too.
    for byte in (0x00..0x20).chain([0x7f]).filter(|&b| b != b'\t') {
        let value = format!("k=a{}b", char::from(byte));
        assert_eq!(kind(&value), Some(K::Value { member: 0 }), "{byte:#x}");
    }
    // Non-ASCII bytes in a header line.
    let line = HeaderValue::from_bytes(b"k=caf\xe9").unwrap();
    let mut map = HeaderMap::new();
    map.insert(BAGGAGE, line);
    assert_eq!(
        Baggage::from_headers(&map).unwrap_err().kind(),
        InvalidBaggageKind::NotAscii
    );
}

#[test]
fn one_bad_member_refuses_the_whole_header() {
    let map = headers(&["correlation_id=req-1,a=1", "b=two words"]);
    let err = Baggage::from_headers(&map).unwrap_err();
    assert_eq!(err.kind(), InvalidBaggageKind::Value { member: 2 });
    assert_eq!(extract(&map), None);
}

#[test]
fn the_member_limit_counts_every_line() {
    assert_eq!(
        Baggage::parse(&members(MAX_MEMBERS)).unwrap().len(),
        MAX_MEMBERS
    );
    assert_eq!(
        kind(&members(MAX_MEMBERS + 1)),
        Some(InvalidBaggageKind::TooManyMembers)
    );
    let first = members(40);
    let second = members(25);
    let map = headers(&[&first, &second]);
    assert_eq!(
        Baggage::from_headers(&map).unwrap_err().kind(),
        InvalidBaggageKind::TooManyMembers
    );
    let second = members(24);
    let map = headers(&[&first, &second]);
    assert_eq!(
        Baggage::from_headers(&map).unwrap().unwrap().len(),
        MAX_MEMBERS
    );
}

#[test]
fn the_byte_limit_counts_every_line_joined_by_commas() {
    let line = |len: usize| format!("k={}", "v".repeat(len - 2));
    assert!(Baggage::parse(&line(MAX_BYTES)).is_ok());
    assert_eq!(
        kind(&line(MAX_BYTES + 1)),
        Some(InvalidBaggageKind::TooLong { len: MAX_BYTES + 1 })
    );
    // 4096 + 1 (comma) + 4095 = 8192.
    let (a, b) = (line(4096), line(4095));
    assert!(Baggage::from_headers(&headers(&[&a, &b])).is_ok());
    let (a, b, c) = (line(4096), line(4096), line(100));
    assert_eq!(
        Baggage::from_headers(&headers(&[&a, &b, &c]))
            .unwrap_err()
            .kind(),
        InvalidBaggageKind::TooLong {
            len: 4096 + 1 + 4096 + 1 + 100
        }
    );
    // The limit is checked before anything is parsed: a long header
    // whose members are malformed is refused for its length.
    let junk = "\"".repeat(MAX_BYTES + 1);
    assert_eq!(
        kind(&junk),
        Some(InvalidBaggageKind::TooLong { len: MAX_BYTES + 1 })
    );
}

#[test]
fn the_correlation_id_member_passes_the_floor() {
    let id = |value: &str| Baggage::parse(value).unwrap().correlation_id();
    assert_eq!(id("correlation_id=req-1").unwrap().unwrap(), "req-1");
    assert_eq!(id(" correlation_id = req-1 ;p").unwrap().unwrap(), "req-1");
    assert_eq!(id("correlation_id=a%3Db%2Cc").unwrap().unwrap(), "a=b,c");
    assert_eq!(id("Correlation_Id=req-1"), Ok(None));
    let long = format!("correlation_id={}", "x".repeat(129));
    for (value, expected) in [
        ("correlation_id=", InvalidIdKind::Empty),
        (
            "correlation_id=a%20b",
            InvalidIdKind::ForbiddenByte { position: 1 },
        ),
        (
            "correlation_id=%0D%0A",
            InvalidIdKind::ForbiddenByte { position: 0 },
        ),
        (
            "correlation_id=caf%C3%A9",
            InvalidIdKind::ForbiddenByte { position: 3 },
        ),
        (
            "correlation_id=%FF",
            InvalidIdKind::ForbiddenByte { position: 0 },
        ),
        (long.as_str(), InvalidIdKind::TooLong { len: 129 }),
    ] {
        assert_eq!(
            id(value).unwrap_err().kind(),
            InvalidBaggageIdKind::Id(expected),
            "{value}"
        );
    }
    assert_eq!(
        id("correlation_id=a,x=1,correlation_id=a")
            .unwrap_err()
            .kind(),
        InvalidBaggageIdKind::Repeated { count: 2 }
    );
}

#[test]
fn errors_never_contain_the_value() {
    let values = [
        "secret",
        "k=secret,,",
        "k=secret%zz",
        "k=secret;;",
        "k=secret value",
        "secret key=v",
    ];
    for value in values {
        let err = Baggage::parse(value).unwrap_err();
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("secret"), "{shown}");
        }
    }
    let err = Baggage::parse("correlation_id=secret%20id")
        .unwrap()
        .correlation_id()
        .unwrap_err();
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("secret"), "{shown}");
    }
    let mut map = headers(&["k=secret,,"]);
    let err = add_member(&mut map, "k2", "also-secret").unwrap_err();
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("secret"), "{shown}");
    }
}

#[test]
fn debug_shows_keys_not_values() {
    let baggage = Baggage::parse("userId=secret;p=hidden").unwrap();
    let member = baggage.get("userId").unwrap();
    let shown = format!(
        "{baggage:?} {member:?} {:?} {:?}",
        member.properties(),
        member.properties().next().unwrap()
    );
    assert!(
        !shown.contains("secret") && !shown.contains("hidden"),
        "{shown}"
    );
    assert!(shown.contains("userId"), "{shown}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_what_parses_writes_back(
        value in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Ok(baggage) = Baggage::from_lines([value.as_slice()]) {
            prop_assert!(baggage.len() <= MAX_MEMBERS);
            let shown = baggage.to_string();
            prop_assert_eq!(Baggage::parse(&shown).unwrap(), baggage.clone());
            for member in baggage.members() {
                prop_assert!(is_token(member.key()));
                let _ = member.value();
            }
            let _ = baggage.correlation_id();
        }
    }

    #[test]
    fn text_near_the_grammar_never_panics(value in "[a-z=,; \t%0-9A-F\"]{0,40}") {
        if let Ok(baggage) = Baggage::parse(&value) {
            let shown = baggage.to_string();
            prop_assert_eq!(Baggage::parse(&shown).unwrap(), baggage);
        }
    }

    #[test]
    fn spaces_around_elements_do_not_change_the_members(
        entries in proptest::collection::vec((key(), text(), proptest::option::of(key())), 1..10),
        spaces in proptest::collection::vec(ows(), 6),
    ) {
        let mut tight = Vec::new();
        let mut spaced = Vec::new();
        for (key, value, property) in &entries {
            let mut value_out = String::new();
            percent_encode_into(value, &mut value_out);
            let property = property.as_ref().map_or(String::new(), |p| format!(";{p}"));
            let spaced_property = property.replace(';', &format!("{};{}", spaces[4], spaces[5]));
            tight.push(format!("{key}={value_out}{property}"));
            spaced.push(format!(
                "{}{key}{}={}{value_out}{}{spaced_property}",
                spaces[0], spaces[1], spaces[2], spaces[3]
            ));
        }
        let tight_text = tight.join(",");
        let spaced_text = spaced.join(",");
        let tight = Baggage::parse(&tight_text).unwrap();
        let spaced = Baggage::parse(&spaced_text).unwrap();
        prop_assert_eq!(&tight, &spaced);
        prop_assert_eq!(tight.to_string(), tight_text.clone());
        for ((_, value, _), member) in entries.iter().zip(tight.members()) {
            prop_assert_eq!(&member.value(), value);
        }
    }

}
