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
        Self { header }
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
        inject_named(request.headers_mut(), &self.header);
        self.inner.call(request)
    }
}
