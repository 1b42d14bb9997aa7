//! docs/semantics.md, promise 13: destructors of the body's locals run with
//! the body's context still current, so a drop guard that logs sees the ID —
//! also when the body is cancelled mid-await or panics.

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Waker};
use std::time::Duration;

use correlated::{Context, Correlate};

mod support;
use support::id;

correlated::slot! {
    static TENANT: u32;
}

type Seen = Arc<Mutex<Vec<(&'static str, Option<String>, Option<u32>)>>>;

/// A local whose destructor logs what it sees, like a drop guard that writes
/// a "request finished" line.
struct LogOnDrop {
    name: &'static str,
    seen: Seen,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        let id = correlated::current().map(|id| id.to_string());
        self.seen
            .lock()
            .unwrap()
            .push((self.name, id, TENANT.get()));
    }
}

fn log_on_drop(name: &'static str, seen: &Seen) -> LogOnDrop {
    LogOnDrop {
        name,
        seen: seen.clone(),
    }
}

fn seen_by(seen: &Seen, name: &str) -> (Option<String>, Option<u32>) {
    let seen = seen.lock().unwrap();
    let entries: Vec<_> = seen.iter().filter(|(n, _, _)| *n == name).collect();
    assert_eq!(entries.len(), 1, "{name} dropped once: {seen:?}");
    (entries[0].1.clone(), entries[0].2)
}

async fn body(seen: Seen) {
    let _first = log_on_drop("first", &seen);
    tokio::task::yield_now().await;
    let _tenant = TENANT.scope(3);
    let _second = log_on_drop("second", &seen);
    tokio::task::yield_now().await;
}

async fn body_that_waits_forever(seen: Seen) {
    let _local = log_on_drop("local", &seen);
    drop(correlated::set(id("set-in-body")));
    pending::<()>().await;
}

#[tokio::test]
async fn destructors_of_locals_see_the_id_when_the_body_returns() {
    let _outer = correlated::scope(id("outer"));
    let seen = Seen::default();
    body(seen.clone()).correlated(id("request")).await;
    assert_eq!(seen_by(&seen, "first"), (Some("request".into()), None));
    assert_eq!(seen_by(&seen, "second"), (Some("request".into()), Some(3)));
}

#[test]
fn destructors_of_locals_see_the_id_in_a_synchronous_scope() {
    let seen = Seen::default();
    Context::new().with_correlation_id(id("request")).run(|| {
        let _local = log_on_drop("run", &seen);
    });
    {
        let _scope = correlated::scope(id("scoped"));
        let _local = log_on_drop("scope", &seen);
    }
    assert_eq!(seen_by(&seen, "run"), (Some("request".into()), None));
    assert_eq!(seen_by(&seen, "scope"), (Some("scoped".into()), None));
}

#[tokio::test(start_paused = true)]
async fn destructors_of_locals_see_the_id_when_a_timeout_cancels_the_body() {
    let _outer = correlated::scope(id("outer"));
    let seen = Seen::default();
    let result = tokio::time::timeout(
        Duration::from_millis(5),
        body_that_waits_forever(seen.clone()).correlated(id("request")),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(seen_by(&seen, "local"), (Some("set-in-body".into()), None));
}

#[test]
fn destructors_of_locals_see_the_id_when_a_pending_body_is_dropped() {
    let seen = Seen::default();
    let mut future = Box::pin(body(seen.clone()).correlated(id("request")));
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    drop(future);
    assert_eq!(seen_by(&seen, "first"), (Some("request".into()), None));
    assert_eq!(seen_by(&seen, "second"), (Some("request".into()), Some(3)));

    // Never polled at all: the captured future is dropped in its context too.
    let seen = Seen::default();
    let local = log_on_drop("captured", &seen);
    let never_polled = async move {
        let _local = local;
    }
    .correlated(id("never-polled"));
    drop(never_polled);
    assert_eq!(
        seen_by(&seen, "captured"),
        (Some("never-polled".into()), None)
    );
}

#[tokio::test]
async fn destructors_of_locals_see_the_id_when_the_task_is_aborted() {
    let seen = Seen::default();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(
        {
            let seen = seen.clone();
            async move {
                let _local = log_on_drop("aborted", &seen);
                let _tenant = TENANT.scope(4);
                started_tx.send(()).unwrap();
                pending::<()>().await;
            }
        }
        .correlated(id("request")),
    );
    started_rx.await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // `_tenant` was declared after `_local`, so it was dropped first.
    assert_eq!(seen_by(&seen, "aborted"), (Some("request".into()), None));
}

#[test]
fn destructors_of_locals_see_the_id_when_the_body_panics() {
    let seen = Seen::default();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(
            async {
                let _local = log_on_drop("unwound", &seen);
                tokio::task::yield_now().await;
                panic!("handler failed");
            }
            .correlated(id("request")),
        )
    }));
    assert!(caught.is_err());
    assert_eq!(seen_by(&seen, "unwound"), (Some("request".into()), None));
}

#[tokio::test]
async fn destructors_of_locals_see_the_id_when_a_task_panics() {
    let seen = Seen::default();
    let task = tokio::spawn(
        {
            let seen = seen.clone();
            async move {
                let _local = log_on_drop("task-panic", &seen);
                tokio::task::yield_now().await;
                panic!("task failed");
            }
        }
        .correlated(id("request")),
    );
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(seen_by(&seen, "task-panic"), (Some("request".into()), None));
}

#[test]
fn destructors_of_a_nested_body_see_their_own_id_and_the_outer_one_sees_its_own() {
    let seen = Seen::default();
    let mut future = Box::pin(
        {
            let seen = seen.clone();
            async move {
                let _outer = log_on_drop("outer-local", &seen);
                async {
                    let _inner = log_on_drop("inner-local", &seen);
                    pending::<()>().await;
                }
                .correlated(id("inner"))
                .await;
            }
        }
        .correlated(id("outer")),
    );
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    drop(future);
    assert_eq!(seen_by(&seen, "inner-local"), (Some("inner".into()), None));
    assert_eq!(seen_by(&seen, "outer-local"), (Some("outer".into()), None));
}
