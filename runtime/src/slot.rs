//! Slots: typed, named storage cells, the counterpart of Python's `ContextVar`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;

use crate::current::with_frame;
use crate::guard::ScopeGuard;
use crate::id::CorrelationId;
use crate::key::{SlotKey, Stored};
use crate::token::{self, ResetError, Token};

/// A typed, named value that every piece of code running in a context can
/// read: the Rust counterpart of Python's `contextvars.ContextVar`.
///
/// Declare slots with [`slot!`](crate::slot!); the correlation ID itself is
/// the built-in slot [`CORRELATION_ID`]. A value is seen by the context it was
/// set in and by contexts captured from it afterwards, never by another task.
///
/// # Examples
///
/// ```
/// correlated::slot! {
///     /// The authenticated user, once known.
///     pub static USER_ID: String;
/// }
///
/// assert_eq!(USER_ID.get(), None);
/// let token = USER_ID.set("alice".to_owned());
/// assert_eq!(USER_ID.get().as_deref(), Some("alice"));
/// USER_ID.reset(token).unwrap();
/// assert_eq!(USER_ID.get(), None);
/// ```
pub struct Slot<T: 'static> {
    name: &'static str,
    key: AtomicU32,
    // `fn() -> T` keeps the slot `Send + Sync` whatever `T` is; the values
    // themselves are checked by the `T: Send + Sync` bounds on the methods.
    _value: PhantomData<fn() -> T>,
}

/// The built-in slot that holds the correlation ID.
///
/// [`current`](crate::current), [`set`](crate::set), [`reset`](crate::reset)
/// and [`scope`](crate::scope) are shorthands for its methods.
///
/// # Examples
///
/// ```
/// use correlated::{CORRELATION_ID, CorrelationId};
///
/// let _guard = CORRELATION_ID.scope(CorrelationId::parse("req-1").unwrap());
/// assert_eq!(correlated::current().unwrap(), "req-1");
/// ```
pub static CORRELATION_ID: Slot<CorrelationId> = Slot {
    name: "CORRELATION_ID",
    key: AtomicU32::new(SlotKey::CORRELATION_ID_RAW),
    _value: PhantomData,
};

impl<T: 'static> Slot<T> {
    /// Used by [`slot!`](crate::slot!); not part of the API.
    #[doc(hidden)]
    pub const fn __new(name: &'static str) -> Self {
        Self {
            name,
            key: AtomicU32::new(SlotKey::UNASSIGNED),
            _value: PhantomData,
        }
    }

    /// The name the slot was declared with, e.g. `"USER_ID"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(correlated::CORRELATION_ID.name(), "CORRELATION_ID");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    pub(crate) fn key(&self) -> SlotKey {
        // Known at compile time wherever the built-in slot is named, as in
        // `correlated::set` and `correlated::scope`.
        if std::ptr::addr_eq(self, &CORRELATION_ID) {
            return SlotKey::CORRELATION_ID;
        }
        SlotKey::assigned(&self.key)
    }
}

impl<T: Clone + Send + Sync + 'static> Slot<T> {
    /// The slot's value in the current context, cloned; `None` when unset,
    /// outside any context, or while the thread is being torn down.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { static TENANT: u32; }
    ///
    /// assert_eq!(TENANT.get(), None);
    /// let _guard = TENANT.scope(7);
    /// assert_eq!(TENANT.get(), Some(7));
    /// ```
    pub fn get(&'static self) -> Option<T> {
        self.with(|value| value.cloned())
    }

    /// Calls `f` with a reference to the slot's value in the current context.
    ///
    /// `f` may use any slot, including this one.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { static USER_ID: String; }
    ///
    /// let _guard = USER_ID.scope("alice".to_owned());
    /// assert_eq!(USER_ID.with(|user| user.map(String::len)), Some(5));
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let key = self.key();
        match with_frame(|frame| frame.visible_load(key)) {
            Some(stored) => f(stored.downcast_ref::<T>()),
            None => f(None),
        }
    }

    /// Sets the slot in the current context and returns the [`Token`] that
    /// undoes it.
    ///
    /// Inside a correlated future the value lasts, across `.await`s, until the
    /// token is reset or the future ends; it never reaches the code that
    /// polled the future. Prefer [`Slot::scope`] when the value should end with
    /// a block.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { static TENANT: u32; }
    ///
    /// let outer = TENANT.set(1);
    /// let inner = TENANT.set(2);
    /// TENANT.reset(inner).unwrap();
    /// assert_eq!(TENANT.get(), Some(1));
    /// TENANT.reset(outer).unwrap();
    /// assert_eq!(TENANT.get(), None);
    /// ```
    #[inline]
    pub fn set(&'static self, value: T) -> Token {
        let key = self.key();
        token::set(key, self.name, Stored::of(key, value))
    }

    /// Undoes the [`Slot::set`] that returned `token`.
    ///
    /// Resets may come in any order: the slot shows the newest set whose token
    /// is still live, and once every token of a context has been reset the
    /// slot holds exactly what it held when the context was entered.
    ///
    /// # Errors
    ///
    /// [`ResetError`] when the token belongs to another context (another task,
    /// a sibling scope, a scope that ended) or to another slot. Nothing
    /// changes then, and [`ResetError::into_token`] gives the token back.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { static A: u8; static B: u8; }
    ///
    /// let token = A.set(1);
    /// let err = B.reset(token).unwrap_err();
    /// assert_eq!(A.get(), Some(1));
    /// A.reset(err.into_token()).unwrap();
    /// assert_eq!(A.get(), None);
    /// ```
    pub fn reset(&'static self, token: Token) -> Result<(), ResetError> {
        token::reset(self.key(), token)
    }

    /// Sets the slot until the returned guard is dropped, also on panic.
    ///
    /// Keep the guard inside one poll (drop it before the next `.await`) unless
    /// you are inside a correlated future, whose context travels with it.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { static TENANT: u32; }
    ///
    /// {
    ///     let _guard = TENANT.scope(9);
    ///     assert_eq!(TENANT.get(), Some(9));
    /// }
    /// assert_eq!(TENANT.get(), None);
    /// ```
    #[inline]
    pub fn scope(&'static self, value: T) -> ScopeGuard {
        let key = self.key();
        ScopeGuard::set(key, self.name, Stored::of(key, value))
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").field("name", &self.name).finish()
    }
}

/// Declares context slots, the counterpart of Python's `ContextVar`.
///
/// Each declaration becomes a `static` [`Slot`]. Values must be
/// `Clone + Send + Sync + 'static`, since contexts travel between threads.
///
/// # Examples
///
/// ```
/// correlated::slot! {
///     /// The authenticated user.
///     pub static USER_ID: String;
///     pub(crate) static TENANT: u64;
/// }
///
/// let _user = USER_ID.scope("alice".into());
/// let _tenant = TENANT.scope(42);
/// assert_eq!(USER_ID.get().as_deref(), Some("alice"));
/// assert_eq!(TENANT.get(), Some(42));
/// ```
#[macro_export]
macro_rules! slot {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident : $ty:ty; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::Slot<$ty> = $crate::Slot::__new(::core::stringify!($name));
        $crate::slot! { $($rest)* }
    };
}
