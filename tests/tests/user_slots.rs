//! User slots declared with `correlated::slot!` work like the correlation ID:
//! get / set / reset / scope, `Context::with_value`, carried by spawn, isolated
//! between tasks, restored on every exit.

use correlated::{CORRELATION_ID, Context, Correlate, ResetErrorKind};

mod auth {
    correlated::slot! {
        /// The authenticated user.
        pub static USER_ID: String;
        pub(crate) static TENANT: u64;
    }
}

correlated::slot! {
    static FIRST: u32;
    static SECOND: u32;
}

use auth::{TENANT, USER_ID};

mod support;
use support::id;

fn user() -> Option<String> {
    USER_ID.get()
}

#[test]
fn user_slot_is_none_outside_any_scope() {
    assert_eq!(user(), None);
    assert!(USER_ID.with(|user| user.is_none()));
    assert_eq!(Context::current().get(&USER_ID), None);
    assert_eq!(std::thread::spawn(user).join().unwrap(), None);
}

#[test]
fn user_slot_get_set_reset_and_scope_work_like_the_correlation_id() {
    let token = USER_ID.set("alice".into());
    assert_eq!(user().as_deref(), Some("alice"));
    assert_eq!(USER_ID.with(|user| user.map(String::len)), Some(5));
    {
        let _bob = USER_ID.scope("bob".into());
        assert_eq!(user().as_deref(), Some("bob"));
    }
    assert_eq!(user().as_deref(), Some("alice"));
    USER_ID.reset(token).unwrap();
    assert_eq!(user(), None);
    assert_eq!(USER_ID.name(), "USER_ID");
    assert_eq!(TENANT.name(), "TENANT");
    assert_eq!(CORRELATION_ID.name(), "CORRELATION_ID");

    // The built-in slot's methods are the shorthands.
    let token = CORRELATION_ID.set(id("via-slot"));
    assert_eq!(correlated::current(), Some(id("via-slot")));
    correlated::reset(token).unwrap();
    let token = correlated::set(id("via-shorthand"));
    assert_eq!(CORRELATION_ID.get(), Some(id("via-shorthand")));
    CORRELATION_ID.reset(token).unwrap();
    assert_eq!(correlated::current(), None);
}

#[test]
fn slots_of_the_same_type_are_distinct() {
    let _first = FIRST.scope(1);
    assert_eq!((FIRST.get(), SECOND.get()), (Some(1), None));
    let token = SECOND.set(2);
    assert_eq!((FIRST.get(), SECOND.get()), (Some(1), Some(2)));
    let error = FIRST.reset(token).unwrap_err();
    assert_eq!(error.kind(), ResetErrorKind::WrongSlot);
    assert_eq!((FIRST.get(), SECOND.get()), (Some(1), Some(2)));
    SECOND.reset(error.into_token()).unwrap();
    assert_eq!((FIRST.get(), SECOND.get()), (Some(1), None));
}

#[test]
fn context_with_value_binds_user_slots() {
    let context = Context::new()
        .with_correlation_id(id("bound"))
        .with_value(&USER_ID, "carol".into())
        .with_value(&TENANT, 42);
    assert_eq!(context.get(&USER_ID).as_deref(), Some("carol"));
    assert_eq!(context.get(&TENANT), Some(42));
    assert_eq!(context.get(&FIRST), None);
    assert_eq!(context.get(&CORRELATION_ID), Some(id("bound")));
    let seen = context.run(|| (correlated::current(), user(), TENANT.get()));
    assert_eq!(seen, (Some(id("bound")), Some("carol".into()), Some(42)));
    let seen = futures::executor::block_on(context.wrap(async { (user(), TENANT.get()) }));
    assert_eq!(seen, (Some("carol".into()), Some(42)));
    assert_eq!((user(), TENANT.get()), (None, None));

    // The correlation ID is a slot too.
    let context = Context::new().with_value(&CORRELATION_ID, id("as-a-slot"));
    assert_eq!(context.correlation_id(), Some(&id("as-a-slot")));
}

#[test]
fn user_slots_are_restored_on_every_exit() {
    let _outer = USER_ID.scope("outer".into());
    let _ = std::panic::catch_unwind(|| {
        let _inner = USER_ID.scope("inner".into());
        panic!("boom");
    });
    assert_eq!(user().as_deref(), Some("outer"));
    let mut cancelled = Box::pin(
        async {
            let _inner = USER_ID.scope("inner".into());
            std::future::pending::<()>().await;
        }
        .in_current_context(),
    );
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(cancelled.as_mut().poll(&mut cx).is_pending());
    assert_eq!(user().as_deref(), Some("outer"));
    drop(cancelled);
    assert_eq!(user().as_deref(), Some("outer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_slots_are_carried_by_spawn_and_spawn_blocking() {
    let parent = Context::current().with_value(&TENANT, 7);
    let (spawned, blocking, plain) = parent
        .wrap(async {
            let _user = USER_ID.scope("dave".into());
            let spawned = correlated::spawn(async {
                tokio::task::yield_now().await;
                (user(), TENANT.get())
            });
            let blocking = correlated::spawn_blocking(|| (user(), TENANT.get()));
            let plain = tokio::spawn(async { (user(), TENANT.get()) });
            (
                spawned.await.unwrap(),
                blocking.await.unwrap(),
                plain.await.unwrap(),
            )
        })
        .await;
    assert_eq!(spawned, (Some("dave".into()), Some(7)));
    assert_eq!(blocking, (Some("dave".into()), Some(7)));
    assert_eq!(plain, (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_slots_are_isolated_between_tasks() {
    let tasks: Vec<_> = (0..200u64)
        .map(|n| {
            let context = Context::new().with_value(&TENANT, n);
            tokio::spawn(context.wrap(async move {
                let mut wrong = 0;
                for step in 0..5 {
                    tokio::task::yield_now().await;
                    wrong += usize::from(TENANT.get() != Some(n));
                    let token = USER_ID.set(format!("user-{n}-{step}"));
                    tokio::task::yield_now().await;
                    wrong += usize::from(user() != Some(format!("user-{n}-{step}")));
                    USER_ID.reset(token).unwrap();
                }
                wrong
            }))
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 0);
    }
    assert_eq!((user(), TENANT.get()), (None, None));
}

#[test]
fn correlated_replaces_the_id_and_keeps_user_slots() {
    let _user = USER_ID.scope("erin".into());
    let _id = correlated::scope(id("outer"));
    let seen = futures::executor::block_on(
        async { (correlated::current(), user()) }.correlated(id("inner")),
    );
    assert_eq!(seen, (Some(id("inner")), Some("erin".into())));
}
