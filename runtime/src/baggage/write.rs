//! The merging writer: adds one member to the members present, kept byte
//! for byte, by the parser's own rules (`scan`).

use std::fmt;

use ::http::{HeaderMap, HeaderValue};

use super::error::{InvalidBaggage, InvalidBaggageKind};
use super::parse::{as_ascii, holding_members, is_baggage_octet, is_token, scan};
use super::{BAGGAGE, CORRELATION_ID_KEY, MAX_BYTES, MAX_MEMBERS, report};
use crate::id::CorrelationId;

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
        present |= member.key() == key;
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
pub(super) fn percent_encode_into(value: &str, out: &mut String) {
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
