//! docs/semantics.md, promises 6 to 10: tokens work like `contextvars`. `set`
//! returns a token, `reset` consumes it and restores what it saw (6); a token
//! used in the wrong context or for the wrong slot is an error that changes
//! nothing (7); out-of-order resets follow the tombstone invariant (8); a
//! dropped token makes its set permanent for its context (9); guards follow
//! the same rules (10).
//!
//! "A token cannot be reset twice" is enforced by the compiler: `reset` takes
//! the token by value, so a second `reset(token)` is a use-after-move error,
//! and `Token` is neither `Clone` nor `Copy` (asserted below at compile time).

use std::sync::mpsc;
use std::thread;

use correlated::{
    CORRELATION_ID, Context, Correlate, ResetError, ResetErrorKind, ScopeGuard, Token,
};

mod support;
use support::{current_text, id};

correlated::slot! {
    static TENANT: u32;
    static USER: String;
}

fn assert_send<T: Send>() {}

#[test]
fn token_is_send() {
    assert_send::<Token>();
    assert_send::<ResetError>();
    assert_send::<ScopeGuard>();
}

/// Compiles only while `Token` is not `Clone` (and so not `Copy`): if it
/// were, the two impls would both apply and the call would be ambiguous.
trait AmbiguousIfClone<Marker> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfClone<()> for T {}
impl<T: Clone> AmbiguousIfClone<u8> for T {}
const _: fn() = || <Token as AmbiguousIfClone<_>>::check();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_can_be_held_across_awaits_in_a_task_that_changes_threads() {
    let task = tokio::spawn(
        async {
            let token = correlated::set(id("held"));
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            let seen = current_text();
            correlated::reset(token).map_err(|e| e.kind())?;
            Ok::<_, ResetErrorKind>((seen, current_text()))
        }
        .correlated(id("task")),
    );
    let (seen, after) = task.await.unwrap().unwrap();
    assert_eq!(seen.as_deref(), Some("held"));
    assert_eq!(after.as_deref(), Some("task"));
}

