//! W3C Baggage (feature `http`): the correlation ID as the `correlation_id`
//! member of the `baggage` header, read by a strict parser and added without
//! touching the other members.
//!
//! [W3C Baggage] is how OpenTelemetry carries application values from service
//! to service: `baggage: userId=alice,serverNode=DF%2028;shard=2`. A service
//! whose callers and callees speak OpenTelemetry can carry the correlation ID
//! there, next to (or instead of) the `x-correlation-id` header.
//!
//! - **Reading**: [`Baggage::from_headers`] parses every `baggage` line of a
//!   request as one list; [`Baggage::correlation_id`] gives its
//!   `correlation_id` member, which must pass the floor of
//!   [`CorrelationId::parse`]. [`extract`] does both. A malformed or
//!   over-limit header is refused whole: nothing in it is used, and the
//!   error says which rule failed without holding any of it.
//! - **Writing**: [`inject`] adds `correlation_id=<current id>` to the
//!   outgoing `baggage`, [`add_member`] adds any `key=value`. Members already
//!   present are kept byte for byte, in order; a member whose key is already
//!   there is not added (the caller's value wins); nothing is added when the
//!   result would break the limits or when the present header is malformed.
//!   The client layers do this when asked:
//!   `PropagateCorrelationLayer::new().baggage(true)` (feature `tower`) and
//!   `correlated::tonic::PropagateCorrelation::new().baggage(true)` (feature
//!   `tonic`).
//!
//! # The rules
//!
//! The parser follows the specification's grammar:
//!
//! - a header is a comma-separated list of `key=value` members, each
//!   followed by any number of `;property` or `;key=value` properties;
//!   spaces and tabs around every element are allowed and trimmed;
//! - keys are HTTP tokens (letters, digits and ``!#$%&'*+-.^_`|~``);
//!   values are the spec's `baggage-octet`s (visible ASCII other than
//!   `"`, `,`, `;` and `\`), and every `%` in a value starts a `%XX` escape;
//!   decoded bytes that are not UTF-8 become U+FFFD, as the spec asks;
//! - an empty list member (`a=1,,b=2`, a trailing comma) or an empty
//!   property (`a=1;`) is malformed; an empty `baggage` line holds no
//!   members;
//! - several `baggage` lines are one list, as if joined by commas;
//! - at most [`MAX_MEMBERS`] (64) members and [`MAX_BYTES`] (8192) bytes in
//!   all. The specification makes these the least every platform must
//!   propagate (its grammar allows up to 180 members); taking them as the
//!   maximum, as OpenTelemetry's Rust SDK does, means that whatever this
//!   crate accepts or writes, every conforming platform passes on whole.
//!
//! [W3C Baggage]: https://www.w3.org/TR/baggage/
//!
//! # Examples
//!
//! ```
//! use correlated::baggage::{BAGGAGE, Baggage, inject};
//! use http::HeaderMap;
//!
//! // Incoming: two lines, one list.
//! let mut incoming = HeaderMap::new();
//! incoming.append(BAGGAGE, "userId=alice, correlation_id=req-7".parse().unwrap());
//! incoming.append(BAGGAGE, "serverNode=DF%2028;shard=2".parse().unwrap());
//! let baggage = Baggage::from_headers(&incoming).unwrap().unwrap();
//! assert_eq!(baggage.len(), 3);
//! assert_eq!(baggage.get("serverNode").unwrap().value(), "DF 28");
//! let id = baggage.correlation_id().unwrap().unwrap();
//! assert_eq!(id, "req-7");
//!
//! // Outgoing: the ID joins the members already there.
//! let _guard = correlated::scope(id);
//! let mut outgoing = HeaderMap::new();
//! outgoing.insert(BAGGAGE, "tenant=acme".parse().unwrap());
//! assert!(inject(&mut outgoing));
//! assert_eq!(outgoing[BAGGAGE], "tenant=acme,correlation_id=req-7");
//! ```

use std::borrow::Cow;
use std::fmt;

use ::http::{HeaderMap, HeaderName, HeaderValue};

use crate::id::{CorrelationId, InvalidCorrelationId, InvalidIdKind};

/// The `baggage` header name.
///
/// # Examples
///
/// ```
/// assert_eq!(correlated::baggage::BAGGAGE.as_str(), "baggage");
/// ```
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The key of the member that carries the correlation ID: `correlation_id`,
/// the field name the logging integrations use.
///
/// # Examples
///
/// ```
/// assert_eq!(correlated::baggage::CORRELATION_ID_KEY, "correlation_id");
/// ```
pub const CORRELATION_ID_KEY: &str = "correlation_id";

/// The most list-members a `baggage` header may hold, all lines together:
/// the number every platform must propagate (W3C Baggage, "Limits").
///
/// # Examples
///
/// ```
/// use correlated::baggage::{Baggage, MAX_MEMBERS};
///
/// let members = |n: usize| (0..n).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
/// assert!(Baggage::parse(&members(MAX_MEMBERS)).is_ok());
/// assert!(Baggage::parse(&members(MAX_MEMBERS + 1)).is_err());
/// ```
pub const MAX_MEMBERS: usize = 64;

/// The most bytes a `baggage` header may hold, all lines together (joined by
/// commas): the length every platform must propagate (W3C Baggage,
/// "Limits").
///
/// # Examples
///
/// ```
/// use correlated::baggage::{Baggage, MAX_BYTES};
///
/// let value = |len: usize| format!("k={}", "v".repeat(len - 2));
/// assert!(Baggage::parse(&value(MAX_BYTES)).is_ok());
/// assert!(Baggage::parse(&value(MAX_BYTES + 1)).is_err());
/// ```
pub const MAX_BYTES: usize = 8192;

