//! Tokens: the record of one `set`, and the rules for undoing it.
//!
//! Each frame keeps a log of its sets. An entry stores the value its set
//! replaced. Resetting the newest entry of a slot pops it, together with any
//! tombstones (entries reset out of order) directly beneath it, and restores
//! the value the lowest popped entry replaced. So a slot always shows its
//! newest live set, and once every token is reset, in any order, it shows what
//! it showed when the frame was entered (OpenTelemetry's context stack works
//! the same way; Python's "write back the old value" does not).

use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::context::{Frame, Stored};
use crate::current::{self, with_frame};
use crate::misuse::{self, Owner};
use crate::slot::SlotKey;

/// Frame ids are handed out on a frame's first set, never reused, and never 0
/// (the id of a token made while the thread was being torn down).
static NEXT_FRAME_ID: AtomicU64 = AtomicU64::new(1);

/// The sets made in one frame, oldest first.
pub(crate) struct SetLog {
    frame_id: u64,
    /// The frame is its thread's root, where sets belong to the task that
    /// made them (see `misuse.rs`); a frame never changes this.
    at_thread_root: bool,
    next_serial: u64,
    entries: Vec<Entry>,
}

struct Entry {
    serial: u64,
    key: SlotKey,
    slot_name: &'static str,
    /// What the slot held before this set; taken when no longer needed.
    replaced: Option<Stored>,
    state: EntryState,
    /// Who made the set; only consulted at a thread root.
    owner: Owner,
    leak_reported: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EntryState {
    Live,
    /// Reset while a newer set of the same slot was live.
    Tombstone,
    /// Its token was dropped without a reset: it can never be undone, so the
    /// slot's older entries can never show again and are discarded.
    Pinned,
}

impl SetLog {
    fn new(at_thread_root: bool) -> Self {
        Self {
            frame_id: NEXT_FRAME_ID.fetch_add(1, Ordering::Relaxed),
            at_thread_root,
            next_serial: 0,
            entries: Vec::new(),
        }
    }

    pub(crate) fn at_thread_root(&self) -> bool {
        self.at_thread_root
    }

    /// Whether any set of this frame is still recorded.
    pub(crate) fn has_entries(&self) -> bool {
        !self.entries.is_empty()
    }

    fn newest(&mut self, key: SlotKey) -> Option<&mut Entry> {
        self.entries.iter_mut().rev().find(|entry| entry.key == key)
    }

    /// Whether the code running now may see the slot's value at a thread root:
    /// only if it made the newest set itself. A task's set seen by anyone else
    /// is a leak, reported once.
    pub(crate) fn shows(&mut self, key: SlotKey) -> bool {
        let Some(newest) = self.newest(key) else {
            return true;
        };
        let viewer = Owner::current();
        if newest.owner == viewer {
            return true;
        }
        if newest.owner.is_task() && !newest.leak_reported {
            newest.leak_reported = true;
            misuse::report_root_leak(newest.slot_name, newest.owner, viewer);
        }
        false
    }
}

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
    frame_id: u64,
    serial: u64,
    key: SlotKey,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").finish_non_exhaustive()
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let garbage = with_frame(|frame| pin(frame, self)).unwrap_or_default();
        // User values are dropped only after the thread's cell is released.
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
pub(crate) fn set(key: SlotKey, slot_name: &'static str, value: Stored) -> Token {
    with_frame(|frame| set_in(frame, key, slot_name, value)).unwrap_or(Token {
        frame_id: 0,
        serial: 0,
        key,
    })
}

fn set_in(frame: &mut Frame, key: SlotKey, slot_name: &'static str, value: Stored) -> Token {
    let log = frame
        .log
        .get_or_insert_with(|| Box::new(SetLog::new(current::at_thread_root())));
    let owner = if log.at_thread_root {
        Owner::current()
    } else {
        Owner::default()
    };
    let replaced = frame.values.replace(key, value);
    let serial = log.next_serial;
    log.next_serial += 1;
    log.entries.push(Entry {
        serial,
        key,
        slot_name,
        replaced: Some(replaced),
        state: EntryState::Live,
        owner,
        leak_reported: false,
    });
    Token {
        frame_id: log.frame_id,
        serial,
        key,
    }
}

/// Undoes the set behind `token`, which must be a set of `key`.
pub(crate) fn reset(key: SlotKey, token: Token) -> Result<(), ResetError> {
    let error = |kind, token| Err(ResetError { kind, token });
    if token.key != key {
        return error(ResetErrorKind::WrongSlot, token);
    }
    let outcome = with_frame(|frame| reset_in(frame, &token));
    match outcome {
        Some(Ok(garbage)) => {
            // The token is spent; its `Drop` would look for the entry again.
            let _spent = ManuallyDrop::new(token);
            drop(garbage);
            Ok(())
        }
        Some(Err(kind)) => error(kind, token),
        None => error(ResetErrorKind::WrongContext, token),
    }
}

fn reset_in(frame: &mut Frame, token: &Token) -> Result<Garbage, ResetErrorKind> {
    let Frame { values, log } = frame;
    let mut garbage = Garbage::default();
    let (log, index) = locate(log, token)?;
    let Some(index) = index else {
        // Discarded beneath a pinned set: its value can never show again, so
        // undoing it has nothing left to do.
        return Ok(garbage);
    };
    let key = token.key;
    if log.entries[index + 1..].iter().any(|e| e.key == key) {
        // A newer set of this slot is live: leave a tombstone.
        log.entries[index].state = EntryState::Tombstone;
        return Ok(garbage);
    }
    let mut restored = log.entries.remove(index).replaced;
    while let Some(below) = log.entries.iter().rposition(|e| e.key == key) {
        if log.entries[below].state != EntryState::Tombstone {
            break;
        }
        let popped = log.entries.remove(below).replaced;
        garbage.extend(std::mem::replace(&mut restored, popped));
    }
    if let Some(value) = restored {
        garbage.extend(Some(values.replace(key, value)));
    }
    Ok(garbage)
}

/// The log of the token's frame, if that frame is current, and the index of
/// the token's entry, unless it was discarded beneath a pinned set.
///
/// A thread root is shared by every task polled on the thread; a set there
/// belongs to the task that made it, like a frame of its own, so anyone else
/// holding its token is in the wrong context.
fn locate<'log>(
    log: &'log mut Option<Box<SetLog>>,
    token: &Token,
) -> Result<(&'log mut SetLog, Option<usize>), ResetErrorKind> {
    let log = log
        .as_deref_mut()
        .filter(|log| log.frame_id == token.frame_id)
        .ok_or(ResetErrorKind::WrongContext)?;
    let index = log
        .entries
        .binary_search_by_key(&token.serial, |entry| entry.serial)
        .ok();
    if log.at_thread_root && index.is_some_and(|i| log.entries[i].owner != Owner::current()) {
        return Err(ResetErrorKind::WrongContext);
    }
    Ok((log, index))
}

