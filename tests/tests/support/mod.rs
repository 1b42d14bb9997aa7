//! Helpers shared by the integration tests (each test binary uses some).
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use correlated::CorrelationId;

/// An ID from text the test knows to be valid.
pub(crate) fn id(text: &str) -> CorrelationId {
    CorrelationId::parse(text).unwrap()
}

/// The current ID as text, for readable assertions.
pub(crate) fn current_text() -> Option<String> {
    correlated::current().map(|id| id.to_string())
}

/// Returns `Pending` once and wakes itself: an await point that works under
/// any executor.
pub(crate) struct YieldOnce(pub bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
