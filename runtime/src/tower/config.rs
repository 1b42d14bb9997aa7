//! The server layer's configuration and the per-request decision: which ID a
//! request runs with.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ::http::{HeaderName, HeaderValue, Request};

use super::layer::CorrelationLayer;
use super::peer::{ExtensionPeer, PeerAddr};
use super::trace_context::{InvalidTraceParent, TRACEPARENT, TraceParent};
use super::trust::{InvalidTrustedSource, TrustedSource};
use crate::http::{Incoming, X_CORRELATION_ID, find};
use crate::id::{CorrelationId, InvalidCorrelationId};

type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type Generator = Arc<dyn Fn() -> CorrelationId + Send + Sync>;

/// What the layer does with an invalid correlation header from a trusted
/// peer. Headers from untrusted peers are ignored whatever they hold.
///
/// # Examples
///
/// ```
/// use correlated::tower::{CorrelationLayer, OnInvalid};
///
/// let strict = CorrelationLayer::builder()
///     .trust("10.0.0.0/8")
///     .unwrap()
///     .on_invalid(OnInvalid::Reject)
///     .build();
/// # drop(strict);
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
enum Validation {
    Floor,
    Uuid,
    Custom(Validator),
}

/// The layer's settings, shared by every service it builds.
#[derive(Clone)]
pub(crate) struct Config {
    /// Never empty; the first is the primary name (echo, rewrite).
    headers: Vec<HeaderName>,
    trusted: Vec<TrustedSource>,
    validation: Validation,
    generator: Option<Generator>,
    pub(crate) on_invalid: OnInvalid,
    pub(crate) echo: bool,
    pub(crate) set_request_header: bool,
    /// Read `traceparent` from trusted peers (the W3C Trace Context bridge).
    trace_context: bool,
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
        }
    }
}

/// Which ID a request runs with.
pub(crate) enum Decision {
    /// The peer is trusted and its header valid; the header's value, to
    /// echo without formatting the ID again when it was kept verbatim.
    Accepted(CorrelationId, HeaderValue),
    /// The peer is trusted, its correlation header absent or invalid, and
    /// its `traceparent` valid: the trace-id.
    Traced(CorrelationId),
    /// No usable header: a new ID.
    Generated(CorrelationId),
    /// `OnInvalid::Reject`: answer 400, under this new ID.
    Rejected(CorrelationId),
}

impl Decision {
    fn id(&self) -> &CorrelationId {
        match self {
            Decision::Accepted(id, _)
            | Decision::Traced(id)
            | Decision::Generated(id)
            | Decision::Rejected(id) => id,
        }
    }
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
    pub(crate) fn primary_header(&self) -> &HeaderName {
        // `headers` always holds at least the primary name.
        &self.headers[0]
    }

