//! Guards that restore state when a scope ends, by return or by unwinding.

use std::cell::Cell;
use std::fmt;
use std::marker::{PhantomData, PhantomPinned};
use std::pin::Pin;

use crate::current::{self, FrameCell};
use crate::frame::{Frame, SetRef, Values};
use crate::key::{SlotKey, Stored};
use crate::misuse;
use crate::token;

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
/// use correlated::CorrelationId;
///
/// let outer = correlated::scope(CorrelationId::parse("outer").unwrap());
/// {
///     let _inner = correlated::scope(CorrelationId::parse("inner").unwrap());
///     assert_eq!(correlated::current().unwrap(), "inner");
/// }
/// assert_eq!(correlated::current().unwrap(), "outer");
/// drop(outer);
/// assert_eq!(correlated::current(), None);
/// ```
#[must_use = "the value is reset as soon as the guard is dropped"]
pub struct ScopeGuard {
    /// The set this guard undoes; always of the slot the guard was made for.
    set: SetRef,
    /// What the set replaced; after the reset, what it took out of the
    /// frame, dropped with the guard once the thread's cell is released.
    replaced: Stored,
}

impl ScopeGuard {
    /// Sets `key` until the guard is dropped.
    #[inline(always)]
    pub(crate) fn set(key: SlotKey, slot_name: &'static str, value: Stored) -> Self {
        let (set, replaced) = token::set_parts(key, slot_name, value);
        Self { set, replaced }
    }
}

impl Drop for ScopeGuard {
    #[inline]
    fn drop(&mut self) {
        // A panicking `Drop` during unwinding aborts the process, so errors
        // are reported, never raised. Out of its context the set is left as
        // it is there, as a dropped token's would be.
        if !token::undo(&self.set, &mut self.replaced) {
            misuse::report_guard_outside_context("outside the context it was created in");
        }
    }
}

impl fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard").finish_non_exhaustive()
    }
}

/// The frame of a synchronous `#[correlated]` call: entered once pinned,
/// left when dropped, also on unwind.
///
/// Pinned so that the thread may point at it (see `current.rs`): a pinned
/// value's `Drop` runs before its memory is reused, and `Drop` takes it out of
/// the thread's chain from wherever it is. Forgetting a `Box::pin`ned one
/// leaks it, still valid; nothing can dangle. `!Send`: the chain it joins
/// belongs to this thread.
pub struct SyncFrame {
    cell: FrameCell,
    entered: Cell<bool>,
    _pinned: PhantomPinned,
    _not_send: PhantomData<*const ()>,
}

impl SyncFrame {
    #[inline]
    pub(crate) fn new(values: Values) -> Self {
        Self {
            cell: FrameCell::new(Frame::new(values)),
            entered: Cell::new(false),
            _pinned: PhantomPinned,
            _not_send: PhantomData,
        }
    }

    /// Makes this frame current until it is dropped. Entering it again
    /// changes nothing.
    #[inline]
    pub(crate) fn enter(self: Pin<&Self>) {
        if !self.entered.replace(true) {
            // SAFETY: pinned and `!Unpin`, the frame stays put until `Drop`,
            // which leaves it; `entered` keeps it from being entered twice.
            #[allow(unsafe_code)]
            unsafe {
                current::enter(&self.cell)
            };
        }
    }
}

impl Drop for SyncFrame {
    #[inline]
    fn drop(&mut self) {
        // The frame's values are dropped after this, with the caller's frame
        // current again.
        if self.entered.get() {
            current::leave(&self.cell);
        }
    }
}

impl fmt::Debug for SyncFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncFrame").finish_non_exhaustive()
    }
}