/// Values taken out of a frame, to be dropped once the thread's cell is
/// released (their `Drop` is user code). Usually one value, so the first is
/// kept inline and a plain reset does not allocate.
#[derive(Default)]
struct Garbage {
    first: Option<Stored>,
    rest: Vec<Stored>,
}

impl Extend<Stored> for Garbage {
    fn extend<I: IntoIterator<Item = Stored>>(&mut self, values: I) {
        for value in values {
            if self.first.is_none() {
                self.first = Some(value);
            } else {
                self.rest.push(value);
            }
        }
    }
}

/// A token was dropped without a reset: its set becomes permanent for the
/// frame, and the slot's older entries are discarded so that a loop of
/// "set and forget" does not grow the log.
fn pin(frame: &mut Frame, token: &Token) -> Garbage {
    let mut garbage = Garbage::default();
    // Not this frame's token, or (at a thread root) not this task's set.
    let Ok((log, Some(index))) = locate(&mut frame.log, token) else {
        return garbage;
    };
    let key = token.key;
    garbage.extend(log.entries[index].replaced.take());
    log.entries[index].state = EntryState::Pinned;
    let mut position = 0;
    log.entries.retain_mut(|entry| {
        let older_of_same_slot = position < index && entry.key == key;
        position += 1;
        if older_of_same_slot {
            garbage.extend(entry.replaced.take());
        }
        !older_of_same_slot
    });
    garbage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CorrelationId, current, reset, set};

    fn id(text: &str) -> CorrelationId {
        CorrelationId::parse(text).unwrap()
    }

    fn log_len() -> usize {
        with_frame(|frame| frame.log.as_ref().map_or(0, |log| log.entries.len())).unwrap()
    }

    #[test]
    fn set_and_forget_in_a_loop_keeps_the_log_small() {
        for n in 0..1000 {
            let _ = set(id(&format!("n{n}")));
        }
        assert_eq!(current().unwrap(), "n999");
        assert_eq!(log_len(), 1);
    }

    #[test]
    fn resetting_a_token_discarded_beneath_a_pinned_set_is_a_no_op() {
        let old = set(id("old"));
        drop(set(id("pinned")));
        assert_eq!(log_len(), 1);
        reset(old).unwrap();
        assert_eq!(current().unwrap(), "pinned");
    }

    #[test]
    fn tombstones_are_popped_with_the_newest_entry() {
        let a = set(id("a"));
        let b = set(id("b"));
        let c = set(id("c"));
        reset(b).unwrap();
        assert_eq!(log_len(), 3);
        reset(c).unwrap();
        assert_eq!(current().unwrap(), "a");
        assert_eq!(log_len(), 1);
        reset(a).unwrap();
        assert_eq!(log_len(), 0);
        assert_eq!(current(), None);
    }
}