// === Parsing ===

/// A strictly parsed `baggage` header: its list-members in order, borrowed
/// from the header.
///
/// Values stay as sent (percent-encoded): [`Member::raw_value`] gives them
/// so, [`Member::value`] decoded. Duplicate keys are kept, in order, as the
/// specification asks. See the [module documentation](self) for the rules.
///
/// `Debug` shows the keys only: values are application data (user IDs,
/// tenants) that a debug print should not spill into logs.
///
/// # Examples
///
/// ```
/// use correlated::baggage::Baggage;
///
/// let baggage = Baggage::parse("key1=value1;property1;property2, key2 = value2").unwrap();
/// let keys: Vec<_> = baggage.members().map(|member| member.key()).collect();
/// assert_eq!(keys, ["key1", "key2"]);
/// assert_eq!(format!("{baggage:?}"), r#"Baggage { keys: ["key1", "key2"] }"#);
///
/// // Written back canonically: no spaces around the elements.
/// assert_eq!(baggage.to_string(), "key1=value1;property1;property2,key2=value2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Baggage<'h> {
    members: Vec<Member<'h>>,
}

impl<'h> Baggage<'h> {
    /// Parses one `baggage` header value.
    ///
    /// A value that is empty or holds only spaces and tabs gives a baggage
    /// without members.
    ///
    /// # Errors
    ///
    /// [`InvalidBaggage`] naming the rule that failed, never the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::baggage::{Baggage, InvalidBaggageKind};
    ///
    /// let baggage = Baggage::parse("userId=alice,serverNode=DF%2028").unwrap();
    /// assert_eq!(baggage.get("serverNode").unwrap().value(), "DF 28");
    ///
    /// let err = Baggage::parse("userId=alice,,serverNode=DF%2028").unwrap_err();
    /// assert_eq!(err.kind(), InvalidBaggageKind::EmptyMember { member: 1 });
    /// ```
    pub fn parse(value: &'h str) -> Result<Self, InvalidBaggage> {
        Self::from_lines([value.as_bytes()])
    }

    /// Parses every `baggage` line of `headers` as one list; `Ok(None)` when
    /// there is none.
    ///
    /// # Errors
    ///
    /// [`InvalidBaggage`] when any line is malformed or all of them together
    /// break a limit: then no member is used.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::baggage::{BAGGAGE, Baggage, InvalidBaggageKind};
    /// use http::HeaderMap;
    ///
    /// let mut headers = HeaderMap::new();
    /// assert_eq!(Baggage::from_headers(&headers), Ok(None));
    ///
    /// headers.append(BAGGAGE, "a=1".parse().unwrap());
    /// headers.append(BAGGAGE, "b=2".parse().unwrap());
    /// assert_eq!(Baggage::from_headers(&headers).unwrap().unwrap().len(), 2);
    ///
    /// // One bad line spoils the list: nothing of it is used.
    /// headers.append(BAGGAGE, "c".parse().unwrap());
    /// let err = Baggage::from_headers(&headers).unwrap_err();
    /// assert_eq!(err.kind(), InvalidBaggageKind::MissingEquals { member: 2 });
    /// ```
    pub fn from_headers(headers: &'h HeaderMap) -> Result<Option<Self>, InvalidBaggage> {
        let mut lines = headers.get_all(BAGGAGE).iter().peekable();
        if lines.peek().is_none() {
            return Ok(None);
        }
        Self::from_lines(lines.map(HeaderValue::as_bytes)).map(Some)
    }

    /// Parses header lines as one list.
    pub(crate) fn from_lines<I>(lines: I) -> Result<Self, InvalidBaggage>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let mut members = Vec::new();
        scan(lines, |member| members.push(member))?;
        Ok(Self { members })
    }

    /// The members, in the order they were sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::baggage::Baggage;
    ///
    /// let baggage = Baggage::parse("a=1,b=2,a=3").unwrap();
    /// let pairs: Vec<_> = baggage.members().map(|m| (m.key(), m.raw_value())).collect();
    /// assert_eq!(pairs, [("a", "1"), ("b", "2"), ("a", "3")]);
    /// ```
    pub fn members(&self) -> std::slice::Iter<'_, Member<'h>> {
        self.members.iter()
    }

    /// The first member whose key is `key` (keys are case-sensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::baggage::Baggage;
    ///
    /// let baggage = Baggage::parse("a=1,b=2,a=3").unwrap();
    /// assert_eq!(baggage.get("a").unwrap().raw_value(), "1");
    /// assert!(baggage.get("A").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&Member<'h>> {
        self.members.iter().find(|member| member.key == key)
    }

    /// How many members it holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(correlated::baggage::Baggage::parse("a=1, b=2").unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it holds no member (the header was empty).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(correlated::baggage::Baggage::parse("").unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The correlation ID in the [`CORRELATION_ID_KEY`] member, decoded and
    /// checked by the floor of [`CorrelationId::parse`]; `Ok(None)` when
    /// there is no such member. The member's properties are ignored.
    ///
    /// A service's own validator is not applied here: the server layer
    /// applies it after this, as it does to the correlation header.
    ///
    /// # Errors
    ///
    /// [`InvalidBaggageId`] when the member is present more than once (which
    /// one is meant is ambiguous) or its value fails the floor.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::InvalidIdKind;
    /// use correlated::baggage::{Baggage, InvalidBaggageIdKind};
    ///
    /// let baggage = Baggage::parse("correlation_id=req%2D7;origin=edge").unwrap();
    /// assert_eq!(baggage.correlation_id().unwrap().unwrap(), "req-7");
    ///
    /// assert_eq!(Baggage::parse("userId=alice").unwrap().correlation_id(), Ok(None));
    ///
    /// // A space is a valid escape but not a valid correlation ID.
    /// let err = Baggage::parse("correlation_id=two%20words").unwrap().correlation_id().unwrap_err();
    /// assert_eq!(err.kind(), InvalidBaggageIdKind::Id(InvalidIdKind::ForbiddenByte { position: 3 }));
    /// ```
    pub fn correlation_id(&self) -> Result<Option<CorrelationId>, InvalidBaggageId> {
        let mut found = self
            .members
            .iter()
            .filter(|member| member.key == CORRELATION_ID_KEY);
        let Some(member) = found.next() else {
            return Ok(None);
        };
        let others = found.count();
        if others > 0 {
            return Err(InvalidBaggageId {
                reason: IdRejection::Repeated { count: others + 1 },
            });
        }
        CorrelationId::parse(&member.value())
            .map(Some)
            .map_err(|err| InvalidBaggageId {
                reason: IdRejection::Floor(err),
            })
    }
}

