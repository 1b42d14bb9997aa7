//! Which frame is current on a thread: a chain of entered frames, top first.
//!
//! Entering a frame *lends* it to the thread: `CURRENT` points at its cell,
//! and the cell remembers the one that was current before (`below`). So
//! entering and leaving cost a pointer write each way, however much the frame
//! holds, and the frame stays where its owner keeps it: inside a correlated
//! future, on `Context::run`'s stack, or pinned in a `#[correlated]` fn's
//! body. At the bottom of every chain is the thread's own root frame.
//!
//! The invariant behind every dereference of `CURRENT` and of the links
//! below it: every cell reachable from `CURRENT` is alive. A cell is linked
//! only by [`in_frame`], which holds a borrow of it for the whole call and
//! unlinks it before returning or unwinding, or by [`SyncFrame`]-style owners
//! that are pinned and unlink in `Drop`, which a pinned value is guaranteed to
//! run before its memory is reused. A cell leaves the chain from wherever it
//! is, not only from the top, so owners dropped out of order (possible with
//! `Box::pin`) never leave a dangling link behind.
//!
//! [`SyncFrame`]: crate::guard::SyncFrame

use std::cell::{Cell, RefCell};
use std::ptr;

use crate::frame::Frame;

/// A frame the thread can point at while it is entered.
pub(crate) struct FrameCell {
    frame: RefCell<Frame>,
    /// While entered: the cell that was current before this one.
    below: Cell<*const FrameCell>,
}

// A cell that moves carries a stale `below`, which its next `enter`
// overwrites before anything reads it.
// SAFETY: `below` is read only while the cell is entered, and an entered
// cell stays on its thread (`in_frame` borrows it, `SyncFrame` is `!Send`).
#[allow(unsafe_code)]
unsafe impl Send for FrameCell {}

// What the impl above relies on.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Frame>();
};

impl FrameCell {
    pub(crate) const fn new(frame: Frame) -> Self {
        Self {
            frame: RefCell::new(frame),
            below: Cell::new(ptr::null()),
        }
    }
}

/// The thread's own frame, current whenever no other is entered.
struct RootFrame(FrameCell);

impl Drop for RootFrame {
    fn drop(&mut self) {
        // Thread-local destructors run one at a time after the thread's own
        // code, so nothing entered can still be relying on this link.
        CURRENT.set(ptr::null());
    }
}

