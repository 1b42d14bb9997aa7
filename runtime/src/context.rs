//! Contexts: the set of slot values that running code sees, captured, read
//! and attached to work.
//!
//! Every thread has one *current frame* (which one: `current.rs`). A
//! [`Context`] is a snapshot of a frame's visible values; running code in one
//! enters a frame made from it, and attaching one to a future makes a
//! [`Correlated`] future, which enters its frame for each poll.

use std::fmt;

use crate::current::{FrameCell, in_frame, peek_frame_or, with_frame, with_frame_or};
use crate::frame::{Frame, UserSlots, Values};
use crate::future::Correlated;
use crate::id::CorrelationId;
use crate::key::{SlotKey, Stored};
use crate::slot::Slot;

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
    unsafe { peek_frame_or(|frame| frame.values().correlation_id().cloned(), || None) }
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
    with_frame_or(Frame::visible_user_slots, || None)
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

/// Binds a callback to the current context: the returned callback calls `f`
/// in a snapshot of the context current now, and the future `f` returns is
/// polled and dropped in that snapshot, whenever and wherever the callback
/// is called.
///
/// For APIs that take a callback and call it later, after the code that
/// registered it has returned: axum's `WebSocketUpgrade::on_upgrade`, or
/// handlers kept by a scheduler or an event bus. A plain callback would
/// run in no context there, or in whatever context the caller of the
/// callback has. This is [`Context::current()`](Context::current) followed by
/// [`Context::bind`], which gives the details.
///
/// The returned callback is `Send` when `f` is, and `'static` when `f`, `A`
/// and `Fut` are, as axum requires. The API's bounds do not reach the
/// closure through `bind`: a closure that calls methods on its argument
/// needs the argument's type written, `|socket: WebSocket| async move { .. }`.
///
/// # Examples
///
/// In an axum handler, `ws.on_upgrade(correlated::bind(serve))` serves the
/// socket in the request's context, after the response that
/// ended the request has gone. Here with a stand-in for `on_upgrade` that
/// has its bounds and, like it, calls the callback later, elsewhere (here on
/// another thread):
///
/// ```
/// use std::future::Future;
/// use correlated::{Correlate, CorrelationId};
///
/// struct Socket;
///
/// /// Like axum's `WebSocketUpgrade::on_upgrade`.
/// fn on_upgrade<C, Fut>(callback: C) -> std::thread::JoinHandle<()>
/// where
///     C: FnOnce(Socket) -> Fut + Send + 'static,
///     Fut: Future<Output = ()> + Send + 'static,
/// {
///     std::thread::spawn(move || futures::executor::block_on(callback(Socket)))
/// }
///
/// async fn serve(_socket: Socket) {
///     assert_eq!(correlated::current().unwrap(), "req-1");
/// }
///
/// let upgraded = futures::executor::block_on(
///     async { on_upgrade(correlated::bind(serve)) }
///         .correlated(CorrelationId::parse("req-1").unwrap()),
/// );
/// upgraded.join().unwrap();
/// ```
///
/// The caller's later sets never reach the callback:
///
/// ```
/// use correlated::CorrelationId;
///
/// let guard = correlated::scope(CorrelationId::parse("req-1").unwrap());
/// let callback = correlated::bind(|n: u32| async move { (n, correlated::current()) });
/// drop(guard);
/// let _later = correlated::scope(CorrelationId::parse("later").unwrap());
///
/// let (n, seen) = futures::executor::block_on(callback(7));
/// assert_eq!((n, seen.unwrap().as_str()), (7, "req-1"));
/// assert_eq!(correlated::current().unwrap(), "later");
/// ```
#[must_use = "the bound callback does nothing until it is called"]
pub fn bind<A, F, Fut>(f: F) -> impl FnOnce(A) -> Correlated<Fut>
where
    F: FnOnce(A) -> Fut,
{
    Context::current().bind(f)
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
            values: Values::from_parts(Some(id), user),
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
        self.values.correlation_id()
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
        self.values.load(slot.key()).downcast_ref::<T>().cloned()
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
        self.values.set_correlation_id(Some(id));
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
        drop(self.values.replace(key, Stored::of(key, value)));
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
    /// context.
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
        in_frame(&FrameCell::new(Frame::new(self.values.clone())), f)
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

    /// Binds a callback to this context: the returned callback calls `f` in
    /// it, and the future `f` returns is polled and dropped in it.
    /// [`bind`] does the same with the context current at the call.
    ///
    /// For APIs that call a callback later, such as axum's
    /// `WebSocketUpgrade::on_upgrade`, when the context of the code that
    /// registered it has ended.
    ///
    /// - **One context for `f` and its future.** The call of `f` (the
    ///   synchronous part that builds the future) and the future share one
    ///   copy of this context, as the start of an `async fn` and the rest
    ///   of its body do: what `f` sets is still set when the future is
    ///   polled. The future is a [`Correlated`] future: its context is
    ///   current for every poll and while it is dropped, also when it is
    ///   cancelled, and at no other time.
    /// - **Snapshots.** Nothing set in `f` or its future reaches the code
    ///   that calls the callback or a clone of this `Context`, and what the
    ///   caller sets after binding never reaches them.
    /// - **`Send + 'static`.** The returned callback is `Send` when `f` is,
    ///   and `'static` when `f`, `A` and `Fut` are (a `Context` is both);
    ///   the future is `Send` when `Fut` is.
    ///
    /// It takes one argument, what `on_upgrade` and most such APIs pass.
    /// There is no zero-argument variant: a future that exists already is
    /// attached with [`Context::wrap`] or
    /// [`.in_current_context()`](Correlate::in_current_context), and a
    /// `FnOnce() -> Fut` callback is `let bound = ctx.bind(|()| make());`
    /// then `move || bound(())`. Callbacks called more than once (`FnMut`,
    /// retries) wrap each future they make with [`Context::wrap`].
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Context, CorrelationId};
    ///
    /// let ctx = Context::new().with_correlation_id(CorrelationId::parse("ws-1").unwrap());
    /// let on_message = ctx.bind(|text: String| {
    ///     let built_in = correlated::current(); // the synchronous part
    ///     async move { (text, built_in, correlated::current()) }
    /// });
    ///
    /// let (text, built_in, polled_in) = futures::executor::block_on(on_message("hi".into()));
    /// assert_eq!(text, "hi");
    /// assert_eq!(built_in.unwrap(), "ws-1");
    /// assert_eq!(polled_in.unwrap(), "ws-1");
    /// assert_eq!(correlated::current(), None);
    /// ```
    #[must_use = "the bound callback does nothing until it is called"]
    pub fn bind<A, F, Fut>(self, f: F) -> impl FnOnce(A) -> Correlated<Fut>
    where
        F: FnOnce(A) -> Fut,
    {
        move |arg| Correlated::make_in(self.values, || f(arg))
    }

    pub(crate) fn into_values(self) -> Values {
        self.values
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("correlation_id", &self.values.correlation_id())
            .field("user_slots", &self.values.user_slot_count())
            .finish()
    }
}

