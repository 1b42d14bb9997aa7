//! Frames: the slot values one context shows, and the log of its sets.
//!
//! This is data only. A frame knows nothing of threads: which frame is
//! current is `current.rs`'s business, and whether a frame is a thread's
//! root comes in as an argument when its first set is recorded.
//!
//! The set log keeps, for each set, its place and owner; the value a set
//! replaced travels with its token or guard, so that a set and its reset in
//! order move the value once each way, as a `task_local!` scope does (a set
//! reset out of order hands its value to the log: it is *parked* in the
//! entry, now a tombstone). Resetting the newest entry of a slot pops it,
//! together with any tombstones directly beneath it, and restores the value
//! the lowest popped entry replaced. So a slot always shows its newest live set,
//! and once every set is reset, in any order, it shows what it showed when
//! the frame was entered (OpenTelemetry's context stack works the same way;
//! Python's "write back the old value" does not). A set whose token is
//! dropped without a reset becomes permanent: the slot's older entries can
//! never show again and are discarded, so "set and forget" in a loop keeps a
//! log of one entry.
//!
//! At a thread root, shared by every task polled on the thread, each set
//! belongs to the party that made it ([`Owner`]): only it sees the value and
//! may undo the set (see `misuse.rs`).

use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::id::CorrelationId;
use crate::key::{Erased, SlotKey, Stored};
use crate::misuse::{self, Owner};

/// User slots' values, sorted by key; shared between snapshots and copied
/// on write.
pub(crate) type UserSlots = Arc<Vec<(SlotKey, Erased)>>;

/// An immutable-by-sharing snapshot of slot values: cloning it copies the ID
/// and bumps one reference count.
#[derive(Clone, Default)]
pub(crate) struct Values {
    correlation_id: Option<CorrelationId>,
    user: Option<UserSlots>,
}

impl Values {
    const EMPTY: Values = Values {
        correlation_id: None,
        user: None,
    };

    /// A correlation ID with user slots shared with another snapshot.
    #[inline]
    pub(crate) fn from_parts(
        correlation_id: Option<CorrelationId>,
        user: Option<UserSlots>,
    ) -> Self {
        Self {
            correlation_id,
            user,
        }
    }

    #[inline]
    pub(crate) fn correlation_id(&self) -> Option<&CorrelationId> {
        self.correlation_id.as_ref()
    }

    pub(crate) fn set_correlation_id(&mut self, id: Option<CorrelationId>) {
        self.correlation_id = id;
    }

    /// How many user slots hold a value.
    pub(crate) fn user_slot_count(&self) -> usize {
        self.user.as_ref().map_or(0, |user| user.len())
    }

    pub(crate) fn load(&self, key: SlotKey) -> Stored {
        if key.is_correlation_id() {
            Stored::Id(self.correlation_id.clone())
        } else {
            Stored::User(self.user_value(key).cloned())
        }
    }

    fn user_value(&self, key: SlotKey) -> Option<&Erased> {
        let user = self.user.as_deref()?;
        let index = user.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(&user[index].1)
    }

    /// Replaces one slot's value and returns what it held, so the caller can
    /// drop it after releasing the thread's cell.
    #[inline]
    pub(crate) fn replace(&mut self, key: SlotKey, value: Stored) -> Stored {
        match value {
            Stored::Id(id) => Stored::Id(mem::replace(&mut self.correlation_id, id)),
            Stored::User(value) => Stored::User(self.replace_user(key, value)),
        }
    }

    /// Swaps one slot's value with `value`, which then holds what the slot
    /// held, for the caller to drop.
    #[inline]
    pub(crate) fn swap(&mut self, key: SlotKey, value: &mut Stored) {
        match value {
            Stored::Id(id) => mem::swap(&mut self.correlation_id, id),
            Stored::User(value) => *value = self.replace_user(key, value.take()),
        }
    }

    /// Unsets one slot and returns what it held, to be dropped by the caller.
    pub(crate) fn clear(&mut self, key: SlotKey) -> Stored {
        if !key.is_correlation_id() && self.user.is_none() {
            // No user slot is set: nothing to remove, and no map to look in
            // (clearing an unset slot is common on per-request paths).
            return Stored::User(None);
        }
        self.replace(key, Stored::empty(key))
    }

