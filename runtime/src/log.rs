//! The correlation ID on every [`log`] record (feature `log`).
//!
//! [`CorrelatedLogger`] wraps any [`Log`] implementation and forwards each
//! record to it with the key-value `correlation_id` added, plus any user
//! slots registered on it, `-` when unset. How they are printed is up to the
//! wrapped logger, as for every other key-value of the record.
//!
//! A key the caller sets on the record itself, e.g.
//! `log::info!(correlation_id = "other"; "..")`, is kept and the added one is
//! left out, so a record never carries a key twice.
//!
//! Records logged through `log` and bridged into `tracing` (`tracing-log`)
//! are covered by [`crate::tracing`] instead; use one or the other.
//!
//! # Examples
//!
//! Wrap the logger you would otherwise install, and install the wrapper:
//!
//! ```
//! use std::fmt::Write as _;
//! use std::sync::Mutex;
//!
//! use correlated::{CorrelationId, Correlate};
//! use log::kv::{Error, Key, Value, VisitSource};
//! use log::{LevelFilter, Log, Metadata, Record};
//!
//! correlated::slot! { static USER_ID: String; }
//!
//! /// A minimal logger: `LEVEL message key=value ...`, into a buffer.
//! struct Lines(Mutex<Vec<String>>);
//!
//! impl Log for Lines {
//!     fn enabled(&self, _: &Metadata<'_>) -> bool {
//!         true
//!     }
//!
//!     fn log(&self, record: &Record<'_>) {
//!         struct Pairs(String);
//!         impl<'kvs> VisitSource<'kvs> for Pairs {
//!             fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
//!                 write!(self.0, " {key}={value}").map_err(|_| Error::msg("write failed"))
//!             }
//!         }
//!         let mut line = Pairs(format!("{} {}", record.level(), record.args()));
//!         record.key_values().visit(&mut line).unwrap();
//!         self.0.lock().unwrap().push(line.0);
//!     }
//!
//!     fn flush(&self) {}
//! }
//!
//! static LINES: Lines = Lines(Mutex::new(Vec::new()));
//!
//! correlated::log::CorrelatedLogger::new(&LINES)
//!     .with_slot(&USER_ID)
//!     .init(LevelFilter::Info)
//!     .unwrap();
//!
//! log::info!("starting");
//! let request = async {
//!     let _user = USER_ID.scope("alice".to_owned());
//!     log::info!(order = 7; "loading");
//! };
//! futures::executor::block_on(request.correlated(CorrelationId::parse("req-1").unwrap()));
//!
//! assert_eq!(
//!     *LINES.0.lock().unwrap(),
//!     [
//!         "INFO starting correlation_id=- user_id=-",
//!         "INFO loading correlation_id=req-1 user_id=alice order=7",
//!     ],
//! );
//! ```

use std::borrow::Cow;
use std::fmt;

use ::log::kv::{self, Key, Source, Value, VisitSource};
use ::log::{LevelFilter, Log, Metadata, Record, SetLoggerError};

use crate::fields::{self, SlotFields};
use crate::id::CorrelationId;
use crate::slot::Slot;

/// A [`Log`] that forwards every record to the wrapped logger with the
/// key-values `correlation_id` and the registered user slots added.
///
/// The added key-values come first, in registration order, then the
/// record's own. Values are strings: the ID, a slot's
/// [`Display`](fmt::Display) output, or `-` when unset.
///
/// # Examples
///
/// ```
/// # struct Stdout;
/// # impl log::Log for Stdout {
/// #     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
/// #     fn log(&self, record: &log::Record<'_>) { println!("{}", record.args()) }
/// #     fn flush(&self) {}
/// # }
/// use correlated::log::CorrelatedLogger;
/// use log::LevelFilter;
///
/// correlated::slot! { static TENANT_ID: u64; }
///
/// CorrelatedLogger::new(Stdout)
///     .with_slot(&TENANT_ID)
///     .init(LevelFilter::Debug)
///     .expect("no other logger is installed");
/// ```
#[derive(Debug)]
pub struct CorrelatedLogger<L> {
    inner: L,
    slots: SlotFields,
}

