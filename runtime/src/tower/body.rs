//! The server layer's response body: the inner body, polled and dropped in
//! the request's context.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, SizeHint};
use pin_project_lite::pin_project;

use crate::current::FrameCell;
use crate::inbound::{InRequest, MaybeSpan};

pin_project! {
    /// The response body of [`CorrelationService`](super::CorrelationService):
    /// the inner service's body, with the request's context current for every
    /// [`poll_frame`](Body::poll_frame) and while it is dropped, and the
    /// request span entered inside it when the layer makes one.
    ///
    /// The context is the one the handler ran in, with whatever it set: a
    /// streamed body, server-sent events or a gRPC stream log under the
    /// request's ID until their last frame, and a body dropped early (the
    /// client went away) is dropped in that context too. Size hints, end of
    /// stream and trailers pass through unchanged. A request the layer
    /// refused (`OnInvalid::Reject`) is answered with an empty body, so the
    /// inner body type needs no `Default`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use correlated::tower::CorrelationLayer;
    /// use http_body_util::BodyExt;
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    ///
    /// # futures::executor::block_on(async {
    /// // A body whose chunks are made while it streams, long after the handler returned.
    /// let service = ServiceBuilder::new()
    ///     .layer(CorrelationLayer::new())
    ///     .service(service_fn(|_: http::Request<()>| async {
    ///         let chunks = futures::stream::iter(0..2).map(|n| {
    ///             let id = correlated::current().unwrap();
    ///             Ok::<_, Infallible>(http_body::Frame::data(bytes::Bytes::from(format!("{n}:{id};"))))
    ///         });
    ///         let body = BodyExt::boxed(http_body_util::StreamBody::new(chunks));
    ///         Ok::<_, Infallible>(http::Response::new(body))
    ///     }));
    ///
    /// let response = service.oneshot(http::Request::new(())).await.unwrap();
    /// let id = response.headers()["x-correlation-id"].to_str().unwrap().to_owned();
    /// let text = response.into_body().collect().await.unwrap().to_bytes();
    /// assert_eq!(text, format!("0:{id};1:{id};"));
    /// # });
    /// # use futures::StreamExt as _;
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        inner: InRequest<B>,
    }
}

impl<B> ResponseBody<B> {
    /// `inner` in the frame the request's handler ran in, and its span.
    pub(crate) fn new(frame: FrameCell, span: MaybeSpan, inner: B) -> Self {
        Self {
            inner: InRequest::new(frame, span, inner),
        }
    }

    /// The empty body of a request the layer refused.
    pub(crate) fn empty() -> Self {
        Self {
            inner: InRequest::empty(),
        }
    }

    /// The inner body; `None` for the empty body of a refused request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use tower::{Layer, ServiceExt, service_fn};
    /// # futures::executor::block_on(async {
    /// let service = correlated::tower::CorrelationLayer::new().layer(service_fn(
    ///     |_: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(String::from("hi"))) },
    /// ));
    /// let response = service.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(response.body().get_ref().unwrap(), "hi");
    /// # });
    /// ```
    pub fn get_ref(&self) -> Option<&B> {
        self.inner.get_ref()
    }

    /// The inner body, mutably; `None` for the empty body of a refused
    /// request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use tower::{Layer, ServiceExt, service_fn};
    /// # futures::executor::block_on(async {
    /// # let service = correlated::tower::CorrelationLayer::new().layer(service_fn(
    /// #     |_: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(String::from("hi"))) },
    /// # ));
    /// let mut response = service.oneshot(http::Request::new(())).await.unwrap();
    /// response.body_mut().get_mut().unwrap().push('!');
    /// assert_eq!(response.body().get_ref().unwrap(), "hi!");
    /// # });
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut B> {
        self.inner.get_mut()
    }

    /// Unwraps the inner body, which no longer runs in the request's
    /// context; `None` for the empty body of a refused request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use tower::{Layer, ServiceExt, service_fn};
    /// # futures::executor::block_on(async {
    /// # let service = correlated::tower::CorrelationLayer::new().layer(service_fn(
    /// #     |_: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(String::from("hi"))) },
    /// # ));
    /// let response = service.oneshot(http::Request::new(())).await.unwrap();
    /// let body: String = response.into_body().into_inner().unwrap();
    /// assert_eq!(body, "hi");
    /// # });
    /// ```
    pub fn into_inner(self) -> Option<B> {
        self.inner.into_inner()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_in(|body| body.poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.get_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.get_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

// By hand: the wrapper shows only its body.
impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.get_ref())
            .finish()
    }
}