    fn replace_user(&mut self, key: SlotKey, value: Option<Erased>) -> Option<Erased> {
        if value.is_none() && self.user_value(key).is_none() {
            // Nothing to remove: no map to create or copy.
            return None;
        }
        let user = Arc::make_mut(self.user.get_or_insert_with(Default::default));
        let found = user.binary_search_by_key(&key, |(k, _)| *k);
        let old = match (found, value) {
            (Ok(index), Some(value)) => Some(mem::replace(&mut user[index].1, value)),
            (Ok(index), None) => Some(user.remove(index).1),
            (Err(index), Some(value)) => {
                user.insert(index, (key, value));
                None
            }
            (Err(_), None) => None,
        };
        if user.is_empty() {
            self.user = None;
        }
        old
    }

    fn keys(&self) -> impl Iterator<Item = SlotKey> + '_ {
        let id = self
            .correlation_id
            .as_ref()
            .map(|_| SlotKey::CORRELATION_ID);
        let user = self
            .user
            .iter()
            .flat_map(|user| user.iter().map(|(k, _)| *k));
        id.into_iter().chain(user)
    }
}

/// The values current on a thread or owned by a correlated future, with the
/// log of sets that tokens refer to.
///
/// Whether a frame is its thread's root is not stored here: a frame only
/// needs to know once it records a set, and its log remembers it then (the
/// caller says, in [`Frame::set`]). Every correlated future and every
/// `#[correlated]` call carries a frame, so every byte left out is saved in
/// each of them.
pub(crate) struct Frame {
    values: Values,
    /// Created by the first `set`; most frames never need one.
    log: Option<Box<SetLog>>,
}

impl Frame {
    pub(crate) const THREAD_ROOT: Frame = Frame {
        values: Values::EMPTY,
        log: None,
    };

    /// A frame that shows `values` and has no sets yet.
    #[inline]
    pub(crate) fn new(values: Values) -> Self {
        Self { values, log: None }
    }

    /// The values as stored, before any thread-root visibility rule: for
    /// reads that first asked [`Frame::is_root_with_sets`].
    #[inline]
    pub(crate) fn values(&self) -> &Values {
        &self.values
    }

    /// A thread root with sets still recorded: only there may a value be
    /// hidden from the running code. Every other frame takes the fast path.
    #[inline]
    pub(crate) fn is_root_with_sets(&self) -> bool {
        self.log
            .as_ref()
            .is_some_and(|log| log.at_thread_root() && log.has_entries())
    }

    /// Whether the running code may see this frame's value for `key`.
    ///
    /// Always true except at a thread root, where a value set by one tokio
    /// task is hidden from other tasks and plain code (see `misuse.rs`).
    pub(crate) fn shows(&mut self, key: SlotKey) -> bool {
        match self.log.as_deref_mut() {
            Some(log) if log.at_thread_root() => log.shows(key),
            _ => true,
        }
    }

    pub(crate) fn visible_load(&mut self, key: SlotKey) -> Stored {
        if !self.is_root_with_sets() || self.shows(key) {
            self.values.load(key)
        } else {
            Stored::empty(key)
        }
    }

    pub(crate) fn visible_values(&mut self) -> Values {
        if self.is_root_with_sets() {
            self.root_visible_values()
        } else {
            self.values.clone()
        }
    }

    /// The user slots the running code sees, shared with this frame.
    pub(crate) fn visible_user_slots(&mut self) -> Option<UserSlots> {
        if self.is_root_with_sets() {
            self.root_visible_values().user
        } else {
            self.values.user.clone()
        }
    }

    #[cold]
    #[inline(never)]
    fn root_visible_values(&mut self) -> Values {
        let mut values = self.values.clone();
        let keys: Vec<SlotKey> = values.keys().collect();
        for key in keys {
            if !self.shows(key) {
                // Only a reference count drops here: `self.values` still
                // holds the value, so no user code runs.
                drop(values.clear(key));
            }
        }
        values
    }
}

/// Frame ids are handed out on a frame's first set, never reused, and never 0
/// (the id of a token made while the thread was being torn down).
static NEXT_FRAME_ID: AtomicU64 = AtomicU64::new(1);