impl<L> CorrelatedLogger<L> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// ```
    /// use log::Log as _;
    ///
    /// let logger = correlated::log::CorrelatedLogger::new(log::logger());
    /// logger.flush();
    /// ```
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            slots: SlotFields::default(),
        }
    }

    /// Also adds `slot`, under its declared name in lower case
    /// (`USER_ID` → `user_id`), `-` when unset.
    ///
    /// # Panics
    ///
    /// If that name is already registered; see
    /// [`with_slot_named`](Self::with_slot_named).
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { pub static USER_ID: String; }
    ///
    /// let logger = correlated::log::CorrelatedLogger::new(log::logger()).with_slot(&USER_ID);
    /// # drop(logger);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_slot<T>(mut self, slot: &'static Slot<T>) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        self.slots.push(slot);
        self
    }

    /// Also adds `slot` under the key `name`, `-` when unset.
    ///
    /// # Panics
    ///
    /// If `name` is not 1 to 64 ASCII letters, digits, `_`, `.` or `-`, is
    /// `correlation_id`, or is already registered.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { pub static USER_ID: String; }
    ///
    /// let logger = correlated::log::CorrelatedLogger::new(log::logger())
    ///     .with_slot_named(&USER_ID, "user.id");
    /// # drop(logger);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_slot_named<T>(mut self, slot: &'static Slot<T>, name: &str) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        self.slots.push_named(slot, name.to_owned());
        self
    }

    /// The wrapped logger.
    ///
    /// # Examples
    ///
    /// ```
    /// let logger = correlated::log::CorrelatedLogger::new(42);
    /// assert_eq!(*logger.inner(), 42);
    /// ```
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

impl<L: Log + 'static> CorrelatedLogger<L> {
    /// Installs this logger as the global logger and sets the maximum level
    /// (see [`log::set_max_level`]).
    ///
    /// # Errors
    ///
    /// [`SetLoggerError`] if a global logger is already installed; nothing
    /// changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// # struct Stdout;
    /// # impl log::Log for Stdout {
    /// #     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
    /// #     fn log(&self, record: &log::Record<'_>) { println!("{}", record.args()) }
    /// #     fn flush(&self) {}
    /// # }
    /// use correlated::log::CorrelatedLogger;
    ///
    /// CorrelatedLogger::new(Stdout).init(log::LevelFilter::Info).unwrap();
    /// assert!(CorrelatedLogger::new(Stdout).init(log::LevelFilter::Info).is_err());
    /// assert_eq!(log::max_level(), log::LevelFilter::Info);
    /// ```
    pub fn init(self, max_level: LevelFilter) -> Result<(), SetLoggerError> {
        ::log::set_boxed_logger(Box::new(self))?;
        ::log::set_max_level(max_level);
        Ok(())
    }
}

/// Wraps `inner` in a [`CorrelatedLogger`] and installs it as the global
/// logger with the given maximum level.
///
/// To add user slots, use [`CorrelatedLogger::init`] instead.
///
/// # Errors
///
/// [`SetLoggerError`] if a global logger is already installed.
///
/// # Examples
///
/// ```
/// # struct Stdout;
/// # impl log::Log for Stdout {
/// #     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
/// #     fn log(&self, record: &log::Record<'_>) { println!("{}", record.args()) }
/// #     fn flush(&self) {}
/// # }
/// correlated::log::init(Stdout, log::LevelFilter::Info).expect("the first logger");
///
/// let _id = correlated::scope(correlated::CorrelationId::generate());
/// log::info!("this record carries the ID");
/// ```
pub fn init<L: Log + 'static>(inner: L, max_level: LevelFilter) -> Result<(), SetLoggerError> {
    CorrelatedLogger::new(inner).init(max_level)
}

impl<L: Log> Log for CorrelatedLogger<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        // Skip the slot reads for a record the inner logger would drop.
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let caller = record.key_values();
        let is_free = |name: &str| caller.get(Key::from_str(name)).is_none();

        let id = crate::current();
        let correlation_id = is_free(fields::CORRELATION_ID)
            .then(|| id.as_ref().map_or(fields::UNSET, CorrelationId::as_str));
        let slots: Vec<(&str, Cow<'static, str>)> = self
            .slots
            .iter()
            .filter(|slot| is_free(slot.name()))
            .map(|slot| {
                let mut value = String::new();
                let value = if slot.render(&mut value) {
                    Cow::Owned(value)
                } else {
                    Cow::Borrowed(fields::UNSET)
                };
                (slot.name(), value)
            })
            .collect();

        let key_values = WithFields {
            correlation_id,
            slots: &slots,
            caller,
        };
        self.inner
            .log(&record.to_builder().key_values(&key_values).build());
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// The record's key-values with the correlation fields in front.
struct WithFields<'a> {
    /// `None` when the caller set `correlation_id` itself.
    correlation_id: Option<&'a str>,
    slots: &'a [(&'a str, Cow<'static, str>)],
    caller: &'a dyn Source,
}

