//! The writer: members kept byte for byte, escaping, refusals that change
//! nothing, the limits, and `inject`.

use ::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::super::write::percent_encode_into;
use super::super::*;
use super::{headers, key, members, text};

#[test]
fn the_writer_keeps_every_member_byte_for_byte() {
    let mut map = headers(&["a = 1 ;p", "b=%41,a=2"]);
    add_member(&mut map, "c", "x y").unwrap();
    assert_eq!(map[BAGGAGE], "a = 1 ;p,b=%41,a=2,c=x%20y");
    assert_eq!(map.get_all(BAGGAGE).iter().count(), 1);
    // Empty lines hold no member and leave no empty member behind.
    let mut map = headers(&["", "a=1", " "]);
    add_member(&mut map, "c", "3").unwrap();
    assert_eq!(map[BAGGAGE], "a=1,c=3");
}

#[test]
fn the_writer_escapes_what_a_value_may_not_hold() {
    let mut out = String::new();
    percent_encode_into("a b,c;d\"e\\f%g=h\u{e9}\n~!", &mut out);
    assert_eq!(out, "a%20b%2Cc%3Bd%22e%5Cf%25g%3Dh%C3%A9%0A~!");
}

#[test]
fn the_writer_refuses_what_it_cannot_add_and_changes_nothing() {
    use MemberNotAddedKind as K;
    let full = members(MAX_MEMBERS);
    let long = format!("k={}", "v".repeat(MAX_BYTES - 10));
    let cases: Vec<(Vec<&str>, &str, &str, K)> = vec![
        (vec!["a=1"], "a", "2", K::KeyPresent),
        (vec!["a=1", "b=2;p"], "b", "2", K::KeyPresent),
        (vec![], "", "v", K::Key),
        (vec![], "a b", "v", K::Key),
        (vec![], "k=", "v", K::Key),
        (
            vec!["a=1,,b=2"],
            "c",
            "3",
            K::Baggage(InvalidBaggageKind::EmptyMember { member: 1 }),
        ),
        (
            vec!["a=1", "b"],
            "c",
            "3",
            K::Baggage(InvalidBaggageKind::MissingEquals { member: 1 }),
        ),
        (vec![&full], "c", "3", K::TooManyMembers),
        (
            vec![&long],
            "c",
            "123456",
            K::TooLong {
                len: long.len() + 1 + "c=123456".len(),
            },
        ),
    ];
    for (lines, key, value, expected) in cases {
        let mut map = headers(&lines);
        let before = map.clone();
        let err = add_member(&mut map, key, value).unwrap_err();
        assert_eq!(err.kind(), expected, "{key}={value}");
        assert_eq!(map, before);
    }
    // Exactly at the limits is fine.
    let mut map = headers(&[&members(MAX_MEMBERS - 1)]);
    add_member(&mut map, "c", "3").unwrap();
    assert_eq!(
        Baggage::from_headers(&map).unwrap().unwrap().len(),
        MAX_MEMBERS
    );
    let room = MAX_BYTES - long.len() - 1 - "c=".len();
    let mut map = headers(&[&long]);
    add_member(&mut map, "c", &"x".repeat(room)).unwrap();
    assert_eq!(map[BAGGAGE].len(), MAX_BYTES);
}

#[test]
fn inject_adds_the_current_id_once() {
    let mut map = headers(&["userId=alice"]);
    assert!(!inject(&mut map));
    let _guard = crate::scope(CorrelationId::parse("a=b;c").unwrap());
    assert!(inject(&mut map));
    assert_eq!(map[BAGGAGE], "userId=alice,correlation_id=a%3Db%3Bc");
    assert_eq!(extract(&map).unwrap(), "a=b;c");
    assert!(!inject(&mut map));
    assert_eq!(map[BAGGAGE], "userId=alice,correlation_id=a%3Db%3Bc");
}

proptest! {
    #[test]
    fn written_members_read_back_with_their_values(
        entries in proptest::collection::vec((key(), text()), 0..20),
    ) {
        let mut map = HeaderMap::new();
        let mut added = Vec::new();
        for (key, value) in &entries {
            match add_member(&mut map, key, value) {
                Ok(()) => added.push((key.clone(), value.clone())),
                Err(err) => {
                    prop_assert_eq!(err.kind(), MemberNotAddedKind::KeyPresent);
                    prop_assert!(added.iter().any(|(k, _)| k == key));
                }
            }
        }
        let read: Vec<(String, String)> = match Baggage::from_headers(&map).unwrap() {
            Some(baggage) => baggage
                .members()
                .map(|m| (m.key().to_owned(), m.value().into_owned()))
                .collect(),
            None => Vec::new(),
        };
        prop_assert_eq!(read, added);
    }

    #[test]
    fn the_limits_hold_for_any_count_and_length(count in 0usize..100, len in 0usize..200) {
        let value = "v".repeat(len);
        let header = (0..count).map(|i| format!("k{i}={value}")).collect::<Vec<_>>().join(",");
        let result = Baggage::parse(&header);
        if header.len() > MAX_BYTES {
            prop_assert_eq!(result.unwrap_err().kind(), InvalidBaggageKind::TooLong { len: header.len() });
        } else if count > MAX_MEMBERS {
            prop_assert_eq!(result.unwrap_err().kind(), InvalidBaggageKind::TooManyMembers);
        } else {
            prop_assert_eq!(result.unwrap().len(), count);
        }
        let mut map = HeaderMap::new();
        if count > 0 {
            map.insert(BAGGAGE, HeaderValue::from_str(&header).unwrap());
        }
        let before = map.clone();
        match add_member(&mut map, "extra", "1") {
            Ok(()) => {
                prop_assert!(map[BAGGAGE].len() <= MAX_BYTES);
                prop_assert_eq!(Baggage::from_headers(&map).unwrap().unwrap().len(), count + 1);
            }
            Err(_) => {
                prop_assert_eq!(map, before);
                prop_assert!(count >= MAX_MEMBERS || header.len() + 8 > MAX_BYTES);
            }
        }
    }
}
