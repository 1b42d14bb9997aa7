//! docs/semantics.md, promises 19 and 20: re-entrancy and teardown are safe.
//! A slot value whose `Drop` or `Clone` uses the slots does not panic, however
//! it is dropped (19); access during thread-local destruction returns `None`
//! and never aborts (20).

use std::cell::RefCell;
use std::future::pending;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Waker};
use std::thread;

use correlated::{Context, Correlate};

mod support;
use support::{current_text, id};

type Log = Arc<Mutex<Vec<(&'static str, Option<String>)>>>;

/// A slot value whose destructor reads and writes the context: every slot,
/// a snapshot, a set and reset, a scope. Only the original logs its drop;
/// clones (made by `get`) do the same reads silently.
struct Noisy {
    name: &'static str,
    log: Log,
    original: bool,
}

impl Clone for Noisy {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            log: self.log.clone(),
            original: false,
        }
    }
}

impl Drop for Noisy {
    fn drop(&mut self) {
        let seen = current_text();
        let _ = NOISY.with(|value| value.map(|value| value.name));
        let _ = OTHER.get();
        let _ = Context::current().get(&OTHER);
        let token = OTHER.set(99);
        let _ = OTHER.reset(token);
        {
            let _scope = correlated::scope(id("set-in-drop"));
            let _ = correlated::with_current(|id| id.cloned());
        }
        if self.original {
            self.log.lock().unwrap().push((self.name, seen));
        }
    }
}

/// A slot value whose `Clone` reads the slot it is stored in.
#[derive(Debug, PartialEq)]
struct Reader {
    value: u32,
    seen_while_cloning: Option<u32>,
}

impl Clone for Reader {
    fn clone(&self) -> Self {
        let seen_while_cloning = READER.with(|reader| reader.map(|reader| reader.value));
        let _ = Context::current().correlation_id().cloned();
        let _ = correlated::current();
        Self {
            value: self.value,
            seen_while_cloning,
        }
    }
}

correlated::slot! {
    static NOISY: Noisy;
    static OTHER: u32;
    static READER: Reader;
}

fn noisy(name: &'static str, log: &Log) -> Noisy {
    Noisy {
        name,
        log: log.clone(),
        original: true,
    }
}

/// Who was dropped, in order (the values still held by a live slot are not).
fn dropped(log: &Log) -> Vec<&'static str> {
    log.lock().unwrap().iter().map(|(name, _)| *name).collect()
}

#[test]
fn value_whose_drop_reads_the_context_is_dropped_safely_on_reset() {
    let log = Log::default();
    let _outer = correlated::scope(id("outer"));
    let first = NOISY.set(noisy("first", &log));
    let second = NOISY.set(noisy("second", &log));
    NOISY.reset(second).unwrap();
    assert_eq!(dropped(&log), ["second"]);
    assert_eq!(NOISY.get().map(|value| value.name), Some("first"));
    NOISY.reset(first).unwrap();
    assert_eq!(dropped(&log), ["second", "first"]);
    assert!(NOISY.get().is_none());
    // The destructors ran after the reset took effect, in the same context.
    assert_eq!(log.lock().unwrap()[0].1.as_deref(), Some("outer"));
    assert_eq!(current_text().as_deref(), Some("outer"));
    assert_eq!(OTHER.get(), None, "the destructor's own set was undone");
}

#[test]
fn value_whose_drop_reads_the_context_is_dropped_safely_when_replaced() {
    let log = Log::default();
    Context::new().run(|| {
        let below = NOISY.set(noisy("replaced", &log));
        // Dropping the newer token pins it and discards the older value.
        drop(NOISY.set(noisy("pinned", &log)));
        assert_eq!(dropped(&log), ["replaced"]);
        NOISY.reset(below).unwrap();
        assert_eq!(NOISY.get().map(|value| value.name), Some("pinned"));
    });
    assert_eq!(dropped(&log), ["replaced", "pinned"]);
    // Out-of-order resets discard tombstoned values too.
    let log = Log::default();
    Context::new().run(|| {
        let a = NOISY.set(noisy("a", &log));
        let b = NOISY.set(noisy("b", &log));
        let c = NOISY.set(noisy("c", &log));
        NOISY.reset(b).unwrap();
        NOISY.reset(a).unwrap();
        assert_eq!(
            dropped(&log),
            Vec::<&str>::new(),
            "tombstones keep their values"
        );
        NOISY.reset(c).unwrap();
        let mut names = dropped(&log);
        names.sort_unstable();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(NOISY.get().is_none());
    });
}

