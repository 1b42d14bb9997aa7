//! A response body in its request's context, for every framework: the inner
//! body polled and dropped in the frame the request's handler ran in, with
//! the request span entered inside it. Each integration wraps it in its own
//! public `ResponseBody` and adds only its framework's body trait
//! (`http_body::Body` for tower, `MessageBody` for actix-web).

use std::pin::Pin;
use std::task::Poll;

use pin_project_lite::pin_project;

use super::span::{InSpan, MaybeSpan};
use crate::current::FrameCell;
use crate::future::Correlated;

pin_project! {
    /// The inner body in the request's frame and span; `None` is the empty
    /// body of a request the middleware refused, which needs neither.
    pub(crate) struct InRequest<B> {
        #[pin]
        inner: Option<Correlated<InSpan<B>>>,
    }
}

impl<B> InRequest<B> {
    /// `inner` in the frame the request's handler ran in, and its span.
    pub(crate) fn new(frame: FrameCell, span: MaybeSpan, inner: B) -> Self {
        Self {
            inner: Some(Correlated::in_frame_of(frame, InSpan::new(inner, span))),
        }
    }

    /// The empty body of a request the middleware refused.
    pub(crate) fn empty() -> Self {
        Self { inner: None }
    }

    /// Whether this is the empty body of a refused request (actix-web's
    /// `try_into_bytes` gives such a body's bytes at once).
    #[cfg(feature = "actix-web")]
    pub(crate) fn is_refused(&self) -> bool {
        self.inner.is_none()
    }

    pub(crate) fn get_ref(&self) -> Option<&B> {
        self.inner
            .as_ref()
            .and_then(Correlated::get_ref)
            .and_then(InSpan::get_ref)
    }

    pub(crate) fn get_mut(&mut self) -> Option<&mut B> {
        self.inner
            .as_mut()
            .and_then(Correlated::get_mut)
            .and_then(InSpan::get_mut)
    }

    /// The inner body, out of the request's context.
    pub(crate) fn into_inner(self) -> Option<B> {
        self.inner
            .and_then(Correlated::into_inner)
            .and_then(InSpan::into_inner)
    }

    /// Polls the inner body with `poll` in the request's context and span;
    /// the empty body (and a body already dropped) has no more frames.
    pub(crate) fn poll_in<T>(
        self: Pin<&mut Self>,
        poll: impl FnOnce(Pin<&mut B>) -> Poll<Option<T>>,
    ) -> Poll<Option<T>> {
        match self.project().inner.as_pin_mut() {
            Some(inner) => inner
                .in_context(|body| body.in_span(poll))
                .flatten()
                .unwrap_or(Poll::Ready(None)),
            None => Poll::Ready(None),
        }
    }
}
