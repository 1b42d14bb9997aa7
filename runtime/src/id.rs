//! Correlation IDs: generation, the validation floor, and conversions.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::Arc;

/// The longest ID accepted from outside, in bytes.
///
/// # Examples
///
/// ```
/// use correlate::{CorrelationId, MAX_LEN};
///
/// assert!(CorrelationId::parse(&"a".repeat(MAX_LEN)).is_ok());
/// assert!(CorrelationId::parse(&"a".repeat(MAX_LEN + 1)).is_err());
/// ```
pub const MAX_LEN: usize = 128;

/// IDs up to this many bytes live inline, so cloning one copies bytes instead
/// of touching a reference count. A canonical UUID is 36 bytes.
const INLINE_CAP: usize = 38;

/// A correlation ID: 1 to 128 bytes of visible ASCII, safe to log and to put
/// in a header.
///
/// Cloning never allocates: IDs up to 38 bytes (every UUID) are stored inline,
/// longer ones share one reference-counted buffer.
///
/// # Examples
///
/// ```
/// use correlate::CorrelationId;
///
/// let generated = CorrelationId::generate();
/// assert_eq!(generated.as_str().len(), 36);
///
/// let from_nginx = CorrelationId::parse("5f1e2a0c9b8d7e6f5a4b3c2d1e0f9a8b").unwrap();
/// assert_eq!(from_nginx.as_str(), "5f1e2a0c9b8d7e6f5a4b3c2d1e0f9a8b");
///
/// assert!(CorrelationId::parse("two words").is_err());
/// ```
#[derive(Clone)]
pub struct CorrelationId(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_CAP] },
    Shared(Arc<str>),
}

impl CorrelationId {
    /// Generates a new UUIDv7 (RFC 9562): time-ordered, canonical lowercase
    /// hyphenated, unique across threads and calls.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = correlate::CorrelationId::generate();
    /// let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
    /// assert_eq!(uuid.get_version_num(), 7);
    /// ```
    pub fn generate() -> Self {
        Self::from(uuid::Uuid::now_v7())
    }

    /// Accepts any value that passes the floor (1 to 128 bytes of visible
    /// ASCII, 0x21 to 0x7E) and keeps it verbatim, so IDs minted by proxies,
    /// load balancers and other services interoperate.
    ///
    /// # Errors
    ///
    /// [`InvalidCorrelationId`] naming the rule that failed. The error never
    /// contains the rejected value.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, InvalidKind};
    ///
    /// assert_eq!(CorrelationId::parse("req-42").unwrap().as_str(), "req-42");
    /// assert_eq!(CorrelationId::parse("").unwrap_err().kind(), InvalidKind::Empty);
    /// assert_eq!(
    ///     CorrelationId::parse("a\r\nSet-Cookie: x").unwrap_err().kind(),
    ///     InvalidKind::ForbiddenByte { position: 1 },
    /// );
    /// ```
    pub fn parse(value: &str) -> Result<Self, InvalidCorrelationId> {
        check_floor(value)?;
        Ok(Self::from_checked(value))
    }

    /// Accepts only RFC 9562 UUIDs, hyphenated or in the 32-hex simple form,
    /// in any case, and normalises them to canonical lowercase hyphenated.
    ///
    /// # Errors
    ///
    /// [`InvalidCorrelationId`]: the floor's rules first, then
    /// [`InvalidKind::NotUuid`].
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::CorrelationId;
    ///
    /// let id = CorrelationId::parse_uuid("0192F0C3E1B27C3A8F4D2B1A0C9E8D7F").unwrap();
    /// assert_eq!(id.as_str(), "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f");
    /// assert!(CorrelationId::parse_uuid("req-42").is_err());
    /// ```
    pub fn parse_uuid(value: &str) -> Result<Self, InvalidCorrelationId> {
        check_floor(value)?;
        let well_formed = match value.len() {
            32 => value.bytes().all(|b| b.is_ascii_hexdigit()),
            36 => value.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            }),
            _ => false,
        };
        // The shape check comes first because `Uuid::parse_str` also accepts
        // braced and URN forms, which are not correlation IDs.
        match uuid::Uuid::try_parse(value) {
            Ok(uuid) if well_formed => Ok(Self::from(uuid)),
            _ => Err(InvalidCorrelationId::new(InvalidKind::NotUuid)),
        }
    }

    /// Applies the floor, then `validator`; a validator that returns `false`
    /// or panics rejects the value.
    ///
    /// This is the hook for a service that accepts only its own format.
    ///
    /// # Errors
    ///
    /// [`InvalidCorrelationId`]: the floor's rules first, then
    /// [`InvalidKind::Rejected`] or [`InvalidKind::ValidatorPanicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, InvalidKind};
    ///
    /// let ours = |s: &str| s.starts_with("req-");
    /// assert!(CorrelationId::parse_with("req-7", ours).is_ok());
    /// assert_eq!(
    ///     CorrelationId::parse_with("job-7", ours).unwrap_err().kind(),
    ///     InvalidKind::Rejected,
    /// );
    /// ```
    pub fn parse_with<V>(value: &str, validator: V) -> Result<Self, InvalidCorrelationId>
    where
        V: Fn(&str) -> bool,
    {
        check_floor(value)?;
        // A validator is user code run on untrusted input: its panic must not
        // take the request down with it.
        match catch_unwind(AssertUnwindSafe(|| validator(value))) {
            Ok(true) => Ok(Self::from_checked(value)),
            Ok(false) => Err(InvalidCorrelationId::new(InvalidKind::Rejected)),
            Err(_) => Err(InvalidCorrelationId::new(InvalidKind::ValidatorPanicked)),
        }
    }

    /// The ID as text.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = correlate::CorrelationId::parse("abc").unwrap();
    /// assert_eq!(id.as_str(), "abc");
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Every constructor checked the floor (visible ASCII), so the
            // bytes are always UTF-8; the empty fallback is never taken.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Shared(text) => text,
        }
    }

    /// Builds an ID from text that already passed the floor.
    fn from_checked(value: &str) -> Self {
        if value.len() <= INLINE_CAP {
            let mut bytes = [0; INLINE_CAP];
            bytes[..value.len()].copy_from_slice(value.as_bytes());
            // Fits: INLINE_CAP < 256.
            let len = value.len() as u8;
            Self(Repr::Inline { len, bytes })
        } else {
            Self(Repr::Shared(Arc::from(value)))
        }
    }
}

