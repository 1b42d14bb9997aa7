//! Correlated futures and streams: a context that is current only while the
//! inner value is being polled or dropped.
//!
//! Holding a thread-local value across `.await` is wrong: while the task is
//! suspended, other tasks run on the same thread and would see it. Instead the
//! future owns its frame and lends it to the thread around each poll (like
//! `tracing::Instrumented` entering its span; tokio's `TaskLocalFuture` swaps
//! its value in and out instead, which costs a copy each way).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::context::{Context, Frame, Values};
use crate::current::{FrameCell, in_frame};
use crate::id::CorrelationId;

pin_project! {
    /// A future or stream that runs in its own context.
    ///
    /// Made by [`FutureExt::correlated`], [`FutureExt::in_current_context`],
    /// [`Context::wrap`] and `#[correlated]`. The context is current while the
    /// inner value is polled and while it is dropped (so destructors of a
    /// cancelled body still see its ID), and at no other time. Sets made
    /// inside persist across the inner value's `.await`s and never escape.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, FutureExt};
    ///
    /// let id = CorrelationId::generate();
    /// let fut = async { correlate::current() }.correlated(id.clone());
    /// assert_eq!(futures::executor::block_on(fut), Some(id));
    /// assert_eq!(correlate::current(), None);
    /// ```
    #[must_use = "futures and streams do nothing unless polled"]
    pub struct Correlated<T> {
        // Entered for each poll (`in_frame`), never moved out.
        frame: FrameCell,
        // `None` once a future completed or the value was dropped in place.
        #[pin]
        inner: Option<T>,
    }

    impl<T> PinnedDrop for Correlated<T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            if inner.is_some() {
                in_frame(this.frame, || inner.set(None));
            }
        }
    }
}

// SAFETY: `&Correlated` reaches only `inner`. Its frame's cells are used
// through `Pin<&mut Self>` (poll, drop), and through the thread's chain of
// entered frames only while such a call runs on that thread.
#[allow(unsafe_code)]
unsafe impl<T: Sync> Sync for Correlated<T> {}

impl<T> Correlated<T> {
    pub(crate) fn new(values: Values, inner: T) -> Self {
        Self {
            frame: FrameCell::new(Frame::entered(values)),
            inner: Some(inner),
        }
    }
}

impl<T> Correlated<T> {
    /// Makes the inner value with `make`, already in the context it will be
    /// polled in: one frame for a service's `call` and for its future, so
    /// that what `call` sets is still seen when the future runs, as in an
    /// `async fn`'s first poll.
    #[cfg(feature = "tower")]
    pub(crate) fn make_in(values: Values, make: impl FnOnce() -> T) -> Self {
        let frame = FrameCell::new(Frame::entered(values));
        let inner = in_frame(&frame, make);
        Self {
            frame,
            inner: Some(inner),
        }
    }
}

impl<F: Future> Future for Correlated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut inner = this.inner;
        in_frame(this.frame, || {
            let Some(future) = inner.as_mut().as_pin_mut() else {
                panic!("`Correlated` future polled after completion");
            };
            let output = future.poll(cx);
            if output.is_ready() {
                // Dropped now, while its context is current, so that `Drop`
                // has nothing left to do and does not enter the frame again.
                inner.set(None);
            }
            output
        })
    }
}

impl<S: Stream> Stream for Correlated<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let inner = this.inner;
        in_frame(this.frame, || match inner.as_pin_mut() {
            Some(inner) => inner.poll_next(cx),
            None => Poll::Ready(None),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.as_ref().map_or((0, Some(0)), Stream::size_hint)
    }
}

/// Attaching a context to futures.
///
/// # Examples
///
/// ```
/// use correlate::{CorrelationId, FutureExt};
///
/// # futures::executor::block_on(async {
/// let id = CorrelationId::generate();
/// async {
///     let child = async { correlate::current() }.in_current_context();
///     assert_eq!(child.await, correlate::current());
/// }
/// .correlated(id)
/// .await;
/// # });
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs the future with `id` as its correlation ID, in a copy of the
    /// current context (other slots are kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, FutureExt};
    ///
    /// let id = CorrelationId::parse("job-1").unwrap();
    /// let seen = futures::executor::block_on(async { correlate::current() }.correlated(id));
    /// assert_eq!(seen.unwrap(), "job-1");
    /// ```
    fn correlated(self, id: CorrelationId) -> Correlated<Self> {
        Context::current_with_correlation_id(id).wrap(self)
    }

    /// Runs the future in a snapshot of the context current now, at
    /// construction: its sets never reach the caller, and the caller's later
    /// sets never reach it. Use it to carry the context into a spawned task or
    /// to isolate one branch of a `join!`.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, FutureExt};
    ///
    /// let _guard = correlate::scope(CorrelationId::parse("req-1").unwrap());
    /// let child = async { correlate::current() }.in_current_context();
    /// drop(_guard);
    /// assert_eq!(futures::executor::block_on(child).unwrap(), "req-1");
    /// ```
    fn in_current_context(self) -> Correlated<Self> {
        Context::current().wrap(self)
    }
}

impl<F: Future> FutureExt for F {}

/// Attaching a context to streams: each `poll_next` runs in it.
///
/// # Examples
///
/// ```
/// use correlate::{CorrelationId, StreamExt as _};
/// use futures::StreamExt as _;
///
/// let ids = futures::stream::repeat_with(correlate::current)
///     .take(2)
///     .correlated(CorrelationId::parse("sse-1").unwrap());
/// let seen: Vec<_> = futures::executor::block_on(ids.collect());
/// assert!(seen.iter().all(|id| id.as_ref().unwrap() == "sse-1"));
/// ```
pub trait StreamExt: Stream + Sized {
    /// Runs every poll of the stream with `id` as its correlation ID, in a
    /// copy of the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, StreamExt as _};
    /// use futures::StreamExt as _;
    ///
    /// let mut ids = std::pin::pin!(
    ///     futures::stream::once(async { correlate::current() })
    ///         .correlated(CorrelationId::parse("rpc-1").unwrap())
    /// );
    /// let first = futures::executor::block_on(ids.next()).unwrap();
    /// assert_eq!(first.unwrap(), "rpc-1");
    /// ```
    fn correlated(self, id: CorrelationId) -> Correlated<Self> {
        Context::current_with_correlation_id(id).wrap(self)
    }

    /// Runs every poll of the stream in a snapshot of the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{CorrelationId, StreamExt as _};
    /// use futures::StreamExt as _;
    ///
    /// let _guard = correlate::scope(CorrelationId::parse("req-2").unwrap());
    /// let stream = futures::stream::once(async { correlate::current() }).in_current_context();
    /// drop(_guard);
    /// let seen: Vec<_> = futures::executor::block_on(stream.collect());
    /// assert_eq!(seen[0].as_ref().unwrap(), "req-2");
    /// ```
    fn in_current_context(self) -> Correlated<Self> {
        Context::current().wrap(self)
    }
}

impl<S: Stream> StreamExt for S {}
