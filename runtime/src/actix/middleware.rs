//! The middleware (`Transform`) and the service it builds.

use std::future::{Ready, ready};
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpResponse};

use super::body::ResponseBody;
use super::future::ResponseFuture;
use crate::future::Correlated;
use crate::http::{Found, found};
use crate::id::CorrelationId;
use crate::inbound::{
    Config, Decision, HeaderBytes, InSpan, RequestView, request_context, request_span,
};

/// The `traceparent` header, as actix-web names headers.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The `baggage` header, as actix-web names headers.
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// Gives every request a correlation ID: the actix-web counterpart of
/// [`tower::CorrelationLayer`](crate::tower::CorrelationLayer), with the same
/// options and rules.
///
/// For each request the middleware:
///
/// 1. reads the correlation header (`x-correlation-id`, or the names
///    configured) if the peer is a trusted source, and checks it with the
///    floor and the configured validator;
/// 2. otherwise, or if the value is missing or invalid, generates a new
///    UUIDv7 (logging a refused value at debug level, without the value,
///    with the `tracing` feature); or, with [`OnInvalid::Reject`], answers
///    `400 Bad Request` to an invalid value from a trusted peer;
/// 3. puts the [`CorrelationId`] in the request's extensions (so handlers
///    can take it as an argument: it is an extractor) and runs the inner
///    service in a context that has it: middleware inside this one,
///    extractors, the handler and the response body all see it with
///    [`correlated::current()`](crate::current);
/// 4. echoes it in the response's header, replacing any value there, also
///    on responses made from a handler's `Err(actix_web::Error)` or an
///    extractor's rejection (and on a middleware's `Err`, through
///    [`EchoedError`](super::EchoedError)).
///
/// With [`baggage`](crate::inbound::CorrelationBuilder::baggage) and
/// [`trace_context`](crate::inbound::CorrelationBuilder::trace_context) on, a
/// trusted peer's `baggage` member `correlation_id`, then its `traceparent`'s
/// trace-id, stand in when no correlation header was accepted, as in the
/// tower layer.
///
/// The peer is the socket's, [`ServiceRequest::peer_addr`]: the TCP peer,
/// never `Forwarded` or `X-Forwarded-For` (which actix-web's
/// `realip_remote_addr` reads, and any client can send). Behind a proxy,
/// trust the proxy's address. A request without a peer address (a test
/// request that sets none, a Unix socket) is never trusted.
///
/// By default no peer is trusted: every request gets a new ID. Configure
/// trust and the rest with [`Correlation::builder`].
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use correlated::CorrelationId;
/// use correlated::actix::Correlation;
///
/// async fn handler(id: CorrelationId) -> HttpResponse {
///     // Any code running for the request sees its ID.
///     assert_eq!(correlated::current().as_ref(), Some(&id));
///     HttpResponse::Ok().body(format!("handled {id}"))
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let correlation = Correlation::builder().trust("10.0.0.0/8").unwrap().build();
/// let app = test::init_service(
///     App::new().wrap(correlation).route("/", web::get().to(handler)),
/// )
/// .await;
///
/// // From a trusted peer: the ID is kept and echoed.
/// let request = test::TestRequest::get()
///     .insert_header(("x-correlation-id", "req-42"))
///     .peer_addr("10.1.2.3:5000".parse().unwrap())
///     .to_request();
/// let response = test::call_service(&app, request).await;
/// assert_eq!(response.headers().get("x-correlation-id").unwrap(), "req-42");
/// assert_eq!(test::read_body(response).await, "handled req-42");
///
/// // From anyone else: replaced by a new UUIDv7.
/// let request = test::TestRequest::get()
///     .insert_header(("x-correlation-id", "req-42"))
///     .peer_addr("192.0.2.7:5000".parse().unwrap())
///     .to_request();
/// let response = test::call_service(&app, request).await;
/// assert_ne!(response.headers().get("x-correlation-id").unwrap(), "req-42");
/// # });
/// ```
///
/// [`OnInvalid::Reject`]: super::OnInvalid::Reject
#[derive(Clone, Debug)]
pub struct Correlation {
    settings: Arc<Settings>,
}

/// The shared settings, and the header names in actix-web's form, converted
/// once: `names[i]` is `config.headers[i]`.
#[derive(Debug)]
struct Settings {
    config: Config,
    names: Box<[HeaderName]>,
}

impl Correlation {
    pub(super) fn from_config(config: Config) -> Self {
        let names = config
            .headers
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_str().as_bytes())
                    .expect("both `http` versions accept the same lowercase header names")
            })
            .collect();
        Self {
            settings: Arc::new(Settings { config, names }),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Correlation
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Transform = CorrelationMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, inner: S) -> Self::Future {
        ready(Ok(CorrelationMiddleware {
            inner,
            settings: Arc::clone(&self.settings),
        }))
    }
}

