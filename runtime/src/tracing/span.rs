//! The request span: a [`tracing`] span that carries `correlation_id` as a
//! field, so every layer of a subscriber sees the ID in the span context,
//! not only the fmt layer that [`CorrelatedFormat`](super::CorrelatedFormat)
//! wraps.

// Making the span needs a request: the `http` feature, which every server
// integration has.
#[cfg(feature = "http")]
use std::fmt;

use ::tracing::Level;
#[cfg(feature = "http")]
use ::tracing::Span;

#[cfg(feature = "http")]
use crate::id::CorrelationId;

/// The span's name, as tower-http's `DefaultMakeSpan` names its own.
#[cfg(feature = "http")]
const NAME: &str = "request";

/// How the request span is made: the span tower-http's `TraceLayer` makes by
/// default (`DefaultMakeSpan`: name `request`, level `DEBUG`, fields
/// `method`, `uri` and `version`), plus `correlation_id`.
///
/// Use it in one of two places, never both (each makes a span named
/// `request`):
///
/// - on the layer, with
#[cfg_attr(
    feature = "tower",
    doc = "  [`CorrelationLayerBuilder::request_span`](crate::tower::CorrelationLayerBuilder::request_span),"
)]
#[cfg_attr(
    not(feature = "tower"),
    doc = "  `CorrelationLayerBuilder::request_span`,"
)]
///   when the service has no `TraceLayer`: the layer makes the span and
///   enters it for every poll of the request's future and response body;
/// - in tower-http's `TraceLayer`, with
///   `.make_span_with(correlated::tracing::request_span)` (or a closure
///   calling `RequestSpan::make` for another level), when the service has
///   one: `TraceLayer` then makes this span instead of its own. Add it
///   *after* `CorrelationLayer` in a `ServiceBuilder` (inside it), so the ID
///   is decided before the span is made.
///
/// The span's target is `correlated::tracing`. With the `opentelemetry`
/// feature and the layer's trace-context bridge on, a span made for a
/// request whose `traceparent` the layer accepted continues that trace: its
/// OpenTelemetry parent is the caller's span.
///
/// # Examples
///
/// ```
/// use correlated::tracing::RequestSpan;
/// use tracing::Level;
///
/// let spans = RequestSpan::new().level(Level::INFO);
/// # drop(spans);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestSpan {
    level: Level,
}

impl RequestSpan {
    /// Spans at level `DEBUG`, tower-http's default.
    ///
    /// # Examples
    ///
    /// ```
    /// let spans = correlated::tracing::RequestSpan::new();
    /// # drop(spans);
    /// ```
    pub const fn new() -> Self {
        Self {
            level: Level::DEBUG,
        }
    }

    /// Makes the spans at `level` instead. A span whose level the subscriber
    /// filters out is not made at all, so an `info` filter needs
    /// `Level::INFO` here (or a directive such as `correlated=debug`).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::RequestSpan;
    ///
    /// let spans = RequestSpan::new().level(tracing::Level::INFO);
    /// # drop(spans);
    /// ```
    #[must_use = "this returns a new `RequestSpan` and leaves the original unchanged"]
    pub const fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// The span for `request`: `correlation_id` is the [`CorrelationId`] in
    /// the request's extensions (where `CorrelationLayer` puts it), else the
    /// current one; the field is left empty when there is neither.
    ///
    /// With the `opentelemetry` feature, a
    #[cfg_attr(feature = "tower", doc = "[`TraceParent`](crate::tower::TraceParent)")]
    #[cfg_attr(not(feature = "tower"), doc = "`TraceParent`")]
    /// in the extensions (the layer's trace-context bridge accepted it)
    /// becomes the span's OpenTelemetry parent.
    ///
    /// # Examples
    ///
    /// Inside tower-http's `TraceLayer`, at level `INFO`:
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # futures::executor::block_on(async {
    /// use correlated::tower::CorrelationLayer;
    /// use correlated::tracing::RequestSpan;
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_http::trace::TraceLayer;
    /// # use std::convert::Infallible;
    /// # let app = tower::service_fn(|_: http::Request<String>| async {
    /// #     Ok::<_, Infallible>(http::Response::new(String::new()))
    /// # });
    ///
    /// let spans = RequestSpan::new().level(tracing::Level::INFO);
    /// let service = ServiceBuilder::new()
    ///     .layer(CorrelationLayer::new())
    ///     .layer(TraceLayer::new_for_http().make_span_with(move |request: &http::Request<_>| {
    ///         spans.make(request)
    ///     }))
    ///     .service(app);
    ///
    /// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
    /// assert!(response.headers().contains_key("x-correlation-id"));
    /// # });
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn make<B>(&self, request: &::http::Request<B>) -> Span {
        let extensions = request.extensions();
        let span = match extensions.get::<CorrelationId>() {
            Some(id) => self.make_with(Some(id), request),
            None => self.make_with(crate::current().as_ref(), request),
        };
        #[cfg(all(feature = "tower", feature = "opentelemetry"))]
        if let Some(parent) = extensions.get::<crate::tower::TraceParent>() {
            crate::opentelemetry::continue_trace(&span, parent);
        }
        span
    }

