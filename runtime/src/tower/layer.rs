//! The server-side layer and the service it builds.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use ::http::{HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::peer::{ExtensionPeer, PeerAddr};
use crate::baggage::BAGGAGE;
use crate::future::Correlated;
use crate::http::{Found, find_one};
use crate::inbound::{Config, Decision, InSpan, RequestView, request_context, request_span};

/// The `traceparent` header.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Gives every request a correlation ID, the tower counterpart of a
/// correlation-ID middleware.
///
/// For each request the service:
///
/// 1. reads the correlation header (`x-correlation-id`, or the names
///    configured) if the peer is a trusted source, and checks it with the
///    floor and the configured validator;
/// 2. otherwise, or if the value is missing or invalid, generates a new
///    UUIDv7 (logging a refused value at debug level, without the value,
///    with the `tracing` feature); or, with [`OnInvalid::Reject`], answers
///    `400 Bad Request` to an invalid value from a trusted peer;
/// 3. puts the [`CorrelationId`] in the request's extensions and runs the
///    inner service in a context that has it, so handlers read it with
///    [`correlated::current()`](crate::current) after every `.await`, and
///    `#[correlated]` functions inherit it;
/// 4. echoes it in the response's header, replacing any value there.
///
/// With [`baggage`](crate::inbound::CorrelationBuilder::baggage) on, a trusted
/// peer's W3C `baggage` member `correlation_id` is the ID when no correlation
/// header was accepted, checked by the same rules as the header.
///
/// With [`trace_context`](crate::inbound::CorrelationBuilder::trace_context) on, a
/// trusted peer's valid W3C `traceparent` also counts: its trace-id is the ID
/// when no correlation header was accepted, and the parsed
/// [`TraceParent`](super::TraceParent) and the [`TRACE_ID`](super::TRACE_ID) slot record it.
///
/// By default no peer is trusted: every request gets a new ID. Configure
/// trust and the rest with [`CorrelationLayer::builder`].
///
/// # Errors and panics in the inner service
///
/// The echo needs a response. When the inner service returns `Err`, the
/// error passes through unchanged, without an ID, to whatever turns it into a
/// response further out. A panicking handler unwinds through this layer; put
/// tower-http's `CatchPanicLayer` *inside* it (added after it in a
/// `ServiceBuilder`) so the panic becomes a `500` response that still carries
/// the echoed ID.
///
/// # Response bodies
///
/// Responses carry a [`ResponseBody`]: the inner body, polled (and dropped)
/// in the request's context, so chunked bodies, server-sent events and gRPC
/// streams stay correlated after the handler returned. It implements
/// `http_body::Body` with the inner body's data and error types, as axum,
/// hyper and tonic expect. Any body type works (no `Default` needed): the
/// `400` of [`OnInvalid::Reject`] has an empty body of the wrapper's own.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use std::net::SocketAddr;
/// use correlated::tower::CorrelationLayer;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// async fn handler(_request: Request<()>) -> Result<Response<String>, Infallible> {
///     // Any code running for the request sees its ID.
///     let id = correlated::current().expect("set by the layer");
///     Ok(Response::new(format!("handled {id}")))
/// }
///
/// # futures::executor::block_on(async {
/// let service = ServiceBuilder::new()
///     .layer(CorrelationLayer::builder().trust("10.0.0.0/8").unwrap().build())
///     .service(service_fn(handler));
///
/// // From a trusted peer: the ID is kept and echoed.
/// let mut request = Request::builder()
///     .header("x-correlation-id", "req-42")
///     .body(())
///     .unwrap();
/// request.extensions_mut().insert("10.1.2.3:5000".parse::<SocketAddr>().unwrap());
/// let response = service.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["x-correlation-id"], "req-42");
/// assert_eq!(response.body().get_ref().unwrap(), "handled req-42");
///
/// // From anyone else: replaced by a new UUIDv7.
/// let request = Request::builder()
///     .header("x-correlation-id", "req-42")
///     .body(())
///     .unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_ne!(response.headers()["x-correlation-id"], "req-42");
/// # });
/// ```
///
/// [`OnInvalid::Reject`]: super::OnInvalid::Reject
/// [`CorrelationId`]: crate::CorrelationId
#[derive(Clone, Debug)]
pub struct CorrelationLayer<P = ExtensionPeer> {
    config: Arc<Config>,
    peer: P,
}