/// Writes the members back as one header value, canonically: no spaces
/// around the elements, values and properties as sent. The result parses to
/// an equal `Baggage`.
///
/// # Examples
///
/// ```
/// use correlated::baggage::Baggage;
///
/// let baggage = Baggage::parse("a = 1 ; p ; q = x%2C , b=").unwrap();
/// assert_eq!(baggage.to_string(), "a=1;p;q=x%2C,b=");
/// assert_eq!(Baggage::parse(&baggage.to_string()).unwrap(), baggage);
/// ```
impl fmt::Display for Baggage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, member) in self.members.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(member, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Baggage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.members.iter().map(|member| member.key).collect();
        f.debug_struct("Baggage").field("keys", &keys).finish()
    }
}

/// One list-member of a [`Baggage`]: `key=value`, then any properties.
///
/// `Debug` shows the key only, as for [`Baggage`].
///
/// # Examples
///
/// ```
/// use correlated::baggage::Baggage;
///
/// let baggage = Baggage::parse("serverNode = DF%2028 ; shard=2;primary").unwrap();
/// let member = baggage.get("serverNode").unwrap();
/// assert_eq!(member.raw_value(), "DF%2028");
/// assert_eq!(member.value(), "DF 28");
/// assert_eq!(member.to_string(), "serverNode=DF%2028;shard=2;primary");
/// ```
#[derive(Clone, Copy)]
pub struct Member<'h> {
    key: &'h str,
    // Baggage-octets, every `%` starting a valid escape (checked by `scan`).
    value: &'h str,
    // What follows the first `;`, with spaces around it trimmed; empty when
    // there are no properties. Each property was checked by `scan`.
    properties: &'h str,
}

impl<'h> Member<'h> {
    /// The key, a token.
    ///
    /// # Examples
    ///
    /// ```
    /// let baggage = correlated::baggage::Baggage::parse(" userId =alice").unwrap();
    /// assert_eq!(baggage.members().next().unwrap().key(), "userId");
    /// ```
    pub fn key(&self) -> &'h str {
        self.key
    }

    /// The value as sent: percent-encoded, spaces around it trimmed.
    ///
    /// # Examples
    ///
    /// ```
    /// let baggage = correlated::baggage::Baggage::parse("note=caf%C3%A9").unwrap();
    /// assert_eq!(baggage.get("note").unwrap().raw_value(), "caf%C3%A9");
    /// ```
    pub fn raw_value(&self) -> &'h str {
        self.value
    }

    /// The value percent-decoded; bytes that do not decode to UTF-8 become
    /// U+FFFD, as the specification asks. Borrowed when there is nothing to
    /// decode.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use correlated::baggage::Baggage;
    ///
    /// let baggage = Baggage::parse("note=caf%C3%A9,plain=abc,broken=%FF").unwrap();
    /// assert_eq!(baggage.get("note").unwrap().value(), "café");
    /// assert!(matches!(baggage.get("plain").unwrap().value(), Cow::Borrowed("abc")));
    /// assert_eq!(baggage.get("broken").unwrap().value(), "\u{fffd}");
    /// ```
    pub fn value(&self) -> Cow<'h, str> {
        percent_decode(self.value)
    }

    /// The properties, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let baggage = correlated::baggage::Baggage::parse("k=v;flag; ttl = 30").unwrap();
    /// let member = baggage.get("k").unwrap();
    /// let properties: Vec<_> = member.properties().map(|p| (p.key(), p.raw_value())).collect();
    /// assert_eq!(properties, [("flag", None), ("ttl", Some("30"))]);
    /// ```
    pub fn properties(&self) -> Properties<'h> {
        Properties {
            rest: (!self.properties.is_empty()).then_some(self.properties),
        }
    }
}

/// `key=value;properties`, canonically: no spaces around the elements.
///
/// # Examples
///
/// ```
/// let baggage = correlated::baggage::Baggage::parse("k = v ; p ; q = 1").unwrap();
/// assert_eq!(baggage.get("k").unwrap().to_string(), "k=v;p;q=1");
/// ```
impl fmt::Display for Member<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)?;
        for property in self.properties() {
            write!(f, ";{property}")?;
        }
        Ok(())
    }
}

/// Members are equal when their keys, values and properties are, whatever
/// the spaces around them were.
///
/// # Examples
///
/// ```
/// use correlated::baggage::Baggage;
///
/// let spaced = Baggage::parse("k = v ; p ; q = 1").unwrap();
/// let tight = Baggage::parse("k=v;p;q=1").unwrap();
/// assert_eq!(spaced.get("k"), tight.get("k"));
/// ```
impl PartialEq for Member<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.value == other.value
            && self.properties().eq(other.properties())
    }
}

impl Eq for Member<'_> {}

