//! Contexts: the set of slot values that running code sees, and the
//! per-thread cell that holds the current one.
//!
//! Every thread has one *current frame*. A frame owns the values code sees
//! plus the log of sets that tokens refer to. A correlated future owns a frame
//! of its own and lends it to the thread for the length of each poll
//! ([`in_frame`], used by `future.rs`): the thread keeps a pointer to the
//! current frame's cell, so entering and leaving cost a pointer each way
//! whatever the frame holds, and nothing the future sets is visible between
//! polls. A synchronous `#[correlated]` call still swaps its frame into the
//! current cell ([`install`], [`restore`]).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::mem;
use std::ptr;
use std::sync::Arc;

use crate::future::Correlated;
use crate::id::CorrelationId;
use crate::slot::{Slot, SlotKey};
use crate::token::SetLog;

/// A user slot's value, type-erased so one context can hold any slots.
pub(crate) type Erased = Arc<dyn Any + Send + Sync>;

/// One slot's value as the set log stores it.
pub(crate) enum Stored {
    Id(Option<CorrelationId>),
    User(Option<Erased>),
}

/// An immutable-by-sharing snapshot of slot values: cloning it copies the ID
/// and bumps one reference count.
#[derive(Clone, Default)]
pub(crate) struct Values {
    pub(crate) correlation_id: Option<CorrelationId>,
    /// Sorted by key; shared between snapshots and copied on write.
    user: Option<Arc<Vec<(SlotKey, Erased)>>>,
}

impl Values {
    const EMPTY: Values = Values {
        correlation_id: None,
        user: None,
    };

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
    pub(crate) fn replace(&mut self, key: SlotKey, value: Stored) -> Stored {
        match value {
            Stored::Id(id) => Stored::Id(mem::replace(&mut self.correlation_id, id)),
            Stored::User(value) => Stored::User(self.replace_user(key, value)),
        }
    }

