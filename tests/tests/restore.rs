//! docs/semantics.md, promise 4: whatever way a scope ends — normal return,
//! early `return`, `?` on `Err`, panic, cancellation — the enclosing value is
//! current again.

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context as TaskContext, Waker};
use std::time::Duration;

use correlated::{CORRELATION_ID, Context, Correlate};

mod support;
use support::{YieldOnce, current_text, id};

correlated::slot! {
    static TENANT: u32;
}

/// The enclosing scope every test restores to: an ID and a user slot.
struct Enclosing {
    _id: correlated::ScopeGuard,
    _tenant: correlated::ScopeGuard,
}

fn enclosing() -> Enclosing {
    Enclosing {
        _id: correlated::scope(id("outer")),
        _tenant: TENANT.scope(1),
    }
}

fn assert_enclosing_is_current(after: &str) {
    assert_eq!(current_text().as_deref(), Some("outer"), "after {after}");
    assert_eq!(TENANT.get(), Some(1), "after {after}");
}

#[derive(Debug, PartialEq)]
struct Failed;

fn sync_handler(early: bool, fail: bool) -> Result<u32, Failed> {
    let _id = correlated::scope(id("inner"));
    let _tenant = TENANT.scope(2);
    if early {
        return Ok(0);
    }
    let value: Result<u32, Failed> = if fail { Err(Failed) } else { Ok(5) };
    let value = value?;
    assert_eq!(current_text().as_deref(), Some("inner"));
    Ok(value)
}

async fn async_handler(early: bool, fail: bool) -> Result<u32, Failed> {
    let _tenant = TENANT.scope(2);
    tokio::task::yield_now().await;
    if early {
        return Ok(0);
    }
    let value: Result<u32, Failed> = if fail { Err(Failed) } else { Ok(5) };
    let value = value?;
    tokio::task::yield_now().await;
    assert_eq!(current_text().as_deref(), Some("inner"));
    Ok(value)
}

#[test]
fn value_is_restored_after_normal_return() {
    let _enclosing = enclosing();
    assert_eq!(sync_handler(false, false), Ok(5));
    assert_enclosing_is_current("a scope guard's normal return");

    let context = Context::current().with_correlation_id(id("inner"));
    let seen = context.run(|| {
        let _tenant = TENANT.scope(3);
        (current_text(), TENANT.get())
    });
    assert_eq!(seen, (Some("inner".to_owned()), Some(3)));
    assert_enclosing_is_current("Context::run");

    let result = futures::executor::block_on(async { current_text() }.correlated(id("inner")));
    assert_eq!(result.as_deref(), Some("inner"));
    assert_enclosing_is_current("a correlated future");
}

#[test]
fn value_is_restored_after_early_return() {
    let _enclosing = enclosing();
    assert_eq!(sync_handler(true, false), Ok(0));
    assert_enclosing_is_current("an early return from a scoped function");

    let from_closure = Context::new().with_correlation_id(id("inner")).run(|| {
        let _scope = TENANT.scope(9);
        for n in 0.. {
            if n == 3 {
                return n;
            }
        }
        unreachable!()
    });
    assert_eq!(from_closure, 3);
    assert_enclosing_is_current("an early return from Context::run");

    let rt = current_thread();
    let result = rt.block_on(async_handler(true, false).correlated(id("inner")));
    assert_eq!(result, Ok(0));
    assert_enclosing_is_current("an early return from a correlated future");
}

#[test]
fn value_is_restored_after_question_mark_on_err() {
    let _enclosing = enclosing();
    assert_eq!(sync_handler(false, true), Err(Failed));
    assert_enclosing_is_current("`?` in a scoped function");

    let rt = current_thread();
    let result = rt.block_on(async_handler(false, true).correlated(id("inner")));
    assert_eq!(result, Err(Failed));
    assert_enclosing_is_current("`?` in a correlated future");
}

#[test]
fn value_is_restored_after_panic_in_context_run() {
    let _enclosing = enclosing();
    let context = Context::current().with_correlation_id(id("inner"));
    // `Context` holds type-erased slot values, so it is not `RefUnwindSafe`.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        context.run(|| {
            let _tenant = TENANT.scope(2);
            let _token = correlated::set(id("set-then-panicked"));
            panic!("handler failed");
        })
    }));
    assert!(caught.is_err());
    assert_enclosing_is_current("a panic inside Context::run");
}

#[test]
fn value_is_restored_after_panic_in_a_scope_guard_block() {
    let _enclosing = enclosing();
    let caught = catch_unwind(|| {
        let _id = correlated::scope(id("inner"));
        let _tenant = TENANT.scope(2);
        let _deeper = correlated::scope(id("deeper"));
        panic!("handler failed");
    });
    assert!(caught.is_err());
    assert_enclosing_is_current("a panic with scope guards alive");
}

#[test]
fn value_is_restored_after_panic_in_a_correlated_future_under_block_on() {
    let _enclosing = enclosing();
    let caught = catch_unwind(|| {
        futures::executor::block_on(
            async {
                let _tenant = TENANT.scope(2);
                YieldOnce(false).await;
                let _token = correlated::set(id("set-then-panicked"));
                panic!("handler failed");
            }
            .correlated(id("inner")),
        )
    });
    assert!(caught.is_err());
    assert_enclosing_is_current("a panic in a correlated future");

    // A panic while polling, with the future kept alive and dropped later.
    let mut future = Box::pin(
        async {
            YieldOnce(false).await;
            panic!("second poll fails");
        }
        .correlated(id("inner")),
    );
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert_enclosing_is_current("the first poll");
    let caught = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
    assert!(caught.is_err());
    assert_enclosing_is_current("a panicking poll");
    drop(future);
    assert_enclosing_is_current("dropping the panicked future");
}