impl Source for WithFields<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        if let Some(id) = self.correlation_id {
            visitor.visit_pair(Key::from_str(fields::CORRELATION_ID), Value::from(id))?;
        }
        for (name, value) in self.slots {
            visitor.visit_pair(Key::from_str(name), Value::from(&**value))?;
        }
        self.caller.visit(visitor)
    }

    fn count(&self) -> usize {
        usize::from(self.correlation_id.is_some()) + self.slots.len() + self.caller.count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::Correlate;

    crate::slot! {
        static USER_ID: String;
    }

    /// A record as `(message, [(key, value)])`.
    type Captured = (String, Vec<(String, String)>);

    #[derive(Default)]
    struct Capture {
        records: Mutex<Vec<Captured>>,
        enabled: bool,
    }

    impl Log for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            self.enabled
        }

        fn log(&self, record: &Record<'_>) {
            struct Pairs(Vec<(String, String)>);
            impl<'kvs> VisitSource<'kvs> for Pairs {
                fn visit_pair(
                    &mut self,
                    key: Key<'kvs>,
                    value: Value<'kvs>,
                ) -> Result<(), kv::Error> {
                    self.0.push((key.to_string(), value.to_string()));
                    Ok(())
                }
            }
            let mut pairs = Pairs(Vec::new());
            record.key_values().visit(&mut pairs).unwrap();
            assert_eq!(record.key_values().count(), pairs.0.len());
            self.records
                .lock()
                .unwrap()
                .push((record.args().to_string(), pairs.0));
        }

        fn flush(&self) {}
    }

    fn logger() -> CorrelatedLogger<Capture> {
        CorrelatedLogger::new(Capture {
            enabled: true,
            ..Capture::default()
        })
        .with_slot(&USER_ID)
    }

    fn log(logger: &impl Log, message: &str, kvs: &[(&str, &str)]) {
        logger.log(
            &Record::builder()
                .args(format_args!("{message}"))
                .key_values(&kvs)
                .build(),
        );
    }

    fn pairs(kvs: &[(&str, &str)]) -> Vec<(String, String)> {
        kvs.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn records(logger: &CorrelatedLogger<Capture>) -> Vec<Captured> {
        logger.inner().records.lock().unwrap().clone()
    }

    #[test]
    fn adds_the_id_and_slots_or_a_dash() {
        let logger = logger();
        log(&logger, "outside", &[]);
        {
            let _id = crate::scope(CorrelationId::parse("req-1").unwrap());
            let _user = USER_ID.scope("alice".into());
            log(&logger, "inside", &[("order", "7")]);
        }
        assert_eq!(
            records(&logger),
            [
                (
                    "outside".into(),
                    pairs(&[("correlation_id", "-"), ("user_id", "-")])
                ),
                (
                    "inside".into(),
                    pairs(&[
                        ("correlation_id", "req-1"),
                        ("user_id", "alice"),
                        ("order", "7")
                    ])
                ),
            ]
        );
    }

    #[test]
    fn keeps_the_callers_keys() {
        let logger = logger();
        let _id = crate::scope(CorrelationId::parse("req-1").unwrap());
        log(
            &logger,
            "explicit",
            &[("correlation_id", "other"), ("user_id", "bob")],
        );
        assert_eq!(
            records(&logger),
            [(
                "explicit".into(),
                pairs(&[("correlation_id", "other"), ("user_id", "bob")])
            )]
        );
    }

    #[test]
    fn follows_a_correlated_future() {
        let logger = logger();
        let task = async {
            log(&logger, "before", &[]);
            futures::future::ready(()).await;
            log(&logger, "after", &[]);
        };
        futures::executor::block_on(task.correlated(CorrelationId::parse("task-1").unwrap()));
        let ids: Vec<_> = records(&logger)
            .into_iter()
            .map(|(_, kvs)| kvs[0].1.clone())
            .collect();
        assert_eq!(ids, ["task-1", "task-1"]);
    }

    #[test]
    fn forwards_nothing_the_inner_logger_disables() {
        let logger = CorrelatedLogger::new(Capture::default());
        log(&logger, "dropped", &[]);
        assert!(records(&logger).is_empty());
        assert!(!logger.enabled(&Metadata::builder().build()));
    }

    #[test]
    fn keeps_the_rest_of_the_record() {
        struct Check;
        impl Log for Check {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn log(&self, record: &Record<'_>) {
                assert_eq!(record.level(), ::log::Level::Warn);
                assert_eq!(record.target(), "target");
                assert_eq!(record.module_path(), Some("module"));
                assert_eq!(record.file(), Some("file.rs"));
                assert_eq!(record.line(), Some(3));
                assert_eq!(record.args().to_string(), "message 1");
                panic!("checked");
            }
            fn flush(&self) {}
        }
        let result = std::panic::catch_unwind(|| {
            CorrelatedLogger::new(Check).log(
                &Record::builder()
                    .level(::log::Level::Warn)
                    .target("target")
                    .module_path(Some("module"))
                    .file(Some("file.rs"))
                    .line(Some(3))
                    .args(format_args!("message {}", 1))
                    .build(),
            );
        });
        let panic = result.unwrap_err();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"checked"));
    }
}