/// The sets made in one frame, oldest first.
struct SetLog {
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
    state: EntryState,
    leak_reported: bool,
    /// Who made the set; only consulted at a thread root.
    owner: Owner,
    slot_name: &'static str,
    /// A tombstone's value to restore, handed over by the token or guard
    /// that reset it out of order; `None` for every other entry. Boxed: rare,
    /// and it keeps every entry small.
    parked: Option<Box<Stored>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EntryState {
    Live,
    /// Reset while a newer set of the same slot was live.
    Tombstone,
    /// Its token was dropped without a reset: it can never be undone, so the
    /// slot's older entries can never show again and are discarded.
    Permanent,
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

    fn at_thread_root(&self) -> bool {
        self.at_thread_root
    }

    /// Whether any set of this frame is still recorded.
    fn has_entries(&self) -> bool {
        !self.entries.is_empty()
    }

    fn newest(&mut self, key: SlotKey) -> Option<&mut Entry> {
        self.entries.iter_mut().rev().find(|entry| entry.key == key)
    }

    /// Whether the code running now may see the slot's value at a thread root:
    /// only if it made the newest set itself. A task's set seen by anyone else
    /// is a leak, reported once.
    fn shows(&mut self, key: SlotKey) -> bool {
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

/// Which set a token undoes: its frame, its place in that frame's log, and
/// its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SetRef {
    frame_id: u64,
    serial: u64,
    key: SlotKey,
}

impl SetRef {
    /// A set that was never recorded (the thread was being torn down): no
    /// frame has id 0, so undoing it is always in the wrong context.
    pub(crate) fn unrecorded(key: SlotKey) -> Self {
        Self {
            frame_id: 0,
            serial: 0,
            key,
        }
    }

    pub(crate) fn key(&self) -> SlotKey {
        self.key
    }
}

/// The set's frame is not this one (another task, a sibling scope, a scope
/// that ended, another thread), or at a thread root, the set is another
/// party's.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotThisFrame;

impl Frame {
    /// Sets `key` to `value` and records the set; returns the set and the
    /// value it replaced, which the caller's token or guard keeps until the
    /// set is undone. `at_thread_root` is asked only when this frame records
    /// its first set.
    #[inline]
    pub(crate) fn set(
        &mut self,
        key: SlotKey,
        slot_name: &'static str,
        value: Stored,
        at_thread_root: impl FnOnce() -> bool,
    ) -> (SetRef, Stored) {
        let log = self
            .log
            .get_or_insert_with(|| Box::new(SetLog::new(at_thread_root())));
        let owner = if log.at_thread_root {
            Owner::current()
        } else {
            Owner::default()
        };
        let replaced = self.values.replace(key, value);
        let serial = log.next_serial;
        log.next_serial += 1;
        log.entries.push(Entry {
            serial,
            key,
            state: EntryState::Live,
            leak_reported: false,
            owner,
            slot_name,
            parked: None,
        });
        let set = SetRef {
            frame_id: log.frame_id,
            serial,
            key,
        };
        (set, replaced)
    }

    /// Undoes a set of this frame, following the tombstone rules.
    /// `replaced` is what the set replaced, as its token or guard kept it; on
    /// success it holds instead the value taken out of the frame, to be
    /// dropped by the caller once nothing is borrowed (its `Drop` is user
    /// code), as are the values returned. On error nothing changes.
    #[inline]
    pub(crate) fn reset(
        &mut self,
        set: &SetRef,
        replaced: &mut Stored,
    ) -> Result<Garbage, NotThisFrame> {
        let (log, index) = locate(&mut self.log, set)?;
        let Some(index) = index else {
            // Discarded beneath a permanent set: its value can never show
            // again, so undoing it has nothing left to do.
            return Ok(Garbage::default());
        };
        let key = set.key;
        // Guards are usually dropped newest first: then the entry is the
        // log's last one.
        if index + 1 == log.entries.len() {
            log.entries.pop();
        } else if log.entries[index + 1..].iter().any(|e| e.key == key) {
            // A newer set of this slot is live: leave a tombstone, with the
            // value to restore once the newer sets are undone.
            let entry = &mut log.entries[index];
            entry.state = EntryState::Tombstone;
            entry.parked = Some(Box::new(mem::replace(replaced, Stored::empty(key))));
            return Ok(Garbage::default());
        } else {
            log.entries.remove(index);
        }
        let mut garbage = Garbage::default();
        if !log.entries.is_empty() {
            pop_tombstones_beneath(log, key, replaced, &mut garbage);
        }
        self.values.swap(key, replaced);
        Ok(garbage)
    }

    /// A set whose token was dropped without a reset: it becomes permanent
    /// for the frame, and the slot's older entries are discarded so that a
    /// loop of "set and forget" does not grow the log. Another frame's set
    /// (or, at a thread root, another party's) changes nothing.
    ///
    /// What the set replaced, kept by its token, can never show again: the
    /// caller drops it, with the values returned, once nothing is borrowed.
    pub(crate) fn make_permanent(&mut self, set: &SetRef) -> Garbage {
        let mut garbage = Garbage::default();
        let Ok((log, Some(index))) = locate(&mut self.log, set) else {
            return garbage;
        };
        let key = set.key;
        log.entries[index].state = EntryState::Permanent;
        let mut position = 0;
        log.entries.retain_mut(|entry| {
            let older_of_same_slot = position < index && entry.key == key;
            position += 1;
            if older_of_same_slot {
                garbage.keep(entry.parked.take().map(|parked| *parked));
            }
            !older_of_same_slot
        });
        garbage
    }
}

/// Pops the tombstones of `key` directly beneath the entry just undone: the
/// value to restore is then the one the lowest of them replaced, and
/// `restored` holds it; the ones it passes over are garbage.
#[cold]
#[inline(never)]
fn pop_tombstones_beneath(
    log: &mut SetLog,
    key: SlotKey,
    restored: &mut Stored,
    garbage: &mut Garbage,
) {
    while let Some(below) = log.entries.iter().rposition(|e| e.key == key) {
        if log.entries[below].state != EntryState::Tombstone {
            break;
        }
        if let Some(parked) = log.entries.remove(below).parked {
            garbage.keep(Some(mem::replace(restored, *parked)));
        }
    }
}

/// The log of the set's frame, if it is this frame, and the index of the
/// set's entry, unless it was discarded beneath a permanent set.
///
/// A thread root is shared by every task polled on the thread; a set there
/// belongs to the party that made it, like a frame of its own, so anyone else
/// holding its token is in the wrong context.
#[inline]
fn locate<'log>(
    log: &'log mut Option<Box<SetLog>>,
    set: &SetRef,
) -> Result<(&'log mut SetLog, Option<usize>), NotThisFrame> {
    let log = log
        .as_deref_mut()
        .filter(|log| log.frame_id == set.frame_id)
        .ok_or(NotThisFrame)?;
    let index = match log.entries.last() {
        Some(last) if last.serial == set.serial => Some(log.entries.len() - 1),
        _ => log
            .entries
            .binary_search_by_key(&set.serial, |entry| entry.serial)
            .ok(),
    };
    if log.at_thread_root && index.is_some_and(|i| log.entries[i].owner != Owner::current()) {
        return Err(NotThisFrame);
    }
    Ok((log, index))
}

/// User values taken out of a frame, to be dropped once the thread's cell is
/// released (their `Drop` is user code). A reset in order makes none (the
/// value it takes out goes back to the token or guard), so this is empty,
/// and allocates nothing, on every common path.
#[derive(Default)]
pub(crate) struct Garbage(Vec<Erased>);

impl Garbage {
    /// Keeps `value` for later if dropping it could run user code. A
    /// correlation ID is dropped now: that copies nothing back and runs no
    /// user code (an inline ID has no destructor; a long one releases its
    /// string, and an allocator that reads the context meanwhile finds the
    /// frame borrowed and reads `None`).
    #[inline(always)]
    fn keep(&mut self, value: Option<Stored>) {
        if let Some(Stored::User(Some(value))) = value {
            self.0.push(value);
        }
    }
}

// The set log's rules, on frames alone: no thread, no current frame.
#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> CorrelationId {
        CorrelationId::parse(text).unwrap()
    }

    /// A set and the value it replaced, as a token keeps them.
    struct Made {
        set: SetRef,
        replaced: Stored,
    }

    fn set(frame: &mut Frame, text: &str) -> Made {
        let value = Stored::Id(Some(id(text)));
        let (set, replaced) = frame.set(SlotKey::CORRELATION_ID, "CORRELATION_ID", value, || false);
        Made { set, replaced }
    }

    fn reset(frame: &mut Frame, made: &mut Made) -> Result<Garbage, NotThisFrame> {
        frame.reset(&made.set, &mut made.replaced)
    }

    fn shown(frame: &Frame) -> Option<&str> {
        frame.values().correlation_id().map(CorrelationId::as_str)
    }

    fn log_len(frame: &Frame) -> usize {
        frame.log.as_ref().map_or(0, |log| log.entries.len())
    }

    #[test]
    fn set_and_forget_in_a_loop_keeps_the_log_small() {
        let mut frame = Frame::new(Values::default());
        for n in 0..1000 {
            let made = set(&mut frame, &format!("n{n}"));
            drop(frame.make_permanent(&made.set));
        }
        assert_eq!(shown(&frame), Some("n999"));
        assert_eq!(log_len(&frame), 1);
    }

    #[test]
    fn resetting_a_set_discarded_beneath_a_permanent_one_changes_nothing() {
        let mut frame = Frame::new(Values::default());
        let mut old = set(&mut frame, "old");
        let permanent = set(&mut frame, "permanent");
        drop(frame.make_permanent(&permanent.set));
        assert_eq!(log_len(&frame), 1);
        assert!(reset(&mut frame, &mut old).is_ok());
        assert_eq!(shown(&frame), Some("permanent"));
    }

    #[test]
    fn tombstones_are_popped_with_the_newest_entry() {
        let mut frame = Frame::new(Values::default());
        let mut a = set(&mut frame, "a");
        let mut b = set(&mut frame, "b");
        let mut c = set(&mut frame, "c");
        assert!(reset(&mut frame, &mut b).is_ok());
        assert_eq!(
            shown(&frame),
            Some("c"),
            "b was not the newest: a tombstone"
        );
        assert_eq!(log_len(&frame), 3);
        assert!(reset(&mut frame, &mut c).is_ok());
        assert_eq!(shown(&frame), Some("a"));
        assert_eq!(log_len(&frame), 1);
        assert!(reset(&mut frame, &mut a).is_ok());
        assert_eq!(log_len(&frame), 0);
        assert_eq!(shown(&frame), None);
    }

    #[test]
    fn out_of_order_resets_end_where_the_frame_began() {
        let mut frame = Frame::new(Values::from_parts(Some(id("entered")), None));
        let mut sets: Vec<Made> = ["a", "b", "c", "d"]
            .iter()
            .map(|text| set(&mut frame, text))
            .collect();
        for index in [1, 3, 0, 2] {
            assert!(reset(&mut frame, &mut sets[index]).is_ok());
        }
        assert_eq!(shown(&frame), Some("entered"));
        assert_eq!(log_len(&frame), 0);
    }

    #[test]
    fn a_set_of_another_frame_is_refused_and_changes_nothing() {
        let mut mine = Frame::new(Values::default());
        let mut other = Frame::new(Values::default());
        let _mine = set(&mut mine, "mine");
        let mut theirs = set(&mut other, "theirs");
        assert_eq!(reset(&mut mine, &mut theirs).err(), Some(NotThisFrame));
        drop(mine.make_permanent(&theirs.set));
        assert_eq!(shown(&mine), Some("mine"));
        assert_eq!(log_len(&mine), 1);
        assert_eq!(
            mine.reset(
                &SetRef::unrecorded(SlotKey::CORRELATION_ID),
                &mut Stored::Id(None)
            )
            .err(),
            Some(NotThisFrame)
        );
    }

    #[test]
    fn a_root_set_is_shown_to_the_party_that_made_it() {
        // Outside any tokio task every caller is the same plain party.
        let mut root = Frame::new(Values::default());
        let (set, mut replaced) = root.set(
            SlotKey::CORRELATION_ID,
            "CORRELATION_ID",
            Stored::Id(Some(id("root"))),
            || true,
        );
        assert!(root.is_root_with_sets());
        assert!(root.shows(SlotKey::CORRELATION_ID));
        assert!(root.reset(&set, &mut replaced).is_ok());
        assert!(!root.is_root_with_sets());
    }
}