impl fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The properties of a [`Member`], from [`Member::properties`].
///
/// # Examples
///
/// ```
/// let baggage = correlated::baggage::Baggage::parse("k=v;a;b=2").unwrap();
/// assert_eq!(baggage.get("k").unwrap().properties().count(), 2);
/// ```
#[derive(Clone)]
pub struct Properties<'h> {
    rest: Option<&'h str>,
}

/// Opaque: property values are application data, as member values are.
impl fmt::Debug for Properties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Properties { .. }")
    }
}

impl<'h> Iterator for Properties<'h> {
    type Item = Property<'h>;

    fn next(&mut self) -> Option<Property<'h>> {
        let rest = self.rest?;
        let (property, rest) = match rest.split_once(';') {
            Some((property, rest)) => (property, Some(rest)),
            None => (rest, None),
        };
        self.rest = rest;
        Some(match property.split_once('=') {
            Some((key, value)) => Property {
                key: trim_ows(key),
                value: Some(trim_ows(value)),
            },
            None => Property {
                key: trim_ows(property),
                value: None,
            },
        })
    }
}

/// A property of a [`Member`]: a key, or `key=value`. Its meaning is left to
/// the applications by the specification, so its value is not decoded.
///
/// # Examples
///
/// ```
/// let baggage = correlated::baggage::Baggage::parse("k=v;ttl=30").unwrap();
/// let property = baggage.get("k").unwrap().properties().next().unwrap();
/// assert_eq!((property.key(), property.raw_value()), ("ttl", Some("30")));
/// assert_eq!(property.to_string(), "ttl=30");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Property<'h> {
    key: &'h str,
    value: Option<&'h str>,
}

impl<'h> Property<'h> {
    /// The key, a token.
    ///
    /// # Examples
    ///
    /// ```
    /// let baggage = correlated::baggage::Baggage::parse("k=v;flag").unwrap();
    /// assert_eq!(baggage.get("k").unwrap().properties().next().unwrap().key(), "flag");
    /// ```
    pub fn key(&self) -> &'h str {
        self.key
    }

    /// The value as sent, or `None` for a key-only property.
    ///
    /// # Examples
    ///
    /// ```
    /// let baggage = correlated::baggage::Baggage::parse("k=v;flag;n=").unwrap();
    /// let values: Vec<_> = baggage.get("k").unwrap().properties().map(|p| p.raw_value()).collect();
    /// assert_eq!(values, [None, Some("")]);
    /// ```
    pub fn raw_value(&self) -> Option<&'h str> {
        self.value
    }
}

/// `key` or `key=value`.
///
/// # Examples
///
/// ```
/// let baggage = correlated::baggage::Baggage::parse("k=v; flag ;n = 1").unwrap();
/// let shown: Vec<_> = baggage.get("k").unwrap().properties().map(|p| p.to_string()).collect();
/// assert_eq!(shown, ["flag", "n=1"]);
/// ```
impl fmt::Display for Property<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)?;
        if let Some(value) = self.value {
            write!(f, "={value}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Property<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Property")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The size of a valid header, all lines together.
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    members: usize,
    // Bytes of the lines joined by commas.
    bytes: usize,
}

/// Checks `lines` as one list and hands each member to `visit`, in order;
/// the one place the grammar and the limits are enforced. No line is read
/// past [`MAX_BYTES`], but members may reach `visit` before a later one is
/// found malformed: callers keep what they saw only on `Ok`.
fn scan<'h, I, V>(lines: I, mut visit: V) -> Result<Size, InvalidBaggage>
where
    I: IntoIterator<Item = &'h [u8]>,
    V: FnMut(Member<'h>),
{
    let fail = |kind| Err(InvalidBaggage { kind });
    let mut size = Size::default();
    let mut lines = holding_members(lines);
    while let Some(line) = lines.next() {
        size.bytes += usize::from(size.bytes > 0) + line.len();
        if size.bytes > MAX_BYTES {
            let len = lines.fold(size.bytes, |len, line| len + 1 + line.len());
            return fail(InvalidBaggageKind::TooLong { len });
        }
        let Some(line) = as_ascii(line) else {
            return fail(InvalidBaggageKind::NotAscii);
        };
        for text in line.split(',') {
            let member = size.members;
            if member == MAX_MEMBERS {
                return fail(InvalidBaggageKind::TooManyMembers);
            }
            visit(parse_member(text).map_err(|kind| InvalidBaggage { kind: kind(member) })?);
            size.members += 1;
        }
    }
    Ok(size)
}

/// The lines that hold members: those that are empty or only spaces and
/// tabs hold none (HTTP reads an empty list field as an empty list).
fn holding_members<'h, I>(lines: I) -> impl Iterator<Item = &'h [u8]>
where
    I: IntoIterator<Item = &'h [u8]>,
{
    lines
        .into_iter()
        .filter(|line| line.iter().any(|&byte| byte != b' ' && byte != b'\t'))
}

/// The line as text, if every byte is ASCII.
fn as_ascii(line: &[u8]) -> Option<&str> {
    if line.is_ascii() {
        std::str::from_utf8(line).ok()
    } else {
        None
    }
}

/// What went wrong in a member, given the member's index.
type MemberError = fn(usize) -> InvalidBaggageKind;

fn parse_member(text: &str) -> Result<Member<'_>, MemberError> {
    if trim_ows(text).is_empty() {
        return Err(|member| InvalidBaggageKind::EmptyMember { member });
    }
    let (pair, properties) = match text.split_once(';') {
        Some((pair, properties)) => (pair, Some(properties)),
        None => (text, None),
    };
    let Some((key, value)) = pair.split_once('=') else {
        return Err(|member| InvalidBaggageKind::MissingEquals { member });
    };
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) {
        return Err(|member| InvalidBaggageKind::Key { member });
    }
    if !value.bytes().all(is_baggage_octet) {
        return Err(|member| InvalidBaggageKind::Value { member });
    }
    if !is_percent_encoded(value) {
        return Err(|member| InvalidBaggageKind::PercentEncoding { member });
    }
    let properties = match properties {
        Some(properties) => {
            if !properties.split(';').all(is_property) {
                return Err(|member| InvalidBaggageKind::Property { member });
            }
            trim_ows(properties)
        }
        None => "",
    };
    Ok(Member {
        key,
        value,
        properties,
    })
}

