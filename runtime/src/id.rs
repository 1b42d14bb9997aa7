//! Correlation IDs: generation, the validation floor, and conversions.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::Arc;

/// IDs up to this many bytes live inline, so cloning one copies bytes instead
/// of touching a reference count. A canonical UUID is 36 bytes.
const INLINE_CAP: usize = 39;

/// A correlation ID: 1 to 128 bytes of visible ASCII, safe to log and to put
/// in a header.
///
/// Cloning never allocates: IDs up to 39 bytes (every UUID) are stored inline,
/// longer ones share one reference-counted buffer.
///
/// # Examples
///
/// ```
/// use correlated::CorrelationId;
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
    Inline(InlineText),
    Shared(Arc<str>),
}

/// The text of a short ID and its length, in five aligned machine words.
///
/// Aligned so that a clone copies whole words, which the reader's wide loads
/// can take straight from the copy (docs/performance.md, "The ID's layout").
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct InlineText {
    bytes: [u8; INLINE_CAP],
    len: u8,
}

impl InlineText {
    /// `text` must fit (at most `INLINE_CAP` bytes) and be visible ASCII.
    #[inline]
    fn new(text: &[u8]) -> Self {
        // Built in whole words and stored once, so that the first read of
        // the result does not wait on a copy of run-time length.
        let mut words = [0u64; 5];
        let (chunks, rest) = text.as_chunks::<8>();
        for (word, chunk) in words.iter_mut().zip(chunks) {
            *word = u64::from_le_bytes(*chunk);
        }
        if !rest.is_empty() {
            words[chunks.len()] = match text.last_chunk::<8>() {
                // The last eight bytes, shifted so that only the rest is kept.
                Some(tail) => u64::from_le_bytes(*tail) >> (8 * (8 - rest.len())),
                None => rest
                    .iter()
                    .rev()
                    .fold(0, |word, &byte| word << 8 | u64::from(byte)),
            };
        }
        // Fits: INLINE_CAP < 256.
        words[4] |= (text.len() as u64) << 56;
        let mut block = [0u8; 40];
        for (bytes, word) in block.chunks_exact_mut(8).zip(words) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        let (bytes, len) = block
            .split_first_chunk::<INLINE_CAP>()
            .expect("a 40-byte block holds the 39 text bytes and the length");
        Self {
            bytes: *bytes,
            len: len[0],
        }
    }
}

impl CorrelationId {
    /// The longest ID accepted from outside, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::CorrelationId;
    ///
    /// assert!(CorrelationId::parse(&"a".repeat(CorrelationId::MAX_LEN)).is_ok());
    /// assert!(CorrelationId::parse(&"a".repeat(CorrelationId::MAX_LEN + 1)).is_err());
    /// ```
    pub const MAX_LEN: usize = 128;

    /// Generates a new UUIDv7 (RFC 9562): time-ordered, canonical lowercase
    /// hyphenated, unique across threads and calls.
    ///
    /// IDs sort by the millisecond they were made in (as the system clock
    /// tells it); within one millisecond their order is random. The 74 random
    /// bits come from a ChaCha12 generator of the calling thread, seeded from
    /// the OS, so no call waits for a system call or for another thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = correlated::CorrelationId::generate();
    /// let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
    /// assert_eq!(uuid.get_version_num(), 7);
    /// ```
    pub fn generate() -> Self {
        Self::from(uuid::Uuid::from_u128(generate::v7(
            generate::unix_millis(),
            generate::random_bits(),
        )))
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
    /// use correlated::{CorrelationId, InvalidIdKind};
    ///
    /// assert_eq!(CorrelationId::parse("req-42").unwrap().as_str(), "req-42");
    /// assert_eq!(CorrelationId::parse("").unwrap_err().kind(), InvalidIdKind::Empty);
    /// assert_eq!(
    ///     CorrelationId::parse("a\r\nSet-Cookie: x").unwrap_err().kind(),
    ///     InvalidIdKind::ForbiddenByte { position: 1 },
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
    /// [`InvalidIdKind::NotUuid`].
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::CorrelationId;
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
            _ => Err(InvalidCorrelationId::new(InvalidIdKind::NotUuid)),
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
    /// [`InvalidIdKind::Rejected`] or [`InvalidIdKind::ValidatorPanicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{CorrelationId, InvalidIdKind};
    ///
    /// let ours = |s: &str| s.starts_with("req-");
    /// assert!(CorrelationId::parse_with("req-7", ours).is_ok());
    /// assert_eq!(
    ///     CorrelationId::parse_with("job-7", ours).unwrap_err().kind(),
    ///     InvalidIdKind::Rejected,
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
            Ok(false) => Err(InvalidCorrelationId::new(InvalidIdKind::Rejected)),
            Err(_) => Err(InvalidCorrelationId::new(InvalidIdKind::ValidatorPanicked)),
        }
    }

    /// The ID as text.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = correlated::CorrelationId::parse("abc").unwrap();
    /// assert_eq!(id.as_str(), "abc");
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(inline) => inline_str(&inline.bytes[..usize::from(inline.len)]),
            Repr::Shared(text) => text,
        }
    }

    /// Builds an ID from text that already passed the floor.
    fn from_checked(value: &str) -> Self {
        if value.len() <= INLINE_CAP {
            Self(Repr::Inline(InlineText::new(value.as_bytes())))
        } else {
            Self(Repr::Shared(Arc::from(value)))
        }
    }
}

