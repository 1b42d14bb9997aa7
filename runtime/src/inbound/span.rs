//! The request span (feature `tracing`, opt-in with the builder's
//! `request_span`): made once per request by [`request_span`], then carried
//! by [`InSpan`] around the request's future and its response body, entered
//! for every poll and while they drop. Without the `tracing` feature there is
//! never a span and the wrapper only forwards.
//!
//! The integrations put [`InSpan`] *inside* their `Correlated` frame, so the
//! span is entered with the request's context already current: a subscriber
//! layer that reads the context when a span is entered sees the request's ID.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use super::decision::Config;
use super::trace_context::TraceParent;
use crate::id::CorrelationId;

/// The span of one request, if one was asked for. Behind an `Arc`: the
/// request's future and its body each hold it, and the wrappers that carry
/// it are moved whole with every response, so without a span (the default)
/// it is one pointer, not a span's 56 bytes, and sharing it is a count.
#[cfg(feature = "tracing")]
pub(crate) type MaybeSpan = Option<std::sync::Arc<Spanned>>;

/// A request span, and how it was made: which slots it records.
#[cfg(feature = "tracing")]
#[derive(Clone, Debug)]
pub(crate) struct Spanned {
    span: ::tracing::Span,
    spans: crate::tracing::RequestSpan,
}

/// Records the span's slots from the current context, if there is a span.
#[inline]
fn record_slots(span: &MaybeSpan) {
    #[cfg(feature = "tracing")]
    if let Some(spanned) = span {
        spanned.spans.record_slots(&spanned.span);
    }
    #[cfg(not(feature = "tracing"))]
    let _ = span;
}

/// Without the `tracing` feature there is no span to carry.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug, Default)]
pub(crate) struct MaybeSpan;

pin_project! {
    /// `T`, with its span (if any) entered for every poll and while it drops.
    pub(crate) struct InSpan<T> {
        span: MaybeSpan,
        // `None` once a future completed or the value was dropped in place,
        // as in `Correlated`: dropping it early is how it drops in the span.
        #[pin]
        inner: Option<T>,
    }

    impl<T> PinnedDrop for InSpan<T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            if inner.is_some() {
                in_span(this.span, || inner.set(None));
            }
        }
    }
}

/// Runs `f` with `span` entered, if there is one.
#[inline]
fn in_span<R>(span: &MaybeSpan, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tracing")]
    let _entered = span.as_ref().map(|spanned| spanned.span.enter());
    #[cfg(not(feature = "tracing"))]
    let _ = span;
    f()
}

impl<T> InSpan<T> {
    pub(crate) fn new(inner: T, span: MaybeSpan) -> Self {
        Self {
            span,
            inner: Some(inner),
        }
    }

    /// Makes the inner value with `make`, with the span already entered (a
    /// service's `call` often makes spans of its own, which then nest in
    /// this one). Called in the request's context, whose slots the span
    /// records first.
    pub(crate) fn make_in(span: MaybeSpan, make: impl FnOnce() -> T) -> Self {
        record_slots(&span);
        let inner = in_span(&span, make);
        Self::new(inner, span)
    }

    /// The inner value; `None` once a future completed.
    pub(crate) fn get_ref(&self) -> Option<&T> {
        self.inner.as_ref()
    }

    /// The inner value, mutably; `None` once a future completed.
    pub(crate) fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.as_mut()
    }

    /// The inner value, no longer in the span.
    pub(crate) fn into_inner(mut self) -> Option<T> {
        // Taken before `self` drops, so its `Drop` has nothing to drop.
        self.inner.take()
    }

    /// Runs `f` on the pinned inner value with the span entered; `None` once
    /// a future completed.
    pub(crate) fn in_span<R>(self: Pin<&mut Self>, f: impl FnOnce(Pin<&mut T>) -> R) -> Option<R> {
        let this = self.project();
        let inner = this.inner;
        in_span(this.span, || inner.as_pin_mut().map(f))
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut inner = this.inner;
        in_span(this.span, || {
            let Some(future) = inner.as_mut().as_pin_mut() else {
                panic!("`InSpan` future polled after completion");
            };
            let output = future.poll(cx);
            if output.is_ready() {
                // The handler is done: the context holds what it and the
                // middleware inside set, for the span's slots.
                record_slots(this.span);
                // Dropped now, inside the span, so that `Drop` has nothing
                // left to do.
                inner.set(None);
            }
            output
        })
    }
}

/// The span of a request that runs with `id`, if the middleware was asked
/// for one; with the `opentelemetry` feature it continues the trace of the
/// `traceparent` the bridge accepted (`parent`). Made before anything enters
/// it, as continuing a trace requires.
#[cfg(feature = "tracing")]
pub(crate) fn request_span(
    config: &Config,
    id: &CorrelationId,
    parent: Option<&TraceParent>,
    request: &impl crate::tracing::RequestLine,
) -> MaybeSpan {
    let spans = config.request_span.as_ref()?;
    let span = spans.make_with(Some(id), request);
    #[cfg(feature = "opentelemetry")]
    if let Some(parent) = parent {
        crate::opentelemetry::continue_trace(&span, parent);
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = parent;
    Some(std::sync::Arc::new(Spanned {
        span,
        spans: spans.clone(),
    }))
}

/// Without the `tracing` feature no request has a span.
#[cfg(not(feature = "tracing"))]
pub(crate) fn request_span<R>(
    _: &Config,
    _: &CorrelationId,
    _: Option<&TraceParent>,
    _: &R,
) -> MaybeSpan {
    MaybeSpan
}
