// Every argument, and every type `id = ...` accepts.
use correlated::{CorrelationId, correlated};

mod slots {
    correlated::slot! {
        pub static TENANT: u64;
        #[allow(non_upper_case_globals)]
        pub static lower_case: u8;
    }
}

correlated::slot! {
    static USER_ID: String;
}

#[correlated(id = id)]
fn from_str(id: &str) -> Option<CorrelationId> {
    correlated::current()
}

#[correlated(id = id)]
fn from_string(id: String) -> Option<CorrelationId> {
    correlated::current()
}

#[correlated(id = id)]
fn from_option(id: Option<&str>) -> Option<CorrelationId> {
    correlated::current()
}

#[correlated(id = id.clone())]
fn from_id(id: &CorrelationId) -> Option<CorrelationId> {
    correlated::current()
}

#[correlated(fresh)]
fn fresh() -> Option<CorrelationId> {
    correlated::current()
}

#[correlated(USER_ID = user, slots::TENANT = 7u8, self::slots::lower_case = 1)]
fn bound(user: &str) -> (Option<String>, Option<u64>, Option<u8>) {
    (USER_ID.get(), slots::TENANT.get(), slots::lower_case.get())
}

#[correlated(id = "req-1", USER_ID = "alice", crate = ::correlated)]
async fn everything() -> (Option<CorrelationId>, Option<String>) {
    (correlated::current(), USER_ID.get())
}

fn main() {
    assert_eq!(from_str("req-1").unwrap(), "req-1");
    assert_eq!(from_string("req-2".to_owned()).unwrap(), "req-2");
    assert_eq!(from_option(Some("req-3")).unwrap(), "req-3");
    assert!(from_option(None).is_some());
    let invalid = from_str("not valid");
    assert_ne!(invalid.unwrap(), "not valid");
    let id = CorrelationId::generate();
    assert_eq!(from_id(&id).unwrap(), id);
    let outer = correlated::scope(id.clone());
    assert_ne!(fresh().unwrap(), id);
    drop(outer);
    assert_eq!(bound("bob"), (Some("bob".to_owned()), Some(7), Some(1)));
    let (id, user) = futures::executor::block_on(everything());
    assert_eq!(id.unwrap(), "req-1");
    assert_eq!(user.unwrap(), "alice");
    assert_eq!(USER_ID.get(), None);
}