#[test]
fn reset_restores_what_the_token_saw() {
    let _outer = correlated::scope(id("outer"));
    let token = correlated::set(id("inner"));
    assert_eq!(current_text().as_deref(), Some("inner"));
    correlated::reset(token).unwrap();
    assert_eq!(current_text().as_deref(), Some("outer"));

    let first = TENANT.set(1);
    let second = TENANT.set(2);
    TENANT.reset(second).unwrap();
    assert_eq!(TENANT.get(), Some(1));
    TENANT.reset(first).unwrap();
    assert_eq!(TENANT.get(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_reset_in_another_task_is_wrong_context_and_changes_nothing() {
    let (token_tx, token_rx) = tokio::sync::oneshot::channel::<Token>();
    let (back_tx, back_rx) = tokio::sync::oneshot::channel::<Token>();
    let owner = tokio::spawn(
        async move {
            let token = correlated::set(id("owner-set"));
            token_tx.send(token).unwrap();
            let token = back_rx.await.unwrap();
            let before_reset = current_text();
            correlated::reset(token).map_err(|e| e.kind())?;
            Ok::<_, ResetErrorKind>((before_reset, current_text()))
        }
        .correlated(id("owner")),
    );
    let other = tokio::spawn(
        async move {
            let _tenant = TENANT.scope(2);
            let token = token_rx.await.unwrap();
            let error = correlated::reset(token).unwrap_err();
            let seen = (current_text(), TENANT.get());
            let kind = error.kind();
            back_tx.send(error.into_token()).unwrap();
            (kind, seen)
        }
        .correlated(id("other")),
    );

    let (kind, seen_by_other) = other.await.unwrap();
    assert_eq!(kind, ResetErrorKind::WrongContext);
    assert_eq!(seen_by_other, (Some("other".to_owned()), Some(2)));
    let (before, after) = owner.await.unwrap().expect("the owner can still reset");
    assert_eq!(
        before.as_deref(),
        Some("owner-set"),
        "the failed reset changed nothing"
    );
    assert_eq!(after.as_deref(), Some("owner"));
}

#[tokio::test]
async fn token_reset_in_another_plain_task_on_the_same_thread_is_wrong_context() {
    // Both tasks are plain (uncorrelated) and share the one thread of a
    // current-thread runtime, so both run at the thread's root.
    let (token_tx, token_rx) = tokio::sync::oneshot::channel::<Token>();
    let setter = tokio::spawn(async move {
        let token = correlated::set(id("setter"));
        token_tx.send(token).unwrap();
        tokio::task::yield_now().await;
        current_text()
    });
    let resetter = tokio::spawn(async move {
        let token = token_rx.await.unwrap();
        correlated::reset(token).map_err(|e| e.kind())
    });
    let reset = resetter.await.unwrap();
    let seen_by_setter = setter.await.unwrap();
    assert_eq!(reset, Err(ResetErrorKind::WrongContext));
    assert_eq!(
        seen_by_setter.as_deref(),
        Some("setter"),
        "another task's reset changed the setter's value"
    );
}

#[test]
fn token_reset_in_a_sibling_scope_is_wrong_context() {
    let parent = Context::new().with_correlation_id(id("parent"));
    let token = parent.run(|| {
        let token = correlated::set(id("first-sibling"));
        assert_eq!(current_text().as_deref(), Some("first-sibling"));
        token
    });
    let (kind, seen, token) = parent.run(|| {
        let _own = correlated::set(id("second-sibling"));
        let error = correlated::reset(token).unwrap_err();
        (error.kind(), current_text(), error.into_token())
    });
    assert_eq!(kind, ResetErrorKind::WrongContext);
    assert_eq!(seen.as_deref(), Some("second-sibling"));
    drop(token);

    // Two branches of a join, each in its own correlated context.
    let (left, right) = futures::executor::block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<Token>();
        futures::join!(
            async move {
                tx.send(correlated::set(id("left-set"))).unwrap();
                current_text()
            }
            .correlated(id("left")),
            async move {
                let token = rx.await.unwrap();
                let kind = correlated::reset(token).unwrap_err().kind();
                (kind, current_text())
            }
            .correlated(id("right")),
        )
    });
    assert_eq!(left.as_deref(), Some("left-set"));
    assert_eq!(
        right,
        (ResetErrorKind::WrongContext, Some("right".to_owned()))
    );
}

#[test]
fn token_reset_after_its_scope_ended_is_wrong_context() {
    let _outer = correlated::scope(id("outer"));
    let escaped = Context::current()
        .with_correlation_id(id("ended"))
        .run(|| correlated::set(id("escaped")));
    let error = correlated::reset(escaped).unwrap_err();
    assert_eq!(error.kind(), ResetErrorKind::WrongContext);
    assert_eq!(current_text().as_deref(), Some("outer"));

    // Dropping it out here changes nothing either.
    drop(error.into_token());
    assert_eq!(current_text().as_deref(), Some("outer"));

    let escaped = futures::executor::block_on(
        async { correlated::set(id("escaped")) }.correlated(id("ended")),
    );
    let error = correlated::reset(escaped).unwrap_err();
    assert_eq!(error.kind(), ResetErrorKind::WrongContext);
    assert_eq!(current_text().as_deref(), Some("outer"));
}

#[test]
fn token_reset_in_a_child_context_is_wrong_context() {
    let seen = futures::executor::block_on(
        async {
            let token = correlated::set(id("parent-set"));
            let (kind, token) = async move {
                let error = correlated::reset(token).unwrap_err();
                (error.kind(), error.into_token())
            }
            .in_current_context()
            .await;
            let before = current_text();
            correlated::reset(token).unwrap();
            (kind, before, current_text())
        }
        .correlated(id("parent")),
    );
    assert_eq!(
        seen,
        (
            ResetErrorKind::WrongContext,
            Some("parent-set".to_owned()),
            Some("parent".to_owned())
        )
    );
}

#[test]
fn token_reset_on_another_thread_is_wrong_context() {
    let token = correlated::set(id("main-thread"));
    let (kind, seen, token) = thread::spawn(move || {
        let _own = correlated::scope(id("other-thread"));
        let error = correlated::reset(token).unwrap_err();
        (error.kind(), current_text(), error.into_token())
    })
    .join()
    .unwrap();
    assert_eq!(kind, ResetErrorKind::WrongContext);
    assert_eq!(seen.as_deref(), Some("other-thread"));
    assert_eq!(current_text().as_deref(), Some("main-thread"));
    correlated::reset(token).unwrap();
    assert_eq!(correlated::current(), None);
}

#[test]
fn token_reset_with_the_wrong_slot_is_wrong_slot_and_into_token_still_resets() {
    let _outer = correlated::scope(id("outer"));
    let tenant = TENANT.set(7);

    let error = correlated::reset(tenant).unwrap_err();
    assert_eq!(error.kind(), ResetErrorKind::WrongSlot);
    assert_eq!(TENANT.get(), Some(7));
    assert_eq!(current_text().as_deref(), Some("outer"));

    let error = USER.reset(error.into_token()).unwrap_err();
    assert_eq!(error.kind(), ResetErrorKind::WrongSlot);
    assert_eq!(TENANT.get(), Some(7));

    TENANT.reset(error.into_token()).unwrap();
    assert_eq!(TENANT.get(), None);

    let id_token = correlated::set(id("inner"));
    let error = TENANT.reset(id_token).unwrap_err();
    assert_eq!(error.kind(), ResetErrorKind::WrongSlot);
    assert_eq!(current_text().as_deref(), Some("inner"));
    CORRELATION_ID.reset(error.into_token()).unwrap();
    assert_eq!(current_text().as_deref(), Some("outer"));
}

#[test]
fn reset_errors_explain_themselves() {
    let wrong_slot = TENANT.reset(USER.set("x".to_owned())).unwrap_err();
    let escaped = Context::new().run(|| TENANT.set(1));
    let wrong_context = TENANT.reset(escaped).unwrap_err();
    let texts = [wrong_slot.to_string(), wrong_context.to_string()];
    assert!(texts[0].contains("slot"), "{}", texts[0]);
    assert!(texts[1].contains("context"), "{}", texts[1]);
    let _: &dyn std::error::Error = &wrong_slot;
    USER.reset(wrong_slot.into_token()).unwrap();
    assert_eq!(USER.get(), None);
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut order = rest.clone();
            order.insert(at, n - 1);
            all.push(order);
        }
    }
    all
}

