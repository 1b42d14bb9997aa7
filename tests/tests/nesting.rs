//! docs/semantics.md, promise 5: an inner scope shadows the outer one and
//! restores it exactly on exit, to any depth; siblings do not see each
//! other's values.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use correlated::{Context, Correlate, CorrelationId};
use futures::future::{BoxFuture, FutureExt as _};

mod support;
use support::id;

correlated::slot! {
    static LEVEL: usize;
}

// Under Miri (docs/testing.md), whose checks grow with every frame a poll
// passes through, the same shapes at a depth it checks in seconds.
const DEPTH: usize = if cfg!(miri) { 20 } else { 100 };

fn level_id(level: usize) -> CorrelationId {
    id(&format!("level-{level}"))
}

fn seen() -> (Option<CorrelationId>, Option<usize>) {
    (correlated::current(), LEVEL.get())
}

fn expected(level: usize) -> (Option<CorrelationId>, Option<usize>) {
    (Some(level_id(level)), Some(level))
}

fn nest_guards(level: usize) {
    if level > DEPTH {
        return;
    }
    let _id = correlated::scope(level_id(level));
    let _level = LEVEL.scope(level);
    assert_eq!(seen(), expected(level));
    nest_guards(level + 1);
    assert_eq!(
        seen(),
        expected(level),
        "restored after level {}",
        level + 1
    );
}

#[test]
fn inner_scope_guards_shadow_and_restore_the_outer_one_to_depth_100() {
    nest_guards(1);
    assert_eq!(seen(), (None, None));
}

fn nest_runs(level: usize) {
    if level > DEPTH {
        return;
    }
    let context = Context::current()
        .with_correlation_id(level_id(level))
        .with_value(&LEVEL, level);
    context.run(|| {
        assert_eq!(seen(), expected(level));
        nest_runs(level + 1);
        assert_eq!(
            seen(),
            expected(level),
            "restored after level {}",
            level + 1
        );
        // A set that is never undone stays inside this run.
        std::mem::drop(correlated::set(id("forgotten")));
    });
}

#[test]
fn nested_context_runs_restore_the_outer_one_to_depth_100() {
    let _outer = correlated::scope(level_id(0));
    let _level = LEVEL.scope(0);
    nest_runs(1);
    assert_eq!(seen(), expected(0));
}

fn nest_futures(level: usize) -> BoxFuture<'static, usize> {
    async move {
        if level > DEPTH {
            return level - 1;
        }
        assert_eq!(seen(), expected(level));
        tokio::task::yield_now().await;
        assert_eq!(seen(), expected(level));
        let _level = LEVEL.scope(level);
        let inner = Context::current()
            .with_correlation_id(level_id(level + 1))
            .with_value(&LEVEL, level + 1);
        let deepest = inner.wrap(nest_futures(level + 1)).await;
        assert_eq!(
            seen(),
            expected(level),
            "restored after level {}",
            level + 1
        );
        tokio::task::yield_now().await;
        assert_eq!(seen(), expected(level));
        deepest
    }
    .boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_correlated_futures_restore_the_outer_one_to_depth_100() {
    let _outer = correlated::scope(level_id(0));
    let root = Context::new()
        .with_correlation_id(level_id(1))
        .with_value(&LEVEL, 1);
    let deepest = tokio::spawn(root.wrap(nest_futures(1))).await.unwrap();
    assert_eq!(deepest, DEPTH);
    assert_eq!(correlated::current(), Some(level_id(0)));
}

#[tokio::test]
async fn sibling_futures_joined_in_one_scope_do_not_see_each_other() {
    let _outer = correlated::scope(id("outer"));
    let sibling = |name: &'static str| {
        async move {
            let mut seen = vec![correlated::current()];
            tokio::task::yield_now().await;
            seen.push(correlated::current());
            let token = correlated::set(id(&format!("{name}-set")));
            let _level = LEVEL.scope(name.len());
            for _ in 0..3 {
                tokio::task::yield_now().await;
                seen.push(correlated::current());
            }
            correlated::reset(token).unwrap();
            seen.push(correlated::current());
            (seen, LEVEL.get())
        }
        .correlated(id(name))
    };
    let (left, right) = tokio::join!(sibling("left"), sibling("right-hand"));

    let ids = |name: &str| {
        let own = Some(id(name));
        let set = Some(id(&format!("{name}-set")));
        vec![own.clone(), own.clone(), set.clone(), set.clone(), set, own]
    };
    assert_eq!(left.0, ids("left"));
    assert_eq!(right.0, ids("right-hand"));
    assert_eq!(left.1, Some(4));
    assert_eq!(right.1, Some(10));
    assert_eq!(correlated::current(), Some(id("outer")));
    assert_eq!(LEVEL.get(), None);
}

#[test]
fn sibling_context_runs_do_not_see_each_other() {
    let context = Context::new().with_correlation_id(id("shared-parent"));
    let first = context.run(|| {
        // Left set on purpose: the token is dropped, the value pinned.
        std::mem::drop(correlated::set(id("first-only")));
        std::mem::drop(LEVEL.set(1));
        (correlated::current(), LEVEL.get())
    });
    let second = context.run(|| (correlated::current(), LEVEL.get()));
    assert_eq!(first, (Some(id("first-only")), Some(1)));
    assert_eq!(second, (Some(id("shared-parent")), None));
    assert_eq!(context.correlation_id(), Some(&id("shared-parent")));
}

#[test]
fn interleaved_polls_of_nested_siblings_restore_their_parent_between_polls() {
    // Two children of one parent, polled alternately by hand, each nested
    // three deep; between any two polls the parent sees exactly itself.
    struct Alternate<A, B> {
        left: Pin<Box<A>>,
        right: Pin<Box<B>>,
        done: (bool, bool),
        parent_seen: Vec<Option<CorrelationId>>,
    }

    impl<A: Future<Output = ()>, B: Future<Output = ()>> Future for Alternate<A, B> {
        type Output = Vec<Option<CorrelationId>>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
            let this = &mut *self;
            if !this.done.0 {
                this.done.0 = this.left.as_mut().poll(cx).is_ready();
            }
            this.parent_seen.push(correlated::current());
            if !this.done.1 {
                this.done.1 = this.right.as_mut().poll(cx).is_ready();
            }
            this.parent_seen.push(correlated::current());
            if this.done == (true, true) {
                Poll::Ready(std::mem::take(&mut this.parent_seen))
            } else {
                Poll::Pending
            }
        }
    }

    fn child(name: &'static str, depth: usize) -> BoxFuture<'static, ()> {
        async move {
            let own = correlated::current();
            for _ in 0..2 {
                tokio::task::yield_now().await;
                assert_eq!(correlated::current(), own);
            }
            if depth > 0 {
                child(name, depth - 1)
                    .correlated(id(&format!("{name}-{depth}")))
                    .await;
            }
            assert_eq!(correlated::current(), own);
        }
        .boxed()
    }

    let parent = futures::executor::block_on(
        async {
            Alternate {
                left: Box::pin(child("left", 3).correlated(id("left"))),
                right: Box::pin(child("right", 3).correlated(id("right"))),
                done: (false, false),
                parent_seen: Vec::new(),
            }
            .await
        }
        .correlated(id("parent")),
    );
    assert!(parent.len() > 2);
    assert!(parent.iter().all(|seen| seen == &Some(id("parent"))));
}
