//! The server service's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use ::http::{HeaderName, HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use crate::future::Correlated;
use crate::inbound::{InSpan, MaybeSpan};

pin_project! {
    /// The response future of [`CorrelationService`](super::CorrelationService):
    /// the inner service's future running in the request's context, followed
    /// by the echo of the ID in the response header. The response's body
    /// carries on in the same context ([`ResponseBody`]), and in the same
    /// request span when the layer makes one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use correlated::tower::{CorrelationLayer, ResponseFuture};
    /// use tower::{Layer, Service, service_fn};
    ///
    /// let mut service = CorrelationLayer::new().layer(service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(String::new()))
    /// }));
    /// let future: ResponseFuture<_> = service.call(http::Request::new(()));
    /// let response = futures::executor::block_on(future).unwrap();
    /// assert!(response.headers().contains_key("x-correlation-id"));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        echo: Option<(HeaderName, HeaderValue)>,
        // The request span, for the body; the future holds its own handle.
        span: MaybeSpan,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called {
            #[pin]
            future: Correlated<InSpan<F>>,
        },
        Rejected,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(
        future: Correlated<InSpan<F>>,
        span: MaybeSpan,
        echo: Option<(HeaderName, HeaderValue)>,
    ) -> Self {
        Self {
            state: State::Called { future },
            echo,
            span,
        }
    }

    pub(crate) fn rejected(echo: Option<(HeaderName, HeaderValue)>) -> Self {
        Self {
            state: State::Rejected,
            echo,
            span: Default::default(),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.state.project() {
            StateProj::Called { mut future } => {
                // An error has no headers to echo into: it passes through as is.
                let response = ready!(future.as_mut().poll(cx))?;
                // The body streams in the frame the handler ran in, with what
                // it set there, and in the request span.
                let frame = future.take_frame();
                let span = std::mem::take(this.span);
                response.map(|body| ResponseBody::new(frame, span, body))
            }
            StateProj::Rejected => {
                let mut response = Response::new(ResponseBody::empty());
                *response.status_mut() = StatusCode::BAD_REQUEST;
                response
            }
        };
        if let Some((name, value)) = this.echo.take() {
            response.headers_mut().insert(name, value);
        }
        Poll::Ready(Ok(response))
    }
}

// By hand: no `F: Debug` bound, and the inner future is shown as its state.
impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Called { .. } => "called",
            State::Rejected => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
