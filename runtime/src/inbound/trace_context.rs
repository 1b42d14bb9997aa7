//! The W3C Trace Context bridge: a strict `traceparent` parser, and the slot
//! that holds the incoming trace-id for the request.
//!
//! The parser follows [Trace Context level 1], section 3.2: lowercase hex
//! only, version `ff` forbidden, all-zero IDs forbidden, exactly 55 bytes for
//! version `00`, and the forward-compatible reading of later versions. It
//! works on bytes, so a header value that is not UTF-8 is simply invalid.
//!
//! [Trace Context level 1]: https://www.w3.org/TR/trace-context/#traceparent-header

use std::fmt;
use std::str::FromStr;

/// Length of a version-`00` value, and the minimum for every version:
/// `vv-` (3) + trace-id (32) + `-` (1) + parent-id (16) + `-` (1) + flags (2).
const LEN: usize = 55;

// Byte offsets of the fields and the dashes between them.
const VERSION_AT: std::ops::Range<usize> = 0..2;
const TRACE_ID_AT: std::ops::Range<usize> = 3..35;
const PARENT_ID_AT: std::ops::Range<usize> = 36..52;
const FLAGS_AT: std::ops::Range<usize> = 53..55;
const DASHES: [usize; 3] = [2, 35, 52];

/// The sampled flag: bit 0 of the trace-flags.
const SAMPLED: u8 = 0x01;

crate::slot! {
    /// The trace-id of the request's valid `traceparent` (32 lowercase hex
    /// digits), bound by the server middleware (tower's `CorrelationLayer`,
    /// actix-web's `Correlation`) for the request's context when
    /// [`trace_context`](super::CorrelationBuilder::trace_context) is on
    /// and the peer is trusted. Unset otherwise.
    ///
    /// Log it next to the correlation ID by registering it on the formatter
    /// (feature `tracing`): `CorrelatedFormat::text(format).with_slot(&TRACE_ID)`
    /// writes `trace_id=<id>` on every event, and `-` when unset.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use std::convert::Infallible;
    /// use std::net::SocketAddr;
    /// use correlated::tower::{CorrelationLayer, TRACE_ID};
    /// use tower::{ServiceExt, Layer, service_fn};
    ///
    /// # futures::executor::block_on(async {
    /// let layer = CorrelationLayer::builder()
    ///     .trust("10.0.0.0/8")
    ///     .unwrap()
    ///     .trace_context(true)
    ///     .build();
    /// let service = layer.layer(service_fn(|_: http::Request<()>| async {
    ///     // Any code running for the request sees the trace-id.
    ///     Ok::<_, Infallible>(http::Response::new(TRACE_ID.get().unwrap_or_default()))
    /// }));
    ///
    /// let mut request = http::Request::builder()
    ///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    ///     .body(())
    ///     .unwrap();
    /// request.extensions_mut().insert("10.0.0.7:5000".parse::<SocketAddr>().unwrap());
    /// let response = service.oneshot(request).await.unwrap();
    /// assert_eq!(response.body().get_ref().unwrap(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(TRACE_ID.get(), None); // only inside the request
    /// # });
    /// # }
    /// ```
    ///
    /// With the tracing integration:
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// # #[cfg(feature = "tracing")]
    /// # {
    /// use correlated::tower::TRACE_ID;
    /// use correlated::tracing::CorrelatedFormat;
    /// use tracing_subscriber::prelude::*;
    ///
    /// let layer = tracing_subscriber::fmt::layer()
    ///     .map_event_format(|format| CorrelatedFormat::text(format).with_slot(&TRACE_ID));
    /// tracing_subscriber::registry().with(layer).init();
    /// # }
    /// # }
    /// ```
    pub static TRACE_ID: String;
}

/// A strictly parsed W3C `traceparent` header value
/// (`version-traceid-parentid-flags`).
///
/// The server middleware (tower's `CorrelationLayer`, actix-web's
/// `Correlation`) puts one in the request's extensions when
/// [`trace_context`](super::CorrelationBuilder::trace_context) is on, the
/// peer is trusted and the header is valid. The header itself is never
/// rewritten; this is a read-only view of it.
///
/// Parsing follows Trace Context level 1:
///
/// - every field is lowercase hex: `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`;
/// - version `ff` is invalid; version `00` is exactly 55 bytes;
/// - a later version is read like `00` if its first four fields parse and
///   the byte after the flags, if any, is `-` (room for fields not yet
///   defined, which are ignored);
/// - a trace-id or parent-id of all zeros is invalid.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::TraceParent;
///
/// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///     .parse()
///     .unwrap();
/// assert_eq!(parent.version(), 0);
/// assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.parent_id(), "00f067aa0ba902b7");
/// assert_eq!(parent.flags(), 0x01);
/// assert!(parent.sampled());
///
/// // Uppercase hex is not Trace Context.
/// assert!("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
///     .parse::<TraceParent>()
///     .is_err());
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    version: u8,
    // Lowercase ASCII hex digits, checked by `parse_bytes`.
    trace_id: [u8; 32],
    parent_id: [u8; 16],
    flags: u8,
}

