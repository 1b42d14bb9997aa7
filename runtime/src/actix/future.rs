//! The middleware's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::error::EchoedError;
use crate::future::Correlated;
use crate::inbound::{InSpan, MaybeSpan};

pin_project! {
    /// The response future of
    /// [`CorrelationMiddleware`](super::CorrelationMiddleware): the inner
    /// service's future running in the request's context (extractors and
    /// handler included), followed by the echo of the ID in the response
    /// header. The response's body carries on in the same context
    /// ([`ResponseBody`]), and in the same request span when the middleware
    /// makes one.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::dev::{Service, Transform};
    /// use actix_web::{App, HttpResponse, test, web};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(correlated::actix::Correlation::new())
    ///         .route("/", web::get().to(HttpResponse::Ok)),
    /// )
    /// .await;
    /// // The app's future is the middleware's, in a box.
    /// let response = app.call(test::TestRequest::get().to_request()).await.unwrap();
    /// assert!(response.headers().contains_key("x-correlation-id"));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        echo: Option<(HeaderName, HeaderValue)>,
        // The request span, for the body; the future holds its own handle.
        span: MaybeSpan,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Called {
            #[pin]
            future: Correlated<InSpan<F>>,
        },
        // The `400` of a refused request, or `None` once returned.
        Rejected {
            response: Option<ServiceResponse<ResponseBody<B>>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
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

    pub(crate) fn rejected(
        response: ServiceResponse<ResponseBody<B>>,
        echo: Option<(HeaderName, HeaderValue)>,
    ) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
            echo,
            span: Default::default(),
        }
    }
}

impl<F, B> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<ResponseBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.state.project() {
            StateProj::Called { mut future } => match ready!(future.as_mut().poll(cx)) {
                // The body streams in the frame the handler ran in, with
                // what it set there, and in the request span.
                Ok(response) => {
                    let frame = future.take_frame();
                    let span = std::mem::take(this.span);
                    response.map_body(|_, body| ResponseBody::new(frame, span, body))
                }
                // actix-web makes this error's response later, from the
                // error alone: the echo goes with it.
                Err(error) => {
                    return Poll::Ready(Err(match this.echo.take() {
                        Some((name, value)) => EchoedError::new(error, name, value).into(),
                        None => error,
                    }));
                }
            },
            StateProj::Rejected { response } => response
                .take()
                .expect("`ResponseFuture` polled after completion"),
        };
        if let Some((name, value)) = this.echo.take() {
            response.headers_mut().insert(name, value);
        }
        Poll::Ready(Ok(response))
    }
}

// By hand: no `F: Debug` bound, and the inner future is shown as its state.
impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
