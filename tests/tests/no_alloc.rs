//! Reading the ID never allocates: `current()`, `with_current`, and cloning a
//! `CorrelationId`, short (inline) or long (shared), in every kind of context.
//!
//! A counting global allocator counts only allocations made on the thread
//! that asked, while it asked, so tests running in parallel do not interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use correlated::{Context, Correlate, CorrelationId};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while this thread is torn down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// extra work is a thread-local counter that never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// How many allocations `f` made on this thread.
fn allocations_in<R>(f: impl FnOnce() -> R) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|counting| counting.set(true));
    black_box(f());
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Every way of reading the ID, each warmed up once (first use of a
/// thread-local may register its destructor), then counted.
fn allocations_reading_the_id() -> usize {
    let read = || {
        let id = black_box(correlated::current());
        let len = correlated::with_current(|id| id.map_or(0, |id| id.as_str().len()));
        (id, len)
    };
    black_box(read());
    allocations_in(read)
}

fn inline_id() -> CorrelationId {
    CorrelationId::generate()
}

fn shared_id() -> CorrelationId {
    // Longer than the 39 bytes stored inline.
    CorrelationId::parse(&"s".repeat(100)).unwrap()
}

#[test]
fn cloning_an_id_does_not_allocate() {
    for id in [inline_id(), shared_id(), CorrelationId::parse("x").unwrap()] {
        assert_eq!(allocations_in(|| id.clone()), 0, "cloning {id}");
    }
    // The counter itself works.
    assert!(allocations_in(|| Box::new(1)) > 0);
}

#[test]
fn reading_the_id_outside_any_scope_does_not_allocate() {
    assert_eq!(allocations_reading_the_id(), 0);
}

#[test]
fn reading_the_id_in_a_scope_at_the_thread_root_does_not_allocate() {
    for id in [inline_id(), shared_id()] {
        let _scope = correlated::scope(id);
        assert_eq!(allocations_reading_the_id(), 0);
    }
}

#[test]
fn reading_the_id_in_context_run_does_not_allocate() {
    for id in [inline_id(), shared_id()] {
        let seen = Context::new()
            .with_correlation_id(id)
            .run(allocations_reading_the_id);
        assert_eq!(seen, 0);
    }
}

#[test]
fn reading_the_id_in_a_correlated_future_does_not_allocate() {
    for id in [inline_id(), shared_id()] {
        let seen = futures::executor::block_on(
            async {
                let before_await = allocations_reading_the_id();
                tokio::task::yield_now().await;
                drop(correlated::set(shared_id()));
                (before_await, allocations_reading_the_id())
            }
            .correlated(id),
        );
        assert_eq!(seen, (0, 0));
    }
}

#[tokio::test]
async fn reading_the_id_in_a_plain_tokio_task_does_not_allocate() {
    let seen = tokio::spawn(async {
        let outside = allocations_reading_the_id();
        let _scope = correlated::scope(shared_id());
        (outside, allocations_reading_the_id())
    })
    .await
    .unwrap();
    assert_eq!(seen, (0, 0));
}
