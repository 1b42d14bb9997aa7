//! The options of the server-side middleware, written once: one builder
//! type, generic over what it builds (the tower layer, the actix-web
//! middleware). Each integration adds its own `build` and whatever only it
//! has (tower's `peer_addr`).

use std::fmt;
use std::sync::Arc;

use ::http::HeaderName;

use super::decision::{Config, OnInvalid, Validation};
use super::trust::{InvalidTrustedSource, TrustedSource};
use crate::id::CorrelationId;

/// A middleware that a [`CorrelationBuilder`] builds: tower's
/// `CorrelationLayer` or actix-web's `Correlation`. Implemented by this
/// crate's integrations only.
pub trait Integration: sealed::Sealed {
    /// What the integration keeps beside the shared settings until it is
    /// built (tower: how to find the peer address).
    type Parts;
}

/// A header name the builder accepts: `http`'s `HeaderName` (version 1, as
/// tower uses), and with the `actix-web` feature actix-web's own (which is
/// `http` 0.2's). Both are lowercase tokens, so one converts to the other
/// without loss. Implemented by this crate only.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use http::HeaderName;
///
/// let layer = correlated::tower::CorrelationLayer::builder()
///     .header(HeaderName::from_static("x-request-id"))
///     .build();
/// # drop(layer);
/// # }
/// ```
pub trait IntoHeaderName: sealed::Sealed {
    #[doc(hidden)]
    fn into_header_name(self) -> HeaderName;
}

impl IntoHeaderName for HeaderName {
    fn into_header_name(self) -> HeaderName {
        self
    }
}

impl sealed::Sealed for HeaderName {}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Configures a server middleware: tower's layer (made by
/// `correlated::tower::CorrelationLayer::builder()`, as
/// `CorrelationLayerBuilder`) or actix-web's (made by
/// `correlated::actix::Correlation::builder()`). The options are the same for
/// both, and so are the rules they drive; `T` is what `.build()` makes.
///
/// Every setting has a safe default: header `x-correlation-id`, trust no one,
/// validate with the floor only, generate UUIDv7s, regenerate on an invalid
/// value, echo the ID in the response, leave the request header as it came,
/// ignore `baggage` and `traceparent`.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
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
/// # main().unwrap();
/// # }
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct CorrelationBuilder<T: Integration> {
    pub(crate) config: Config,
    pub(crate) parts: T::Parts,
}

impl<T: Integration> CorrelationBuilder<T> {
    /// A builder with every default, and the integration's `parts`.
    pub(crate) fn with_parts(parts: T::Parts) -> Self {
        Self {
            config: Config::default(),
            parts,
        }
    }
}

// By hand: the bounds are on `T::Parts`, not on `T`.
impl<T: Integration> Clone for CorrelationBuilder<T>
where
    T::Parts: Clone,
{
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            parts: self.parts.clone(),
        }
    }
}

impl<T: Integration> fmt::Debug for CorrelationBuilder<T>
where
    T::Parts: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationBuilder")
            .field("config", &self.config)
            .field("parts", &self.parts)
            .finish()
    }
}