/// The floor applied to every value from outside.
fn check_floor(value: &str) -> Result<(), InvalidCorrelationId> {
    if value.is_empty() {
        return Err(InvalidCorrelationId::new(InvalidKind::Empty));
    }
    if value.len() > MAX_LEN {
        return Err(InvalidCorrelationId::new(InvalidKind::TooLong {
            len: value.len(),
        }));
    }
    match value.bytes().position(|b| !(0x21..=0x7E).contains(&b)) {
        Some(position) => Err(InvalidCorrelationId::new(InvalidKind::ForbiddenByte {
            position,
        })),
        None => Ok(()),
    }
}

impl From<uuid::Uuid> for CorrelationId {
    /// Formats the UUID canonically: lowercase, hyphenated.
    fn from(uuid: uuid::Uuid) -> Self {
        let mut bytes = [0; INLINE_CAP];
        uuid.hyphenated().encode_lower(&mut bytes);
        Self(Repr::Inline {
            len: uuid::fmt::Hyphenated::LENGTH as u8,
            bytes,
        })
    }
}

impl FromStr for CorrelationId {
    type Err = InvalidCorrelationId;

    /// Same as [`CorrelationId::parse`].
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl AsRef<str> for CorrelationId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CorrelationId")
            .field(&self.as_str())
            .finish()
    }
}

impl PartialEq for CorrelationId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CorrelationId {}

impl PartialOrd for CorrelationId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CorrelationId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for CorrelationId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for CorrelationId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for CorrelationId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Which rule an incoming correlation ID broke.
///
/// # Examples
///
/// ```
/// use correlate::{CorrelationId, InvalidKind};
///
/// let long = "x".repeat(600);
/// assert_eq!(
///     CorrelationId::parse(&long).unwrap_err().kind(),
///     InvalidKind::TooLong { len: 600 },
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidKind {
    /// The value was empty.
    Empty,
    /// The value was longer than 128 bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A byte outside visible ASCII (0x21 to 0x7E): a control character such
    /// as CR, LF, NUL or tab, a space, or part of a non-ASCII character.
    ForbiddenByte {
        /// The byte offset of the first such byte.
        position: usize,
    },
    /// Not an RFC 9562 UUID (from [`CorrelationId::parse_uuid`]).
    NotUuid,
    /// The service's validator returned `false`.
    Rejected,
    /// The service's validator panicked; the value counts as invalid.
    ValidatorPanicked,
}

/// An incoming correlation ID was rejected.
///
/// It says which rule failed and never holds the rejected value, so it is safe
/// to log.
///
/// # Examples
///
/// ```
/// let err = correlate::CorrelationId::parse("caf\u{e9}").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid correlation id: byte 3 is not visible ASCII (0x21 to 0x7E)",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCorrelationId {
    kind: InvalidKind,
}

impl InvalidCorrelationId {
    fn new(kind: InvalidKind) -> Self {
        Self { kind }
    }

    /// The rule that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, InvalidKind};
    /// assert_eq!(CorrelationId::parse_uuid("nope").unwrap_err().kind(), InvalidKind::NotUuid);
    /// ```
    pub fn kind(&self) -> InvalidKind {
        self.kind
    }
}

impl fmt::Display for InvalidCorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid correlation id: ")?;
        match self.kind {
            InvalidKind::Empty => f.write_str("it is empty"),
            InvalidKind::TooLong { len } => {
                write!(f, "it is {len} bytes long; at most {MAX_LEN} are allowed")
            }
            InvalidKind::ForbiddenByte { position } => {
                write!(f, "byte {position} is not visible ASCII (0x21 to 0x7E)")
            }
            InvalidKind::NotUuid => f.write_str("it is not an RFC 9562 UUID"),
            InvalidKind::Rejected => f.write_str("the validator rejected it"),
            InvalidKind::ValidatorPanicked => {
                f.write_str("the validator panicked; the value counts as invalid")
            }
        }
    }
}

