//! The request span's callsite when it has user slots as fields.
//!
//! `tracing` fixes a span's field names at its callsite, and `span!` makes
//! that callsite at compile time; the slots a [`RequestSpan`] records are
//! chosen at run time. So a span with slots gets a callsite made at run time:
//! the names and the callsite are leaked, once per distinct level and list
//! of names in the process (a registry finds them again), which bounds the
//! leak by the number of configurations, not of requests or builders.
//!
//! [`RequestSpan`]: super::RequestSpan

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use ::tracing::callsite::{self, Callsite, Identifier};
use ::tracing::field::FieldSet;
use ::tracing::level_filters::LevelFilter;
use ::tracing::metadata::Kind;
use ::tracing::subscriber::Interest;
use ::tracing::{Level, Metadata};

/// A span callsite made at run time: what `span!` declares in a `static`.
pub(super) struct DynamicCallsite {
    metadata: OnceLock<Metadata<'static>>,
    // The registry's verdict for this callsite, as `DefaultCallsite` keeps
    // it: never, sometimes or always.
    interest: AtomicU8,
}

const NEVER: u8 = 0;
const SOMETIMES: u8 = 1;
const ALWAYS: u8 = 2;

impl Callsite for DynamicCallsite {
    fn set_interest(&self, interest: Interest) {
        let interest = if interest.is_never() {
            NEVER
        } else if interest.is_always() {
            ALWAYS
        } else {
            SOMETIMES
        };
        self.interest.store(interest, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.metadata
            .get()
            .expect("the metadata is set before the callsite is registered")
    }
}

impl DynamicCallsite {
    /// The callsite of spans named `name`, with target `target`, at `level`
    /// and with fields `names`, made and registered on first use.
    pub(super) fn get(
        name: &'static str,
        target: &'static str,
        level: Level,
        names: &[&str],
    ) -> &'static Self {
        static MADE: Mutex<Vec<&'static DynamicCallsite>> = Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
        let found = made.iter().find(|callsite| {
            let metadata = callsite.metadata();
            *metadata.level() == level
                && metadata.name() == name
                && metadata.target() == target
                && metadata
                    .fields()
                    .iter()
                    .map(|field| field.name())
                    .eq(names.iter().copied())
        });
        if let Some(callsite) = found {
            return callsite;
        }
        let callsite: &'static Self = Box::leak(Box::new(Self {
            metadata: OnceLock::new(),
            interest: AtomicU8::new(SOMETIMES),
        }));
        let names: Vec<&'static str> = names
            .iter()
            .map(|name| &*Box::leak(Box::<str>::from(*name)))
            .collect();
        let fields = FieldSet::new(names.leak(), Identifier(callsite));
        let metadata = Metadata::new(
            name,
            target,
            level,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            fields,
            Kind::SPAN,
        );
        // Set once, here, before anyone else can see the callsite.
        let _ = callsite.metadata.set(metadata);
        callsite::register(callsite);
        made.push(callsite);
        callsite
    }

    /// Whether a span made here now would be seen by anyone: the checks
    /// `span!` makes before it makes a span.
    pub(super) fn enabled(&self) -> bool {
        let metadata = self.metadata();
        if *metadata.level() > LevelFilter::current() {
            return false;
        }
        match self.interest.load(Ordering::Relaxed) {
            NEVER => false,
            ALWAYS => true,
            _ => ::tracing::dispatcher::get_default(|dispatch| dispatch.enabled(metadata)),
        }
    }

    /// The metadata, for as long as spans need it.
    pub(super) fn static_metadata(&'static self) -> &'static Metadata<'static> {
        self.metadata
            .get()
            .expect("the metadata is set before the callsite is shared")
    }
}