    /// The span for a request with correlation ID `id`; the shared maker of
    /// every integration (tower, actix-web), which differ only in how they
    /// hold the method, URI and version.
    #[cfg(feature = "http")]
    pub(crate) fn make_with(&self, id: Option<&CorrelationId>, request: &impl RequestLine) -> Span {
        let method = request.method();
        let uri = request.uri();
        let version = request.version();
        let id = id.map(|id| ::tracing::field::display(id.as_str()));
        // `span!` needs its level as a constant (tower-http does the same).
        macro_rules! make_span {
            ($level:expr) => {
                ::tracing::span!(
                    target: "correlated::tracing",
                    $level,
                    NAME,
                    method = %method,
                    uri = %uri,
                    version = ?version,
                    correlation_id = id,
                )
            };
        }
        match self.level {
            Level::ERROR => make_span!(Level::ERROR),
            Level::WARN => make_span!(Level::WARN),
            Level::INFO => make_span!(Level::INFO),
            Level::DEBUG => make_span!(Level::DEBUG),
            Level::TRACE => make_span!(Level::TRACE),
        }
    }
}

impl Default for RequestSpan {
    fn default() -> Self {
        Self::new()
    }
}

/// What the request span shows of a request, whichever `http` types the
/// framework uses (actix-web's differ from `http` 1's). Every server
/// integration has the `http` feature.
#[cfg(feature = "http")]
pub(crate) trait RequestLine {
    fn method(&self) -> impl fmt::Display;
    fn uri(&self) -> impl fmt::Display;
    /// Shown with `Debug`, as `HTTP/1.1`, like tower-http.
    fn version(&self) -> impl fmt::Debug;
}

#[cfg(feature = "http")]
impl<B> RequestLine for ::http::Request<B> {
    fn method(&self) -> impl fmt::Display {
        self.method()
    }

    fn uri(&self) -> impl fmt::Display {
        self.uri()
    }

    fn version(&self) -> impl fmt::Debug {
        self.version()
    }
}

/// [`RequestSpan::new().make(request)`](RequestSpan::make): the default
/// request span, as a function to hand to tower-http's
/// `TraceLayer::make_span_with`.
///
/// # Examples
///
/// `TraceLayer` inside `CorrelationLayer` (added after it), making this span
/// instead of its own:
///
/// ```
/// # #[cfg(feature = "tower")]
/// # futures::executor::block_on(async {
/// use correlated::tower::CorrelationLayer;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_http::trace::TraceLayer;
/// # use std::convert::Infallible;
/// # let app = tower::service_fn(|_: http::Request<String>| async {
/// #     Ok::<_, Infallible>(http::Response::new(String::new()))
/// # });
///
/// let service = ServiceBuilder::new()
///     .layer(CorrelationLayer::new())
///     .layer(TraceLayer::new_for_http().make_span_with(correlated::tracing::request_span))
///     .service(app);
///
/// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
/// assert!(response.headers().contains_key("x-correlation-id"));
/// # });
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub fn request_span<B>(request: &::http::Request<B>) -> Span {
    RequestSpan::new().make(request)
}