/// UUIDv7 generation: a 48-bit Unix-millisecond timestamp and 74 bits from a
/// ChaCha12 CSPRNG owned by the calling thread.
///
/// `uuid::Uuid::now_v7()` asks the OS for random bytes on every call (a
/// system call) and serialises callers through a shared counter; a thread's
/// own generator needs neither. Uniqueness comes from the randomness: each
/// thread's generator is seeded independently from the OS, and two IDs of the
/// same millisecond collide with probability 2^-74. Order is by millisecond,
/// as the system clock gives it; IDs of one millisecond are in random order.
mod generate {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    use chacha20::ChaCha12Rng;
    use chacha20::rand_core::{Rng, SeedableRng};

    /// IDs a thread's generator makes before it takes a new key from the OS:
    /// a generator state read out of memory gives away at most the IDs made
    /// with its key.
    const RESEED_AFTER: u32 = 1 << 16;

    struct ThreadGenerator {
        rng: ChaCha12Rng,
        left: u32,
    }

    thread_local! {
        static GENERATOR: RefCell<Option<ThreadGenerator>> = const { RefCell::new(None) };
    }

    /// Milliseconds since the Unix epoch, as the low 48 bits of the result.
    pub(super) fn unix_millis() -> u64 {
        // A clock before 1970 is a broken clock: time 0 keeps the ID valid.
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        // Truncation to 48 bits is the layout (it wraps in the year 10889).
        (millis as u64) & 0xFFFF_FFFF_FFFF
    }

