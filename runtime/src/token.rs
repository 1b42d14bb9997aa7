//! Tokens: the handle that undoes one `set`, and the errors of undoing it.
//!
//! The rules (tombstones, permanent sets, thread-root ownership) are the set
//! log's, in `frame.rs`; this module applies them to the thread's current
//! frame.

use std::fmt;
use std::mem::{self, ManuallyDrop};

use crate::current::{self, with_frame, with_frame_or};
use crate::frame::{NotThisFrame, SetRef};
use crate::key::{SlotKey, Stored};

/// Proof of one [`Slot::set`](crate::Slot::set), used to undo it with
/// [`Slot::reset`](crate::Slot::reset).
///
/// A token is consumed by `reset`, so a set cannot be undone twice. It is
/// `Send`: a correlated task may hold one across `.await`. Dropping it without
/// a reset keeps the value for the rest of its context.
///
/// # Examples
///
/// ```
/// use correlated::CorrelationId;
///
/// let token = correlated::set(CorrelationId::parse("req-1").unwrap());
/// assert_eq!(correlated::current().unwrap(), "req-1");
/// correlated::reset(token).unwrap();
/// assert_eq!(correlated::current(), None);
/// ```
#[must_use = "dropping a token keeps the value for the rest of the context; reset it, or use `scope()`"]
pub struct Token {
    set: SetRef,
    /// What the set replaced, restored by the reset (see `frame.rs`).
    replaced: Stored,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").finish_non_exhaustive()
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        // `None` while the thread is torn down: nothing is left to keep.
        let garbage = with_frame(|frame| frame.make_permanent(&self.set));
        // User values are dropped only after the thread's cell is released,
        // `self.replaced` among them, right after this.
        drop(garbage);
    }
}

/// Why a [`Token`] could not be reset.
///
/// # Examples
///
/// ```
/// use correlated::{CorrelationId, ResetErrorKind};
///
/// let token = correlated::set(CorrelationId::generate());
/// let err = std::thread::spawn(move || correlated::reset(token).unwrap_err())
///     .join()
///     .unwrap();
/// assert_eq!(err.kind(), ResetErrorKind::WrongContext);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetErrorKind {
    /// The token was made in another context: another task, a sibling scope,
    /// or a scope that has ended.
    WrongContext,
    /// The token was made by a set of another slot.
    WrongSlot,
}

/// A [`Token`] could not be reset; nothing was changed.
///
/// The token is handed back by [`ResetError::into_token`].
///
/// # Examples
///
/// ```
/// correlated::slot! { static A: u8; static B: u8; }
///
/// let err = B.reset(A.set(1)).unwrap_err();
/// assert_eq!(err.kind(), correlated::ResetErrorKind::WrongSlot);
/// A.reset(err.into_token()).unwrap();
/// ```
pub struct ResetError {
    kind: ResetErrorKind,
    token: Token,
}

impl ResetError {
    /// What was wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// # correlated::slot! { static A: u8; static B: u8; }
    /// let err = B.reset(A.set(1)).unwrap_err();
    /// assert_eq!(err.kind(), correlated::ResetErrorKind::WrongSlot);
    /// # A.reset(err.into_token()).unwrap();
    /// ```
    pub fn kind(&self) -> ResetErrorKind {
        self.kind
    }

    /// The token, unchanged, to reset where it belongs.
    ///
    /// # Examples
    ///
    /// ```
    /// # correlated::slot! { static A: u8; static B: u8; }
    /// let err = B.reset(A.set(1)).unwrap_err();
    /// A.reset(err.into_token()).unwrap();
    /// assert_eq!(A.get(), None);
    /// ```
    pub fn into_token(self) -> Token {
        self.token
    }
}

impl fmt::Debug for ResetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ResetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ResetErrorKind::WrongContext => f.write_str(
                "token belongs to another context: reset it in the task or scope that \
                 called set(), before that scope ends",
            ),
            ResetErrorKind::WrongSlot => {
                f.write_str("token belongs to another slot: reset it with the slot it was set on")
            }
        }
    }
}

impl std::error::Error for ResetError {}

/// Sets `key` in the current frame.
#[inline]
pub(crate) fn set(key: SlotKey, slot_name: &'static str, value: Stored) -> Token {
    let (set, replaced) = set_parts(key, slot_name, value);
    Token { set, replaced }
}

/// Sets `key` in the current frame; returns the set and the value it
/// replaced, for a token or a guard to keep (built from these directly, so
/// that the replaced value moves once).
#[inline(always)]
pub(crate) fn set_parts(key: SlotKey, slot_name: &'static str, value: Stored) -> (SetRef, Stored) {
    // Not through `with_frame`: an `Option` around the pair would be one
    // more copy of the value (see `with_frame_or`).
    with_frame_or(
        |frame| frame.set(key, slot_name, value, current::at_thread_root),
        || (SetRef::unrecorded(key), Stored::empty(key)),
    )
}

/// Undoes the set behind `token`, which must be a set of `key`.
#[inline]
pub(crate) fn reset(key: SlotKey, token: Token) -> Result<(), ResetError> {
    let error = |kind, token| Err(ResetError { kind, token });
    if token.set.key() != key {
        return error(ResetErrorKind::WrongSlot, token);
    }
    let (set, mut replaced) = token.into_parts();
    if undo(&set, &mut replaced) {
        // The token is spent; `replaced` now holds the value taken out of
        // the frame, dropped here with the thread's cell released.
        drop(replaced);
        Ok(())
    } else {
        error(ResetErrorKind::WrongContext, Token { set, replaced })
    }
}

/// Undoes `set` in the current frame, given what it replaced; on success
/// `replaced` holds the value taken out of the frame instead. `false`,
/// changing nothing, when the set belongs to another context.
#[inline]
pub(crate) fn undo(set: &SetRef, replaced: &mut Stored) -> bool {
    match with_frame(|frame| frame.reset(set, replaced)) {
        Some(Ok(garbage)) => {
            // User values are dropped only after the thread's cell is released.
            drop(garbage);
            true
        }
        Some(Err(NotThisFrame)) | None => false,
    }
}

impl Token {
    /// The set this token undoes and the value it replaced, for an owner
    /// that undoes it by reference ([`undo`]): a guard, which cannot move a
    /// token out in its `Drop`. Nothing is made permanent: the owner is now
    /// responsible for the set.
    #[inline]
    pub(crate) fn into_parts(self) -> (SetRef, Stored) {
        let mut token = ManuallyDrop::new(self);
        // The placeholder left behind owns nothing, so never dropping it
        // leaks nothing.
        let replaced = mem::replace(&mut token.replaced, Stored::Id(None));
        (token.set, replaced)
    }
}
