//! The client-side layer: the current ID on every outgoing request.

use std::task::{Context as TaskContext, Poll};

use ::http::{HeaderName, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::http::{X_CORRELATION_ID, inject_named};

/// Puts the current correlation ID on every outgoing request, for HTTP
/// clients built from tower services (hyper-util's `Client`, tonic's
/// `Channel`, reqwest-middleware adapters, ...).
///
/// The header (`x-correlation-id` unless configured) is added when the
/// request is sent from inside a correlated context and does not carry that
/// header already; a header the caller set is never overwritten. Without a
/// current ID nothing is added.
///
/// The ID is read when the request is *called*, so put this layer outermost,
/// above anything that moves the call to another task (such as tower's
/// `Buffer`).
///
/// With [`baggage(true)`](Self::baggage) it also adds `correlation_id=<id>`
/// to the W3C `baggage` header, for services that read OpenTelemetry's
/// baggage.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use correlated::tower::PropagateCorrelationLayer;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// // Stands in for a hyper-util client or a tonic channel.
/// let transport = service_fn(|request: Request<()>| async move {
///     let sent = request.headers().get("x-correlation-id").cloned();
///     Ok::<_, Infallible>(Response::new(sent))
/// });
/// let client = ServiceBuilder::new()
///     .layer(PropagateCorrelationLayer::new())
///     .service(transport);
///
/// let _guard = correlated::scope("req-42".parse().unwrap());
/// let response = futures::executor::block_on(client.oneshot(Request::new(()))).unwrap();
/// assert_eq!(response.into_body().unwrap(), "req-42");
/// ```
#[derive(Clone, Debug)]
pub struct PropagateCorrelationLayer {
    header: HeaderName,
    baggage: bool,
}

impl PropagateCorrelationLayer {
    /// Propagates in the `x-correlation-id` header.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::PropagateCorrelationLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> Self {
        Self::with_header(X_CORRELATION_ID)
    }

    /// Propagates in the `header` header.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let layer = correlated::tower::PropagateCorrelationLayer::with_header(
    ///     HeaderName::from_static("x-request-id"),
    /// );
    /// # drop(layer);
    /// ```
    pub fn with_header(header: HeaderName) -> Self {
        Self {
            header,
            baggage: false,
        }
    }

    /// Whether to also add the current ID to the W3C `baggage` header, as
    /// its `correlation_id` member (off by default).
    ///
    /// The members already there are kept as they are, in order, and a
    /// `correlation_id` member the caller put there wins; several `baggage`
    /// lines become one. When the present header is malformed or the member
    /// would take it past the specification's limits (64 members, 8192
    /// bytes), nothing is added and a debug-level log says why (feature
    /// `tracing`). See [`crate::baggage`] for the rules.
    ///
    /// Off by default: a `baggage` member is not just one more header. An
    /// OpenTelemetry SDK downstream takes it into its context and forwards
    /// it on every call it makes, and may copy it into span attributes, so
    /// it is the service's choice. Put this layer below (inside) anything
    /// that writes the whole `baggage` header, such as an OpenTelemetry
    /// propagator's injection, which replaces the header.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use correlated::tower::PropagateCorrelationLayer;
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    ///
    /// let transport = service_fn(|request: Request<()>| async move {
    ///     Ok::<_, Infallible>(Response::new(request.headers()["baggage"].clone()))
    /// });
    /// let client = ServiceBuilder::new()
    ///     .layer(PropagateCorrelationLayer::new().baggage(true))
    ///     .service(transport);
    ///
    /// let _guard = correlated::scope("req-42".parse().unwrap());
    /// let request = Request::builder().header("baggage", "tenant=acme").body(()).unwrap();
    /// let response = futures::executor::block_on(client.oneshot(request)).unwrap();
    /// assert_eq!(response.body(), "tenant=acme,correlation_id=req-42");
    /// ```
    pub fn baggage(mut self, on: bool) -> Self {
        self.baggage = on;
        self
    }
}

impl Default for PropagateCorrelationLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for PropagateCorrelationLayer {
    type Service = PropagateCorrelationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateCorrelationService {
            inner,
            header: self.header.clone(),
            baggage: self.baggage,
        }
    }
}

/// The service made by [`PropagateCorrelationLayer`]: adds the current
/// correlation ID to each request, then calls `S`.
///
/// # Examples
///
/// ```
/// use correlated::tower::{PropagateCorrelationLayer, PropagateCorrelationService};
/// use tower::Layer;
///
/// let client: PropagateCorrelationService<_> = PropagateCorrelationLayer::new().layer(7_u8);
/// assert_eq!(*client.get_ref(), 7);
/// ```
#[derive(Clone, Debug)]
pub struct PropagateCorrelationService<S> {
    inner: S,
    header: HeaderName,
    baggage: bool,
}

impl<S> PropagateCorrelationService<S> {
    /// The wrapped service.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let client = correlated::tower::PropagateCorrelationLayer::new().layer(7_u8);
    /// assert_eq!(*client.get_ref(), 7);
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
    /// let mut client = correlated::tower::PropagateCorrelationLayer::new().layer(7_u8);
    /// *client.get_mut() += 1;
    /// assert_eq!(client.into_inner(), 8);
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
    /// let client = correlated::tower::PropagateCorrelationLayer::new().layer(7_u8);
    /// assert_eq!(client.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for PropagateCorrelationService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let headers = request.headers_mut();
        inject_named(headers, &self.header);
        if self.baggage {
            crate::baggage::inject(headers);
        }
        self.inner.call(request)
    }
}