    /// Random bits 0..96 (the rest zero) from this thread's generator;
    /// 128 straight from the OS while the thread's storage is being torn down.
    pub(super) fn random_bits() -> u128 {
        GENERATOR
            .try_with(|cell| {
                let mut generator = cell.try_borrow_mut().ok()?;
                let generator = match &mut *generator {
                    Some(generator) if generator.left > 0 => generator,
                    slot => slot.insert(ThreadGenerator {
                        rng: ChaCha12Rng::from_seed(from_os()),
                        left: RESEED_AFTER,
                    }),
                };
                generator.left -= 1;
                // 96 bits: the 74 that `v7` keeps lie in both halves.
                let high = generator.rng.next_u32();
                let low = generator.rng.next_u64();
                Some(u128::from(high) << 64 | u128::from(low))
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| u128::from_ne_bytes(from_os()))
    }

    /// `N` bytes from the OS: a generator's seed, or the random bits of an
    /// ID made during thread teardown.
    fn from_os<const N: usize>() -> [u8; N] {
        let mut bytes = [0; N];
        if let Err(error) = getrandom::fill(&mut bytes) {
            // As `uuid::Uuid::now_v7()` does: an ID must never be guessable
            // because the OS had no randomness to give.
            panic!("correlated: the OS random number generator failed: {error}");
        }
        bytes
    }

    /// RFC 9562 section 5.7: `unix_ts_ms` (48 bits), `ver` = 7 (4 bits),
    /// `rand_a` (12 bits), `var` = 0b10 (2 bits), `rand_b` (62 bits).
    pub(super) fn v7(millis: u64, random: u128) -> u128 {
        const RAND_A: u128 = 0xFFF << 64;
        const RAND_B: u128 = (1 << 62) - 1;
        (u128::from(millis & 0xFFFF_FFFF_FFFF) << 80)
            | (0x7 << 76)
            | (random & RAND_A)
            | (0b10 << 62)
            | (random & RAND_B)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Reads this thread's generator, if it has made one.
        fn read<T>(part: impl FnOnce(&ThreadGenerator) -> T) -> Option<T> {
            GENERATOR.with(|cell| cell.borrow().as_ref().map(part))
        }

        /// IDs left before this thread's generator takes a new key.
        fn left() -> u32 {
            read(|generator| generator.left).unwrap_or(0)
        }

        #[test]
        // 65,536 IDs; no `unsafe` code is involved, so not worth Miri's time.
        #[cfg_attr(miri, ignore)]
        fn a_threads_generator_takes_a_new_key_after_its_quota_of_ids() {
            // On a thread of its own, so that the count starts from a new
            // generator.
            std::thread::spawn(|| {
                random_bits();
                assert_eq!(left(), RESEED_AFTER - 1);
                random_bits();
                assert_eq!(left(), RESEED_AFTER - 2, "the key is kept between IDs");
                for _ in 2..RESEED_AFTER {
                    random_bits();
                }
                assert_eq!(left(), 0);
                let key = || read(|generator| generator.rng.get_seed());
                let before = key();
                random_bits();
                assert_eq!(left(), RESEED_AFTER - 1, "a new key after the quota");
                let after = key();
                assert_ne!(before, after, "the new key comes from the OS");
            })
            .join()
            .unwrap();
        }
    }
}

/// The text of an inline ID.
///
/// Not re-checked as UTF-8: this runs for every log line and header echo,
/// and the floor already guarantees ASCII (the check's cost is in
/// docs/performance.md).
#[allow(unsafe_code)]
#[inline]
fn inline_str(bytes: &[u8]) -> &str {
    debug_assert!(bytes.iter().all(u8::is_ascii_graphic));
    // SAFETY: only `InlineText::new` builds an `InlineText`, from text that
    // passed `check_floor` (`from_checked`: ASCII 0x21 to 0x7E) or from a
    // UUID's lowercase hex and hyphens (`From<Uuid>`); `len` is its length and
    // its bytes never change afterwards. ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// The floor applied to every value from outside.
fn check_floor(value: &str) -> Result<(), InvalidCorrelationId> {
    if value.is_empty() {
        return Err(InvalidCorrelationId::new(InvalidIdKind::Empty));
    }
    if value.len() > CorrelationId::MAX_LEN {
        return Err(InvalidCorrelationId::new(InvalidIdKind::TooLong {
            len: value.len(),
        }));
    }
    // Visible ASCII is `is_ascii_graphic`'s range, 0x21 to 0x7E. One pass
    // without an early exit, so that the compiler can vectorise it for every
    // incoming header; the position is looked for only on failure.
    if value
        .bytes()
        .fold(true, |all, b| all & b.is_ascii_graphic())
    {
        return Ok(());
    }
    let position = value
        .bytes()
        .position(|b| !b.is_ascii_graphic())
        .expect("the pass above found a byte outside the floor");
    Err(InvalidCorrelationId::new(InvalidIdKind::ForbiddenByte {
        position,
    }))
}

impl From<uuid::Uuid> for CorrelationId {
    /// Formats the UUID canonically: lowercase, hyphenated.
    fn from(uuid: uuid::Uuid) -> Self {
        // Encoded straight into the inline buffer: a UUID's 36 bytes fit.
        const LEN: usize = uuid::fmt::Hyphenated::LENGTH;
        const _: () = assert!(LEN <= INLINE_CAP);
        let mut bytes = [0; INLINE_CAP];
        uuid.hyphenated().encode_lower(&mut bytes[..LEN]);
        Self(Repr::Inline(InlineText {
            bytes,
            len: LEN as u8,
        }))
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
/// use correlated::{CorrelationId, InvalidIdKind};
///
/// let long = "x".repeat(600);
/// assert_eq!(
///     CorrelationId::parse(&long).unwrap_err().kind(),
///     InvalidIdKind::TooLong { len: 600 },
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidIdKind {
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
/// let err = correlated::CorrelationId::parse("caf\u{e9}").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid correlation id: byte 3 is not visible ASCII (0x21 to 0x7E)",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCorrelationId {
    kind: InvalidIdKind,
}

impl InvalidCorrelationId {
    fn new(kind: InvalidIdKind) -> Self {
        Self { kind }
    }

    /// The rule that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{CorrelationId, InvalidIdKind};
    /// assert_eq!(CorrelationId::parse_uuid("nope").unwrap_err().kind(), InvalidIdKind::NotUuid);
    /// ```
    pub fn kind(&self) -> InvalidIdKind {
        self.kind
    }
}

impl fmt::Display for InvalidCorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid correlation id: ")?;
        match self.kind {
            InvalidIdKind::Empty => f.write_str("it is empty"),
            InvalidIdKind::TooLong { len } => {
                write!(
                    f,
                    "it is {len} bytes long; at most {} are allowed",
                    CorrelationId::MAX_LEN
                )
            }
            InvalidIdKind::ForbiddenByte { position } => {
                write!(f, "byte {position} is not visible ASCII (0x21 to 0x7E)")
            }
            InvalidIdKind::NotUuid => f.write_str("it is not an RFC 9562 UUID"),
            InvalidIdKind::Rejected => f.write_str("the validator rejected it"),
            InvalidIdKind::ValidatorPanicked => {
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
/// use correlated::IntoCorrelationId;
///
/// assert!("req-1".into_correlation_id().is_some());
/// assert!("bad value".into_correlation_id().is_none());
/// assert!(None::<&str>.into_correlation_id().is_none());
/// assert!(uuid::Uuid::now_v7().into_correlation_id().is_some());
/// ```
pub trait IntoCorrelationId {
    /// The ID, or `None` when the value is missing or fails validation.
    fn into_correlation_id(self) -> Option<CorrelationId>;

    /// The ID, or a newly generated one when the value is missing or fails
    /// validation: what `#[correlated(id = ..)]` does with its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::IntoCorrelationId;
    ///
    /// assert_eq!("req-1".into_correlation_id_or_generate(), "req-1");
    /// assert_ne!("bad value".into_correlation_id_or_generate(), "bad value");
    /// ```
    fn into_correlation_id_or_generate(self) -> CorrelationId
    where
        Self: Sized,
    {
        self.into_correlation_id()
            .unwrap_or_else(CorrelationId::generate)
    }
}

impl IntoCorrelationId for CorrelationId {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(self)
    }

    /// Always valid: the ID moves straight through, with no `None` to test.
    #[inline]
    fn into_correlation_id_or_generate(self) -> CorrelationId {
        self
    }
}

impl IntoCorrelationId for &CorrelationId {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(self.clone())
    }

    #[inline]
    fn into_correlation_id_or_generate(self) -> CorrelationId {
        self.clone()
    }
}

impl IntoCorrelationId for uuid::Uuid {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(CorrelationId::from(self))
    }

    #[inline]
    fn into_correlation_id_or_generate(self) -> CorrelationId {
        CorrelationId::from(self)
    }
}

impl IntoCorrelationId for &uuid::Uuid {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        Some(CorrelationId::from(*self))
    }

    #[inline]
    fn into_correlation_id_or_generate(self) -> CorrelationId {
        CorrelationId::from(*self)
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
    fn every_length_is_kept_verbatim() {
        // Each length takes its own path through `InlineText::new` (whole
        // words, a shifted tail, a short value) or the shared buffer.
        let visible: Vec<u8> = (0x21u8..=0x7E)
            .cycle()
            .skip(7)
            .take(CorrelationId::MAX_LEN)
            .collect();
        for len in 1..=CorrelationId::MAX_LEN {
            let text = std::str::from_utf8(&visible[..len]).unwrap();
            let id = CorrelationId::parse(text).unwrap();
            assert_eq!(id.as_str(), text, "length {len}");
            assert_eq!(id.clone().as_str(), text, "clone, length {len}");
        }
    }

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
                InvalidIdKind::ForbiddenByte { position: 2 },
                "{value:?}"
            );
        }
    }