#[tokio::test]
async fn value_is_restored_after_panic_in_tokio_task() {
    let _enclosing = enclosing();
    let task = tokio::spawn(
        async {
            let _tenant = TENANT.scope(2);
            tokio::task::yield_now().await;
            let _token = correlated::set(id("set-then-panicked"));
            panic!("task failed");
        }
        .correlated(id("inner")),
    );
    let error = task.await.unwrap_err();
    assert!(error.is_panic());
    assert_enclosing_is_current("a task panic seen through its JoinHandle");

    // The worker thread is clean for the next task.
    let next = tokio::spawn(async { (correlated::current(), TENANT.get()) });
    assert_eq!(next.await.unwrap(), (None, None));
}

#[test]
fn value_is_restored_on_the_worker_after_a_task_panic_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let panicking: Vec<_> = (0..16)
            .map(|n| {
                tokio::spawn(
                    async move {
                        let _tenant = TENANT.scope(n);
                        tokio::task::yield_now().await;
                        panic!("task {n} failed");
                    }
                    .correlated(id(&format!("panicking-{n}"))),
                )
            })
            .collect();
        for task in panicking {
            assert!(task.await.unwrap_err().is_panic());
        }
        for _ in 0..16 {
            let seen = tokio::spawn(async {
                tokio::task::yield_now().await;
                (correlated::current(), TENANT.get())
            });
            assert_eq!(seen.await.unwrap(), (None, None));
        }
    });
}

/// A body that is cancelled while it waits: it never finishes.
async fn waits_forever() {
    let _tenant = TENANT.scope(2);
    let _token = correlated::set(id("set-before-waiting"));
    pending::<()>().await;
}

#[tokio::test(start_paused = true)]
async fn value_is_restored_after_timeout_cancels_the_future() {
    let _enclosing = enclosing();
    let result = tokio::time::timeout(
        Duration::from_millis(10),
        waits_forever().correlated(id("inner")),
    )
    .await;
    assert!(result.is_err(), "the body timed out");
    assert_enclosing_is_current("a timeout dropped the future");
}

#[tokio::test(start_paused = true)]
async fn value_is_restored_after_select_drops_the_losing_branch() {
    let _enclosing = enclosing();
    let winner = tokio::select! {
        () = waits_forever().correlated(id("loser")) => "loser",
        () = tokio::time::sleep(Duration::from_millis(5)) => "timer",
    };
    assert_eq!(winner, "timer");
    assert_enclosing_is_current("select! dropped the losing branch");

    let winner = tokio::select! {
        biased;
        () = async { tokio::task::yield_now().await }.correlated(id("winner")) => "winner",
        () = waits_forever().correlated(id("loser")) => "loser",
    };
    assert_eq!(winner, "winner");
    assert_enclosing_is_current("select! completed one branch and dropped the other");
}

#[tokio::test]
async fn value_is_restored_after_join_handle_abort() {
    let _enclosing = enclosing();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(
        async move {
            let _tenant = TENANT.scope(2);
            let _token = correlated::set(id("set-before-waiting"));
            started_tx.send(()).unwrap();
            pending::<()>().await;
        }
        .correlated(id("inner")),
    );
    started_rx.await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_enclosing_is_current("aborting the task");
    let next = tokio::spawn(async { (correlated::current(), TENANT.get()) });
    assert_eq!(next.await.unwrap(), (None, None));
}

#[test]
fn value_is_restored_after_a_pending_future_is_dropped_without_an_executor() {
    let _enclosing = enclosing();
    let mut future = Box::pin(waits_forever().correlated(id("inner")));
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert_enclosing_is_current("a pending poll");
    drop(future);
    assert_enclosing_is_current("dropping the pending future");
    // Dropped before it was ever polled, too.
    drop(waits_forever().correlated(id("never-polled")));
    assert_enclosing_is_current("dropping a never-polled future");
}

#[test]
fn value_is_restored_after_a_correlated_stream_is_dropped_mid_way() {
    use futures::{Stream as _, StreamExt as _};

    let _enclosing = enclosing();
    let mut stream = Box::pin(
        futures::stream::iter(0..10)
            .then(|n| async move {
                let _tenant = TENANT.scope(100 + n);
                YieldOnce(false).await;
                (current_text(), TENANT.get())
            })
            .correlated(id("stream")),
    );
    let first = futures::executor::block_on(stream.next());
    assert_eq!(first, Some((Some("stream".to_owned()), Some(100))));
    assert_enclosing_is_current("one item of a stream");
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    drop(stream);
    assert_enclosing_is_current("dropping a stream mid-item");
}

#[test]
fn nothing_is_current_after_a_scope_at_the_thread_root_ends() {
    assert_eq!(correlated::current(), None);
    assert_eq!(sync_handler(false, true), Err(Failed));
    assert_eq!(correlated::current(), None);
    assert_eq!(TENANT.get(), None);
    assert_eq!(CORRELATION_ID.get(), None);
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}