impl TraceParent {
    /// Parses a header value's bytes; the decision calls this on the raw
    /// `HeaderValue`, so bytes that are not UTF-8 are just invalid.
    pub(crate) fn parse_bytes(value: &[u8]) -> Result<Self, InvalidTraceParent> {
        let fail = |kind| Err(InvalidTraceParent { kind });
        if value.len() < LEN {
            return fail(InvalidTraceParentKind::Length { len: value.len() });
        }
        let version = match hex_u8(&value[VERSION_AT]) {
            Some(0xff) | None => return fail(InvalidTraceParentKind::Version),
            Some(version) => version,
        };
        // Version 00 has exactly four fields; a later version may append
        // more, each introduced by a dash.
        if version == 0 && value.len() != LEN {
            return fail(InvalidTraceParentKind::Length { len: value.len() });
        }
        for position in DASHES {
            if value[position] != b'-' {
                return fail(InvalidTraceParentKind::Delimiter { position });
            }
        }
        let trace_id = &value[TRACE_ID_AT];
        if !is_lower_hex(trace_id) {
            return fail(InvalidTraceParentKind::TraceId);
        }
        if is_zero(trace_id) {
            return fail(InvalidTraceParentKind::ZeroTraceId);
        }
        let parent_id = &value[PARENT_ID_AT];
        if !is_lower_hex(parent_id) {
            return fail(InvalidTraceParentKind::ParentId);
        }
        if is_zero(parent_id) {
            return fail(InvalidTraceParentKind::ZeroParentId);
        }
        let Some(flags) = hex_u8(&value[FLAGS_AT]) else {
            return fail(InvalidTraceParentKind::Flags);
        };
        if value.len() > LEN && value[LEN] != b'-' {
            return fail(InvalidTraceParentKind::Delimiter { position: LEN });
        }
        let mut parent = Self {
            version,
            trace_id: [0; 32],
            parent_id: [0; 16],
            flags,
        };
        parent.trace_id.copy_from_slice(trace_id);
        parent.parent_id.copy_from_slice(parent_id);
        Ok(parent)
    }

    /// The version field; `0` for every value sent today.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::TraceParent;
    ///
    /// let future: TraceParent =
    ///     "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later-fields"
    ///         .parse()
    ///         .unwrap();
    /// assert_eq!(future.version(), 1);
    /// # }
    /// ```
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The trace-id: 32 lowercase hex digits, not all zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::TraceParent;
    ///
    /// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    ///     .parse()
    ///     .unwrap();
    /// assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// # }
    /// ```
    pub fn trace_id(&self) -> &str {
        ascii(&self.trace_id)
    }

    /// The parent-id (the caller's span): 16 lowercase hex digits, not all
    /// zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::TraceParent;
    ///
    /// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    ///     .parse()
    ///     .unwrap();
    /// assert_eq!(parent.parent_id(), "00f067aa0ba902b7");
    /// # }
    /// ```
    pub fn parent_id(&self) -> &str {
        ascii(&self.parent_id)
    }

    /// The trace-flags byte, every bit as sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::TraceParent;
    ///
    /// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09"
    ///     .parse()
    ///     .unwrap();
    /// assert_eq!(parent.flags(), 0x09);
    /// # }
    /// ```
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller may have recorded its span: bit 0 of the flags.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::TraceParent;
    ///
    /// let id = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
    /// assert!(format!("00-{id}-01").parse::<TraceParent>().unwrap().sampled());
    /// assert!(!format!("00-{id}-02").parse::<TraceParent>().unwrap().sampled());
    /// # }
    /// ```
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }
}

