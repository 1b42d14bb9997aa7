//! Guards that restore state when a scope ends, by return or by unwinding.

use std::fmt;
use std::marker::PhantomData;

use crate::context::{Frame, Values, install, restore};
use crate::misuse;
use crate::slot::SlotKey;
use crate::token::{self, Token};

/// Resets a slot when dropped: returned by [`scope`](crate::scope) and
/// [`Slot::scope`](crate::Slot::scope).
///
/// Dropping follows the token rules: guards may be dropped in any order, and
/// once all are dropped the slot holds what it held before the first. A guard
/// dropped outside its context changes nothing (reported in debug builds) and
/// never panics.
///
/// # Examples
///
/// ```
/// use correlate::CorrelationId;
///
/// let outer = correlate::scope(CorrelationId::parse("outer").unwrap());
/// {
///     let _inner = correlate::scope(CorrelationId::parse("inner").unwrap());
///     assert_eq!(correlate::current().unwrap(), "inner");
/// }
/// assert_eq!(correlate::current().unwrap(), "outer");
/// drop(outer);
/// assert_eq!(correlate::current(), None);
/// ```
#[must_use = "the value is reset as soon as the guard is dropped"]
pub struct ScopeGuard {
    key: SlotKey,
    token: Option<Token>,
}

impl ScopeGuard {
    pub(crate) fn new(key: SlotKey, token: Token) -> Self {
        Self {
            key,
            token: Some(token),
        }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        // A panicking `Drop` during unwinding aborts the process, so errors
        // are reported, never raised.
        if let Some(token) = self.token.take()
            && let Err(error) = token::reset(self.key, token)
        {
            misuse::report_guard_outside_context(error.kind());
            // The token goes with it; its own drop does nothing out here.
            drop(error);
        }
    }
}

impl fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard").finish_non_exhaustive()
    }
}

/// Makes a new frame current until dropped, then puts the previous frame
/// back, also on unwind: the synchronous half of entering a context.
///
/// It is `!Send`: the frame it saved belongs to this thread.
pub struct FrameGuard {
    saved: Frame,
    installed: bool,
    _not_send: PhantomData<*const ()>,
}

impl FrameGuard {
    #[inline]
    pub(crate) fn enter(values: Values) -> Self {
        let mut saved = Frame::entered(values);
        let installed = install(&mut saved);
        Self {
            saved,
            installed,
            _not_send: PhantomData,
        }
    }
}

impl Drop for FrameGuard {
    #[inline]
    fn drop(&mut self) {
        // Guards nest lexically, so the current frame is the one `enter`
        // installed. The frame swapped out here is dropped with `self`, after
        // the thread's cell is released.
        if self.installed {
            restore(&mut self.saved);
        }
    }
}

impl fmt::Debug for FrameGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameGuard").finish_non_exhaustive()
    }
}