/// The value the tombstone rule predicts: the newest set whose token is
/// still live, else the value at entry.
fn newest_live(live: &[bool], entry: &str) -> String {
    live.iter()
        .rposition(|live| *live)
        .map_or_else(|| entry.to_owned(), |n| format!("set-{n}"))
}

#[test]
fn out_of_order_resets_keep_the_newest_live_set_and_end_at_the_entry_value() {
    for order in permutations(4) {
        let entry = Context::new().with_correlation_id(id("entry"));
        entry.run(|| {
            let mut tokens: Vec<Option<Token>> = (0..4)
                .map(|n| Some(correlated::set(id(&format!("set-{n}")))))
                .collect();
            let mut live = [true; 4];
            for &n in &order {
                correlated::reset(tokens[n].take().unwrap()).unwrap();
                live[n] = false;
                assert_eq!(
                    current_text().unwrap(),
                    newest_live(&live, "entry"),
                    "order {order:?}, after resetting set-{n}"
                );
            }
            assert_eq!(current_text().as_deref(), Some("entry"), "order {order:?}");
        });
    }
}

#[test]
fn out_of_order_resets_of_interleaved_slots_follow_the_rule_per_slot() {
    for order in permutations(5) {
        let _entry_id = correlated::scope(id("entry"));
        let _entry_tenant = TENANT.scope(100);
        // Sets 0, 2, 4 are of the ID; 1, 3 of the tenant.
        let mut tokens: Vec<Option<Token>> = (0..5)
            .map(|n| {
                Some(if n % 2 == 0 {
                    correlated::set(id(&format!("set-{n}")))
                } else {
                    TENANT.set(n as u32)
                })
            })
            .collect();
        let mut live = [true; 5];
        for &n in &order {
            let token = tokens[n].take().unwrap();
            if n % 2 == 0 {
                correlated::reset(token).unwrap();
            } else {
                TENANT.reset(token).unwrap();
            }
            live[n] = false;
            let id_live: Vec<bool> = (0..5).map(|k| k % 2 == 0 && live[k]).collect();
            let tenant = (0..5).rev().find(|&k| k % 2 == 1 && live[k]);
            assert_eq!(current_text().unwrap(), newest_live(&id_live, "entry"));
            assert_eq!(TENANT.get(), Some(tenant.map_or(100, |k| k as u32)));
        }
        assert_eq!(current_text().as_deref(), Some("entry"));
        assert_eq!(TENANT.get(), Some(100));
    }
    assert_eq!(correlated::current(), None);
    assert_eq!(TENANT.get(), None);
}

