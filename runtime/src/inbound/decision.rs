//! The server-side settings and the per-request decision: which ID a
//! request runs with. Trust of the peer, reading the configured headers,
//! validation, the `baggage` member and the `traceparent` bridge, fallback
//! and generation, the echo, and the debug logs of what was refused. Every
//! server integration calls this one decision.
//!
//! The sources, in order: the first correlation header present; then (when
//! reading it is on) the `correlation_id` member of the `baggage`; then
//! (with the bridge on) the `traceparent`'s trace-id; then a new ID. All of
//! them only from a trusted peer.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ::http::HeaderName;

use super::request::{HeaderBytes, RequestView};
use super::trace_context::{InvalidTraceParent, TraceParent};
use super::trust::TrustedSource;
use crate::baggage::{Baggage, InvalidBaggage, InvalidBaggageId};
use crate::http::{Found, X_CORRELATION_ID};
use crate::id::{CorrelationId, InvalidCorrelationId};

type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type Generator = Arc<dyn Fn() -> CorrelationId + Send + Sync>;

/// What the middleware does with an invalid correlation header from a
/// trusted peer. Headers from untrusted peers are ignored whatever they hold.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::{CorrelationLayer, OnInvalid};
///
/// let strict = CorrelationLayer::builder()
///     .trust("10.0.0.0/8")
///     .unwrap()
///     .on_invalid(OnInvalid::Reject)
///     .build();
/// # drop(strict);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnInvalid {
    /// Serve the request with a newly generated ID (the default).
    #[default]
    Regenerate,
    /// Answer `400 Bad Request` without calling the inner service. The
    /// answer carries a newly generated ID in the response header (if echo is
    /// on), so the refusal itself can be traced.
    Reject,
}

/// How incoming values are checked after the floor.
#[derive(Clone)]
pub(crate) enum Validation {
    Floor,
    Uuid,
    Custom(Validator),
}

/// A server middleware's settings, shared by every service it builds; the
/// builder sets them, and every integration reads the same ones.
#[derive(Clone)]
pub(crate) struct Config {
    /// Never empty; the first is the primary name (echo, rewrite).
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) trusted: Vec<TrustedSource>,
    pub(crate) validation: Validation,
    pub(crate) generator: Option<Generator>,
    pub(crate) on_invalid: OnInvalid,
    pub(crate) echo: bool,
    pub(crate) set_request_header: bool,
    /// Read `traceparent` from trusted peers (the W3C Trace Context bridge).
    pub(crate) trace_context: bool,
    /// Read the `correlation_id` member of trusted peers' `baggage`.
    pub(crate) baggage: bool,
    /// Make a span for each request (`request_span`); off by default.
    #[cfg(feature = "tracing")]
    pub(crate) request_span: Option<crate::tracing::RequestSpan>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            headers: vec![X_CORRELATION_ID],
            trusted: Vec::new(),
            validation: Validation::Floor,
            generator: None,
            on_invalid: OnInvalid::Regenerate,
            echo: true,
            set_request_header: false,
            trace_context: false,
            baggage: false,
            #[cfg(feature = "tracing")]
            request_span: None,
        }
    }
}

/// Which ID a request runs with. `V` is the framework's header value type.
pub(crate) enum Decision<V> {
    /// The peer is trusted and its header valid; the header's value, to
    /// echo without formatting the ID again when it was kept verbatim.
    Accepted(CorrelationId, V),
    /// The peer is trusted, its correlation header absent or invalid, and
    /// its `baggage`'s `correlation_id` member valid.
    Baggage(CorrelationId),
    /// The peer is trusted, its correlation header absent or invalid, no
    /// valid `correlation_id` in its `baggage`, and its `traceparent`
    /// valid: the trace-id.
    Traced(CorrelationId),
    /// No usable header: a new ID.
    Generated(CorrelationId),
    /// `OnInvalid::Reject`: answer 400, under this new ID.
    Rejected(CorrelationId),
}

impl<V> Decision<V> {
    fn id(&self) -> &CorrelationId {
        match self {
            Decision::Accepted(id, _)
            | Decision::Baggage(id)
            | Decision::Traced(id)
            | Decision::Generated(id)
            | Decision::Rejected(id) => id,
        }
    }

    /// What became of a request whose value was rejected, for the log.
    fn outcome(&self) -> &'static str {
        match self {
            Decision::Rejected(_) => "answering 400 Bad Request",
            Decision::Baggage(_) => "using the baggage's correlation_id",
            Decision::Traced(_) => "using the traceparent's trace-id",
            Decision::Accepted(..) | Decision::Generated(_) => "using a new id",
        }
    }
}