/// Parses a `traceparent` value strictly; see [`TraceParent`] for the rules.
///
/// # Errors
///
/// [`InvalidTraceParent`] naming the rule that failed, never the value.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::{InvalidTraceParentKind, TraceParent};
///
/// let err = "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///     .parse::<TraceParent>()
///     .unwrap_err();
/// assert_eq!(err.kind(), InvalidTraceParentKind::Version);
/// # }
/// ```
impl FromStr for TraceParent {
    type Err = InvalidTraceParent;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse_bytes(value.as_bytes())
    }
}

/// Writes the header value back in its canonical form, which parses to the
/// same `TraceParent`.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent: TraceParent = header.parse().unwrap();
/// assert_eq!(parent.to_string(), header);
/// assert_eq!(parent.to_string().parse::<TraceParent>().unwrap(), parent);
/// # }
/// ```
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}-{}-{}-{:02x}",
            self.version,
            self.trace_id(),
            self.parent_id(),
            self.flags
        )
    }
}

/// Shows the parsed fields (validated hex, safe to log).
impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceParent")
            .field("version", &self.version)
            .field("trace_id", &self.trace_id())
            .field("parent_id", &self.parent_id())
            .field("flags", &format_args!("{:02x}", self.flags))
            .finish()
    }
}

/// Which rule a `traceparent` value broke.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::{InvalidTraceParentKind, TraceParent};
///
/// let zeros = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
/// assert_eq!(
///     zeros.parse::<TraceParent>().unwrap_err().kind(),
///     InvalidTraceParentKind::ZeroTraceId,
/// );
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidTraceParentKind {
    /// Shorter than 55 bytes, or a version-`00` value longer than 55.
    Length {
        /// Its length in bytes.
        len: usize,
    },
    /// The version is not two lowercase hex digits, or is the forbidden
    /// `ff`.
    Version,
    /// A byte that should separate two fields is not `-`.
    Delimiter {
        /// The byte offset where the `-` was expected.
        position: usize,
    },
    /// The trace-id is not 32 lowercase hex digits.
    TraceId,
    /// The trace-id is all zeros.
    ZeroTraceId,
    /// The parent-id is not 16 lowercase hex digits.
    ParentId,
    /// The parent-id is all zeros.
    ZeroParentId,
    /// The trace-flags are not two lowercase hex digits.
    Flags,
}

/// A `traceparent` value was rejected.
///
/// It says which rule failed and never holds the rejected value, so it is
/// safe to log.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::TraceParent;
///
/// let err = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-secret"
///     .parse::<TraceParent>()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid traceparent: it is 62 bytes long; version 00 is exactly 55",
/// );
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTraceParent {
    kind: InvalidTraceParentKind,
}

impl InvalidTraceParent {
    /// The rule that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::{InvalidTraceParentKind, TraceParent};
    ///
    /// let err = "".parse::<TraceParent>().unwrap_err();
    /// assert_eq!(err.kind(), InvalidTraceParentKind::Length { len: 0 });
    /// # }
    /// ```
    pub fn kind(&self) -> InvalidTraceParentKind {
        self.kind
    }
}

impl fmt::Display for InvalidTraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use InvalidTraceParentKind as Kind;
        f.write_str("invalid traceparent: ")?;
        match self.kind {
            Kind::Length { len } if len < LEN => {
                write!(f, "it is {len} bytes long; at least {LEN} are needed")
            }
            Kind::Length { len } => {
                write!(f, "it is {len} bytes long; version 00 is exactly {LEN}")
            }
            Kind::Version => {
                f.write_str("the version is not two lowercase hex digits other than `ff`")
            }
            Kind::Delimiter { position } => write!(f, "byte {position} is not `-`"),
            Kind::TraceId => f.write_str("the trace-id is not 32 lowercase hex digits"),
            Kind::ZeroTraceId => f.write_str("the trace-id is all zeros"),
            Kind::ParentId => f.write_str("the parent-id is not 16 lowercase hex digits"),
            Kind::ZeroParentId => f.write_str("the parent-id is all zeros"),
            Kind::Flags => f.write_str("the trace-flags are not two lowercase hex digits"),
        }
    }
}

impl std::error::Error for InvalidTraceParent {}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == b'0')
}

/// Two lowercase hex digits as a byte.
fn hex_u8(digits: &[u8]) -> Option<u8> {
    let digit = |byte: u8| match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    };
    match digits {
        [high, low] => Some((digit(*high)? << 4) | digit(*low)?),
        _ => None,
    }
}

