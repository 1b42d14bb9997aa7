//! docs/semantics.md, promise 29: `correlated::bind(f)` and
//! `Context::bind(f)` turn a callback that someone else calls later (axum's
//! `on_upgrade`, a scheduler) into one whose call and future run in the
//! context captured at the bind: at every poll and at the drop, wherever and
//! whenever it runs, in a snapshot that the caller's sets and its own sets
//! never cross. tests/tests/e2e_websocket.rs checks the same behind a real
//! axum server.

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use correlated::{Context, Correlate};

mod support;
use support::id;

correlated::slot! {
    static TENANT: u32;
}

type Seen = (Option<String>, Option<u32>);

fn seen() -> Seen {
    (correlated::current().map(|id| id.to_string()), TENANT.get())
}

fn expected(id: &str, tenant: u32) -> Seen {
    (Some(id.to_owned()), Some(tenant))
}

/// A callback-taking API with the bounds of axum's
/// `WebSocketUpgrade::on_upgrade`, which hands the callback to a plain
/// `tokio::spawn` after a delay, as axum does once the upgrade completes.
fn on_upgrade_later<C, Fut>(argument: u32, callback: C) -> tokio::task::JoinHandle<Fut::Output>
where
    C: FnOnce(u32) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        callback(argument).await
    })
}

/// Pending a few times, then ready; records what it sees in every poll.
struct RecordEveryPoll {
    polls_left: usize,
    seen: Vec<Seen>,
}

