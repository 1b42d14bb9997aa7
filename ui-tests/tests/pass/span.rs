// `span` on every shape, with and without a name and slot bindings; the crate
// has no `tracing` dependency of its own, only `correlated`'s feature.
use std::future::Future;
use std::pin::Pin;

use correlated::{CorrelationId, correlated};

correlated::slot! {
    static USER_ID: String;
}

mod slots {
    correlated::slot! {
        pub static TENANT: u32;
    }
}

#[correlated(span, id = "async-1", USER_ID = user)]
async fn handler(user: &str) -> Result<Option<CorrelationId>, String> {
    std::future::ready(()).await;
    assert_eq!(USER_ID.get().as_deref(), Some(user));
    Ok(correlated::current())
}

#[correlated(span = "nightly-report", fresh, slots::TENANT = 7_u32)]
fn job() -> Option<CorrelationId> {
    assert_eq!(slots::TENANT.get(), Some(7));
    correlated::current()
}

#[correlated(span, id = "future-1")]
fn returns_future() -> Pin<Box<dyn Future<Output = Option<CorrelationId>> + Send>> {
    Box::pin(async { correlated::current() })
}

// A raw identifier names the span without its `r#`.
#[correlated(span)]
fn r#type() -> bool {
    correlated::current().is_some()
}

fn main() {
    let seen = futures::executor::block_on(handler("alice")).unwrap();
    assert_eq!(seen.unwrap(), "async-1");
    assert!(job().is_some());
    assert_eq!(futures::executor::block_on(returns_future()).unwrap(), "future-1");
    assert!(r#type());
    assert_eq!(correlated::current(), None);
}