/// The fields hold only ASCII hex digits, checked when parsed.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("the parser admits only ASCII hex digits")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    fn kind(value: &[u8]) -> Option<InvalidTraceParentKind> {
        TraceParent::parse_bytes(value).err().map(|err| err.kind())
    }

    #[test]
    fn valid_values_give_their_fields() {
        let cases = [
            (format!("00-{TRACE}-{PARENT}-01"), 0, 0x01, true),
            (format!("00-{TRACE}-{PARENT}-00"), 0, 0x00, false),
            (format!("00-{TRACE}-{PARENT}-ff"), 0, 0xff, true),
            (format!("00-{TRACE}-{PARENT}-fe"), 0, 0xfe, false),
            // Later versions: read like 00, extra fields ignored.
            (format!("01-{TRACE}-{PARENT}-01"), 1, 0x01, true),
            (
                format!("cc-{TRACE}-{PARENT}-09-what-the-future-holds"),
                0xcc,
                0x09,
                true,
            ),
            (format!("fe-{TRACE}-{PARENT}-00-"), 0xfe, 0x00, false),
            (
                format!("01-{TRACE}-{PARENT}-01-{}", "x".repeat(545)),
                1,
                0x01,
                true,
            ),
        ];
        for (value, version, flags, sampled) in cases {
            let parent: TraceParent = value.parse().unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(parent.version(), version, "{value}");
            assert_eq!(parent.trace_id(), TRACE, "{value}");
            assert_eq!(parent.parent_id(), PARENT, "{value}");
            assert_eq!(parent.flags(), flags, "{value}");
            assert_eq!(parent.sampled(), sampled, "{value}");
        }
    }

    #[test]
    fn invalid_values_are_rejected_with_the_rule_they_broke() {
        use InvalidTraceParentKind as K;
        let zeros32 = "0".repeat(32);
        let zeros16 = "0".repeat(16);
        let long = "x".repeat(600);
        let long_future = format!("01-{TRACE}-{PARENT}-01{}", "x".repeat(545));
        let cases: Vec<(Vec<u8>, K)> = vec![
            (b"".to_vec(), K::Length { len: 0 }),
            (b"00".to_vec(), K::Length { len: 2 }),
            // One short, one long, for version 00.
            (
                format!("00-{TRACE}-{PARENT}-1").into(),
                K::Length { len: 54 },
            ),
            (
                format!("00-{TRACE}-{PARENT}-011").into(),
                K::Length { len: 56 },
            ),
            // Extra fields are for later versions only.
            (
                format!("00-{TRACE}-{PARENT}-01-extra").into(),
                K::Length { len: 61 },
            ),
            (
                format!("00-{TRACE}-{PARENT}-01-").into(),
                K::Length { len: 56 },
            ),
            (long.clone().into(), K::Version),
            (format!("ff-{TRACE}-{PARENT}-01").into(), K::Version),
            (format!("FF-{TRACE}-{PARENT}-01").into(), K::Version),
            (format!("0A-{TRACE}-{PARENT}-01").into(), K::Version),
            (format!("0g-{TRACE}-{PARENT}-01").into(), K::Version),
            (
                format!("00_{TRACE}-{PARENT}-01").into(),
                K::Delimiter { position: 2 },
            ),
            (
                format!("00-{TRACE}_{PARENT}-01").into(),
                K::Delimiter { position: 35 },
            ),
            (
                format!("00-{TRACE}-{PARENT}_01").into(),
                K::Delimiter { position: 52 },
            ),
            // A later version still needs a dash after the flags.
            (
                format!("01-{TRACE}-{PARENT}-01x").into(),
                K::Delimiter { position: 55 },
            ),
            (long_future.into(), K::Delimiter { position: 55 }),
            (
                format!("00-{}-{PARENT}-01", TRACE.to_uppercase()).into(),
                K::TraceId,
            ),
            (format!("00-{zeros32}-{PARENT}-01").into(), K::ZeroTraceId),
            (format!("01-{zeros32}-{PARENT}-01-x").into(), K::ZeroTraceId),
            (
                format!("00-{TRACE}-{}-01", PARENT.to_uppercase()).into(),
                K::ParentId,
            ),
            (format!("00-{TRACE}-{zeros16}-01").into(), K::ZeroParentId),
            (format!("00-{TRACE}-{PARENT}-0A").into(), K::Flags),
            (format!("00-{TRACE}-{PARENT}-zz").into(), K::Flags),
            // Misplaced fields: a trace-id one short and a parent-id one long.
            (
                format!("00-{}-{PARENT}0-01", &TRACE[1..]).into(),
                K::Delimiter { position: 35 },
            ),
            // Non-ASCII where hex belongs (é is two bytes: length still 55).
            (
                format!("00-{}\u{e9}-{PARENT}-01", &TRACE[2..]).into(),
                K::TraceId,
            ),
            (
                {
                    let mut bytes = format!("00-{TRACE}-{PARENT}-01").into_bytes();
                    bytes[10] = 0xff;
                    bytes
                },
                K::TraceId,
            ),
            // Whitespace is not trimmed.
            (format!(" 00-{TRACE}-{PARENT}-01").into(), K::Version),
            (format!("00-{TRACE}-{PARENT}-0 ").into(), K::Flags),
        ];
        for (value, expected) in cases {
            let shown = String::from_utf8_lossy(&value);
            assert_eq!(kind(&value), Some(expected), "{shown}");
        }
    }

    #[test]
    fn errors_never_contain_the_value() {
        let values = [
            format!("00-{TRACE}-{PARENT}-01-secret"),
            format!("01-{TRACE}-{PARENT}-01secret"),
            "secret".repeat(10),
        ];
        for value in values {
            let err = value.parse::<TraceParent>().unwrap_err();
            for rendered in [err.to_string(), format!("{err:?}")] {
                assert!(!rendered.contains("secret"), "{rendered}");
                assert!(!rendered.contains(TRACE), "{rendered}");
            }
        }
    }

    #[test]
    fn debug_shows_the_parsed_fields() {
        let parent: TraceParent = format!("00-{TRACE}-{PARENT}-01").parse().unwrap();
        assert_eq!(
            format!("{parent:?}"),
            format!(
                "TraceParent {{ version: 0, trace_id: \"{TRACE}\", parent_id: \"{PARENT}\", \
                 flags: 01 }}"
            ),
        );
    }

    #[test]
    fn uppercase_anywhere_is_rejected() {
        // Version 0a: a letter in every field.
        let valid = format!("0a-{TRACE}-{PARENT}-0b");
        assert!(valid.parse::<TraceParent>().is_ok());
        let mut checked = 0;
        for position in 0..valid.len() {
            let mut value = valid.clone().into_bytes();
            if value[position].is_ascii_lowercase() {
                value[position] = value[position].to_ascii_uppercase();
                assert!(TraceParent::parse_bytes(&value).is_err(), "{position}");
                checked += 1;
            }
        }
        assert_eq!(checked, 20);
    }

    fn lower_hex(len: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[0-9a-f]{{{len}}}")).unwrap()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_only_valid_values_parse(
            value in proptest::collection::vec(any::<u8>(), 0..700),
        ) {
            if let Ok(parent) = TraceParent::parse_bytes(&value) {
                prop_assert!(value.len() >= LEN);
                prop_assert_ne!(parent.version(), 0xff);
                prop_assert!(is_lower_hex(parent.trace_id().as_bytes()));
                prop_assert!(!is_zero(parent.trace_id().as_bytes()));
                prop_assert_eq!(parent.trace_id().as_bytes(), &value[TRACE_ID_AT]);
                prop_assert_eq!(parent.parent_id().as_bytes(), &value[PARENT_ID_AT]);
                // Display writes the accepted fields back, and parses to the same value.
                let shown = parent.to_string();
                prop_assert_eq!(shown.as_bytes(), &value[..LEN]);
                prop_assert_eq!(shown.parse::<TraceParent>().unwrap(), parent);
            }
        }

        #[test]
        fn arbitrary_text_near_the_format_never_panics(
            value in "[0-9a-fA-F\\-é ]{50,60}",
        ) {
            let _ = value.parse::<TraceParent>();
        }

        #[test]
        fn well_formed_version_00_values_round_trip(
            trace in lower_hex(32),
            parent in lower_hex(16),
            flags in any::<u8>(),
        ) {
            let value = format!("00-{trace}-{parent}-{flags:02x}");
            let parsed = value.parse::<TraceParent>();
            if is_zero(trace.as_bytes()) || is_zero(parent.as_bytes()) {
                prop_assert!(parsed.is_err());
            } else {
                let parsed = parsed.unwrap();
                prop_assert_eq!(parsed.trace_id(), trace.as_str());
                prop_assert_eq!(parsed.parent_id(), parent.as_str());
                prop_assert_eq!(parsed.flags(), flags);
                prop_assert_eq!(parsed.sampled(), flags & 1 == 1);
                prop_assert_eq!(parsed.to_string(), value);
            }
        }

    }
}