    #[test]
    fn length_limits_are_inclusive() {
        assert!(CorrelationId::parse(&"a".repeat(CorrelationId::MAX_LEN)).is_ok());
        assert_eq!(
            CorrelationId::parse(&"a".repeat(CorrelationId::MAX_LEN + 1))
                .unwrap_err()
                .kind(),
            InvalidIdKind::TooLong {
                len: CorrelationId::MAX_LEN + 1
            }
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
                InvalidIdKind::NotUuid
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
        assert_eq!(err.kind(), InvalidIdKind::ValidatorPanicked);
    }

    #[test]
    fn validator_runs_after_the_floor() {
        let err = CorrelationId::parse_with("a b", |_| true).unwrap_err();
        assert_eq!(err.kind(), InvalidIdKind::ForbiddenByte { position: 1 });
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

    #[test]
    fn v7_layout_is_rfc_9562() {
        // unix_ts_ms in bits 127..80, then version 7, rand_a (12 bits),
        // variant 0b10, rand_b (62 bits).
        assert_eq!(
            generate::v7(0x0123_4567_89ab, 0),
            0x0123_4567_89ab_7000_8000_0000_0000_0000
        );
        assert_eq!(
            generate::v7(0x0123_4567_89ab, u128::MAX),
            0x0123_4567_89ab_7fff_bfff_ffff_ffff_ffff
        );
        // Only the low 48 bits of the clock are used.
        assert_eq!(generate::v7(u64::MAX, 0) >> 80, 0xFFFF_FFFF_FFFF);
        assert_eq!(
            generate::v7(u64::MAX, 0) & ((1 << 80) - 1),
            0x7000_8000_0000_0000_0000
        );
        // Exactly 74 bits come from the random input.
        assert_eq!(
            (generate::v7(0, u128::MAX) ^ generate::v7(0, 0)).count_ones(),
            74
        );
        let uuid = uuid::Uuid::from_u128(generate::v7(1, u128::MAX));
        assert_eq!(uuid.get_version(), Some(uuid::Version::SortRand));
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn generated_ids_carry_the_clock_and_every_random_bit_varies() {
        const RANDOM_BITS: u128 = 0xfff << 64 | ((1 << 62) - 1);
        let before = generate::unix_millis();
        let ids: Vec<u128> = (0..512)
            .map(|_| {
                uuid::Uuid::parse_str(CorrelationId::generate().as_str())
                    .unwrap()
                    .as_u128()
            })
            .collect();
        let after = generate::unix_millis();
        let (mut ones, mut zeros) = (0u128, 0u128);
        for &id in &ids {
            let uuid = uuid::Uuid::from_u128(id);
            assert_eq!(uuid.get_version_num(), 7);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            let millis = (id >> 80) as u64;
            assert!(
                (before..=after).contains(&millis),
                "{millis} not in {before}..={after}"
            );
            ones |= id & RANDOM_BITS;
            zeros |= !id & RANDOM_BITS;
        }
        // A random bit stuck at 0 or 1 over 512 IDs: probability 2^-511 each.
        assert_eq!(ones, RANDOM_BITS);
        assert_eq!(zeros, RANDOM_BITS);
    }

    #[test]
    fn generate_works_while_thread_storage_is_torn_down() {
        use std::sync::mpsc;

        struct GenerateOnDrop(Option<mpsc::Sender<CorrelationId>>);
        impl Drop for GenerateOnDrop {
            fn drop(&mut self) {
                if let Some(sender) = self.0.take() {
                    let _ = sender.send(CorrelationId::generate());
                }
            }
        }
        thread_local! {
            static ON_EXIT: std::cell::RefCell<GenerateOnDrop> =
                const { std::cell::RefCell::new(GenerateOnDrop(None)) };
        }
        let (sender, receiver) = mpsc::channel();
        let first = std::thread::spawn(move || {
            // Registered before the generator's storage, so destroyed after
            // it (destructors run in reverse): the drop takes the OS path.
            ON_EXIT.with(|cell| cell.borrow_mut().0 = Some(sender));
            CorrelationId::generate()
        })
        .join()
        .unwrap();
        let at_exit = receiver.recv().unwrap();
        assert_ne!(first, at_exit);
        let uuid = uuid::Uuid::parse_str(at_exit.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
    }
}
