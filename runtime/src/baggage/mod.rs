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
//!   error says which rule failed without holding any of it. The server
//!   middleware does this for trusted peers when asked:
//!   `CorrelationLayer::builder().baggage(true)` (feature `tower`) and
//!   `correlated::actix::Correlation::builder().baggage(true)` (feature
//!   `actix-web`), after the correlation header and before `traceparent`,
//!   with the service's validator.
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

// The module's files, one way: each uses only those above it.
//   error: what the parser and the correlation ID member refuse
//   parse: `Baggage` and its members; `scan`, the one place for the
//          grammar and the limits
//   write: adding a member (`inject`, `add_member`) by `scan`'s rules
// This file: the constants, the reading entry point (`extract`) and the
// debug logs.

mod error;
mod parse;
mod write;

#[cfg(test)]
mod tests;

use ::http::{HeaderMap, HeaderName};

pub use error::{InvalidBaggage, InvalidBaggageId, InvalidBaggageIdKind, InvalidBaggageKind};
pub use parse::{Baggage, Member, Properties, Property};
// The tonic interceptor writes the same line into gRPC metadata.
#[cfg(feature = "tonic")]
pub(crate) use write::merged;
pub use write::{MemberNotAdded, MemberNotAddedKind, add_member, inject};

use crate::id::CorrelationId;

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