/// Which of the sources the decision reads a request sent (`baggage` only
/// counts when reading it is on, `traceparent` when the bridge is).
#[derive(Clone, Copy)]
struct Sent {
    correlation: bool,
    baggage: bool,
    traceparent: bool,
}

/// What a trusted peer's `baggage` held for the correlation ID, when
/// reading it is on.
enum Carried {
    /// No `baggage`, or none with a `correlation_id` member.
    Absent,
    /// The member passed the floor and the validator.
    Valid(CorrelationId),
    /// The member failed the floor or the validator, or is repeated: a
    /// rejection, like an invalid correlation header's.
    Invalid(InvalidBaggageId),
    /// The header is malformed or past a limit: ignored whole.
    Malformed(InvalidBaggage),
}

/// What a trusted peer's `traceparent` held, when the bridge is on.
enum TraceHeader {
    /// Not sent (or the bridge is off).
    Absent,
    Valid(TraceParent),
    Invalid(TraceRejection),
}

/// Why a `traceparent` was ignored. Never holds the value.
#[derive(Debug)]
enum TraceRejection {
    Invalid(InvalidTraceParent),
    /// Sent more than once: ambiguous.
    Repeated,
}

impl fmt::Display for TraceRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceRejection::Invalid(error) => fmt::Display::fmt(error, f),
            TraceRejection::Repeated => {
                f.write_str("invalid traceparent: the header was sent more than once")
            }
        }
    }
}

impl Config {
    // actix-web keeps its own form of the names.
    #[cfg(feature = "tower")]
    pub(crate) fn primary_header(&self) -> &HeaderName {
        // `headers` always holds at least the primary name.
        &self.headers[0]
    }

    /// The value to echo in the response's primary header for `id`, or
    /// `None` when echo is off. An accepted header kept verbatim is echoed
    /// as it came (a reference count, where formatting the ID would
    /// allocate and copy).
    #[inline]
    pub(crate) fn echo_value<V: HeaderBytes>(
        &self,
        id: &CorrelationId,
        incoming: Option<V>,
    ) -> Option<V> {
        self.echo.then(|| {
            incoming
                .filter(|value| value.bytes() == id.as_str().as_bytes())
                .unwrap_or_else(|| V::from_id(id))
        })
    }

    /// Decides the request's ID and, with the trace-context bridge on, the
    /// trusted peer's valid `traceparent` (recorded whichever ID wins).
    pub(crate) fn decide<R: RequestView>(
        &self,
        request: &R,
    ) -> (Decision<R::Value>, Option<TraceParent>) {
        // The first configured header present decides.
        let found = self
            .headers
            .iter()
            .enumerate()
            .find_map(|(index, name)| Some((name, request.header(index, name)?)));
        let traceparent = if self.trace_context {
            request.traceparent()
        } else {
            None
        };
        let sent = Sent {
            correlation: found.is_some(),
            baggage: self.baggage && request.baggage().next().is_some(),
            traceparent: traceparent.is_some(),
        };
        if !(sent.correlation || sent.baggage || sent.traceparent) {
            return (Decision::Generated(self.generate()), None);
        }
        let peer = if self.trusted.is_empty() {
            None
        } else {
            request.peer()
        };
        // `baggage` and `traceparent` are believed exactly when a
        // correlation header would be: otherwise any client could choose
        // its correlation ID.
        if !peer.is_some_and(|peer| self.trusts(peer)) {
            let id = self.generate();
            report::untrusted(&id, peer, sent);
            return (Decision::Generated(id), None);
        }
        let trace = read_traceparent(traceparent);
        let valid_trace = match &trace {
            TraceHeader::Valid(parent) => Some(*parent),
            TraceHeader::Absent | TraceHeader::Invalid(_) => None,
        };
        let incoming = Incoming::check(found, |value| self.validate(value));
        let decision = match incoming {
            Incoming::Valid { id, value } => Decision::Accepted(id, value),
            Incoming::Absent => self.fall_back(request, valid_trace.as_ref()),
            Incoming::Invalid { reason, header } => {
                let decision = self.on_rejected(|| self.fall_back(request, valid_trace.as_ref()));
                report::rejected(decision.id(), header, &reason, decision.outcome());
                decision
            }
        };
        if let TraceHeader::Invalid(reason) = &trace {
            report::invalid_traceparent(decision.id(), reason);
        }
        match decision {
            Decision::Rejected(_) => (decision, None),
            _ => (decision, valid_trace),
        }
    }