impl std::error::Error for InvalidCorrelationId {}

/// Anything that can name the correlation ID of a new scope.
///
/// `None` means "missing or invalid": the caller generates a fresh ID
/// instead. Text is checked with [`CorrelationId::parse`].
///
/// # Examples
///
/// ```
/// use correlate::IntoCorrelationId;
///
/// assert!("req-1".into_correlation_id().is_some());
/// assert!("bad value".into_correlation_id().is_none());
/// assert!(None::<&str>.into_correlation_id().is_none());
/// assert!(uuid::Uuid::now_v7().into_correlation_id().is_some());
/// ```
pub trait IntoCorrelationId {
    /// The ID, or `None` when the value is missing or fails validation.
    fn into_correlation_id(self) -> Option<CorrelationId>;
}

impl IntoCorrelationId for CorrelationId {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(self)
    }
}

impl IntoCorrelationId for &CorrelationId {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(self.clone())
    }
}

impl IntoCorrelationId for uuid::Uuid {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(CorrelationId::from(self))
    }
}

impl IntoCorrelationId for &uuid::Uuid {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(CorrelationId::from(*self))
    }
}

impl IntoCorrelationId for &str {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        CorrelationId::parse(self).ok()
    }
}

impl IntoCorrelationId for String {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        self.as_str().into_correlation_id()
    }
}

impl IntoCorrelationId for &String {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        self.as_str().into_correlation_id()
    }
}

impl<T: IntoCorrelationId> IntoCorrelationId for Option<T> {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        self.and_then(IntoCorrelationId::into_correlation_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_accepts_every_visible_ascii_byte() {
        let all: String = (0x21u8..=0x7E).map(char::from).collect();
        assert_eq!(CorrelationId::parse(&all).unwrap().as_str(), all);
    }

    #[test]
    fn floor_rejects_space_tab_cr_lf_nul_and_del() {
        for bad in [" ", "\t", "\r", "\n", "\0", "\x7f"] {
            let value = format!("ok{bad}");
            assert_eq!(
                CorrelationId::parse(&value).unwrap_err().kind(),
                InvalidKind::ForbiddenByte { position: 2 },
                "{value:?}"
            );
        }
    }

    #[test]
    fn length_limits_are_inclusive() {
        assert!(CorrelationId::parse(&"a".repeat(MAX_LEN)).is_ok());
        assert_eq!(
            CorrelationId::parse(&"a".repeat(MAX_LEN + 1))
                .unwrap_err()
                .kind(),
            InvalidKind::TooLong { len: MAX_LEN + 1 }
        );
    }

    #[test]
    fn long_ids_share_storage_and_compare_by_value() {
        let text = "k".repeat(100);
        let a = CorrelationId::parse(&text).unwrap();
        let b = a.clone();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), text);
        assert!(matches!(a.0, Repr::Shared(_)));
    }

    #[test]
    fn parse_uuid_rejects_braced_and_urn_forms() {
        let uuid = uuid::Uuid::now_v7();
        for form in [
            uuid.braced().to_string(),
            uuid.urn().to_string(),
            format!("{uuid}-"),
        ] {
            assert_eq!(
                CorrelationId::parse_uuid(&form).unwrap_err().kind(),
                InvalidKind::NotUuid
            );
        }
    }

    #[test]
    fn parse_uuid_normalises_case_and_form() {
        let uuid = uuid::Uuid::now_v7();
        let canonical = uuid.hyphenated().to_string();
        for form in [
            canonical.to_uppercase(),
            uuid.simple().to_string(),
            uuid.simple().to_string().to_uppercase(),
        ] {
            assert_eq!(
                CorrelationId::parse_uuid(&form).unwrap().as_str(),
                canonical
            );
        }
    }

    #[test]
    fn validator_panic_counts_as_invalid() {
        let err = CorrelationId::parse_with("x", |_| panic!("validator bug")).unwrap_err();
        assert_eq!(err.kind(), InvalidKind::ValidatorPanicked);
    }

    #[test]
    fn validator_runs_after_the_floor() {
        let err = CorrelationId::parse_with("a b", |_| true).unwrap_err();
        assert_eq!(err.kind(), InvalidKind::ForbiddenByte { position: 1 });
    }

    #[test]
    fn error_messages_never_contain_the_value() {
        let hostile = "evil\r\nX-Injected: 1";
        let err = CorrelationId::parse(hostile).unwrap_err();
        assert!(!err.to_string().contains("evil"));
        assert!(!format!("{err:?}").contains("evil"));
    }

    #[test]
    fn generated_ids_are_canonical_v7() {
        let id = CorrelationId::generate();
        let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(id.as_str(), uuid.hyphenated().to_string());
    }
}
