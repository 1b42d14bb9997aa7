// A crate that forbids `unsafe` can use the attribute in every shape: the
// expansion pins a synchronous body's frame with `core::pin::pin!`, which is
// allowed its own internal `unsafe`, and writes none itself.
#![forbid(unsafe_code)]

use std::future::Future;

use correlated::correlated;

#[correlated]
fn sync_value(text: &str) -> &str {
    text
}

#[correlated(fresh)]
async fn async_value() -> u32 {
    1
}

#[correlated(id = "job-1")]
fn future_tail() -> impl Future<Output = Option<String>> {
    async { correlated::current().map(|id| id.to_string()) }
}

fn main() {
    assert_eq!(sync_value("a"), "a");
    futures::executor::block_on(async {
        assert_eq!(async_value().await, 1);
        assert_eq!(future_tail().await.as_deref(), Some("job-1"));
    });
}