    /// A rejected value's outcome: with `OnInvalid::Reject` a 400, and
    /// otherwise the `next` source's. `Reject` is about the rejected value:
    /// a valid later source does not make it acceptable.
    fn on_rejected<V>(&self, next: impl FnOnce() -> Decision<V>) -> Decision<V> {
        if self.on_invalid == OnInvalid::Reject {
            Decision::Rejected(self.generate())
        } else {
            next()
        }
    }

    /// No correlation header to use: the `baggage`'s `correlation_id` when
    /// reading it is on, then the trace-id of a valid `traceparent`, else a
    /// new ID. The baggage is parsed only here, when it can matter.
    fn fall_back<R: RequestView>(
        &self,
        request: &R,
        trace: Option<&TraceParent>,
    ) -> Decision<R::Value> {
        if !self.baggage {
            return self.traced_or_generated(trace);
        }
        match self.read_baggage(request) {
            Carried::Absent => self.traced_or_generated(trace),
            Carried::Valid(id) => Decision::Baggage(id),
            Carried::Invalid(reason) => {
                let decision = self.on_rejected(|| self.traced_or_generated(trace));
                report::rejected_baggage(decision.id(), &reason, decision.outcome());
                decision
            }
            // Not a rejection: a baggage carries the application's other
            // members too, and a broken one says nothing about an ID.
            Carried::Malformed(reason) => {
                let decision = self.traced_or_generated(trace);
                report::malformed_baggage(decision.id(), &reason);
                decision
            }
        }
    }

    /// The `baggage`'s `correlation_id` member, checked as the correlation
    /// header is (the floor, then the validator or `uuid_only`).
    fn read_baggage<R: RequestView>(&self, request: &R) -> Carried {
        match Baggage::from_lines(request.baggage()) {
            Err(reason) => Carried::Malformed(reason),
            Ok(baggage) => match baggage.correlation_id_by(|value| self.validate(value)) {
                Ok(Some(id)) => Carried::Valid(id),
                Ok(None) => Carried::Absent,
                Err(reason) => Carried::Invalid(reason),
            },
        }
    }

    /// The trace-id of a valid `traceparent`, else a new ID.
    fn traced_or_generated<V>(&self, trace: Option<&TraceParent>) -> Decision<V> {
        // A trace-id is 32 lowercase hex digits, so it always passes the
        // floor; the configured validator is for the correlation header.
        match trace.map(|parent| CorrelationId::parse(parent.trace_id())) {
            Some(Ok(id)) => Decision::Traced(id),
            Some(Err(_)) | None => Decision::Generated(self.generate()),
        }
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted.iter().any(|source| source.contains(peer))
    }

    fn validate(&self, value: &str) -> Result<CorrelationId, InvalidCorrelationId> {
        match &self.validation {
            Validation::Floor => CorrelationId::parse(value),
            Validation::Uuid => CorrelationId::parse_uuid(value),
            Validation::Custom(validator) => CorrelationId::parse_with(value, &**validator),
        }
    }

    fn generate(&self) -> CorrelationId {
        match &self.generator {
            Some(generator) => generator(),
            None => CorrelationId::generate(),
        }
    }
}

/// Reads the `traceparent` header, which must be present once.
fn read_traceparent<V: HeaderBytes>(found: Option<Found<'_, V>>) -> TraceHeader {
    match found {
        None => TraceHeader::Absent,
        Some(Found::Repeated) => TraceHeader::Invalid(TraceRejection::Repeated),
        Some(Found::Once(value)) => match TraceParent::parse_bytes(value.bytes()) {
            Ok(parent) => TraceHeader::Valid(parent),
            Err(error) => TraceHeader::Invalid(TraceRejection::Invalid(error)),
        },
    }
}

/// What a request's correlation headers hold.
enum Incoming<'a, V> {
    /// None of the headers is present.
    Absent,
    /// The first header present holds a valid ID; `value` is that header,
    /// so the middleware can echo it without formatting the ID again.
    Valid { id: CorrelationId, value: V },
    /// The first header present is invalid, for this reason.
    Invalid {
        reason: Rejection,
        header: &'a HeaderName,
    },
}