/// `key`, or `key = value` with the value made of baggage-octets. The
/// meaning of properties is the applications' own, so their percent signs
/// are not checked as escapes.
fn is_property(text: &str) -> bool {
    match text.split_once('=') {
        Some((key, value)) => {
            is_token(trim_ows(key)) && trim_ows(value).bytes().all(is_baggage_octet)
        }
        None => is_token(trim_ows(text)),
    }
}

fn trim_ows(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// An HTTP token (RFC 9110, section 5.6.2): one or more tchars.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`: visible ASCII except
/// `"`, `,`, `;` and `\`.
fn is_baggage_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Every `%` is followed by two hex digits.
fn is_percent_encoded(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&byte| byte == b'%') {
        let escape = at + offset;
        match bytes.get(escape + 1..escape + 3) {
            Some([high, low]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {}
            _ => return false,
        }
        at = escape + 3;
    }
    true
}

/// Decodes `%XX` escapes (checked by `is_percent_encoded`); bytes that are
/// not UTF-8 become U+FFFD.
fn percent_decode(value: &str) -> Cow<'_, str> {
    if !value.contains('%') {
        return Cow::Borrowed(value);
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        match (byte, tail) {
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                bytes.push((hex_digit(*high) << 4) | hex_digit(*low));
                rest = after;
            }
            _ => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

/// The value of a hex digit; callers check `is_ascii_hexdigit` first, and
/// anything else counts as 0 rather than panicking.
fn hex_digit(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

// === Errors of the parser ===

/// Which rule a `baggage` header broke. Members are counted from 0 across
/// all lines.
///
/// # Examples
///
/// ```
/// use correlated::baggage::{Baggage, InvalidBaggageKind};
///
/// let err = Baggage::parse("a=1, b=\"quoted\"").unwrap_err();
/// assert_eq!(err.kind(), InvalidBaggageKind::Value { member: 1 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidBaggageKind {
    /// The lines hold more than [`MAX_BYTES`] bytes (joined by commas).
    TooLong {
        /// Their length in bytes.
        len: usize,
    },
    /// The lines hold more than [`MAX_MEMBERS`] members.
    TooManyMembers,
    /// A byte is not ASCII.
    NotAscii,
    /// A member is empty or only spaces: `a=1,,b=2`, or a comma at either
    /// end.
    EmptyMember {
        /// Which member, from 0.
        member: usize,
    },
    /// A member has no `=` between its key and value.
    MissingEquals {
        /// Which member, from 0.
        member: usize,
    },
    /// A member's key is empty or not a token.
    Key {
        /// Which member, from 0.
        member: usize,
    },
    /// A member's value has a byte that is not a baggage-octet: a space
    /// inside it, `"`, `\`, or a control character.
    Value {
        /// Which member, from 0.
        member: usize,
    },
    /// A `%` in a member's value is not followed by two hex digits.
    PercentEncoding {
        /// Which member, from 0.
        member: usize,
    },
    /// A member's property is empty (`a=1;`), its key is not a token, or its
    /// value has a byte that is not a baggage-octet.
    Property {
        /// Which member, from 0.
        member: usize,
    },
}

/// A `baggage` header was refused, whole.
///
/// It says which rule failed and never holds any of the header, so it is
/// safe to log.
///
/// # Examples
///
/// ```
/// use correlated::baggage::Baggage;
///
/// let err = Baggage::parse("token=secret%zz").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid baggage: the value of member 0 has a `%` not followed by two hex digits",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidBaggage {
    kind: InvalidBaggageKind,
}

impl InvalidBaggage {
    /// The rule that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::baggage::{Baggage, InvalidBaggageKind};
    ///
    /// let err = Baggage::parse("a=1,").unwrap_err();
    /// assert_eq!(err.kind(), InvalidBaggageKind::EmptyMember { member: 1 });
    /// ```
    pub fn kind(&self) -> InvalidBaggageKind {
        self.kind
    }
}

impl fmt::Display for InvalidBaggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use InvalidBaggageKind as Kind;
        f.write_str("invalid baggage: ")?;
        match self.kind {
            Kind::TooLong { len } => {
                write!(f, "it is {len} bytes long; at most {MAX_BYTES} are allowed")
            }
            Kind::TooManyMembers => {
                write!(f, "it has more than {MAX_MEMBERS} members")
            }
            Kind::NotAscii => f.write_str("it has a byte that is not ASCII"),
            Kind::EmptyMember { member } => write!(f, "member {member} is empty"),
            Kind::MissingEquals { member } => {
                write!(f, "member {member} has no `=` after its key")
            }
            Kind::Key { member } => write!(f, "the key of member {member} is not a token"),
            Kind::Value { member } => write!(
                f,
                "the value of member {member} has a byte other than visible ASCII \
                 without `\"`, `,`, `;` and `\\`"
            ),
            Kind::PercentEncoding { member } => write!(
                f,
                "the value of member {member} has a `%` not followed by two hex digits"
            ),
            Kind::Property { member } => {
                write!(f, "a property of member {member} is malformed")
            }
        }
    }
}

impl std::error::Error for InvalidBaggage {}