    /// Decides the request's ID and, with the trace-context bridge on, the
    /// trusted peer's valid `traceparent` (recorded whichever ID wins).
    pub(crate) fn decide<B, P: PeerAddr<B>>(
        &self,
        request: &Request<B>,
        peer: &P,
    ) -> (Decision, Option<TraceParent>) {
        let headers = request.headers();
        let found = find(headers, &self.headers);
        let present = found.is_present();
        let traced = self.trace_context && headers.contains_key(TRACEPARENT);
        if !present && !traced {
            return (Decision::Generated(self.generate()), None);
        }
        let peer = if self.trusted.is_empty() {
            None
        } else {
            peer.peer_addr(request)
        };
        // A `traceparent` is believed exactly when a correlation header
        // would be: otherwise any client could choose its correlation ID.
        if !peer.is_some_and(|peer| self.trusts(peer)) {
            let id = self.generate();
            report::untrusted(&id, peer, present, traced);
            return (Decision::Generated(id), None);
        }
        let trace = if traced {
            read_traceparent(headers)
        } else {
            TraceHeader::Absent
        };
        let valid_trace = match &trace {
            TraceHeader::Valid(parent) => Some(*parent),
            TraceHeader::Absent | TraceHeader::Invalid(_) => None,
        };
        let incoming = found.check(|value| self.validate(value));
        let decision = match incoming {
            Incoming::Valid { id, value } => Decision::Accepted(id, value),
            Incoming::Absent => self.fall_back(valid_trace.as_ref()),
            Incoming::Invalid { reason, header } => {
                // `Reject` is about the correlation header: a valid
                // `traceparent` does not make an invalid header acceptable.
                let decision = if self.on_invalid == OnInvalid::Reject {
                    Decision::Rejected(self.generate())
                } else {
                    self.fall_back(valid_trace.as_ref())
                };
                let outcome = match &decision {
                    Decision::Rejected(_) => "answering 400 Bad Request",
                    Decision::Traced(_) => "using the traceparent's trace-id",
                    Decision::Accepted(..) | Decision::Generated(_) => "using a new id",
                };
                report::rejected(decision.id(), header, &reason, outcome);
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

    /// No correlation header to use: the trace-id of a valid `traceparent`,
    /// else a new ID.
    fn fall_back(&self, trace: Option<&TraceParent>) -> Decision {
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
fn read_traceparent(headers: &::http::HeaderMap) -> TraceHeader {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let Some(value) = values.next() else {
        return TraceHeader::Absent;
    };
    if values.next().is_some() {
        return TraceHeader::Invalid(TraceRejection::Repeated);
    }
    match TraceParent::parse_bytes(value.as_bytes()) {
        Ok(parent) => TraceHeader::Valid(parent),
        Err(error) => TraceHeader::Invalid(TraceRejection::Invalid(error)),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let validation = match self.validation {
            Validation::Floor => "floor",
            Validation::Uuid => "uuid",
            Validation::Custom(_) => "custom",
        };
        f.debug_struct("Config")
            .field("headers", &self.headers)
            .field("trusted", &self.trusted)
            .field("validation", &validation)
            .field("custom_generator", &self.generator.is_some())
            .field("on_invalid", &self.on_invalid)
            .field("echo", &self.echo)
            .field("set_request_header", &self.set_request_header)
            .field("trace_context", &self.trace_context)
            .finish()
    }
}

/// Configures a [`CorrelationLayer`]; made by [`CorrelationLayer::builder`].
///
/// Every setting has a safe default: header `x-correlation-id`, trust no one,
/// validate with the floor only, generate UUIDv7s, regenerate on an invalid
/// value, echo the ID in the response, leave the request header as it came,
/// ignore `traceparent`.
///
/// # Examples
///
/// ```
/// use correlated::tower::{CorrelationLayer, OnInvalid};
/// use http::HeaderName;
///
/// # fn main() -> Result<(), correlated::tower::InvalidTrustedSource> {
/// let shared = CorrelationLayer::builder()
///     .fallback_header(HeaderName::from_static("x-request-id"))
///     .trust("10.0.0.0/8")?
///     .trust("2001:db8::1")?
///     .validator(|id| id.len() >= 8);
///
/// // A builder is `Clone`: one base configuration, several variants.
/// let public_api = shared.clone().on_invalid(OnInvalid::Reject).build();
/// let internal_api = shared.echo(false).build();
/// # drop((public_api, internal_api));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct CorrelationLayerBuilder<P = ExtensionPeer> {
    config: Config,
    peer: P,
}

impl CorrelationLayerBuilder {
    pub(crate) fn new() -> Self {
        Self {
            config: Config::default(),
            peer: ExtensionPeer,
        }
    }
}

impl<P> CorrelationLayerBuilder<P> {
    /// Reads, echoes and rewrites `name` instead of `x-correlation-id`. Any
    /// fallback headers set before are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .header(HeaderName::from_static("x-request-id"))
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn header(mut self, name: HeaderName) -> Self {
        self.config.headers = vec![name];
        self
    }

    /// Also reads `name`, after the headers configured so far, when none of
    /// them is present (e.g. `x-request-id` from nginx or Envoy).
    ///
    /// The first header present in a request decides: if it is invalid, a
    /// later one is not consulted. The echo and the rewrite always use the
    /// primary name (see [`header`](Self::header)).
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .fallback_header(HeaderName::from_static("x-request-id"))
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn fallback_header(mut self, name: HeaderName) -> Self {
        if !self.config.headers.contains(&name) {
            self.config.headers.push(name);
        }
        self
    }

    /// Believes the correlation header of peers at `source`: an IPv4 or IPv6
    /// address (`10.1.2.3`, `::1`) or a CIDR range (`10.0.0.0/8`,
    /// `fd00::/8`). See [`TrustedSource`] for the exact syntax.
    ///
    /// By default no one is trusted, and every request gets a new ID. To
    /// trust everyone (only behind a gateway that sets or strips the header
    /// itself), trust `0.0.0.0/0` and `::/0`.
    ///
    /// # Errors
    ///
    /// [`InvalidTrustedSource`] naming the entry, if it is not an address or
    /// a range (for example `10.0.0.0/33` or `10.0.0.1/8`).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tower::CorrelationLayer;
    ///
    /// let trusted = CorrelationLayer::builder().trust("127.0.0.1").unwrap().build();
    /// # drop(trusted);
    /// let err = CorrelationLayer::builder().trust("10.0.0.0/33").unwrap_err();
    /// assert!(err.to_string().contains("`10.0.0.0/33`"));
    /// ```
    pub fn trust(self, source: &str) -> Result<Self, InvalidTrustedSource> {
        let source = source.parse()?;
        Ok(self.trust_source(source))
    }

    /// Trusts every entry of a list, such as one read from configuration.
    ///
    /// # Errors
    ///
    /// [`InvalidTrustedSource`] for the first entry that is not an address
    /// or a range.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tower::CorrelationLayer;
    ///
    /// let from_env = "10.0.0.0/8, 192.168.0.0/16, ::1";
    /// let layer = CorrelationLayer::builder()
    ///     .trust_many(from_env.split(','))
    ///     .unwrap()
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn trust_many<I>(mut self, sources: I) -> Result<Self, InvalidTrustedSource>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for source in sources {
            self = self.trust(source.as_ref())?;
        }
        Ok(self)
    }

    /// Trusts an already parsed source.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use correlated::tower::{CorrelationLayer, TrustedSource};
    ///
    /// let local = TrustedSource::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
    /// let layer = CorrelationLayer::builder().trust_source(local).build();
    /// # drop(layer);
    /// ```
    pub fn trust_source(mut self, source: TrustedSource) -> Self {
        if !self.config.trusted.contains(&source) {
            self.config.trusted.push(source);
        }
        self
    }

    /// Accepts a trusted value only if `validator` returns `true` for it;
    /// it runs after the floor, and a panic counts as "invalid". Replaces
    /// [`uuid_only`](Self::uuid_only).
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .validator(|id| id.starts_with("req-"))
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn validator<V>(mut self, validator: V) -> Self
    where
        V: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.config.validation = Validation::Custom(Arc::new(validator));
        self
    }

    /// Accepts only RFC 9562 UUIDs, normalised to lowercase hyphenated (see
    /// [`CorrelationId::parse_uuid`]). Replaces any
    /// [`validator`](Self::validator).
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::CorrelationLayer::builder().uuid_only().build();
    /// # drop(layer);
    /// ```
    pub fn uuid_only(mut self) -> Self {
        self.config.validation = Validation::Uuid;
        self
    }

    /// Makes new IDs with `generator` instead of [`CorrelationId::generate`]
    /// (UUIDv7).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use correlated::CorrelationId;
    ///
    /// static NEXT: AtomicU64 = AtomicU64::new(1);
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .generator(|| {
    ///         let n = NEXT.fetch_add(1, Ordering::Relaxed);
    ///         CorrelationId::parse(&format!("edge-{n}")).unwrap()
    ///     })
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn generator<G>(mut self, generator: G) -> Self
    where
        G: Fn() -> CorrelationId + Send + Sync + 'static,
    {
        self.config.generator = Some(Arc::new(generator));
        self
    }

    /// Chooses what happens to an invalid header from a trusted peer; the
    /// default is [`OnInvalid::Regenerate`].
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tower::{CorrelationLayer, OnInvalid};
    ///
    /// let layer = CorrelationLayer::builder().on_invalid(OnInvalid::Reject).build();
    /// # drop(layer);
    /// ```
    pub fn on_invalid(mut self, policy: OnInvalid) -> Self {
        self.config.on_invalid = policy;
        self
    }

    /// Whether to write the ID into the response's primary header (on by
    /// default), replacing any value the inner service set.
    ///
    /// # Examples
    ///
    /// ```
    /// let silent = correlated::tower::CorrelationLayer::builder().echo(false).build();
    /// # drop(silent);
    /// ```
    pub fn echo(mut self, echo: bool) -> Self {
        self.config.echo = echo;
        self
    }

    /// Whether to write the chosen ID into the request's primary header
    /// before calling the inner service (off by default), so code that reads
    /// the header rather than the context sees the same ID. Fallback headers
    /// are left as they came.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .set_request_header(true)
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn set_request_header(mut self, set: bool) -> Self {
        self.config.set_request_header = set;
        self
    }

    /// Turns on the W3C Trace Context bridge (off by default): reads the
    /// `traceparent` header of trusted peers, strictly (see [`TraceParent`]).
    ///
    /// For a request from a trusted peer with a valid `traceparent`:
    ///
    /// - if no correlation header was accepted (none sent, or an invalid one
    ///   under [`OnInvalid::Regenerate`]), the trace-id (32 lowercase hex
    ///   digits, verbatim) becomes the correlation ID; the validator and
    ///   [`uuid_only`](Self::uuid_only) apply to the correlation header
    ///   only, and [`OnInvalid::Reject`] still answers `400` to an invalid
    ///   one;
    /// - either way, both are recorded: the [`TraceParent`] goes into the
    ///   request's extensions, and its trace-id into the
    ///   [`TRACE_ID`](super::TRACE_ID) slot of the request's context.
    ///
    /// The peer must be trusted, as for the correlation header, since
    /// otherwise any client could choose its correlation ID; an untrusted
    /// peer's `traceparent` is ignored entirely. An invalid or repeated one
    /// is ignored too, with a debug log (feature `tracing`) that does not
    /// contain it. The `traceparent` header itself is never rewritten, in
    /// the request or the response.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::net::SocketAddr;
    /// use correlated::tower::{CorrelationLayer, TraceParent};
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # futures::executor::block_on(async {
    /// let layer = CorrelationLayer::builder()
    ///     .trust("10.0.0.0/8")
    ///     .unwrap()
    ///     .trace_context(true)
    ///     .build();
    /// let service = layer.layer(service_fn(|request: http::Request<()>| async move {
    ///     let parent = request.extensions().get::<TraceParent>().unwrap();
    ///     assert!(parent.sampled());
    ///     Ok::<_, Infallible>(http::Response::new(String::new()))
    /// }));
    ///
    /// let mut request = http::Request::builder()
    ///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    ///     .body(())
    ///     .unwrap();
    /// request.extensions_mut().insert("10.0.0.7:5000".parse::<SocketAddr>().unwrap());
    /// let response = service.oneshot(request).await.unwrap();
    /// assert_eq!(response.headers()["x-correlation-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(!response.headers().contains_key("traceparent"));
    /// # });
    /// ```
    pub fn trace_context(mut self, enabled: bool) -> Self {
        self.config.trace_context = enabled;
        self
    }

    /// Finds the peer address with `peer` instead of [`ExtensionPeer`]; see
    /// [`PeerAddr`]. A closure needs its argument type written out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, SocketAddr};
    ///
    /// #[derive(Clone)]
    /// struct Accepted { remote: SocketAddr }
    ///
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .trust("10.0.0.0/8")
    ///     .unwrap()
    ///     .peer_addr(|request: &http::Request<String>| -> Option<IpAddr> {
    ///         Some(request.extensions().get::<Accepted>()?.remote.ip())
    ///     })
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn peer_addr<Q>(self, peer: Q) -> CorrelationLayerBuilder<Q> {
        CorrelationLayerBuilder {
            config: self.config,
            peer,
        }
    }

    /// The layer, ready to wrap services.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::CorrelationLayer::builder().build();
    /// # drop(layer);
    /// ```
    pub fn build(self) -> CorrelationLayer<P> {
        CorrelationLayer::from_parts(Arc::new(self.config), self.peer)
    }
}

impl<P: fmt::Debug> fmt::Debug for CorrelationLayerBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationLayerBuilder")
            .field("config", &self.config)
            .field("peer", &self.peer)
            .finish()
    }
}

/// Debug-level logs of refused headers (feature `tracing`). They are emitted
/// in the context of the request's ID, and never contain the refused value.
mod report {
    use std::net::IpAddr;

    use ::http::HeaderName;

    use super::TraceRejection;
    use crate::http::Rejection;
    use crate::id::CorrelationId;

    #[cfg(feature = "tracing")]
    fn in_context(id: &CorrelationId, log: impl FnOnce()) {
        crate::context::Context::current()
            .with_correlation_id(id.clone())
            .run(log);
    }

    #[cfg(feature = "tracing")]
    pub(super) fn untrusted(
        id: &CorrelationId,
        peer: Option<IpAddr>,
        correlation: bool,
        traceparent: bool,
    ) {
        let ignored = match (correlation, traceparent) {
            (true, true) => "correlation id and traceparent headers",
            (false, true) => "traceparent header",
            _ => "correlation id header",
        };
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
    pub(super) fn invalid_traceparent(id: &CorrelationId, reason: &TraceRejection) {
        in_context(id, || {
            ::tracing::debug!(reason = %reason, "ignored the incoming traceparent");
        });
    }

    #[cfg(not(feature = "tracing"))]
    pub(super) fn untrusted(_: &CorrelationId, _: Option<IpAddr>, _: bool, _: bool) {}

    #[cfg(not(feature = "tracing"))]
    pub(super) fn rejected(_: &CorrelationId, _: &HeaderName, _: &Rejection, _: &str) {}

    #[cfg(not(feature = "tracing"))]
    pub(super) fn invalid_traceparent(_: &CorrelationId, _: &TraceRejection) {}
}
