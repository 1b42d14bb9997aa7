//! The middleware's response body: the inner body, polled and dropped in the
//! request's context.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use pin_project_lite::pin_project;

use crate::current::FrameCell;
use crate::inbound::{InRequest, MaybeSpan};

pin_project! {
    /// The response body of [`CorrelationMiddleware`](super::CorrelationMiddleware):
    /// the inner service's body, with the request's context current for every
    /// [`poll_next`](MessageBody::poll_next) and while it is dropped, and the
    /// request span entered inside it when the middleware makes one.
    ///
    /// The context is the one the handler ran in, with whatever it set: a
    /// streamed body or server-sent events log under the request's ID until
    /// their last chunk, and a body dropped early (the client went away) is
    /// dropped in that context too. The size passes through unchanged. A
    /// request the middleware refused (`OnInvalid::Reject`) is answered with
    /// an empty body of the wrapper's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{App, HttpResponse, test, web};
    /// use correlated::actix::Correlation;
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// // A body whose chunks are made while it streams, after the handler returned.
    /// async fn stream() -> HttpResponse {
    ///     let chunks = futures::stream::iter(0..2).map(|n| {
    ///         let id = correlated::current().unwrap();
    ///         Ok::<_, actix_web::Error>(web::Bytes::from(format!("{n}:{id};")))
    ///     });
    ///     HttpResponse::Ok().streaming(chunks)
    /// }
    ///
    /// let app = test::init_service(
    ///     App::new().wrap(Correlation::new()).route("/", web::get().to(stream)),
    /// )
    /// .await;
    /// let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    /// let id = response.headers().get("x-correlation-id").unwrap().to_str().unwrap().to_owned();
    /// let text = test::read_body(response).await;
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

    /// The empty body of a request the middleware refused.
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
    /// use actix_web::{App, test, web};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(correlated::actix::Correlation::new())
    ///         .route("/", web::get().to(|| async { "hi" })),
    /// )
    /// .await;
    /// let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    /// assert!(response.response().body().get_ref().is_some());
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
    /// use actix_web::{App, test, web};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// # let app = test::init_service(
    /// #     App::new()
    /// #         .wrap(correlated::actix::Correlation::new())
    /// #         .route("/", web::get().to(|| async { "hi" })),
    /// # )
    /// # .await;
    /// let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    /// let mut body = response.into_body();
    /// assert!(body.get_mut().is_some());
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
    /// use actix_web::{App, test, web};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// # let app = test::init_service(
    /// #     App::new()
    /// #         .wrap(correlated::actix::Correlation::new())
    /// #         .route("/", web::get().to(|| async { "hi" })),
    /// # )
    /// # .await;
    /// let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    /// let body = response.into_body().into_inner().unwrap();
    /// assert_eq!(actix_web::body::to_bytes(body).await.unwrap(), "hi");
    /// # });
    /// ```
    pub fn into_inner(self) -> Option<B> {
        self.inner.into_inner()
    }
}

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.get_ref().map_or(BodySize::Sized(0), MessageBody::size)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().inner.poll_in(|body| body.poll_next(cx))
    }

    // Only the empty body gives its bytes at once: taking another inner
    // body's bytes would drop the request's frame, which an `Err` (a body
    // that streams after all) would need again. Such a body is polled.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.inner.is_refused() {
            Ok(Bytes::new())
        } else {
            Err(self)
        }
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