/// Why the `correlation_id` member of a valid baggage was not used.
///
/// # Examples
///
/// ```
/// use correlated::baggage::{Baggage, InvalidBaggageIdKind};
///
/// let baggage = Baggage::parse("correlation_id=a,correlation_id=b").unwrap();
/// assert_eq!(
///     baggage.correlation_id().unwrap_err().kind(),
///     InvalidBaggageIdKind::Repeated { count: 2 },
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidBaggageIdKind {
    /// The member is present more than once.
    Repeated {
        /// How many times.
        count: usize,
    },
    /// Its decoded value fails the floor of [`CorrelationId::parse`].
    Id(InvalidIdKind),
}

/// The `correlation_id` member of a baggage was refused.
///
/// It says which rule failed and never holds the value, so it is safe to
/// log.
///
/// # Examples
///
/// ```
/// use correlated::baggage::Baggage;
///
/// let baggage = Baggage::parse("correlation_id=secret%0A").unwrap();
/// assert_eq!(
///     baggage.correlation_id().unwrap_err().to_string(),
///     "invalid correlation_id in baggage: byte 6 is not visible ASCII (0x21 to 0x7E)",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidBaggageId {
    reason: IdRejection,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum IdRejection {
    Repeated { count: usize },
    Floor(InvalidCorrelationId),
}

impl InvalidBaggageId {
    /// The rule that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::InvalidIdKind;
    /// use correlated::baggage::{Baggage, InvalidBaggageIdKind};
    ///
    /// let baggage = Baggage::parse("correlation_id=").unwrap();
    /// assert_eq!(
    ///     baggage.correlation_id().unwrap_err().kind(),
    ///     InvalidBaggageIdKind::Id(InvalidIdKind::Empty),
    /// );
    /// ```
    pub fn kind(&self) -> InvalidBaggageIdKind {
        match &self.reason {
            IdRejection::Repeated { count } => InvalidBaggageIdKind::Repeated { count: *count },
            IdRejection::Floor(err) => InvalidBaggageIdKind::Id(err.kind()),
        }
    }
}

impl fmt::Display for InvalidBaggageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid correlation_id in baggage: ")?;
        match &self.reason {
            IdRejection::Repeated { count } => write!(f, "it is present {count} times"),
            IdRejection::Floor(err) => {
                // The floor's reason, without its own "invalid correlation id: ".
                let reason = err.to_string();
                f.write_str(reason.split_once(": ").map_or(&*reason, |(_, why)| why))
            }
        }
    }
}

impl std::error::Error for InvalidBaggageId {}

// === Reading ===

/// The correlation ID in the `correlation_id` member of `headers`'
/// baggage, if the header is valid and the member passes the floor;
/// `None` otherwise.
///
/// A refused header or member is logged at debug level (feature
/// `tracing`), with the reason and without the value. A server that
/// decides trust and applies a validator wants [`Baggage::from_headers`]
/// and [`Baggage::correlation_id`] instead.
///
/// # Examples
///
/// ```
/// use correlated::baggage::{BAGGAGE, extract};
///
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(extract(&headers), None);
///
/// headers.insert(BAGGAGE, "userId=alice,correlation_id=req-1".parse().unwrap());
/// assert_eq!(extract(&headers).unwrap(), "req-1");
///
/// headers.insert(BAGGAGE, "userId=alice,correlation_id=req-1,".parse().unwrap());
/// assert_eq!(extract(&headers), None); // malformed: ignored whole
/// ```
pub fn extract(headers: &HeaderMap) -> Option<CorrelationId> {
    match Baggage::from_headers(headers) {
        Ok(baggage) => match baggage?.correlation_id() {
            Ok(id) => id,
            Err(err) => {
                report::refused_id(&err);
                None
            }
        },
        Err(err) => {
            report::refused_header(&err);
            None
        }
    }
}

// === Writing ===

/// Adds the current correlation ID to `headers`' baggage as
/// `correlation_id=<id>`, keeping every member already there.
///
/// Returns `true` if it added the member, and `false` if there is no
/// current ID, the baggage has a `correlation_id` member already (the
/// caller's choice wins), or adding it is not possible: the present header
/// is malformed, or the member would take it past [`MAX_MEMBERS`] or
/// [`MAX_BYTES`]. Those last cases are logged at debug level (feature
/// `tracing`), without the header. See [`add_member`] for how the header is
/// written.
///
/// # Examples
///
/// ```
/// use correlated::baggage::{BAGGAGE, inject};
///
/// let mut headers = http::HeaderMap::new();
/// assert!(!inject(&mut headers)); // no current ID
///
/// let _guard = correlated::scope("req-7".parse().unwrap());
/// assert!(inject(&mut headers));
/// assert_eq!(headers[BAGGAGE], "correlation_id=req-7");
///
/// // Already there: left as it is.
/// assert!(!inject(&mut headers));
/// assert_eq!(headers[BAGGAGE], "correlation_id=req-7");
/// ```
pub fn inject(headers: &mut HeaderMap) -> bool {
    let Some(id) = crate::context::current() else {
        return false;
    };
    match add_id(headers, &id) {
        Ok(()) => true,
        Err(err) => {
            report::not_added(&err);
            false
        }
    }
}

/// `inject`'s work once the ID is known, for every client integration: the
/// header map, or any metadata that holds the lines as bytes (tonic). Logs
/// nothing; `Err` says why nothing was added.
pub(crate) fn add_id(headers: &mut HeaderMap, id: &CorrelationId) -> Result<(), MemberNotAdded> {
    add_member(headers, CORRELATION_ID_KEY, id.as_str())
}