    /// Unsets one slot and returns what it held, to be dropped by the caller.
    fn clear(&mut self, key: SlotKey) -> Stored {
        if !key.is_correlation_id() && self.user.is_none() {
            // No user slot is set: nothing to remove, and no map to look in
            // (the tower layer clears one on every request).
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
/// needs to know once it records a set, and its log remembers it then (see
/// [`at_thread_root`]). Every entry and exit moves a whole frame, so every
/// byte left out is saved twice per poll.
pub(crate) struct Frame {
    pub(crate) values: Values,
    /// Created by the first `set`; most frames never need one.
    pub(crate) log: Option<Box<SetLog>>,
}

impl Frame {
    const THREAD_ROOT: Frame = Frame {
        values: Values::EMPTY,
        log: None,
    };

    #[inline]
    pub(crate) fn entered(values: Values) -> Self {
        Self { values, log: None }
    }

    /// A thread root with sets still recorded: only there may a value be
    /// hidden from the running code. Every other frame takes the fast path.
    #[inline]
    fn is_root_with_sets(&self) -> bool {
        self.log
            .as_ref()
            .is_some_and(|log| log.at_thread_root() && log.has_entries())
    }

    /// Whether the running code may see this frame's value for `key`.
    ///
    /// Always true except at a thread root, where a value set by one tokio
    /// task is hidden from other tasks and plain code (see `misuse.rs`).
    fn shows(&mut self, key: SlotKey) -> bool {
        match self.log.as_deref_mut() {
            Some(log) if log.at_thread_root() => log.shows(key),
            _ => true,
        }
    }

    fn visible_load(&mut self, key: SlotKey) -> Stored {
        if !self.is_root_with_sets() || self.shows(key) {
            self.values.load(key)
        } else {
            Stored::empty(key)
        }
    }

    fn visible_values(&mut self) -> Values {
        let mut values = self.values.clone();
        if self.is_root_with_sets() {
            let keys: Vec<SlotKey> = values.keys().collect();
            for key in keys {
                if !self.shows(key) {
                    // Only a reference count drops here: `self.values` still
                    // holds the value, so no user code runs.
                    drop(values.clear(key));
                }
            }
        }
        values
    }
}

impl Stored {
    /// No value, for the slot `key`.
    fn empty(key: SlotKey) -> Stored {
        if key.is_correlation_id() {
            Stored::Id(None)
        } else {
            Stored::User(None)
        }
    }
}

/// The thread's own frame, current whenever no [`in_frame`] call is running
/// on the thread.
struct RootFrame(RefCell<Frame>);

impl Drop for RootFrame {
    fn drop(&mut self) {
        // Thread-local destructors run after the thread's own code, so no
        // `in_frame` call is on the stack: `CURRENT` points here or is null.
        CURRENT.set(ptr::null());
    }
}

thread_local! {
    static ROOT: RootFrame = const { RootFrame(RefCell::new(Frame::THREAD_ROOT)) };

    /// The cell of the thread's current frame: `ROOT`, or the frame lent by
    /// the innermost [`in_frame`] call running on this thread; null until
    /// the first access and once `ROOT` is destroyed.
    static CURRENT: Cell<*const RefCell<Frame>> = const { Cell::new(ptr::null()) };

    /// How many frames are entered on this thread above its root: 0 exactly
    /// while the root frame is current.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` on the cell of the thread's current frame; `None` once the
/// thread's storage is torn down and no frame is lent.
#[allow(unsafe_code)]
#[inline(always)]
fn with_current_cell<R>(f: impl FnOnce(&RefCell<Frame>) -> R) -> Option<R> {
    let mut current = CURRENT.get();
    if current.is_null() {
        current = point_at_root()?;
    }
    // SAFETY: non-null, `CURRENT` points at this thread's `ROOT` (nulled by
    // its destructor before it is freed) or at a frame lent by an `in_frame`
    // call still running on this thread, which puts the old value back
    // before it returns or unwinds. Both outlive this call.
    Some(f(unsafe { &*current }))
}

/// Points `CURRENT` at the thread's root frame: once per thread.
#[cold]
#[inline(never)]
fn point_at_root() -> Option<*const RefCell<Frame>> {
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
    with_current_cell(|cell| match cell.try_borrow_mut() {
        Ok(mut frame) => Some(f(&mut frame)),
        Err(_) => None,
    })
    .unwrap_or(None)
}

/// Runs `f` with `frame` as the thread's current frame and makes the previous
/// one current again afterwards, also if `f` panics.
///
/// The frame is lent, not moved: `CURRENT` points at it for the call, so this
/// costs two pointer writes however large the frame is (every poll of a
/// correlated future, every `Context::run`).
pub(crate) fn in_frame<R>(frame: &RefCell<Frame>, f: impl FnOnce() -> R) -> R {
    /// Puts the previous frame back when the call ends, by return or unwind.
    struct PutBack(*const RefCell<Frame>);
    impl Drop for PutBack {
        #[inline]
        fn drop(&mut self) {
            CURRENT.set(self.0);
            DEPTH.set(DEPTH.get().wrapping_sub(1));
        }
    }
    let _put_back = PutBack(CURRENT.replace(frame));
    DEPTH.set(DEPTH.get() + 1);
    f()
}

/// Exchanges `frame` with the thread's current frame; false if the thread's
/// storage is gone.
#[inline]
fn swap_current(frame: &mut Frame) -> bool {
    with_frame(|current| mem::swap(current, frame)).is_some()
}

/// Makes `frame` current and keeps the one it replaces in `frame`, until
/// [`restore`]; false if the thread's storage is gone.
pub(crate) fn install(frame: &mut Frame) -> bool {
    let installed = swap_current(frame);
    if installed {
        DEPTH.set(DEPTH.get() + 1);
    }
    installed
}

/// Undoes the [`install`] that gave `frame` its contents.
pub(crate) fn restore(frame: &mut Frame) {
    if swap_current(frame) {
        DEPTH.set(DEPTH.get().saturating_sub(1));
    }
}

/// Whether the current frame is its thread's root.
pub(crate) fn at_thread_root() -> bool {
    DEPTH.get() == 0
}

/// One slot's value as the running code sees it.
pub(crate) fn load(key: SlotKey) -> Option<Stored> {
    with_frame(|frame| frame.visible_load(key))
}

/// The correlation ID of the current context.
///
/// Never panics and never allocates: outside any context, and while the
/// thread is being torn down, it returns `None`.
///
/// # Examples
///
/// ```
/// use correlate::CorrelationId;
///
/// assert_eq!(correlate::current(), None);
/// let id = CorrelationId::generate();
/// let _guard = correlate::scope(id.clone());
/// assert_eq!(correlate::current(), Some(id));
/// ```
#[inline]
pub fn current() -> Option<CorrelationId> {
    let fast = with_current_cell(|cell| match cell.try_borrow() {
        Ok(frame) if !frame.is_root_with_sets() => Some(frame.values.correlation_id.clone()),
        _ => None,
    });
    match fast {
        Some(Some(id)) => id,
        Some(None) => root_current(),
        None => None,
    }
}

/// `current()` at a thread root with sets recorded: the rare, slow case.
#[cold]
#[inline(never)]
fn root_current() -> Option<CorrelationId> {
    load(SlotKey::CORRELATION_ID).and_then(Stored::into_id)
}

/// Calls `f` with the current correlation ID, without cloning it for the
/// caller to keep.
///
/// # Examples
///
/// ```
/// let id = correlate::CorrelationId::generate();
/// let _guard = correlate::scope(id.clone());
/// let logged = correlate::with_current(|id| format!("[{}]", id.map_or("-", |id| id.as_str())));
/// assert_eq!(logged, format!("[{id}]"));
/// ```
pub fn with_current<R>(f: impl FnOnce(Option<&CorrelationId>) -> R) -> R {
    // The ID is copied out so that `f` runs with the thread's cell released:
    // `f` may then read or set any slot.
    f(current().as_ref())
}

impl Stored {
    fn into_id(self) -> Option<CorrelationId> {
        match self {
            Stored::Id(id) => id,
            Stored::User(_) => None,
        }
    }
}

/// A captured set of slot values: the correlation ID and every user slot.
///
/// Capture the current one with [`Context::current`], then run code in it on
/// any thread ([`Context::run`]) or attach it to a future or stream
/// ([`Context::wrap`]). Each run or wrapped future gets a copy: its own sets
/// never reach the `Context` or its other users.
///
/// # Examples
///
/// ```
/// use correlate::{Context, CorrelationId};
///
/// let id = CorrelationId::generate();
/// let ctx = Context::new().with_correlation_id(id.clone());
///
/// let seen = std::thread::spawn(move || ctx.run(correlate::current))
///     .join()
///     .unwrap();
/// assert_eq!(seen, Some(id));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    values: Values,
}

impl Context {
    /// An empty context: no correlation ID, no slot values.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(correlate::Context::new().correlation_id(), None);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot of the current context. Later sets on either side are not
    /// seen by the other.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{Context, CorrelationId};
    ///
    /// let first = correlate::set(CorrelationId::parse("first").unwrap());
    /// let ctx = Context::current();
    /// let _second = correlate::set(CorrelationId::parse("second").unwrap());
    /// assert_eq!(ctx.correlation_id().unwrap(), "first");
    /// # drop(first);
    /// ```
    pub fn current() -> Self {
        let values = with_frame(Frame::visible_values).unwrap_or_default();
        Self { values }
    }

    /// A snapshot of the current context with `id` as its correlation ID:
    /// the same as `Context::current().with_correlation_id(id)`, without
    /// copying the ID that `id` replaces.
    pub(crate) fn current_with_correlation_id(id: CorrelationId) -> Self {
        let values = with_frame(|frame| {
            if frame.is_root_with_sets() {
                let mut values = frame.visible_values();
                values.correlation_id = None;
                values
            } else {
                Values {
                    correlation_id: None,
                    user: frame.values.user.clone(),
                }
            }
        })
        .unwrap_or_default();
        // Set outside the cell: dropping a replaced ID is not done under it.
        Self { values }.with_correlation_id(id)
    }

    /// The context's correlation ID.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = correlate::Context::new().with_generated_id();
    /// assert!(ctx.correlation_id().is_some());
    /// ```
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        self.values.correlation_id.as_ref()
    }

    /// A slot's value in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// correlate::slot! { static USER_ID: String; }
    ///
    /// let ctx = correlate::Context::new().with_value(&USER_ID, "alice".into());
    /// assert_eq!(ctx.get(&USER_ID).as_deref(), Some("alice"));
    /// ```
    pub fn get<T: Clone + Send + Sync + 'static>(&self, slot: &'static Slot<T>) -> Option<T> {
        match self.values.load(slot.key()) {
            Stored::Id(id) => (&id as &dyn Any).downcast_ref::<Option<T>>()?.clone(),
            Stored::User(value) => value?.downcast_ref::<T>().cloned(),
        }
    }

    /// The same context with `id` as its correlation ID.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = correlate::CorrelationId::generate();
    /// let ctx = correlate::Context::current().with_correlation_id(id.clone());
    /// assert_eq!(ctx.correlation_id(), Some(&id));
    /// ```
    pub fn with_correlation_id(mut self, id: CorrelationId) -> Self {
        self.values.correlation_id = Some(id);
        self
    }

    /// The same context with a newly generated correlation ID.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = correlate::Context::new().with_generated_id();
    /// let b = correlate::Context::new().with_generated_id();
    /// assert_ne!(a.correlation_id(), b.correlation_id());
    /// ```
    pub fn with_generated_id(self) -> Self {
        self.with_correlation_id(CorrelationId::generate())
    }

    /// The same context with `slot` set to `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// correlate::slot! { static TENANT: u32; }
    ///
    /// let ctx = correlate::Context::new().with_value(&TENANT, 3);
    /// assert_eq!(ctx.run(|| TENANT.get()), Some(3));
    /// ```
    pub fn with_value<T: Clone + Send + Sync + 'static>(
        mut self,
        slot: &'static Slot<T>,
        value: T,
    ) -> Self {
        let key = slot.key();
        if key.is_correlation_id() {
            let id = (&mut Some(value) as &mut dyn Any)
                .downcast_mut::<Option<CorrelationId>>()
                .and_then(Option::take);
            self.values.correlation_id = id;
        } else {
            drop(
                self.values
                    .replace(key, Stored::User(Some(Arc::new(value)))),
            );
        }
        self
    }