/// Attaching a context to futures and streams.
///
/// Implemented for every type, like `tracing`'s `Instrument`: the result is a
/// [`Correlated`] future when `Self` is a future, and a correlated stream
/// (each `poll_next` in the context) when `Self` is a stream. Its name does
/// not collide with the `FutureExt` and `StreamExt` traits of `futures` and
/// `tokio-stream`, so all of them can be imported together.
///
/// # Examples
///
/// ```
/// use correlated::{Correlate, CorrelationId};
///
/// # futures::executor::block_on(async {
/// let id = CorrelationId::generate();
/// async {
///     let child = async { correlated::current() }.in_current_context();
///     assert_eq!(child.await, correlated::current());
/// }
/// .correlated(id)
/// .await;
/// # });
/// ```
///
/// A stream, next to `futures::StreamExt`:
///
/// ```
/// use correlated::{Correlate, CorrelationId};
/// use futures::StreamExt;
///
/// let ids = futures::stream::repeat_with(correlated::current)
///     .take(2)
///     .correlated(CorrelationId::parse("sse-1").unwrap());
/// let seen: Vec<_> = futures::executor::block_on(ids.collect());
/// assert!(seen.iter().all(|id| id.as_ref().unwrap() == "sse-1"));
/// ```
pub trait Correlate: Sized {
    /// Runs the future (or every poll of the stream) with `id` as its
    /// correlation ID, in a copy of the current context (other slots are
    /// kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let id = CorrelationId::parse("job-1").unwrap();
    /// let seen = futures::executor::block_on(async { correlated::current() }.correlated(id));
    /// assert_eq!(seen.unwrap(), "job-1");
    /// ```
    fn correlated(self, id: CorrelationId) -> Correlated<Self> {
        Context::current_with_correlation_id(id).wrap(self)
    }

    /// Runs the future (or every poll of the stream) in a snapshot of the
    /// context current now, at construction: its sets never reach the
    /// caller, and the caller's later sets never reach it. Use it to carry
    /// the context into a spawned task or to isolate one branch of a `join!`.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::{Correlate, CorrelationId};
    ///
    /// let guard = correlated::scope(CorrelationId::parse("req-1").unwrap());
    /// let child = async { correlated::current() }.in_current_context();
    /// drop(guard);
    /// assert_eq!(futures::executor::block_on(child).unwrap(), "req-1");
    /// ```
    fn in_current_context(self) -> Correlated<Self> {
        Context::current().wrap(self)
    }
}

impl<T> Correlate for T {}