thread_local! {
    static ROOT: RootFrame = const { RootFrame(FrameCell::new(Frame::THREAD_ROOT)) };

    /// The top of the chain: `ROOT` or the innermost entered frame; null until
    /// the thread first needs it and once `ROOT` is destroyed.
    static CURRENT: Cell<*const FrameCell> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on the cell of the thread's current frame, or `torn_down` once
/// the thread's storage is torn down and no frame is entered.
///
/// `f`'s result is returned as it is, not wrapped in an `Option`, so that an
/// ID cloned in `f` is written once, where the caller keeps it
/// (docs/performance.md, session 4).
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn with_current_cell<R>(
    f: impl FnOnce(&RefCell<Frame>) -> R,
    torn_down: impl FnOnce() -> R,
) -> R {
    let mut current = CURRENT.get();
    if current.is_null() {
        match point_at_root() {
            Some(root) => current = root,
            None => return torn_down(),
        }
    }
    // SAFETY: every cell reachable from `CURRENT` is alive (module docs):
    // `ROOT` until its destructor nulls `CURRENT`, an `in_frame` cell until
    // the call unlinks it, a pinned owner's cell until its `Drop` does.
    f(unsafe { &(*current).frame })
}

/// Points `CURRENT` at the thread's root frame: once per thread.
#[cold]
#[inline(never)]
fn point_at_root() -> Option<*const FrameCell> {
    let root = ROOT.try_with(|root| ptr::from_ref(&root.0)).ok()?;
    CURRENT.set(root);
    Some(root)
}

/// Runs `f` on the thread's current frame.
///
/// `None` while the thread's storage is being torn down. The cell is never
/// borrowed while user code runs (values are dropped and cloned outside it),
/// so the borrow cannot fail; if it ever did, this reports "no context"
/// rather than panicking.
#[inline(always)]
pub(crate) fn with_frame<R>(f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
    with_frame_or(|frame| Some(f(frame)), || None)
}

/// [`with_frame`] with `otherwise` for when there is no frame to run `f` on,
/// returning `f`'s result unwrapped: for reads that clone a value out, which
/// is then written once, where the caller keeps it (see `with_current_cell`).
#[inline(always)]
pub(crate) fn with_frame_or<R>(f: impl FnOnce(&mut Frame) -> R, otherwise: impl Fn() -> R) -> R {
    with_current_cell(
        |cell| match cell.try_borrow_mut() {
            Ok(mut frame) => f(&mut frame),
            Err(_) => otherwise(),
        },
        &otherwise,
    )
}

/// Runs `f` on the thread's current frame without marking it borrowed, or
/// `otherwise` when there is none or it is borrowed mutably: for the hottest
/// reads, which then make no writes at all.
///
/// # Safety
///
/// `f` gets a shared reference that the cell does not know about, so the
/// caller must ensure that `f` runs no user code and that nothing borrows
/// the thread's frame mutably while `f` runs (no set, no `with_frame`).
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) unsafe fn peek_frame_or<R>(f: impl FnOnce(&Frame) -> R, otherwise: impl Fn() -> R) -> R {
    with_current_cell(
        // SAFETY: the caller keeps every mutable borrow away while `f` runs;
        // a mutable borrow already in progress is refused here.
        |cell| match unsafe { cell.try_borrow_unguarded() } {
            Ok(frame) => f(frame),
            Err(_) => otherwise(),
        },
        &otherwise,
    )
}

/// Runs `f` with `cell` as the thread's current frame, and leaves it
/// afterwards, also if `f` panics: every poll of a correlated future, every
/// `Context::run`.
pub(crate) fn in_frame<R>(cell: &FrameCell, f: impl FnOnce() -> R) -> R {
    struct Leave<'a>(&'a FrameCell);
    impl Drop for Leave<'_> {
        #[inline]
        fn drop(&mut self) {
            leave(self.0);
        }
    }
    // SAFETY: `cell` is borrowed for this whole call, and `_leave` takes it
    // out of the chain before the call returns or unwinds.
    #[allow(unsafe_code)]
    unsafe {
        enter(cell)
    };
    let _leave = Leave(cell);
    f()
}

/// Puts `cell` on top of the chain.
///
/// # Safety
///
/// The caller must [`leave`] `cell` before it can move or be freed (the
/// module's invariant), and must not enter it again before then.
#[allow(unsafe_code)]
#[inline]
pub(crate) unsafe fn enter(cell: &FrameCell) {
    cell.below.set(CURRENT.replace(cell));
}

/// Takes `cell` out of the chain.
#[inline]
pub(crate) fn leave(cell: &FrameCell) {
    if ptr::eq(CURRENT.get(), cell) {
        CURRENT.set(cell.below.get());
    } else {
        unlink(cell);
    }
}

/// Takes `cell` out of the middle of the chain: its owner is going away while
/// frames entered after it are still entered (or leaked).
#[cold]
#[inline(never)]
#[allow(unsafe_code)]
fn unlink(cell: &FrameCell) {
    let mut node = CURRENT.get();
    while !node.is_null() {
        // SAFETY: every cell reachable from `CURRENT` is alive (module docs),
        // and `node` was reached from it through `below` links.
        let above = unsafe { &*node };
        if ptr::eq(above.below.get(), cell) {
            above.below.set(cell.below.get());
            return;
        }
        node = above.below.get();
    }
}

/// Whether the current frame is its thread's root: asked only when a frame
/// records its first set, so entering and leaving need no count.
pub(crate) fn at_thread_root() -> bool {
    let current = CURRENT.get();
    current.is_null()
        || ROOT
            .try_with(|root| ptr::eq(current, &root.0))
            .unwrap_or(false)
}
