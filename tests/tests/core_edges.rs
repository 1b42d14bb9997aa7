//! Edges of the core that mutation testing showed no other test pinned down
//! (docs/testing.md, "Mutation testing"): each test states a behaviour a
//! plausible bug in `runtime/src/{frame,token,current,guard,slot,key,context}.rs`
//! would break.

use std::sync::{Arc, Mutex};

use correlated::{CORRELATION_ID, Context};

mod support;
use support::id;

correlated::slot! {
    static REGION: String;
    static ATTEMPT: u32;
    static HELD: Tracked;
}

/// A slot value whose last clone records its name when it is dropped.
#[derive(Clone)]
struct Tracked(Arc<Named>);

struct Named {
    name: &'static str,
    dropped: Arc<Mutex<Vec<&'static str>>>,
}

impl Drop for Named {
    fn drop(&mut self) {
        self.dropped.lock().unwrap().push(self.name);
    }
}

#[test]
fn context_debug_counts_the_user_slots_that_hold_a_value() {
    let none = Context::new().with_correlation_id(id("dbg-1"));
    let shown = format!("{none:?}");
    assert!(shown.contains("user_slots: 0"), "{shown}");
    assert!(shown.contains("dbg-1"), "{shown}");

    let two = Context::new()
        .with_value(&REGION, "eu".to_owned())
        .with_value(&ATTEMPT, 3);
    let shown = format!("{two:?}");
    assert!(shown.contains("user_slots: 2"), "{shown}");
    assert!(shown.contains("correlation_id: None"), "{shown}");

    let one = two.without(&REGION);
    assert!(format!("{one:?}").contains("user_slots: 1"), "{one:?}");
    assert_eq!(CORRELATION_ID.get(), None);
}

fn current_text() -> Option<String> {
    correlated::current().map(|id| id.to_string())
}

#[test]
fn resetting_a_set_made_after_a_forgotten_one_shows_the_forgotten_value() {
    Context::new().run(|| {
        let older = correlated::set(id("older"));
        drop(correlated::set(id("forgotten")));
        let newer = correlated::set(id("newer"));
        assert_eq!(current_text().as_deref(), Some("newer"));
        correlated::reset(newer).unwrap();
        assert_eq!(current_text().as_deref(), Some("forgotten"));
        // The older set lies beneath a permanent one: undoing it is accepted
        // and can no longer change what shows.
        correlated::reset(older).unwrap();
        assert_eq!(current_text().as_deref(), Some("forgotten"));
    });
}

#[test]
fn forgetting_one_slots_token_leaves_other_slots_resettable() {
    Context::new().run(|| {
        let region = REGION.set("eu".to_owned());
        let attempt = ATTEMPT.set(1);
        drop(correlated::set(id("forgotten")));
        assert_eq!(REGION.get().as_deref(), Some("eu"));
        REGION.reset(region).unwrap();
        ATTEMPT.reset(attempt).unwrap();
        assert_eq!(REGION.get(), None);
        assert_eq!(ATTEMPT.get(), None);
        assert_eq!(current_text().as_deref(), Some("forgotten"));
    });
}

/// A value that can never show again is released when the token that buried
/// it is dropped, not kept until the context ends: a long-lived context (a
/// websocket session, a worker's loop) that sets and forgets does not hold
/// on to what its sets replaced.
#[test]
fn a_value_buried_beneath_a_forgotten_set_is_dropped_with_its_token() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let tracked = |name| {
        Tracked(Arc::new(Named {
            name,
            dropped: Arc::clone(&dropped),
        }))
    };
    Context::new().run(|| {
        drop(HELD.set(tracked("first")));
        let second = HELD.set(tracked("second"));
        let third = HELD.set(tracked("third"));
        // Undone beneath a newer set: its tombstone keeps "first", the value
        // to restore if "third" were undone too.
        HELD.reset(second).unwrap();
        assert!(dropped.lock().unwrap().is_empty());
        // "third" is now permanent: "first" can never show again.
        drop(third);
        assert!(dropped.lock().unwrap().contains(&"first"), "{dropped:?}");
        assert_eq!(HELD.get().map(|held| held.0.name), Some("third"));
    });
}

/// What `{:?}` shows of a token, a guard, a reset error and a slot: what a
/// user sees in a debugger, in a logged value, or when `reset(..).unwrap()`
/// panics (the error names its kind, so the panic says why).
#[test]
fn tokens_guards_reset_errors_and_slots_show_what_they_are_in_debug_output() {
    let guard = correlated::scope(id("debugged"));
    assert!(format!("{guard:?}").starts_with("ScopeGuard"));
    let token = correlated::set(id("debugged-set"));
    assert!(format!("{token:?}").starts_with("Token"));
    correlated::reset(token).unwrap();

    let escaped = Context::current()
        .with_correlation_id(id("ended"))
        .run(|| correlated::set(id("escaped")));
    let error = correlated::reset(escaped).unwrap_err();
    let shown = format!("{error:?}");
    assert!(shown.starts_with("ResetError"), "{shown}");
    assert!(shown.contains("WrongContext"), "{shown}");
    drop(guard);

    let shown = format!("{REGION:?}");
    assert!(shown.starts_with("Slot"), "{shown}");
    assert!(shown.contains(REGION.name()), "{shown}");
}

#[test]
fn a_correlated_future_hands_out_its_inner_future_until_it_completes() {
    use std::pin::pin;

    use correlated::Correlate;
    use futures::{Stream, StreamExt};

    // `get_mut` reaches the stream itself: what is done through it shows in
    // the items that follow.
    let mut stream = futures::stream::iter(vec![1, 2, 3]).correlated(id("inner-stream"));
    let shown = format!("{stream:?}");
    assert!(shown.starts_with("Correlated"), "{shown}");
    assert!(shown.contains("inner"), "{shown}");
    assert_eq!(
        stream.get_mut().map(|inner| inner.size_hint()),
        Some((3, Some(3)))
    );
    let first = futures::executor::block_on(stream.get_mut().expect("not finished").next());
    assert_eq!(first, Some(1));
    // The wrapper reports the stream's own size hint.
    assert_eq!(Stream::size_hint(&stream), (2, Some(2)));
    let rest: Vec<_> = futures::executor::block_on(stream.collect());
    assert_eq!(rest, [2, 3]);

    // `get_pin_mut` too, pinned; a completed future has nothing to hand out.
    let mut future = pin!(async { current_text() }.correlated(id("inner-future")));
    assert!(future.as_mut().get_pin_mut().is_some());
    let seen = futures::executor::block_on(future.as_mut());
    assert_eq!(seen.as_deref(), Some("inner-future"));
    assert!(future.as_mut().get_pin_mut().is_none());
    assert!(future.get_ref().is_none());

    // `into_inner` gives the future back without its context.
    let plain = async { current_text() }
        .correlated(id("left-behind"))
        .into_inner()
        .expect("not polled yet");
    assert_eq!(futures::executor::block_on(plain), None);
}