/// Adds `key=value` to `headers`' baggage, percent-encoding the value;
/// every member already there is kept as sent, in order.
///
/// The result is one `baggage` line: the present lines joined by commas,
/// then the new member. (HTTP reads several lines as one list, but some
/// readers, OpenTelemetry's among them, look at the first line only.)
///
/// The value is written so that OpenTelemetry reads it back unchanged: a
/// byte outside the baggage-octets, `%` and `=` are escaped as `%XX`.
///
/// # Errors
///
/// [`MemberNotAdded`], and `headers` unchanged, when `key` is not a token,
/// a member with that key is present already, the present baggage is
/// malformed, or the new member would take it past [`MAX_MEMBERS`] or
/// [`MAX_BYTES`].
///
/// # Examples
///
/// ```
/// use correlated::baggage::{BAGGAGE, Baggage, MemberNotAddedKind, add_member};
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.append(BAGGAGE, "userId=alice".parse().unwrap());
/// headers.append(BAGGAGE, "isProduction=false".parse().unwrap());
/// add_member(&mut headers, "tenant", "Acme, Inc.").unwrap();
/// assert_eq!(headers[BAGGAGE], "userId=alice,isProduction=false,tenant=Acme%2C%20Inc.");
/// assert_eq!(headers.get_all(BAGGAGE).iter().count(), 1);
///
/// let baggage = Baggage::from_headers(&headers).unwrap().unwrap();
/// assert_eq!(baggage.get("tenant").unwrap().value(), "Acme, Inc.");
///
/// let err = add_member(&mut headers, "userId", "bob").unwrap_err();
/// assert_eq!(err.kind(), MemberNotAddedKind::KeyPresent);
/// ```
pub fn add_member(headers: &mut HeaderMap, key: &str, value: &str) -> Result<(), MemberNotAdded> {
    let lines: Vec<&[u8]> = headers
        .get_all(BAGGAGE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let merged = merged(&lines, key, value)?;
    // Every byte is a baggage-octet, a space or a tab, which a header value
    // allows; refusing rather than panicking keeps this total.
    let value = HeaderValue::from_str(&merged).map_err(|_| MemberNotAdded::not_ascii())?;
    headers.insert(BAGGAGE, value);
    Ok(())
}

/// The one line that holds `lines`' members and then `key=value`: the
/// writer's rules in one place, for header maps and tonic's metadata alike.
pub(crate) fn merged(lines: &[&[u8]], key: &str, value: &str) -> Result<String, MemberNotAdded> {
    let fail = |kind| Err(MemberNotAdded { kind });
    if !is_token(key) {
        return fail(MemberNotAddedKind::Key);
    }
    let mut present = false;
    let size = scan(lines.iter().copied(), |member| {
        present |= member.key == key;
    })
    .map_err(|err| MemberNotAdded {
        kind: MemberNotAddedKind::Baggage(err.kind),
    })?;
    if present {
        return fail(MemberNotAddedKind::KeyPresent);
    }
    if size.members == MAX_MEMBERS {
        return fail(MemberNotAddedKind::TooManyMembers);
    }
    let mut out = String::with_capacity(size.bytes + 1 + key.len() + 1 + value.len());
    for line in holding_members(lines.iter().copied()).filter_map(as_ascii) {
        out.push_str(line);
        out.push(',');
    }
    out.push_str(key);
    out.push('=');
    percent_encode_into(value, &mut out);
    if out.len() > MAX_BYTES {
        return fail(MemberNotAddedKind::TooLong { len: out.len() });
    }
    Ok(out)
}

/// Escapes what a value may not hold, `%` (the escape itself), and `=`,
/// which OpenTelemetry's reader takes as the end of the value.
fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if is_baggage_octet(byte) && byte != b'%' && byte != b'=' {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
}

/// Why [`add_member`] (or the client propagation) added nothing.
///
/// # Examples
///
/// ```
/// use correlated::baggage::{MemberNotAddedKind, add_member};
///
/// let err = add_member(&mut http::HeaderMap::new(), "not a token", "x").unwrap_err();
/// assert_eq!(err.kind(), MemberNotAddedKind::Key);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberNotAddedKind {
    /// The key is not a token.
    Key,
    /// A member with that key is present already; it is left as it is.
    KeyPresent,
    /// The baggage present is malformed; it is left as it is.
    Baggage(InvalidBaggageKind),
    /// The baggage holds [`MAX_MEMBERS`] members already.
    TooManyMembers,
    /// With the new member the header would be longer than [`MAX_BYTES`].
    TooLong {
        /// The length it would have had, in bytes.
        len: usize,
    },
}

/// A member was not added to a `baggage` header, which is unchanged.
///
/// It never holds the header or the value, so it is safe to log.
///
/// # Examples
///
/// ```
/// use correlated::baggage::{BAGGAGE, add_member};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(BAGGAGE, "a=1,,b=2".parse().unwrap());
/// let err = add_member(&mut headers, "c", "3").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "baggage member not added: the present header is malformed (member 1 is empty)",
/// );
/// assert_eq!(headers[BAGGAGE], "a=1,,b=2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberNotAdded {
    kind: MemberNotAddedKind,
}

impl MemberNotAdded {
    /// For a line that its header or metadata type refused, which the
    /// writer's rules make impossible.
    pub(crate) fn not_ascii() -> Self {
        Self {
            kind: MemberNotAddedKind::Baggage(InvalidBaggageKind::NotAscii),
        }
    }

    /// Why.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::baggage::{BAGGAGE, MemberNotAddedKind, add_member};
    ///
    /// let mut headers = http::HeaderMap::new();
    /// let long = "x".repeat(9000);
    /// let err = add_member(&mut headers, "k", &long).unwrap_err();
    /// assert_eq!(err.kind(), MemberNotAddedKind::TooLong { len: 9002 });
    /// assert!(headers.get(BAGGAGE).is_none());
    /// ```
    pub fn kind(&self) -> MemberNotAddedKind {
        self.kind
    }
}