#[test]
fn out_of_order_resets_across_awaits_follow_the_same_rule() {
    for order in permutations(3) {
        let seen = futures::executor::block_on(
            async {
                let mut tokens: Vec<Option<Token>> = (0..3)
                    .map(|n| Some(correlated::set(id(&format!("set-{n}")))))
                    .collect();
                let mut live = [true; 3];
                let mut wrong = Vec::new();
                for &n in &order {
                    tokio::task::yield_now().await;
                    correlated::reset(tokens[n].take().unwrap()).unwrap();
                    live[n] = false;
                    tokio::task::yield_now().await;
                    if current_text().unwrap() != newest_live(&live, "entry") {
                        wrong.push(n);
                    }
                }
                (wrong, current_text())
            }
            .correlated(id("entry")),
        );
        assert_eq!(seen, (vec![], Some("entry".to_owned())), "order {order:?}");
    }
}

#[test]
fn out_of_order_guard_drops_follow_the_same_rule() {
    for order in permutations(4) {
        let _entry = correlated::scope(id("entry"));
        let mut guards: Vec<Option<ScopeGuard>> = (0..4)
            .map(|n| Some(correlated::scope(id(&format!("set-{n}")))))
            .collect();
        let mut live = [true; 4];
        for &n in &order {
            drop(guards[n].take());
            live[n] = false;
            assert_eq!(
                current_text().unwrap(),
                newest_live(&live, "entry"),
                "order {order:?}, after dropping guard {n}"
            );
        }
    }
    assert_eq!(correlated::current(), None);
}

#[test]
fn dropped_token_pins_its_set_for_the_rest_of_the_context() {
    let _outer = correlated::scope(id("outer"));
    Context::current().run(|| {
        let below = correlated::set(id("below"));
        drop(correlated::set(id("pinned")));
        assert_eq!(current_text().as_deref(), Some("pinned"));
        // Undoing an older set cannot uncover anything beneath the pin.
        correlated::reset(below).unwrap();
        assert_eq!(current_text().as_deref(), Some("pinned"));
        let above = correlated::set(id("above"));
        correlated::reset(above).unwrap();
        assert_eq!(current_text().as_deref(), Some("pinned"));
    });
    assert_eq!(
        current_text().as_deref(),
        Some("outer"),
        "the pin ends with its context"
    );

    // Set and forget in a loop: the newest value wins, the context still ends.
    Context::current().run(|| {
        for n in 0..1_000 {
            drop(TENANT.set(n));
        }
        assert_eq!(TENANT.get(), Some(999));
    });
    assert_eq!(TENANT.get(), None);
}

#[test]
fn token_dropped_outside_its_context_pins_nothing_there() {
    let escaped = Context::new().run(|| correlated::set(id("escaped")));
    let _outer = correlated::scope(id("outer"));
    let below = correlated::set(id("below"));
    drop(escaped);
    correlated::reset(below).unwrap();
    assert_eq!(current_text().as_deref(), Some("outer"));
}

#[test]
fn guard_dropped_outside_its_context_changes_nothing_and_never_panics() {
    let _outer = correlated::scope(id("outer"));
    let escaped = Context::current().run(|| correlated::scope(id("escaped")));
    drop(escaped);
    assert_eq!(current_text().as_deref(), Some("outer"));

    let guard = correlated::scope(id("moved"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _theirs = correlated::scope(id("theirs"));
        drop(guard);
        tx.send(current_text()).unwrap();
    })
    .join()
    .expect("dropping a guard on another thread does not panic");
    assert_eq!(rx.recv().unwrap().as_deref(), Some("theirs"));
    // Its set was not undone here, so it stays for the rest of this context,
    // like any set whose token was dropped.
    assert_eq!(current_text().as_deref(), Some("moved"));
}
