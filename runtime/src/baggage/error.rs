//! What the parser refuses (`InvalidBaggage`) and why a valid baggage's
//! `correlation_id` member was not used (`InvalidBaggageId`). Neither holds
//! any of the header.

use std::fmt;

use super::{MAX_BYTES, MAX_MEMBERS};
use crate::id::{InvalidCorrelationId, InvalidIdKind};

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
    pub(super) kind: InvalidBaggageKind,
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
    /// Its decoded value fails the floor of
    /// [`CorrelationId::parse`](crate::CorrelationId::parse) or, read by a
    /// server middleware, the service's validator (then the kind is
    /// [`InvalidIdKind::Rejected`], [`InvalidIdKind::NotUuid`], ...).
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
    pub(super) reason: IdRejection,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum IdRejection {
    Repeated {
        count: usize,
    },
    /// The floor, or the server's validator, refused the decoded value.
    Invalid(InvalidCorrelationId),
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
            IdRejection::Invalid(err) => InvalidBaggageIdKind::Id(err.kind()),
        }
    }
}

impl fmt::Display for InvalidBaggageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid correlation_id in baggage: ")?;
        match &self.reason {
            IdRejection::Repeated { count } => write!(f, "it is present {count} times"),
            IdRejection::Invalid(err) => {
                // The floor's (or validator's) reason, without its own "invalid correlation id: ".
                let reason = err.to_string();
                f.write_str(reason.split_once(": ").map_or(&*reason, |(_, why)| why))
            }
        }
    }
}

impl std::error::Error for InvalidBaggageId {}