impl fmt::Display for MemberNotAdded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("baggage member not added: ")?;
        match self.kind {
            MemberNotAddedKind::Key => f.write_str("the key is not a token"),
            MemberNotAddedKind::KeyPresent => f.write_str("a member with that key is present"),
            MemberNotAddedKind::Baggage(kind) => {
                let reason = InvalidBaggage { kind }.to_string();
                let reason = reason.split_once(": ").map_or(&*reason, |(_, why)| why);
                write!(f, "the present header is malformed ({reason})")
            }
            MemberNotAddedKind::TooManyMembers => {
                write!(f, "the header holds {MAX_MEMBERS} members already")
            }
            MemberNotAddedKind::TooLong { len } => write!(
                f,
                "the header would be {len} bytes long; at most {MAX_BYTES} are allowed"
            ),
        }
    }
}

impl std::error::Error for MemberNotAdded {}

/// Debug-level logs of what was refused or not added (feature `tracing`),
/// without any of the header.
pub(crate) mod report {
    use super::{InvalidBaggage, InvalidBaggageId, MemberNotAdded};

    #[cfg(feature = "tracing")]
    pub(crate) fn refused_header(reason: &InvalidBaggage) {
        ::tracing::debug!(reason = %reason, "ignored the incoming baggage");
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn refused_id(reason: &InvalidBaggageId) {
        ::tracing::debug!(reason = %reason, "ignored the correlation id in the incoming baggage");
    }

    /// The caller's own `correlation_id` member is a choice, not a problem:
    /// only the other reasons are logged.
    #[cfg(feature = "tracing")]
    pub(crate) fn not_added(reason: &MemberNotAdded) {
        if reason.kind() != super::MemberNotAddedKind::KeyPresent {
            ::tracing::debug!(
                reason = %reason,
                "did not add the correlation id to the outgoing baggage"
            );
        }
    }

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn refused_header(_: &InvalidBaggage) {}

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn refused_id(_: &InvalidBaggageId) {}

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn not_added(_: &MemberNotAdded) {}
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kind(value: &str) -> Option<InvalidBaggageKind> {
        Baggage::parse(value).err().map(|err| err.kind())
    }

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
            Baggage::parse("k=a=b==,e=,\tt\t=\tx\t,!#$%&'*+-.^_`|~09AZaz=!#+-:<[]~,l=%c3%a9")
                .unwrap();
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

    #[cfg(feature = "tracing")]
    mod logging {
        use std::sync::{Arc, Mutex};

        use ::tracing::field::{Field, Visit};
        use ::tracing::span::{Attributes, Id, Record};
        use ::tracing::{Event, Metadata, Subscriber};

        use super::*;

        /// Records every event as `level message fields`.
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<String>>>);

        struct Line<'a>(&'a mut String);

        impl Visit for Line<'_> {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                use std::fmt::Write as _;
                let _ = write!(self.0, "{}={:?} ", field.name(), value);
            }
        }

        impl Subscriber for Capture {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut line = format!("{} ", event.metadata().level());
                event.record(&mut Line(&mut line));
                self.0.lock().unwrap().push(line);
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        fn logged<T>(run: impl FnOnce() -> T) -> (T, Vec<String>) {
            let capture = Capture::default();
            let result = ::tracing::subscriber::with_default(capture.clone(), run);
            let lines = capture.0.lock().unwrap().clone();
            (result, lines)
        }

        #[test]
        fn a_refused_header_is_logged_at_debug_without_its_content() {
            let _serial = crate::tracing_test_lock();
            let map = headers(&["correlation_id=secret-id,,"]);
            let (id, lines) = logged(|| extract(&map));
            assert_eq!(id, None);
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].starts_with("DEBUG "), "{}", lines[0]);
            assert!(
                lines[0].contains("ignored the incoming baggage"),
                "{}",
                lines[0]
            );
            assert!(lines[0].contains("member 1 is empty"), "{}", lines[0]);
            assert!(!lines[0].contains("secret"), "{}", lines[0]);
        }

        #[test]
        fn a_refused_member_is_logged_at_debug_without_its_value() {
            let _serial = crate::tracing_test_lock();
            let map = headers(&["correlation_id=secret%20id"]);
            let (id, lines) = logged(|| extract(&map));
            assert_eq!(id, None);
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].starts_with("DEBUG "), "{}", lines[0]);
            assert!(lines[0].contains("not visible ASCII"), "{}", lines[0]);
            assert!(!lines[0].contains("secret"), "{}", lines[0]);
        }

        #[test]
        fn a_member_not_added_is_logged_unless_the_caller_set_it() {
            let _serial = crate::tracing_test_lock();
            let _guard = crate::scope(CorrelationId::parse("req-1").unwrap());
            let mut map = headers(&["secret=1,,"]);
            let (added, lines) = logged(|| inject(&mut map));
            assert!(!added);
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].starts_with("DEBUG "), "{}", lines[0]);
            assert!(lines[0].contains("did not add"), "{}", lines[0]);
            assert!(!lines[0].contains("secret"), "{}", lines[0]);

            let mut map = headers(&["correlation_id=mine"]);
            let (added, lines) = logged(|| inject(&mut map));
            assert!(!added);
            assert_eq!(lines, Vec::<String>::new());
        }

        #[test]
        fn valid_and_absent_headers_log_nothing() {
            let _serial = crate::tracing_test_lock();
            for map in [HeaderMap::new(), headers(&["a=1,correlation_id=req-1"])] {
                let (_, lines) = logged(|| extract(&map));
                assert_eq!(lines, Vec::<String>::new());
            }
        }
    }
}