impl<'a, V: HeaderBytes> Incoming<'a, V> {
    /// Checks the first correlation header present with `parse` (the
    /// floor, plus whatever `parse` adds).
    fn check<P>(found: Option<(&'a HeaderName, Found<'_, V>)>, parse: P) -> Self
    where
        P: FnOnce(&str) -> Result<CorrelationId, InvalidCorrelationId>,
    {
        match found {
            None => Incoming::Absent,
            Some((header, Found::Repeated)) => Incoming::Invalid {
                reason: Rejection::Repeated,
                header,
            },
            Some((header, Found::Once(value))) => match parse_value(value, parse) {
                Ok(id) => Incoming::Valid {
                    id,
                    value: value.clone(),
                },
                Err(reason) => Incoming::Invalid { reason, header },
            },
        }
    }
}

fn parse_value<V, P>(value: &V, parse: P) -> Result<CorrelationId, Rejection>
where
    V: HeaderBytes,
    P: FnOnce(&str) -> Result<CorrelationId, InvalidCorrelationId>,
{
    // Not `HeaderValue::to_str`, which admits tabs and spaces: the floor
    // decides about those, with a precise reason.
    let text = std::str::from_utf8(value.bytes()).map_err(|_| Rejection::NotText)?;
    parse(text).map_err(Rejection::Invalid)
}

/// Why an incoming header was rejected. Never holds the value, so it is safe
/// to log.
#[derive(Debug)]
enum Rejection {
    /// The floor or the validator refused it.
    Invalid(InvalidCorrelationId),
    /// The bytes are not UTF-8 (so certainly not visible ASCII).
    NotText,
    /// The header was sent more than once.
    Repeated,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Invalid(error) => fmt::Display::fmt(error, f),
            Rejection::NotText => {
                f.write_str("invalid correlation id: it contains bytes that are not ASCII")
            }
            Rejection::Repeated => {
                f.write_str("invalid correlation id: the header was sent more than once")
            }
        }
    }
}

// By hand: the closures have no `Debug`, so the validation and the generator
// are summarised.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let validation = match self.validation {
            Validation::Floor => "floor",
            Validation::Uuid => "uuid",
            Validation::Custom(_) => "custom",
        };
        let mut debug = f.debug_struct("Config");
        debug
            .field("headers", &self.headers)
            .field("trusted", &self.trusted)
            .field("validation", &validation)
            .field("custom_generator", &self.generator.is_some())
            .field("on_invalid", &self.on_invalid)
            .field("echo", &self.echo)
            .field("set_request_header", &self.set_request_header)
            .field("trace_context", &self.trace_context)
            .field("baggage", &self.baggage);
        #[cfg(feature = "tracing")]
        debug.field("request_span", &self.request_span);
        debug.finish()
    }
}

/// Debug-level logs of refused headers (feature `tracing`). They are emitted
/// in the context of the request's ID, and never contain the refused value.
mod report {
    use std::net::IpAddr;

    use ::http::HeaderName;

    use super::{Rejection, Sent, TraceRejection};
    use crate::baggage::{InvalidBaggage, InvalidBaggageId};
    use crate::id::CorrelationId;

    #[cfg(feature = "tracing")]
    fn in_context(id: &CorrelationId, log: impl FnOnce()) {
        crate::context::Context::current()
            .with_correlation_id(id.clone())
            .run(log);
    }

    /// "correlation id header", "correlation id and baggage headers",
    /// "correlation id, baggage and traceparent headers", ...
    #[cfg(feature = "tracing")]
    fn names(sent: Sent) -> String {
        let names: Vec<&str> = [
            (sent.correlation, "correlation id"),
            (sent.baggage, "baggage"),
            (sent.traceparent, "traceparent"),
        ]
        .into_iter()
        .filter_map(|(was_sent, name)| was_sent.then_some(name))
        .collect();
        match names.as_slice() {
            [] => "headers".to_owned(),
            [one] => format!("{one} header"),
            [init @ .., last] => format!("{} and {last} headers", init.join(", ")),
        }
    }

    #[cfg(feature = "tracing")]
    pub(super) fn untrusted(id: &CorrelationId, peer: Option<IpAddr>, sent: Sent) {
        let ignored = names(sent);
        in_context(id, || {
            ::tracing::debug!(
                peer = ?peer,
                "ignored the incoming {ignored}: the peer is not trusted; using a new id"
            );
        });
    }

    #[cfg(feature = "tracing")]
    pub(super) fn rejected(
        id: &CorrelationId,
        header: &HeaderName,
        reason: &Rejection,
        outcome: &str,
    ) {
        in_context(id, || {
            ::tracing::debug!(
                header = %header,
                reason = %reason,
                "rejected the incoming correlation id; {outcome}"
            );
        });
    }

