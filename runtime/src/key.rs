//! Slot keys and the type-erased values stored under them.
//!
//! A context holds values of any slot type, so it stores them erased; the
//! correlation ID, read on every log line, is the one slot stored unboxed.
//! This module is the only place a typed value is erased ([`Stored::of`]) or
//! read back ([`Stored::downcast_ref`]).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::id::CorrelationId;

/// Identifies a slot inside a context. The correlation ID has a fixed key so
/// its reads skip the user-slot map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SlotKey(u32);

impl SlotKey {
    /// What a declared slot's key cell holds until the slot is first used.
    pub(crate) const UNASSIGNED: u32 = 0;
    /// The built-in slot's key, fixed, for its `static` declaration.
    pub(crate) const CORRELATION_ID_RAW: u32 = 1;
    pub(crate) const CORRELATION_ID: SlotKey = SlotKey(Self::CORRELATION_ID_RAW);
    const FIRST_USER: u32 = 2;

    pub(crate) fn is_correlation_id(self) -> bool {
        self == Self::CORRELATION_ID
    }

    /// The key kept in `cell`, handed out on first use: declaring a slot is
    /// then a plain `const` initialiser and costs nothing until it is touched.
    #[inline]
    pub(crate) fn assigned(cell: &AtomicU32) -> SlotKey {
        /// The next key for a user slot.
        static NEXT_USER_KEY: AtomicU32 = AtomicU32::new(SlotKey::FIRST_USER);

        let key = cell.load(Ordering::Relaxed);
        if key != Self::UNASSIGNED {
            return SlotKey(key);
        }
        let fresh = NEXT_USER_KEY.fetch_add(1, Ordering::Relaxed);
        // Two threads may race to assign; the first one wins and both use it.
        match cell.compare_exchange(
            Self::UNASSIGNED,
            fresh,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => SlotKey(fresh),
            Err(winner) => SlotKey(winner),
        }
    }
}

/// A user slot's value, type-erased so one context can hold any slots.
pub(crate) type Erased = Arc<dyn Any + Send + Sync>;

/// One slot's value, erased: the correlation ID unboxed, any other slot's
/// value behind an `Arc`.
pub(crate) enum Stored {
    Id(Option<CorrelationId>),
    User(Option<Erased>),
}

impl Stored {
    /// No value, for the slot `key`.
    pub(crate) fn empty(key: SlotKey) -> Stored {
        if key.is_correlation_id() {
            Stored::Id(None)
        } else {
            Stored::User(None)
        }
    }

    /// `value` stored for the slot `key`.
    ///
    /// Only the built-in correlation ID slot has the fixed key, and it is a
    /// slot of `CorrelationId`, so for it the downcast always succeeds.
    #[inline]
    pub(crate) fn of<T: Any + Send + Sync>(key: SlotKey, value: T) -> Stored {
        if key.is_correlation_id() {
            let mut value = Some(value);
            let id = (&mut value as &mut dyn Any)
                .downcast_mut::<Option<CorrelationId>>()
                .and_then(Option::take);
            debug_assert!(id.is_some(), "the correlation ID slot holds IDs");
            Stored::Id(id)
        } else {
            Stored::User(Some(Arc::new(value)))
        }
    }

    /// The value as a `T`, if there is one (a slot's values are always of
    /// its own type).
    pub(crate) fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Stored::Id(id) => (id.as_ref()? as &dyn Any).downcast_ref::<T>(),
            Stored::User(value) => value.as_deref()?.downcast_ref::<T>(),
        }
    }
}