impl Future for RecordEveryPoll {
    type Output = Vec<Seen>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Vec<Seen>> {
        self.seen.push(seen());
        if self.polls_left == 0 {
            return Poll::Ready(std::mem::take(&mut self.seen));
        }
        self.polls_left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Records what its destructor sees: a drop guard that logs.
struct RecordOnDrop(&'static str, Arc<Mutex<Vec<(&'static str, Seen)>>>);

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        self.1.lock().unwrap().push((self.0, seen()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_future_sees_the_captured_context_at_every_poll_when_spawned_later() {
    let callback = async {
        let _tenant = TENANT.scope(7);
        correlated::bind(|polls_left: u32| async move {
            let polls = RecordEveryPoll {
                polls_left: polls_left as usize,
                seen: Vec::new(),
            }
            .await;
            let mut after_awaits = Vec::new();
            let mut plain_tasks = Vec::new();
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                after_awaits.push(seen());
                // A plain task polled on either worker meanwhile.
                plain_tasks.push(tokio::spawn(async { seen() }).await.unwrap());
                after_awaits.push(seen());
            }
            (polls, after_awaits, plain_tasks)
        })
    }
    .correlated(id("bound-1"))
    .await;

    // The scope that bound the callback is long gone when it is called, in a
    // plain task on the multi-thread runtime.
    assert_eq!(seen(), (None, None));
    let handle = on_upgrade_later(3, callback);
    let (polls, after_awaits, plain_tasks) = tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the callback ran")
        .expect("no panic");
    assert_eq!(polls, vec![expected("bound-1", 7); 4], "every poll");
    assert_eq!(
        after_awaits,
        vec![expected("bound-1", 7); 6],
        "after every .await"
    );
    // Plain tasks the future spawns are not correlated (promise 15).
    assert_eq!(plain_tasks, vec![(None, None); 3]);
}

#[tokio::test]
async fn sets_made_in_a_bound_callback_never_reach_the_caller() {
    let captured = Context::new()
        .with_correlation_id(id("captured"))
        .with_value(&TENANT, 1);
    let callback = |tag: &'static str| {
        drop(correlated::set(id(&format!("sync-{tag}"))));
        async move {
            let at_start = seen();
            drop(TENANT.set(2));
            tokio::task::yield_now().await;
            (at_start, seen())
        }
    };

    let (caller_after, inside) = async {
        let inside = captured.clone().bind(callback)("first").await;
        (seen(), inside)
    }
    .correlated(id("caller"))
    .await;
    assert_eq!(inside.0, expected("sync-first", 1));
    assert_eq!(inside.1, expected("sync-first", 2));
    assert_eq!(
        caller_after,
        (Some("caller".to_owned()), None),
        "the bound callback's sets reached its caller"
    );

    // Nor the `Context` it was bound to: a second bind starts from it afresh.
    let second = captured.clone().bind(|()| async { seen() })(()).await;
    assert_eq!(second, expected("captured", 1));
    assert_eq!(seen(), (None, None));
}

#[tokio::test]
async fn the_callers_later_sets_never_reach_a_bound_callback() {
    let callback = async {
        let _tenant = TENANT.scope(4);
        correlated::bind(|()| async { seen() })
    }
    .correlated(id("at-bind"))
    .await;

    // Called from a scope with other values: the bind-time ones win.
    let inside = async {
        let _tenant = TENANT.scope(40);
        let _later = correlated::scope(id("at-call"));
        callback(()).await
    }
    .correlated(id("caller"))
    .await;
    assert_eq!(inside, expected("at-bind", 4));

    // Bound outside any context, it sees none, not its caller's.
    let unbound = correlated::bind(|()| async { seen() });
    let inside = unbound(()).correlated(id("caller")).await;
    assert_eq!(inside, (None, None));
}

#[tokio::test]
async fn the_synchronous_part_of_a_bound_callback_runs_in_the_context() {
    let callback = {
        let _id = correlated::scope(id("bound-sync"));
        let _tenant = TENANT.scope(5);
        correlated::bind(|()| {
            let in_call = seen();
            // The call and its future share one context, as the start and
            // the rest of an `async fn` do.
            drop(TENANT.set(6));
            async move { (in_call, seen()) }
        })
    };
    let _caller = correlated::scope(id("caller"));
    let future = callback(());
    assert_eq!(
        seen(),
        (Some("caller".to_owned()), None),
        "the call's set reached the caller"
    );
    let (in_call, in_future) = future.await;
    assert_eq!(in_call, expected("bound-sync", 5));
    assert_eq!(in_future, expected("bound-sync", 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_bound_future_is_dropped_in_the_context() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let pending_now = Arc::new(tokio::sync::Notify::new());
    let bind = |name: &'static str| {
        let drops = drops.clone();
        let pending_now = pending_now.clone();
        correlated::bind(move |_: u32| {
            // Held by the future from the start: dropped with it, polled or
            // not.
            let guard = RecordOnDrop(name, drops);
            async move {
                let _guard = guard;
                drop(TENANT.set(9));
                pending_now.notify_one();
                pending::<()>().await;
            }
        })
    };
    let (aborted, timed_out, never_polled) = async {
        let _tenant = TENANT.scope(8);
        (bind("aborted"), bind("timed out"), bind("never polled"))
    }
    .correlated(id("cancelled"))
    .await;

    // Aborted while pending in a plain task on the multi-thread runtime...
    let task = on_upgrade_later(0, aborted);
    tokio::time::timeout(Duration::from_secs(5), pending_now.notified())
        .await
        .expect("the spawned future ran");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // ...dropped by a timeout...
    let _caller = correlated::scope(id("caller"));
    let timeout = tokio::time::timeout(Duration::from_millis(5), timed_out(0)).await;
    assert!(timeout.is_err());
    // ...and built but never polled.
    drop(never_polled(0));

    assert_eq!(
        *drops.lock().unwrap(),
        [
            ("aborted", expected("cancelled", 9)),
            ("timed out", expected("cancelled", 9)),
            ("never polled", expected("cancelled", 8)),
        ],
        "each cancelled future dropped its locals in its own context"
    );
    assert_eq!(seen(), (Some("caller".to_owned()), None));
}

#[test]
fn a_bound_callback_is_send_and_static_for_axum() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}

    let callback = {
        let _id = correlated::scope(id("sendable"));
        correlated::bind(|n: u32| async move { (n, correlated::current()) })
    };
    assert_send_static(&callback);
    let future = callback(1);
    assert_send_static(&future);
    let (n, seen) = std::thread::spawn(move || futures::executor::block_on(future))
        .join()
        .unwrap();
    assert_eq!((n, seen.unwrap().as_str()), (1, "sendable"));
}
