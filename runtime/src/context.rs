//! Contexts: the set of slot values that running code sees.
//!
//! Every thread has one *current frame* (which one: `current.rs`). A frame
//! owns the values code sees plus the log of sets that tokens refer to. A
//! correlated future owns a frame of its own and enters it for the length of
//! each poll (see `future.rs`), so nothing it sets is visible between polls.

use std::any::Any;
use std::fmt;
use std::mem;
use std::sync::Arc;

use crate::current::{FrameCell, in_frame, peek_frame_or, with_frame, with_frame_or};
use crate::future::Correlated;
use crate::id::CorrelationId;
use crate::slot::{Slot, SlotKey};
use crate::token::SetLog;

/// A user slot's value, type-erased so one context can hold any slots.
pub(crate) type Erased = Arc<dyn Any + Send + Sync>;

/// User slots' values, sorted by key; shared between snapshots and copied
/// on write.
type UserSlots = Arc<Vec<(SlotKey, Erased)>>;

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
    user: Option<UserSlots>,
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
/// [`at_thread_root`](crate::current::at_thread_root)). Every correlated
/// future and every `#[correlated]` call carries a frame, so every byte left
/// out is saved in each of them.
pub(crate) struct Frame {
    pub(crate) values: Values,
    /// Created by the first `set`; most frames never need one.
    pub(crate) log: Option<Box<SetLog>>,
}

impl Frame {
    pub(crate) const THREAD_ROOT: Frame = Frame {
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
        if self.is_root_with_sets() {
            self.root_visible_values()
        } else {
            self.values.clone()
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
/// use correlated::CorrelationId;
///
/// assert_eq!(correlated::current(), None);
/// let id = CorrelationId::generate();
/// let _guard = correlated::scope(id.clone());
/// assert_eq!(correlated::current(), Some(id));
/// ```
#[inline]
#[allow(unsafe_code)]
pub fn current() -> Option<CorrelationId> {
    // SAFETY: the closures only read the frame and clone an ID (a copy or a
    // reference count), which runs no user code and borrows nothing.
    let at_root_with_sets = unsafe { peek_frame_or(Frame::is_root_with_sets, || false) };
    // The rare thread-root case answers in a register, out of line, so that
    // the clone below is the last thing written (see `with_current_cell`).
    if at_root_with_sets && !root_shows_correlation_id() {
        return None;
    }
    // SAFETY: as above.
    unsafe { peek_frame_or(|frame| frame.values.correlation_id.clone(), || None) }
}

/// Whether a thread root with sets recorded shows its correlation ID to the
/// running code (see `Frame::shows`).
#[cold]
#[inline(never)]
fn root_shows_correlation_id() -> bool {
    with_frame(|frame| frame.shows(SlotKey::CORRELATION_ID)).unwrap_or(false)
}

/// The user slots the running code sees, shared with the current frame.
fn visible_user_slots() -> Option<UserSlots> {
    with_frame_or(
        |frame| {
            if frame.is_root_with_sets() {
                frame.root_visible_values().user
            } else {
                frame.values.user.clone()
            }
        },
        || None,
    )
}

/// Calls `f` with the current correlation ID, without cloning it for the
/// caller to keep.
///
/// # Examples
///
/// ```
/// let id = correlated::CorrelationId::generate();
/// let _guard = correlated::scope(id.clone());
/// let logged = correlated::with_current(|id| format!("[{}]", id.map_or("-", |id| id.as_str())));
/// assert_eq!(logged, format!("[{id}]"));
/// ```
#[inline]
pub fn with_current<R>(f: impl FnOnce(Option<&CorrelationId>) -> R) -> R {
    // The ID is copied out so that `f` runs with the thread's cell released:
    // `f` may then read or set any slot.
    f(current().as_ref())
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
/// use correlated::{Context, CorrelationId};
///
/// let id = CorrelationId::generate();
/// let ctx = Context::new().with_correlation_id(id.clone());
///
/// let seen = std::thread::spawn(move || ctx.run(correlated::current))
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
    /// assert_eq!(correlated::Context::new().correlation_id(), None);
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
    /// use correlated::{Context, CorrelationId};
    ///
    /// let first = correlated::set(CorrelationId::parse("first").unwrap());
    /// let ctx = Context::current();
    /// let _second = correlated::set(CorrelationId::parse("second").unwrap());
    /// assert_eq!(ctx.correlation_id().unwrap(), "first");
    /// # drop(first);
    /// ```
    pub fn current() -> Self {
        let values = with_frame_or(Frame::visible_values, Values::default);
        Self { values }
    }

    /// A snapshot of the current context with `id` as its correlation ID:
    /// the same as `Context::current().with_correlation_id(id)`, without
    /// copying the ID that `id` replaces.
    #[inline]
    pub(crate) fn current_with_correlation_id(id: CorrelationId) -> Self {
        // Only the user slots come from the thread, looked up before the ID
        // is touched, so that the ID moves once, into the new context
        // (docs/performance.md, session 4).
        let user = visible_user_slots();
        Self {
            values: Values {
                correlation_id: Some(id),
                user,
            },
        }
    }

    /// The context's correlation ID.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = correlated::Context::new().with_generated_id();
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
    /// correlated::slot! { static USER_ID: String; }
    ///
    /// let ctx = correlated::Context::new().with_value(&USER_ID, "alice".into());
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
    /// let id = correlated::CorrelationId::generate();
    /// let ctx = correlated::Context::current().with_correlation_id(id.clone());
    /// assert_eq!(ctx.correlation_id(), Some(&id));
    /// ```
    #[must_use = "this returns a new context and leaves the original unchanged"]
    pub fn with_correlation_id(mut self, id: CorrelationId) -> Self {
        self.values.correlation_id = Some(id);
        self
    }

    /// The same context with a newly generated correlation ID.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = correlated::Context::new().with_generated_id();
    /// let b = correlated::Context::new().with_generated_id();
    /// assert_ne!(a.correlation_id(), b.correlation_id());
    /// ```
    #[must_use = "this returns a new context and leaves the original unchanged"]
    pub fn with_generated_id(self) -> Self {
        self.with_correlation_id(CorrelationId::generate())
    }

    /// The same context with `slot` set to `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { static TENANT: u32; }
    ///
    /// let ctx = correlated::Context::new().with_value(&TENANT, 3);
    /// assert_eq!(ctx.run(|| TENANT.get()), Some(3));
    /// ```
    #[must_use = "this returns a new context and leaves the original unchanged"]
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
    /// correlated::slot! { static TENANT: u32; }
    ///
    /// let ctx = correlated::Context::new().with_value(&TENANT, 3).without(&TENANT);
    /// assert_eq!(ctx.get(&TENANT), None);
    /// ```
    #[must_use = "this returns a new context and leaves the original unchanged"]
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
    /// use correlated::{Context, CorrelationId};
    ///
    /// let ctx = Context::new().with_correlation_id(CorrelationId::parse("job-7").unwrap());
    /// assert_eq!(ctx.run(|| correlated::current()).unwrap(), "job-7");
    /// assert_eq!(correlated::current(), None);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        in_frame(&FrameCell::new(Frame::entered(self.values.clone())), f)
    }

    /// Attaches a copy of this context to a future or stream: it is current
    /// whenever the result is polled or dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Context, CorrelationId};
    ///
    /// let ctx = Context::new().with_correlation_id(CorrelationId::parse("req-9").unwrap());
    /// let seen = futures::executor::block_on(ctx.wrap(async { correlated::current() }));
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
