//! Loud misuse: values that would outlive a poll at a thread root.
//!
//! A `set` at a thread's root (outside any correlated future or scope) inside
//! an async task lives on after the task's poll ends, and the next task polled
//! on that thread would see it. With the `tokio` feature each such set records
//! the task that made it; code that is not that task never sees the value, and
//! the first time someone else runs into it the leak is reported in debug
//! builds. Scoped uses never trip this: a guard dropped before the next
//! `.await` is gone before anyone else runs.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Who is running: a tokio task, or plain code (a thread's own code, or the
/// future given to `block_on`). Without the `tokio` feature everyone is plain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Owner(#[cfg(feature = "tokio")] Option<tokio::task::Id>);

impl Owner {
    pub(crate) fn current() -> Self {
        #[cfg(feature = "tokio")]
        return Self(tokio::task::try_id());
        #[cfg(not(feature = "tokio"))]
        return Self();
    }

    pub(crate) fn is_task(self) -> bool {
        #[cfg(feature = "tokio")]
        return self.0.is_some();
        #[cfg(not(feature = "tokio"))]
        return false;
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "tokio")]
        if let Some(id) = self.0 {
            return write!(f, "tokio task {id}");
        }
        f.write_str("code outside any task")
    }
}

static REPORTS: AtomicUsize = AtomicUsize::new(0);

/// How many misuses were reported in this process.
pub(crate) fn reports() -> usize {
    REPORTS.load(Ordering::Relaxed)
}

/// Counts a misuse and, in debug builds, says so on stderr; integrations
/// report their own with it.
pub(crate) fn report(message: std::fmt::Arguments<'_>) {
    REPORTS.fetch_add(1, Ordering::Relaxed);
    if cfg!(debug_assertions) {
        // Not `eprintln!`, which panics when stderr is a closed pipe: reports
        // are made from `Drop`, possibly while unwinding (a panic there
        // aborts), and from reads that must never panic. A report nobody can
        // read is dropped.
        let _ = writeln!(std::io::stderr(), "correlated: {message}");
    }
}

pub(crate) fn report_root_leak(slot: &'static str, setter: Owner, viewer: Owner) {
    report(format_args!(
        "`{slot}` was set at the root of {setter}, outside any correlated context, and \
         was still set when {viewer} ran on the same thread; it is hidden from that code. \
         A bare `set()` in a task outlives the poll and would leak to the next task. \
         Fix: run the task in its own context (`#[correlated]`, `fut.correlated(id)`, \
         `correlated::spawn`, `Context::wrap`), or drop the guard / reset the token \
         before the next `.await`."
    ));
}

/// `why` says where the guard was dropped: "outside the context it was
/// created in".
pub(crate) fn report_guard_outside_context(why: &str) {
    report(format_args!(
        "a scope guard was dropped {why}, so its value was not reset there. \
         Fix: drop the guard in the scope that created it (do not move it into \
         another task or keep it past the end of its correlated future)."
    ));
}
