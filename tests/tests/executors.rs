//! docs/semantics.md, promise 16: the core works under any executor —
//! `futures`' `block_on` and `LocalPool`, a tokio current-thread runtime, a
//! multi-thread one, and a bare poll loop.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use correlated::Correlate;
use futures::task::LocalSpawnExt as _;

mod support;
use support::{YieldOnce, id};

correlated::slot! {
    static TENANT: u32;
}

/// What a request saw at its start and after each of its awaits.
async fn request(yields: usize) -> Vec<(Option<String>, Option<u32>)> {
    let look = || (correlated::current().map(|id| id.to_string()), TENANT.get());
    let mut seen = vec![look()];
    for _ in 0..yields {
        YieldOnce(false).await;
        seen.push(look());
    }
    seen
}

fn all_own(seen: &[(Option<String>, Option<u32>)], name: &str) -> bool {
    seen.iter()
        .all(|(id, tenant)| id.as_deref() == Some(name) && tenant.is_none())
}

#[test]
fn works_under_futures_block_on() {
    let seen = futures::executor::block_on(request(5).correlated(id("block-on")));
    assert_eq!(seen.len(), 6);
    assert!(all_own(&seen, "block-on"), "{seen:?}");
    assert_eq!(correlated::current(), None);
}

#[test]
fn works_under_a_local_pool_with_interleaved_tasks() {
    let mut pool = futures::executor::LocalPool::new();
    let spawner = pool.spawner();
    let results = Rc::new(RefCell::new(Vec::new()));
    for n in 0..3 {
        let results = results.clone();
        let name = format!("local-{n}");
        let task = request(4 + n).correlated(id(&name));
        spawner
            .spawn_local(async move {
                let seen = task.await;
                results.borrow_mut().push((name, seen));
            })
            .unwrap();
    }
    // Plain tasks in the same pool see nothing.
    let leaks = Rc::new(RefCell::new(0));
    for _ in 0..2 {
        let leaks = leaks.clone();
        spawner
            .spawn_local(async move {
                for _ in 0..6 {
                    *leaks.borrow_mut() += usize::from(correlated::current().is_some());
                    YieldOnce(false).await;
                }
            })
            .unwrap();
    }
    pool.run();
    let results = results.borrow();
    assert_eq!(results.len(), 3);
    for (name, seen) in results.iter() {
        assert!(all_own(seen, name), "{name}: {seen:?}");
    }
    assert_eq!(*leaks.borrow(), 0);
}

/// Spawns `count` correlated requests on `runtime` and checks that each saw
/// only its own ID.
fn each_request_sees_its_own_id(runtime: tokio::runtime::Runtime, count: usize, polls: usize) {
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|n| tokio::spawn(request(polls).correlated(id(&format!("req-{n}")))))
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    assert_eq!(results.len(), count);
    for (n, seen) in results.iter().enumerate() {
        assert!(all_own(seen, &format!("req-{n}")), "{seen:?}");
    }
}

#[test]
fn works_under_a_tokio_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    each_request_sees_its_own_id(runtime, 8, 3);
}

#[test]
fn works_under_a_tokio_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    each_request_sees_its_own_id(runtime, 64, 8);
}

#[test]
fn works_under_a_bare_poll_loop() {
    let mut futures: Vec<_> = (0..3)
        .map(|n| Box::pin(request(3 + n).correlated(id(&format!("bare-{n}")))))
        .collect();
    let mut done = vec![None; futures.len()];
    let mut cx = TaskContext::from_waker(Waker::noop());
    while done.iter().any(Option::is_none) {
        for (n, future) in futures.iter_mut().enumerate() {
            if done[n].is_none()
                && let Poll::Ready(seen) = future.as_mut().poll(&mut cx)
            {
                done[n] = Some(seen);
            }
            assert_eq!(correlated::current(), None, "between polls");
        }
    }
    for (n, seen) in done.into_iter().enumerate() {
        assert!(all_own(&seen.unwrap(), &format!("bare-{n}")));
    }
}
