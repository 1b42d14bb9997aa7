//! docs/semantics.md, promise 21: reading the context never panics, even from
//! a global allocator that the crate itself calls while it holds the thread's
//! frame borrowed (its first set allocates the set log, a user slot's first
//! value allocates the slot map). Such a read is refused safely: it sees no
//! context. CI runs this file under Miri too (`.ci/test`).
//!
//! A global allocator is one per binary, hence a file of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use correlated::{Context, CorrelationId};

/// Reads the current ID on every allocation, as a profiling allocator that
/// tags allocations with the request might.
struct ReadingAllocator;

static READS: AtomicUsize = AtomicUsize::new(0);
/// Reads that found no ID while the test had one set: the crate held the
/// frame borrowed, and the read was refused.
static REFUSED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while the allocator reads, so the read's own work never recurses.
    static READING: Cell<bool> = const { Cell::new(false) };
    /// Set by the test's thread, so other threads' allocations are left alone.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Set by the test while an ID is current on its thread.
    static EXPECT_ID: Cell<bool> = const { Cell::new(false) };
}

impl ReadingAllocator {
    fn read(&self) {
        let armed = ARMED.try_with(Cell::get).unwrap_or(false);
        if !armed
            || READING
                .try_with(|reading| reading.replace(true))
                .unwrap_or(true)
        {
            return;
        }
        let id = correlated::current();
        let length = correlated::with_current(|id| id.map_or(0, |id| id.as_str().len()));
        assert_eq!(id.as_ref().map_or(0, |id| id.as_str().len()), length);
        if id.is_none() && EXPECT_ID.try_with(Cell::get).unwrap_or(false) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
        }
        drop(id);
        READS.fetch_add(1, Ordering::Relaxed);
        let _ = READING.try_with(|reading| reading.set(false));
    }
}

// SAFETY: every call is passed on to `System` unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for ReadingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.read();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.read();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: ReadingAllocator = ReadingAllocator;

correlated::slot! {
    static USER: String;
}

fn id(text: &str) -> CorrelationId {
    CorrelationId::parse(text).unwrap()
}

#[test]
fn an_allocator_reading_the_context_while_the_crate_allocates_sees_no_panic() {
    std::thread::spawn(|| {
        ARMED.with(|armed| armed.set(true));
        let before = READS.load(Ordering::Relaxed);

        // The root's first set allocates its log with the frame borrowed.
        let guard = correlated::scope(id("root-guard"));
        EXPECT_ID.with(|expect| expect.set(true));
        // A long ID allocates its text; a user slot allocates its map.
        let long = "x".repeat(100);
        let user = USER.scope(long.clone());
        assert_eq!(correlated::current().unwrap(), "root-guard");
        assert_eq!(USER.get().as_deref(), Some(long.as_str()));

        // Inside a context: the frame's first set allocates too.
        let seen = Context::new().with_correlation_id(id(&long)).run(|| {
            let token = USER.set("inner".to_owned());
            let seen = (correlated::current(), USER.get());
            USER.reset(token).unwrap();
            seen
        });
        assert_eq!(seen.0.unwrap().as_str(), long);
        assert_eq!(seen.1.as_deref(), Some("inner"));

        drop(user);
        EXPECT_ID.with(|expect| expect.set(false));
        drop(guard);
        assert_eq!(correlated::current(), None);
        assert!(
            READS.load(Ordering::Relaxed) > before,
            "the allocator read the context"
        );
        assert!(
            REFUSED.load(Ordering::Relaxed) > 0,
            "some reads came while the crate held the frame borrowed"
        );
        ARMED.with(|armed| armed.set(false));
    })
    .join()
    .expect("no panic, in the allocator or the crate");
}