    #[cfg(feature = "tracing")]
    pub(super) fn rejected_baggage(id: &CorrelationId, reason: &InvalidBaggageId, outcome: &str) {
        in_context(id, || {
            ::tracing::debug!(
                header = "baggage",
                reason = %reason,
                "rejected the correlation id in the incoming baggage; {outcome}"
            );
        });
    }

    #[cfg(feature = "tracing")]
    pub(super) fn malformed_baggage(id: &CorrelationId, reason: &InvalidBaggage) {
        in_context(id, || {
            ::tracing::debug!(reason = %reason, "ignored the incoming baggage");
        });
    }

    #[cfg(feature = "tracing")]
    pub(super) fn invalid_traceparent(id: &CorrelationId, reason: &TraceRejection) {
        in_context(id, || {
            ::tracing::debug!(reason = %reason, "ignored the incoming traceparent");
        });
    }

    #[cfg(not(feature = "tracing"))]
    pub(super) fn untrusted(_: &CorrelationId, _: Option<IpAddr>, _: Sent) {}

    #[cfg(not(feature = "tracing"))]
    pub(super) fn rejected_baggage(_: &CorrelationId, _: &InvalidBaggageId, _: &str) {}

    #[cfg(not(feature = "tracing"))]
    pub(super) fn malformed_baggage(_: &CorrelationId, _: &InvalidBaggage) {}

    #[cfg(not(feature = "tracing"))]
    pub(super) fn rejected(_: &CorrelationId, _: &HeaderName, _: &Rejection, _: &str) {}

    #[cfg(not(feature = "tracing"))]
    pub(super) fn invalid_traceparent(_: &CorrelationId, _: &TraceRejection) {}
}

#[cfg(test)]
mod tests {
    use ::http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::http::tests::headers;
    use crate::http::{extract, find};
    use crate::id::InvalidIdKind;

    /// The correlation headers' reading and check, as the decision does them
    /// (without the trust decision in between).
    fn read<'a, P>(
        headers: &HeaderMap,
        names: [&'a HeaderName; 1],
        parse: P,
    ) -> Incoming<'a, HeaderValue>
    where
        P: FnOnce(&str) -> Result<CorrelationId, InvalidCorrelationId>,
    {
        Incoming::check(find(headers, names), parse)
    }

    fn kind_of(map: &HeaderMap) -> Option<InvalidIdKind> {
        match read(map, [&X_CORRELATION_ID], CorrelationId::parse) {
            Incoming::Invalid {
                reason: Rejection::Invalid(error),
                ..
            } => Some(error.kind()),
            _ => None,
        }
    }

    #[test]
    fn hostile_values_are_rejected_with_the_rule_they_broke() {
        // `HeaderValue` itself refuses CR and LF, but obs-text and tabs pass.
        assert!(HeaderValue::from_bytes(b"a\r\nb").is_err());
        let cases: [(&[u8], InvalidIdKind); 4] = [
            (b"", InvalidIdKind::Empty),
            (b"a\tb", InvalidIdKind::ForbiddenByte { position: 1 }),
            (b"two words", InvalidIdKind::ForbiddenByte { position: 3 }),
            (&[b'x'; 600], InvalidIdKind::TooLong { len: 600 }),
        ];
        for (value, kind) in cases {
            let map = headers(&[(&X_CORRELATION_ID, value)]);
            assert_eq!(kind_of(&map), Some(kind), "{value:?}");
            assert_eq!(extract(&map), None);
        }
    }

    #[test]
    fn a_repeated_header_is_ambiguous() {
        let map = headers(&[(&X_CORRELATION_ID, b"one"), (&X_CORRELATION_ID, b"two")]);
        assert!(matches!(
            read(&map, [&X_CORRELATION_ID], CorrelationId::parse),
            Incoming::Invalid {
                reason: Rejection::Repeated,
                ..
            }
        ));
        assert_eq!(extract(&map), None);
    }

    #[test]
    fn rejection_messages_never_contain_the_value() {
        let map = headers(&[(&X_CORRELATION_ID, b"secret-token value")]);
        let Incoming::Invalid { reason, .. } =
            read(&map, [&X_CORRELATION_ID], CorrelationId::parse)
        else {
            panic!("expected a rejection");
        };
        assert!(!reason.to_string().contains("secret"));
        assert!(!format!("{reason:?}").contains("secret"));
    }
}