impl<T: Integration> CorrelationBuilder<T> {
    /// Reads, echoes and rewrites `name` instead of `x-correlation-id`. Any
    /// fallback headers set before are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use http::HeaderName;
    ///
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .header(HeaderName::from_static("x-request-id"))
    ///     .build();
    /// # drop(layer);
    /// # }
    /// ```
    pub fn header(mut self, name: impl IntoHeaderName) -> Self {
        self.config.headers = vec![name.into_header_name()];
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use http::HeaderName;
    ///
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .fallback_header(HeaderName::from_static("x-request-id"))
    ///     .build();
    /// # drop(layer);
    /// # }
    /// ```
    pub fn fallback_header(mut self, name: impl IntoHeaderName) -> Self {
        let name = name.into_header_name();
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::CorrelationLayer;
    ///
    /// let trusted = CorrelationLayer::builder().trust("127.0.0.1").unwrap().build();
    /// # drop(trusted);
    /// let err = CorrelationLayer::builder().trust("10.0.0.0/33").unwrap_err();
    /// assert!(err.to_string().contains("`10.0.0.0/33`"));
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::CorrelationLayer;
    ///
    /// let from_env = "10.0.0.0/8, 192.168.0.0/16, ::1";
    /// let layer = CorrelationLayer::builder()
    ///     .trust_many(from_env.split(','))
    ///     .unwrap()
    ///     .build();
    /// # drop(layer);
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use correlated::tower::{CorrelationLayer, TrustedSource};
    ///
    /// let local = TrustedSource::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
    /// let layer = CorrelationLayer::builder().trust_source(local).build();
    /// # drop(layer);
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .validator(|id| id.starts_with("req-"))
    ///     .build();
    /// # drop(layer);
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// let layer = correlated::tower::CorrelationLayer::builder().uuid_only().build();
    /// # drop(layer);
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
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
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::{CorrelationLayer, OnInvalid};
    ///
    /// let layer = CorrelationLayer::builder().on_invalid(OnInvalid::Reject).build();
    /// # drop(layer);
    /// # }
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
    /// # #[cfg(feature = "tower")]
    /// # {
    /// let silent = correlated::tower::CorrelationLayer::builder().echo(false).build();
    /// # drop(silent);
    /// # }
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
    /// With actix-web the write needs the request's headers mutably, which
    /// actix-web lends only while no one else holds the `HttpRequest`. Under
    /// a middleware outside `Correlation` that keeps a clone of it across
    /// the inner call, the header is left as it came (the request still runs
    /// with its ID in the context and the extensions) and debug builds
    /// report it on stderr; the panic actix-web raises there is caught
    /// before anything is written, though the panic hook still prints it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .set_request_header(true)
    ///     .build();
    /// # drop(layer);
    /// # }
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
    ///   under [`OnInvalid::Regenerate`]) and, with [`baggage`](Self::baggage)
    ///   on, no `correlation_id` from the `baggage` either, the trace-id (32
    ///   lowercase hex digits, verbatim) becomes the correlation ID; the validator and
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
    /// # #[cfg(feature = "tower")]
    /// # {
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
    /// # }
    /// ```
    ///
    /// [`TraceParent`]: super::TraceParent
    pub fn trace_context(mut self, enabled: bool) -> Self {
        self.config.trace_context = enabled;
        self
    }

    /// Also reads the correlation ID from the `correlation_id` member of a
    /// trusted peer's W3C `baggage` header (off by default), as OpenTelemetry
    /// services and the client layers' `.baggage(true)` send it.
    ///
    /// The order is fixed: the correlation header(s), then the baggage's
    /// `correlation_id`, then the `traceparent`'s trace-id (with
    /// [`trace_context`](Self::trace_context) on), then a new ID. So the
    /// baggage counts only when no correlation header was accepted (none
    /// sent, or an invalid one under [`OnInvalid::Regenerate`]).
    ///
    /// The member is held to the header's rules, by the same code:
    ///
    /// - only from a trusted peer; an untrusted peer's `baggage` is ignored
    ///   entirely (not even parsed);
    /// - its decoded value must pass the floor of [`CorrelationId::parse`]
    ///   and then the [`validator`](Self::validator) or
    ///   [`uuid_only`](Self::uuid_only). A value that fails, or a member sent
    ///   twice, is rejected as an invalid header is: [`OnInvalid::Reject`]
    ///   answers `400`, [`OnInvalid::Regenerate`] goes on to the next source;
    /// - a `baggage` header that is malformed or past the limits (64 members,
    ///   8192 bytes; see [`crate::baggage`]) is ignored whole, never partly
    ///   used, and is not a rejection.
    ///
    /// Every refusal is logged at debug level (feature `tracing`) with the
    /// rule that failed, never with the value. The `baggage` header is left
    /// as it came; the echo is the correlation header, as always.
    ///
    /// Off by default because a baggage member is an application value that
    /// OpenTelemetry SDKs forward on every call: a service opts in when its
    /// callers put the ID there.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use std::convert::Infallible;
    /// use std::net::SocketAddr;
    /// use correlated::tower::CorrelationLayer;
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # futures::executor::block_on(async {
    /// let layer = CorrelationLayer::builder()
    ///     .trust("10.0.0.0/8")
    ///     .unwrap()
    ///     .baggage(true)
    ///     .build();
    /// let service = layer.layer(service_fn(|_: http::Request<()>| async {
    ///     let id = correlated::current().unwrap();
    ///     Ok::<_, Infallible>(http::Response::new(id.to_string()))
    /// }));
    ///
    /// let mut request = http::Request::builder()
    ///     .header("baggage", "userId=alice,correlation_id=req-7")
    ///     .body(())
    ///     .unwrap();
    /// request.extensions_mut().insert("10.0.0.7:5000".parse::<SocketAddr>().unwrap());
    /// let response = service.oneshot(request).await.unwrap();
    /// assert_eq!(response.headers()["x-correlation-id"], "req-7");
    /// assert_eq!(response.body().get_ref().unwrap(), "req-7");
    /// # });
    /// # }
    /// ```
    pub fn baggage(mut self, enabled: bool) -> Self {
        self.config.baggage = enabled;
        self
    }
}

// === The request span (feature `tracing`) ===

#[cfg(feature = "tracing")]
impl<T: Integration> CorrelationBuilder<T> {
    /// Makes a span for every request, as `spans` says (name `request`,
    /// tower-http's fields and `correlation_id`), entered for every poll of
    /// the handler's future and of the response body, so that every layer of
    /// the subscriber (tracing-opentelemetry included) sees the ID in the
    /// span context. Off by default. The tower layer and the actix-web
    /// middleware make the same span; user slots chosen with
    /// [`RequestSpan::slot`](crate::tracing::RequestSpan::slot) are fields
    /// too, recorded when the span is made and when the handler's future
    /// completes.
    ///
    /// With tower-http's `TraceLayer` in the same service, leave this off and
    /// give `TraceLayer` the same span instead, with
    /// `.make_span_with(correlated::tracing::request_span)`: two spans named
    /// `request` would nest. With the `opentelemetry` feature and
    /// [`trace_context`](Self::trace_context) on, the span of a request whose
    /// `traceparent` was accepted continues that trace.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// use correlated::tower::CorrelationLayer;
    /// use correlated::tracing::RequestSpan;
    ///
    /// let layer = CorrelationLayer::builder()
    ///     .request_span(RequestSpan::new().level(tracing::Level::INFO))
    ///     .build();
    /// # drop(layer);
    /// # }
    /// ```
    ///
    /// On actix-web, with a user slot as a field:
    ///
    /// ```
    /// # #[cfg(feature = "actix-web")]
    /// # {
    /// use correlated::actix::Correlation;
    /// use correlated::tracing::RequestSpan;
    ///
    /// correlated::slot! { pub static TENANT: String; }
    ///
    /// let correlation = Correlation::builder()
    ///     .request_span(RequestSpan::new().slot(&TENANT))
    ///     .build();
    /// # drop(correlation);
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn request_span(mut self, spans: crate::tracing::RequestSpan) -> Self {
        self.config.request_span = Some(spans);
        self
    }
}