    /// The same context with `slot` unset.
    ///
    /// # Examples
    ///
    /// ```
    /// correlate::slot! { static TENANT: u32; }
    ///
    /// let ctx = correlate::Context::new().with_value(&TENANT, 3).without(&TENANT);
    /// assert_eq!(ctx.get(&TENANT), None);
    /// ```
    pub fn without<T: 'static>(mut self, slot: &'static Slot<T>) -> Self {
        self.remove(slot);
        self
    }

    /// Unsets `slot` in place: [`Context::without`] without moving the
    /// context (the tower layer does this on every request).
    pub(crate) fn remove<T: 'static>(&mut self, slot: &'static Slot<T>) {
        drop(self.values.clear(slot.key()));
    }

    /// Runs `f` in a copy of this context on the current thread, then
    /// restores what was current before, also if `f` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{Context, CorrelationId};
    ///
    /// let ctx = Context::new().with_correlation_id(CorrelationId::parse("job-7").unwrap());
    /// assert_eq!(ctx.run(|| correlate::current()).unwrap(), "job-7");
    /// assert_eq!(correlate::current(), None);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        in_frame(&RefCell::new(Frame::entered(self.values.clone())), f)
    }

    /// Attaches a copy of this context to a future or stream: it is current
    /// whenever the result is polled or dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlate::{Context, CorrelationId};
    ///
    /// let ctx = Context::new().with_correlation_id(CorrelationId::parse("req-9").unwrap());
    /// let seen = futures::executor::block_on(ctx.wrap(async { correlate::current() }));
    /// assert_eq!(seen.unwrap(), "req-9");
    /// ```
    pub fn wrap<T>(&self, inner: T) -> Correlated<T> {
        Correlated::new(self.values.clone(), inner)
    }

    pub(crate) fn into_values(self) -> Values {
        self.values
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("correlation_id", &self.values.correlation_id)
            .field(
                "user_slots",
                &self.values.user.as_ref().map_or(0, |user| user.len()),
            )
            .finish()
    }
}
