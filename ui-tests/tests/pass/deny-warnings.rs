// The expansion raises no warning in the user's code, in any shape.
#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;

use correlated::correlated;

correlated::slot! {
    static TENANT: u32;
}

#[correlated]
fn sync_unit() {}

#[correlated(fresh)]
async fn async_unit() {}

#[correlated(id = id, TENANT = 7u32)]
async fn async_value(id: &str) -> Result<u32, String> {
    Ok(id.len() as u32)
}

#[correlated]
async fn async_never_returns_early() -> Result<u32, std::convert::Infallible> {
    Ok(1)
}

// An uninhabited return type: the never-taken `return` is unreachable.
#[correlated]
async fn serve_forever() -> std::convert::Infallible {
    loop {
        futures::pending!();
    }
}

#[correlated]
fn future_tail() -> impl Future<Output = ()> {
    async {}
}

#[correlated]
fn boxed_tail() -> Pin<Box<dyn Future<Output = u32>>> {
    Box::pin(async { 1 })
}

fn main() {
    drop(serve_forever());
    sync_unit();
    futures::executor::block_on(async {
        async_unit().await;
        assert_eq!(async_value("ab").await, Ok(2));
        assert_eq!(async_never_returns_early().await, Ok(1));
        future_tail().await;
        assert_eq!(boxed_tail().await, 1);
    });
}
