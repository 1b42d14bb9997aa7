//! The strict parser: `Baggage` and its members, borrowed from the header,
//! and `scan`, the one place where the grammar and the limits are enforced
//! (the writer goes through it too).

use std::borrow::Cow;
use std::fmt;

use ::http::{HeaderMap, HeaderValue};

use super::error::{IdRejection, InvalidBaggage, InvalidBaggageId, InvalidBaggageKind};
use super::{BAGGAGE, CORRELATION_ID_KEY, MAX_BYTES, MAX_MEMBERS};
use crate::id::{CorrelationId, InvalidCorrelationId};

/// A strictly parsed `baggage` header: its list-members in order, borrowed
/// from the header.
///
/// Values stay as sent (percent-encoded): [`Member::raw_value`] gives them
/// so, [`Member::value`] decoded. Duplicate keys are kept, in order, as the
/// specification asks. See the [module documentation](super) for the rules.
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
        self.correlation_id_by(CorrelationId::parse)
    }

    /// [`correlation_id`](Self::correlation_id), with the member's decoded
    /// value checked by `parse` instead of the floor alone: the server
    /// decision passes its own check (the floor, then the service's
    /// validator or `uuid_only`), the one it applies to the header.
    pub(crate) fn correlation_id_by<P>(
        &self,
        parse: P,
    ) -> Result<Option<CorrelationId>, InvalidBaggageId>
    where
        P: FnOnce(&str) -> Result<CorrelationId, InvalidCorrelationId>,
    {
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
        parse(&member.value())
            .map(Some)
            .map_err(|err| InvalidBaggageId {
                reason: IdRejection::Invalid(err),
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
pub(super) struct Size {
    pub(super) members: usize,
    // Bytes of the lines joined by commas.
    pub(super) bytes: usize,
}

/// Checks `lines` as one list and hands each member to `visit`, in order;
/// the one place the grammar and the limits are enforced. No line is read
/// past [`MAX_BYTES`], but members may reach `visit` before a later one is
/// found malformed: callers keep what they saw only on `Ok`.
pub(super) fn scan<'h, I, V>(lines: I, mut visit: V) -> Result<Size, InvalidBaggage>
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
pub(super) fn holding_members<'h, I>(lines: I) -> impl Iterator<Item = &'h [u8]>
where
    I: IntoIterator<Item = &'h [u8]>,
{
    lines
        .into_iter()
        .filter(|line| line.iter().any(|&byte| byte != b' ' && byte != b'\t'))
}

/// The line as text, if every byte is ASCII.
pub(super) fn as_ascii(line: &[u8]) -> Option<&str> {
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
pub(super) fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`: visible ASCII except
/// `"`, `,`, `;` and `\`.
pub(super) fn is_baggage_octet(byte: u8) -> bool {
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
