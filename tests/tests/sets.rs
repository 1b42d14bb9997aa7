//! docs/semantics.md, promises 11 and 12: a `set` inside a correlated future
//! persists across that future's `.await`s and never escapes it (11).
//! Branches of `join!` / `select!` inside one scope share its context, like
//! code in one Python task; `.in_current_context()` isolates a branch (12).

use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};

use correlated::{Correlate, ResetErrorKind};

mod support;
use support::{current_text, id};

correlated::slot! {
    static TENANT: u32;
}

#[test]
fn set_inside_a_correlated_future_persists_across_its_awaits_and_never_escapes() {
    let _outer = correlated::scope(id("caller"));
    let mut future = Box::pin(
        async {
            // Set and forget: the token is dropped, so the value lasts for
            // the rest of this future.
            drop(correlated::set(id("set-in-body")));
            drop(TENANT.set(5));
            let mut seen = Vec::new();
            for _ in 0..3 {
                tokio::task::yield_now().await;
                seen.push((current_text(), TENANT.get()));
            }
            seen
        }
        .correlated(id("body")),
    );

    // Poll by hand so the caller looks at the thread between every poll.
    let mut cx = TaskContext::from_waker(Waker::noop());
    let mut polls = 0;
    let seen = loop {
        polls += 1;
        let poll = future.as_mut().poll(&mut cx);
        assert_eq!(
            current_text().as_deref(),
            Some("caller"),
            "after poll {polls}"
        );
        assert_eq!(TENANT.get(), None, "after poll {polls}");
        if let Poll::Ready(seen) = poll {
            break seen;
        }
    };
    assert_eq!(polls, 4);
    assert_eq!(seen, vec![(Some("set-in-body".to_owned()), Some(5)); 3]);
    drop(future);
    assert_eq!(current_text().as_deref(), Some("caller"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_inside_a_spawned_correlated_task_never_reaches_other_tasks() {
    let setters: Vec<_> = (0..32)
        .map(|n| {
            tokio::spawn(
                async move {
                    drop(correlated::set(id(&format!("set-by-{n}"))));
                    let mut wrong = 0;
                    for _ in 0..10 {
                        tokio::task::yield_now().await;
                        wrong += usize::from(current_text() != Some(format!("set-by-{n}")));
                    }
                    wrong
                }
                .correlated(id(&format!("task-{n}"))),
            )
        })
        .collect();
    let watchers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async {
                let mut leaks = 0;
                for _ in 0..10 {
                    leaks += usize::from(correlated::current().is_some());
                    tokio::task::yield_now().await;
                }
                leaks
            })
        })
        .collect();
    for setter in setters {
        assert_eq!(setter.await.unwrap(), 0);
    }
    for watcher in watchers {
        assert_eq!(watcher.await.unwrap(), 0);
    }
    assert_eq!(correlated::current(), None);
}

/// A correlated future is one piece of work wherever it is polled: a set
/// made in it while one task polled it is still there when another task
/// finishes it. (Only a set made at a thread's root belongs to the task that
/// made it.)
#[tokio::test]
async fn set_inside_a_correlated_future_follows_it_to_another_task() {
    let mut future = Box::pin(
        async {
            drop(correlated::set(id("set-in-body")));
            tokio::task::yield_now().await;
            current_text()
        }
        .correlated(id("work")),
    );
    // One task polls it once: the set is made, then it yields.
    let (first, future) = tokio::spawn(async move {
        let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
        (first, future)
    })
    .await
    .unwrap();
    assert!(first.is_pending());
    // Another task finishes it.
    let seen = tokio::spawn(future).await.unwrap();
    assert_eq!(seen.as_deref(), Some("set-in-body"));
}

#[tokio::test]
async fn join_branches_inside_one_scope_share_its_sets() {
    let (left, right) = async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::join!(
            async move {
                let token = correlated::set(id("set-by-left"));
                let _tenant = TENANT.scope(7);
                tx.send(token).unwrap();
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                current_text()
            },
            async move {
                let token = rx.await.unwrap();
                let seen = (current_text(), TENANT.get());
                // One context: the right branch may undo the left one's set.
                let reset = correlated::reset(token).map_err(|e| e.kind());
                (seen, reset, current_text())
            },
        )
    }
    .correlated(id("request"))
    .await;
    let (seen, reset, after) = right;
    assert_eq!(seen, (Some("set-by-left".to_owned()), Some(7)));
    assert_eq!(reset, Ok(()));
    assert_eq!(after.as_deref(), Some("request"));
    assert_eq!(
        left.as_deref(),
        Some("request"),
        "the reset was seen by both"
    );
}

#[tokio::test]
async fn select_branches_inside_one_scope_share_its_sets() {
    let seen = async {
        let mut first = Box::pin(async {
            drop(correlated::set(id("set-by-first")));
            std::future::pending::<()>().await;
        });
        tokio::select! {
            biased;
            () = &mut first => unreachable!(),
            seen = async { current_text() } => seen,
        }
    }
    .correlated(id("request"))
    .await;
    assert_eq!(seen.as_deref(), Some("set-by-first"));
}

#[tokio::test]
async fn in_current_context_isolates_a_branch() {
    let (isolated, sibling, after) = async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (isolated, sibling) = tokio::join!(
            async move {
                let token = correlated::set(id("set-by-isolated"));
                drop(TENANT.set(9));
                tx.send(()).unwrap();
                tokio::task::yield_now().await;
                let seen = current_text();
                correlated::reset(token).unwrap();
                seen
            }
            .in_current_context(),
            async move {
                rx.await.unwrap();
                (current_text(), TENANT.get())
            },
        );
        (isolated, sibling, (current_text(), TENANT.get()))
    }
    .correlated(id("request"))
    .await;
    assert_eq!(isolated.as_deref(), Some("set-by-isolated"));
    assert_eq!(sibling, (Some("request".to_owned()), None));
    assert_eq!(after, (Some("request".to_owned()), None));
}

#[tokio::test]
async fn token_from_an_isolated_branch_cannot_be_reset_by_its_sibling() {
    let kind = async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ((), kind) = tokio::join!(
            async move {
                tx.send(correlated::set(id("isolated"))).unwrap();
            }
            .in_current_context(),
            async move { correlated::reset(rx.await.unwrap()).unwrap_err().kind() },
        );
        kind
    }
    .correlated(id("request"))
    .await;
    assert_eq!(kind, ResetErrorKind::WrongContext);
}
