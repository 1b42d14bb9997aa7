//! docs/semantics.md, promises 14 and 15: propagation is explicit.
//! `.in_current_context()` takes a snapshot at construction (14);
//! `correlated::spawn` and `correlated::spawn_blocking` carry the context into
//! new tasks, and a captured `Context` runs a closure on any thread (15). A
//! task spawned without any of that is not correlated.

use std::thread;

use correlated::{Context, Correlate};

mod support;
use support::id;

correlated::slot! {
    static TENANT: u32;
}

fn seen() -> (Option<String>, Option<u32>) {
    (correlated::current().map(|id| id.to_string()), TENANT.get())
}

fn expected(id: &str, tenant: u32) -> (Option<String>, Option<u32>) {
    (Some(id.to_owned()), Some(tenant))
}

#[tokio::test]
async fn in_current_context_is_a_snapshot_taken_at_construction() {
    let (parent_after, child) = async {
        let _tenant = TENANT.scope(1);
        let child = async {
            let at_start = seen();
            drop(correlated::set(id("set-by-child")));
            drop(TENANT.set(2));
            tokio::task::yield_now().await;
            (at_start, seen())
        }
        .in_current_context();

        // The parent changes its context after building the child...
        let _later = correlated::scope(id("parent-later"));
        let _tenant_later = TENANT.scope(10);
        let child = child.await;
        // ...and the child's sets never come back.
        (seen(), child)
    }
    .correlated(id("parent"))
    .await;

    assert_eq!(
        child.0,
        expected("parent", 1),
        "the child saw the parent's later sets"
    );
    assert_eq!(child.1, expected("set-by-child", 2));
    assert_eq!(
        parent_after,
        expected("parent-later", 10),
        "the child's sets reached the parent"
    );
}

#[tokio::test]
async fn context_wrap_runs_a_future_in_a_captured_context() {
    let captured = {
        let _id = correlated::scope(id("captured"));
        let _tenant = TENANT.scope(3);
        Context::current()
    };
    assert_eq!(seen(), (None, None));
    let first = captured.wrap(async { seen() }).await;
    let second = captured
        .wrap(async {
            drop(correlated::set(id("changed-inside")));
            seen()
        })
        .await;
    let third = captured.wrap(async { seen() }).await;
    assert_eq!(first, expected("captured", 3));
    assert_eq!(second, (Some("changed-inside".into()), Some(3)));
    assert_eq!(
        third,
        expected("captured", 3),
        "a wrapped future's sets reached the Context"
    );
}

#[test]
fn correlated_keeps_the_other_slots_of_the_current_context() {
    let _tenant = TENANT.scope(4);
    let seen = futures::executor::block_on(async { seen() }.correlated(id("with-tenant")));
    assert_eq!(seen, expected("with-tenant", 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlate_spawn_carries_the_context_into_the_new_task() {
    let (from_task, nested_spawn, parent_after) = async {
        let _tenant = TENANT.scope(5);
        let task = correlated::spawn(async {
            let at_start = seen();
            tokio::task::yield_now().await;
            let after_await = seen();
            let grandchild = correlated::spawn(async { seen() }).await.unwrap();
            drop(correlated::set(id("set-by-task")));
            (at_start, after_await, grandchild)
        });
        // A later change in the parent does not reach the running task.
        let _later = correlated::scope(id("parent-later"));
        let from_task = task.await.unwrap();
        let nested = correlated::spawn(async { seen() }).await.unwrap();
        (from_task, nested, seen())
    }
    .correlated(id("parent"))
    .await;

    assert_eq!(from_task.0, expected("parent", 5));
    assert_eq!(from_task.1, expected("parent", 5));
    assert_eq!(
        from_task.2,
        expected("parent", 5),
        "spawned from a spawned task"
    );
    assert_eq!(nested_spawn, expected("parent-later", 5));
    assert_eq!(
        parent_after,
        expected("parent-later", 5),
        "the task's set reached the parent"
    );
}

#[tokio::test]
async fn correlate_spawn_blocking_carries_the_context_into_the_closure() {
    let _id = correlated::scope(id("blocking"));
    let _tenant = TENANT.scope(6);
    let seen_in_pool = correlated::spawn_blocking(|| {
        let before = seen();
        drop(correlated::set(id("set-in-pool")));
        (before, seen())
    })
    .await
    .unwrap();
    assert_eq!(seen_in_pool.0, expected("blocking", 6));
    assert_eq!(seen_in_pool.1, expected("set-in-pool", 6));
    assert_eq!(seen(), expected("blocking", 6));

    // The pool thread is clean for the next, uncorrelated, blocking job.
    for _ in 0..4 {
        let plain = tokio::task::spawn_blocking(seen).await.unwrap();
        assert_eq!(plain, (None, None));
    }
}

#[test]
fn context_run_carries_the_context_to_a_std_thread() {
    let _id = correlated::scope(id("main"));
    let _tenant = TENANT.scope(7);
    let context = Context::current();
    let (inside, after) = thread::spawn(move || {
        let inside = context.run(seen);
        (inside, seen())
    })
    .join()
    .unwrap();
    assert_eq!(inside, expected("main", 7));
    assert_eq!(
        after,
        (None, None),
        "the context stayed on the thread after run"
    );

    let plain = thread::spawn(seen).join().unwrap();
    assert_eq!(plain, (None, None), "a plain thread inherited the context");
}

#[tokio::test]
async fn plain_tokio_spawn_is_not_correlated() {
    let (from_plain, from_correlated) = async {
        let _tenant = TENANT.scope(8);
        let plain = tokio::spawn(async {
            let at_start = seen();
            tokio::task::yield_now().await;
            (at_start, seen())
        })
        .await
        .unwrap();
        let correlated = correlated::spawn(async { seen() }).await.unwrap();
        (plain, correlated)
    }
    .correlated(id("parent"))
    .await;
    assert_eq!(from_plain, ((None, None), (None, None)));
    assert_eq!(from_correlated, expected("parent", 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tokio_spawn_from_a_scoped_task_is_not_correlated_on_a_multi_thread_runtime() {
    let plain_results = correlated::spawn(
        async {
            let _tenant = TENANT.scope(9);
            let plain: Vec<_> = (0..16).map(|_| tokio::spawn(async { seen() })).collect();
            let mut results = Vec::new();
            for task in plain {
                results.push(task.await.unwrap());
            }
            results
        }
        .correlated(id("parent")),
    )
    .await
    .unwrap();
    assert!(
        plain_results.iter().all(|seen| seen == &(None, None)),
        "{plain_results:?}"
    );
}

#[tokio::test]
async fn context_captured_in_a_scope_at_the_root_of_the_test_body_is_carried() {
    // The common shape of `main`: a scope at the top of the runtime's
    // `block_on` body, then spawns.
    let _id = correlated::scope(id("main-body"));
    let carried = correlated::spawn(async { seen() }).await.unwrap();
    let plain = tokio::spawn(async { seen() }).await.unwrap();
    assert_eq!(carried, (Some("main-body".into()), None));
    assert_eq!(plain, (None, None));
}

fn assert_send_and_sync<T: Send + Sync>() {}

#[test]
fn a_correlated_future_or_stream_is_send_and_sync_when_its_inner_value_is() {
    // Bodies for `reqwest::Body::wrap_stream` and similar must be `Sync`.
    assert_send_and_sync::<correlated::Correlated<std::future::Ready<u8>>>();
    assert_send_and_sync::<correlated::Correlated<futures::stream::Iter<std::vec::IntoIter<u8>>>>();
}
