//! Edges of the core that mutation testing showed no other test pinned down
//! (docs/testing.md, "Mutation testing"): each test states a behaviour a
//! plausible bug in `runtime/src/{frame,token,current,guard,slot,key,context}.rs`
//! would break.

use correlated::{CORRELATION_ID, Context};

mod support;
use support::id;

correlated::slot! {
    static REGION: String;
    static ATTEMPT: u32;
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
