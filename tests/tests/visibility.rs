//! docs/semantics.md, promises 1 and 2: inside a correlated scope the ID is
//! current at every point of the body, on whichever thread it resumes;
//! outside any scope `current()` is `None` and never panics.

use std::collections::HashSet;
use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};
use std::thread;
use std::time::Duration;

use correlated::{CORRELATION_ID, Context, Correlate};
use futures::StreamExt as _;

mod support;
use support::{YieldOnce, id};

#[tokio::test(start_paused = true)]
async fn id_is_current_before_and_after_every_await() {
    let expected = id("req-await");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tx.send(7).unwrap();
    });

    let seen = async {
        let mut seen = vec![correlated::current()];
        tokio::task::yield_now().await;
        seen.push(correlated::current());
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen.push(correlated::current());
        assert_eq!(rx.await.unwrap(), 7);
        seen.push(correlated::current());
        YieldOnce(false).await;
        seen.push(correlated::current());
        let inner = async {
            tokio::task::yield_now().await;
            correlated::current()
        };
        seen.push(inner.await);
        seen.push(correlated::with_current(|id| id.cloned()));
        seen.push(CORRELATION_ID.get());
        seen.push(Context::current().correlation_id().cloned());
        seen
    }
    .correlated(expected.clone())
    .await;

    sender.await.unwrap();
    assert_eq!(seen.len(), 9);
    for (point, seen) in seen.iter().enumerate() {
        assert_eq!(seen.as_ref(), Some(&expected), "at point {point}");
    }
    assert_eq!(correlated::current(), None);
}

#[test]
fn id_follows_the_task_across_worker_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let outcomes = runtime.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|n| {
                let expected = id(&format!("migrating-{n}"));
                let task = {
                    let expected = expected.clone();
                    async move {
                        let mut wrong = 0;
                        let mut threads = HashSet::new();
                        for step in 0..40 {
                            wrong += usize::from(correlated::current().as_ref() != Some(&expected));
                            threads.insert(thread::current().id());
                            if step % 8 == 0 {
                                // Hands this worker's core to another thread, so
                                // the task resumes elsewhere after its next await.
                                tokio::task::block_in_place(|| {
                                    thread::sleep(Duration::from_millis(1));
                                    wrong += usize::from(
                                        correlated::current().as_ref() != Some(&expected),
                                    );
                                });
                            }
                            tokio::task::yield_now().await;
                            wrong += usize::from(correlated::current().as_ref() != Some(&expected));
                            threads.insert(thread::current().id());
                        }
                        (wrong, threads.len())
                    }
                };
                tokio::spawn(task.correlated(expected))
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    });

    let wrong: usize = outcomes.iter().map(|(wrong, _)| wrong).sum();
    assert_eq!(wrong, 0, "observations without the task's own ID");
    assert!(
        outcomes.iter().any(|(_, threads)| *threads > 1),
        "no task resumed on another thread, so nothing was tested: {outcomes:?}"
    );
}

#[test]
fn id_follows_a_future_moved_to_another_thread_between_polls() {
    let expected = id("moved-between-threads");
    let body = async {
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push((thread::current().id(), correlated::current()));
            YieldOnce(false).await;
        }
        seen.push((thread::current().id(), correlated::current()));
        seen
    };
    let mut future = Box::pin(body.correlated(expected.clone()));

    // Every poll happens on a new thread, which then checks that nothing
    // stayed behind.
    let mut polls = 0;
    let seen = loop {
        polls += 1;
        let (returned, poll, after) = thread::spawn(move || {
            let poll = future
                .as_mut()
                .poll(&mut TaskContext::from_waker(Waker::noop()));
            (future, poll, correlated::current())
        })
        .join()
        .unwrap();
        assert_eq!(
            after, None,
            "the ID stayed on the thread after poll {polls}"
        );
        future = returned;
        if let Poll::Ready(seen) = poll {
            break seen;
        }
    };

    assert_eq!(polls, 5);
    let threads: HashSet<_> = seen.iter().map(|(thread, _)| *thread).collect();
    assert_eq!(threads.len(), 5, "each poll ran on its own thread");
    for (thread, id) in &seen {
        assert_eq!(id.as_ref(), Some(&expected), "on {thread:?}");
    }
}

#[test]
fn stream_sees_its_id_on_every_poll_next() {
    let expected = id("sse-stream");
    let stream = futures::stream::unfold(0, |n| async move {
        if n == 3 {
            return None;
        }
        YieldOnce(false).await;
        Some((correlated::current(), n + 1))
    })
    .correlated(expected.clone());
    let items = futures::executor::block_on(async {
        let mut stream = std::pin::pin!(stream);
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            // Between items the consumer's (empty) context is current.
            assert_eq!(correlated::current(), None);
            items.push(item);
        }
        items
    });
    assert_eq!(items, vec![Some(expected); 3]);
}

#[test]
fn current_is_none_outside_any_scope() {
    assert_eq!(correlated::current(), None);
    assert!(correlated::with_current(|id| id.is_none()));
    assert_eq!(CORRELATION_ID.get(), None);
    assert_eq!(Context::current().correlation_id(), None);

    let on_a_new_thread = thread::spawn(correlated::current).join().unwrap();
    assert_eq!(on_a_new_thread, None);

    {
        let _scope = correlated::scope(id("ended"));
    }
    assert_eq!(correlated::current(), None, "after a scope ended");
    let after_a_future = futures::executor::block_on(async { 1 }.correlated(id("done")));
    assert_eq!(after_a_future, 1);
    assert_eq!(
        correlated::current(),
        None,
        "after a correlated future ended"
    );
}

#[tokio::test]
async fn current_never_panics_inside_a_plain_tokio_task() {
    let seen = tokio::spawn(async {
        let before = correlated::current();
        tokio::task::yield_now().await;
        (
            before,
            correlated::current(),
            correlated::with_current(|id| id.cloned()),
            CORRELATION_ID.get(),
            Context::current().correlation_id().cloned(),
        )
    })
    .await
    .expect("reading the ID in a plain task does not panic");
    assert_eq!(seen, (None, None, None, None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_never_panics_inside_plain_tasks_on_a_multi_thread_runtime() {
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async {
                let mut seen = Vec::new();
                for _ in 0..10 {
                    seen.push(correlated::current());
                    tokio::task::yield_now().await;
                }
                seen
            })
        })
        .collect();
    for task in tasks {
        let seen = task.await.expect("no panic");
        assert!(seen.iter().all(Option::is_none), "{seen:?}");
    }
}
