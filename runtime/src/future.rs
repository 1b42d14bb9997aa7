//! Correlated futures and streams: a context that is current only while the
//! inner value is being polled or dropped.
//!
//! Holding a thread-local value across `.await` is wrong: while the task is
//! suspended, other tasks run on the same thread and would see it. Instead the
//! future owns its frame and lends it to the thread around each poll (like
//! `tracing::Instrumented` entering its span; tokio's `TaskLocalFuture` swaps
//! its value in and out instead, which costs a copy each way).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::current::{FrameCell, in_frame};
use crate::frame::{Frame, Values};

pin_project! {
    /// A future or stream that runs in its own context.
    ///
    /// Made by [`Correlate::correlated`](crate::Correlate::correlated),
    /// [`Correlate::in_current_context`](crate::Correlate::in_current_context),
    /// [`Context::wrap`](crate::Context::wrap) and `#[correlated]`. The context is current while the
    /// inner value is polled and while it is dropped (so destructors of a
    /// cancelled body still see its ID), and at no other time. Sets made
    /// inside persist across the inner value's `.await`s and never escape.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let id = CorrelationId::generate();
    /// let fut = async { correlated::current() }.correlated(id.clone());
    /// assert_eq!(futures::executor::block_on(fut), Some(id));
    /// assert_eq!(correlated::current(), None);
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

// === impl Correlated ===

impl<T> Correlated<T> {
    pub(crate) fn new(values: Values, inner: T) -> Self {
        Self {
            frame: FrameCell::new(Frame::new(values)),
            inner: Some(inner),
        }
    }

    /// The inner future or stream; `None` once a future has completed (it is
    /// dropped in its context as it completes).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let fut = std::future::ready(7).correlated(CorrelationId::generate());
    /// assert!(fut.get_ref().is_some());
    /// ```
    pub fn get_ref(&self) -> Option<&T> {
        self.inner.as_ref()
    }

    /// The inner future or stream, mutably; `None` once a future has
    /// completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let mut stream = futures::stream::iter([1, 2]).correlated(CorrelationId::generate());
    /// assert!(stream.get_mut().is_some());
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.as_mut()
    }

    /// The pinned inner future or stream; `None` once a future has
    /// completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let mut fut = std::pin::pin!(async { 1 }.correlated(CorrelationId::generate()));
    /// assert!(fut.as_mut().get_pin_mut().is_some());
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut T>> {
        self.project().inner.as_pin_mut()
    }

    /// Takes the inner future or stream back, without its context; `None`
    /// once a future has completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let fut = async { correlated::current() }.correlated(CorrelationId::generate());
    /// let plain = fut.into_inner().unwrap();
    /// assert_eq!(futures::executor::block_on(plain), None);
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        // Taken before `self` drops, so its `Drop` has nothing to drop.
        self.inner.take()
    }
}

impl<T: fmt::Debug> fmt::Debug for Correlated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Correlated")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<T> Correlated<T> {
    /// Makes the inner value with `make`, already in the context it will be
    /// polled in: one frame for the call that builds a future and for the
    /// future (`Context::bind`, a service's `call`), so that what the call
    /// sets is still seen when the future runs, as in an `async fn`'s first
    /// poll.
    pub(crate) fn make_in(values: Values, make: impl FnOnce() -> T) -> Self {
        let frame = FrameCell::new(Frame::new(values));
        let inner = in_frame(&frame, make);
        Self {
            frame,
            inner: Some(inner),
        }
    }
}

// For integrations that keep one frame across several values of a piece of
// work (a service's future, then its response body); a build without them
// does not use these.
#[allow(dead_code)]
impl<T> Correlated<T> {
    /// Wraps `inner` in a frame taken from another correlated value
    /// ([`Correlated::take_frame`]): everything set there is still set.
    pub(crate) fn in_frame_of(frame: FrameCell, inner: T) -> Self {
        Self {
            frame,
            inner: Some(inner),
        }
    }

    /// Takes the frame, with what was set in it, for what follows this
    /// value; an empty frame is left behind. The frame is not entered
    /// between polls, so it may move.
    pub(crate) fn take_frame(self: Pin<&mut Self>) -> FrameCell {
        let empty = FrameCell::new(Frame::new(Values::default()));
        std::mem::replace(self.project().frame, empty)
    }

    /// Runs `f` on the pinned inner value with the context current; `None`
    /// once a future has completed.
    pub(crate) fn in_context<R>(
        self: Pin<&mut Self>,
        f: impl FnOnce(Pin<&mut T>) -> R,
    ) -> Option<R> {
        let this = self.project();
        let inner = this.inner;
        in_frame(this.frame, || inner.as_pin_mut().map(f))
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