#[test]
fn value_whose_drop_reads_the_context_is_dropped_safely_with_its_context() {
    let log = Log::default();
    // A `Context::run` that ends.
    Context::new()
        .with_value(&NOISY, noisy("run", &log))
        .run(|| drop(NOISY.set(noisy("set-in-run", &log))));
    // A correlated future that completes.
    futures::executor::block_on(
        async { drop(NOISY.set(noisy("set-in-future", &log))) }.correlated(id("future")),
    );
    // A correlated future cancelled mid-await.
    let mut pending_future = Box::pin(
        Context::new()
            .with_value(&NOISY, noisy("captured", &log))
            .wrap(async {
                drop(NOISY.set(noisy("set-before-cancel", &log)));
                pending::<()>().await;
            }),
    );
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(pending_future.as_mut().poll(&mut cx).is_pending());
    drop(pending_future);
    // A guard.
    drop(NOISY.scope(noisy("guard", &log)));
    // A `Context` value dropped, and one whose value is replaced.
    let context = Context::new().with_value(&NOISY, noisy("in-context", &log));
    let context = context.with_value(&NOISY, noisy("replacing", &log));
    drop(context);

    let mut names = dropped(&log);
    names.sort_unstable();
    let mut expected = [
        "run",
        "set-in-run",
        "set-in-future",
        "captured",
        "set-before-cancel",
        "guard",
        "in-context",
        "replacing",
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(correlated::current(), None);
    assert_eq!(OTHER.get(), None);
}

#[test]
fn value_whose_drop_reads_the_context_is_dropped_safely_inside_a_poll() {
    let log = Log::default();
    let seen = futures::executor::block_on(
        async {
            let token = NOISY.set(noisy("reset-in-poll", &log));
            tokio::task::yield_now().await;
            NOISY.reset(token).unwrap();
            current_text()
        }
        .correlated(id("polled")),
    );
    assert_eq!(seen.as_deref(), Some("polled"));
    assert_eq!(
        log.lock().unwrap().as_slice(),
        [("reset-in-poll", Some("polled".to_owned()))]
    );
}

#[test]
fn value_whose_clone_reads_its_own_slot_can_be_read() {
    let _scope = READER.scope(Reader {
        value: 5,
        seen_while_cloning: None,
    });
    let read = READER.get().unwrap();
    assert_eq!(read.value, 5);
    assert_eq!(read.seen_while_cloning, Some(5));
    let from_context = Context::current().get(&READER).unwrap();
    assert_eq!(from_context.seen_while_cloning, Some(5));
    let in_future = futures::executor::block_on(async { READER.get() }.in_current_context());
    assert_eq!(in_future.unwrap().seen_while_cloning, Some(5));
}

/// Reports, from a thread-local destructor, what the runtime answered.
struct AtThreadExit {
    report: mpsc::Sender<TeardownView>,
}

#[derive(Debug, PartialEq)]
struct TeardownView {
    current: Option<String>,
    slot: Option<u32>,
    after_set: Option<String>,
    snapshot: Option<String>,
}

impl Drop for AtThreadExit {
    fn drop(&mut self) {
        let current = current_text();
        let slot = OTHER.get();
        let token = correlated::set(id("set-during-teardown"));
        let after_set = current_text();
        let _ = correlated::reset(token);
        drop(correlated::scope(id("scope-during-teardown")));
        drop(OTHER.set(1));
        let snapshot = Context::current().correlation_id().map(|id| id.to_string());
        let _ = self.report.send(TeardownView {
            current,
            slot,
            after_set,
            snapshot,
        });
    }
}

thread_local! {
    static AT_THREAD_EXIT: RefCell<Option<AtThreadExit>> = const { RefCell::new(None) };
}

#[test]
fn access_from_a_thread_local_destructor_returns_none_and_does_not_abort() {
    let (report, views) = mpsc::channel();
    thread::spawn(move || {
        // Registered first, so destroyed after correlated's own thread-local
        // (thread-local destructors run in reverse order of registration).
        AT_THREAD_EXIT.with(|cell| *cell.borrow_mut() = Some(AtThreadExit { report }));
        drop(correlated::set(id("root-value")));
        drop(OTHER.set(3));
        assert_eq!(current_text().as_deref(), Some("root-value"));
    })
    .join()
    .expect("the thread exits cleanly");
    let view = views.recv().expect("the destructor ran");
    assert_eq!(
        view,
        TeardownView {
            current: None,
            slot: None,
            after_set: None,
            snapshot: None,
        }
    );
}

/// A slot value that reports what it sees when it is dropped along with the
/// thread's context during thread teardown.
#[derive(Clone)]
struct DroppedAtTeardown(mpsc::SyncSender<(Option<String>, Option<u32>)>);

impl Drop for DroppedAtTeardown {
    fn drop(&mut self) {
        let token = OTHER.set(1);
        let _ = OTHER.reset(token);
        let _ = self.0.try_send((current_text(), OTHER.get()));
    }
}

correlated::slot! {
    static TEARDOWN: DroppedAtTeardown;
}

#[test]
fn value_dropped_while_the_thread_is_torn_down_sees_none_and_does_not_abort() {
    let (report, views) = mpsc::sync_channel(1);
    thread::spawn(move || {
        drop(correlated::set(id("root-value")));
        drop(OTHER.set(3));
        // Pinned at the thread's root: dropped only with the thread.
        drop(TEARDOWN.set(DroppedAtTeardown(report)));
    })
    .join()
    .expect("the thread exits cleanly");
    assert_eq!(views.recv().expect("the value was dropped"), (None, None));
}