/// The service made by [`Correlation`]: runs `S` with each request's
/// correlation ID. See the middleware for what it does.
///
/// # Examples
///
/// ```
/// use actix_web::dev::{Service, ServiceRequest, Transform, fn_service};
/// use actix_web::{HttpResponse, test};
/// use correlated::actix::{Correlation, CorrelationMiddleware};
///
/// # actix_web::rt::System::new().block_on(async {
/// let inner = fn_service(|request: ServiceRequest| async {
///     Ok::<_, actix_web::Error>(request.into_response(HttpResponse::Ok()))
/// });
/// let service: CorrelationMiddleware<_> = Correlation::new().new_transform(inner).await.unwrap();
/// let response = service.call(test::TestRequest::get().to_srv_request()).await.unwrap();
/// assert!(response.headers().contains_key("x-correlation-id"));
/// # });
/// ```
#[derive(Debug)]
pub struct CorrelationMiddleware<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S, B> Service<ServiceRequest> for CorrelationMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S::Future, B>;

    forward_ready!(inner);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let Settings { config, names } = &*self.settings;
        let echo = |id: &CorrelationId, incoming: Option<HeaderValue>| {
            let value = config.echo_value(id, incoming)?;
            Some((names[0].clone(), value))
        };
        let view = View {
            request: &request,
            names,
        };
        let (decision, trace_parent) = config.decide(&view);
        let (id, incoming) = match decision {
            Decision::Accepted(id, value) => (id, Some(value)),
            Decision::Baggage(id) | Decision::Traced(id) | Decision::Generated(id) => (id, None),
            // The inner service is not called: a `400` answers for it.
            Decision::Rejected(id) => {
                let response =
                    HttpResponse::with_body(StatusCode::BAD_REQUEST, ResponseBody::empty());
                return ResponseFuture::rejected(request.into_response(response), echo(&id, None));
            }
        };
        if config.set_request_header {
            set_request_header(&mut request, &names[0], &id);
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
        // Routing, guards and the middleware inside this one run in `call`:
        // in the request's context too, in the frame the future then keeps,
        // and in the request span.
        let inner = &self.inner;
        let body_span = span.clone();
        let future = Correlated::make_in(context.into_values(), || {
            InSpan::make_in(span, || inner.call(request))
        });
        ResponseFuture::called(future, body_span, echo)
    }
}

/// Writes the ID into the request's `name` header, unless the request is
/// shared.
///
/// actix-web lends a request's head mutably only while no one else holds the
/// `HttpRequest` (it panics otherwise): an outer middleware that keeps a
/// clone across the inner call (`req.request().clone()`, or
/// `req.extract::<HttpRequest>()`) makes the write impossible. Then the
/// header stays as it came, the request runs as usual with its ID in the
/// context and the extensions, and debug builds report it. actix-web offers
/// no way to ask first, so its panic is caught: it happens before anything
/// is written (the check is the first step of `headers_mut`), so nothing is
/// left half-done. The panic hook still runs, and under `panic = "abort"`
/// the process aborts, as it would without this.
fn set_request_header(request: &mut ServiceRequest, name: &HeaderName, id: &CorrelationId) {
    let value = HeaderValue::from_id(id);
    let write = AssertUnwindSafe(|| {
        request.headers_mut().insert(name.clone(), value);
    });
    if catch_unwind(write).is_err() {
        crate::misuse::report(format_args!(
            "`set_request_header` could not write `{name}`: a middleware outside \
             `Correlation` holds a clone of the `HttpRequest`, so actix-web cannot lend its \
             headers mutably. The request runs with its ID in the context and the \
             extensions, and the header as it came. Fix: drop the clone before calling the \
             inner service, or wrap `Correlation` outside that middleware."
        ));
    }
}

/// An actix-web request as the shared decision reads it.
struct View<'r> {
    request: &'r ServiceRequest,
    names: &'r [HeaderName],
}

impl RequestView for View<'_> {
    type Value = HeaderValue;

    fn header(&self, index: usize, _name: &::http::HeaderName) -> Option<Found<'_, HeaderValue>> {
        found(self.request.headers().get_all(&self.names[index]))
    }

    fn traceparent(&self) -> Option<Found<'_, HeaderValue>> {
        found(self.request.headers().get_all(&TRACEPARENT))
    }

    fn baggage(&self) -> impl Iterator<Item = &[u8]> {
        self.request
            .headers()
            .get_all(&BAGGAGE)
            .map(HeaderValue::as_bytes)
    }

    fn peer(&self) -> Option<IpAddr> {
        // The socket's peer; `realip_remote_addr` would read forwarding
        // headers, which any client can send.
        self.request.peer_addr().map(|addr| addr.ip())
    }
}

impl HeaderBytes for HeaderValue {
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }

    fn from_id(id: &CorrelationId) -> Self {
        // Every byte of an ID is visible ASCII, which `from_str` accepts; the
        // fallback only exists so that this can never panic.
        HeaderValue::from_str(id.as_str()).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// What the request span shows of an actix-web request: the same fields,
/// written the same way, as tower-http's span of an `http` 1 request.
#[cfg(feature = "tracing")]
impl crate::tracing::RequestLine for ServiceRequest {
    fn method(&self) -> impl std::fmt::Display {
        ServiceRequest::method(self)
    }

    fn uri(&self) -> impl std::fmt::Display {
        ServiceRequest::uri(self)
    }

    fn version(&self) -> impl std::fmt::Debug {
        ServiceRequest::version(self)
    }
}