impl<P> CorrelationLayer<P> {
    pub(super) fn from_parts(config: Arc<Config>, peer: P) -> Self {
        Self { config, peer }
    }
}

impl<S, P: Clone> Layer<S> for CorrelationLayer<P> {
    type Service = CorrelationService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CorrelationService {
            inner,
            config: Arc::clone(&self.config),
            peer: self.peer.clone(),
        }
    }
}

/// The service made by [`CorrelationLayer`]: runs `S` with each request's
/// correlation ID. See the layer for what it does.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use correlated::tower::{CorrelationLayer, CorrelationService};
/// use tower::{Layer, service_fn};
///
/// let inner = service_fn(|_: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new(String::new()))
/// });
/// let service: CorrelationService<_> = CorrelationLayer::new().layer(inner);
/// let _inner = service.into_inner();
/// ```
#[derive(Clone, Debug)]
pub struct CorrelationService<S, P = ExtensionPeer> {
    inner: S,
    config: Arc<Config>,
    peer: P,
}

impl<S, P> CorrelationService<S, P> {
    /// The wrapped service.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let service = correlated::tower::CorrelationLayer::new().layer(7_u8);
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let mut service = correlated::tower::CorrelationLayer::new().layer(7_u8);
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let service = correlated::tower::CorrelationLayer::new().layer(7_u8);
    /// assert_eq!(service.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for CorrelationService<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: PeerAddr<ReqBody>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        let echo = |id: &crate::CorrelationId, incoming: Option<HeaderValue>| {
            let value = config.echo_value(id, incoming)?;
            Some((config.primary_header().clone(), value))
        };
        let view = View {
            request: &request,
            peer: &self.peer,
        };
        let (decision, trace_parent) = config.decide(&view);
        let (id, incoming) = match decision {
            Decision::Accepted(id, value) => (id, Some(value)),
            Decision::Baggage(id) | Decision::Traced(id) | Decision::Generated(id) => (id, None),
            // The inner service is not called: a `400` answers for it.
            Decision::Rejected(id) => return ResponseFuture::rejected(echo(&id, None)),
        };
        if config.set_request_header {
            let name = config.primary_header().clone();
            request.headers_mut().insert(name, HeaderValue::from(&id));
        }
        let echo = echo(&id, incoming);
        // Made before anything enters it, as continuing a trace requires.
        let span = request_span(config, &id, trace_parent.as_ref(), &request);
        request.extensions_mut().insert(id.clone());
        // The trace-context bridge records the `traceparent` beside the ID;
        // the header itself stays as it came.
        let context = request_context(id, trace_parent.as_ref());
        if let Some(parent) = trace_parent {
            request.extensions_mut().insert(parent);
        }
        // `call` often does work before returning its future (routing, span
        // creation): it runs in the request's context too, in the frame the
        // future then keeps, and in the request span.
        let inner = &mut self.inner;
        let body_span = span.clone();
        let future = Correlated::make_in(context.into_values(), || {
            InSpan::make_in(span, || inner.call(request))
        });
        ResponseFuture::called(future, body_span, echo)
    }
}

/// A tower request as the shared decision reads it.
struct View<'r, B, P> {
    request: &'r Request<B>,
    peer: &'r P,
}

impl<B, P: PeerAddr<B>> RequestView for View<'_, B, P> {
    type Value = HeaderValue;

    fn header(&self, _index: usize, name: &HeaderName) -> Option<Found<'_>> {
        find_one(self.request.headers(), name)
    }

    fn traceparent(&self) -> Option<Found<'_>> {
        find_one(self.request.headers(), &TRACEPARENT)
    }

    fn baggage(&self) -> impl Iterator<Item = &[u8]> {
        self.request
            .headers()
            .get_all(BAGGAGE)
            .iter()
            .map(HeaderValue::as_bytes)
    }

    fn peer(&self) -> Option<std::net::IpAddr> {
        self.peer.peer_addr(self.request)
    }
}
