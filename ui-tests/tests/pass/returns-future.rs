// Functions that return a future: the future keeps the context for its whole
// life, also when it is polled after the function returned.
use std::future::Future;
use std::pin::Pin;

use correlated::{CorrelationId, correlated};

#[correlated(id = "impl-1")]
fn impl_future(n: u32) -> impl Future<Output = (u32, Option<CorrelationId>)> {
    let at_build = correlated::current();
    assert_eq!(at_build.as_ref().unwrap(), "impl-1");
    async move { (n + 1, correlated::current()) }
}

#[correlated(id = "boxed-1")]
fn boxed_future<'a>(
    name: &'a str,
) -> Pin<Box<dyn Future<Output = Option<CorrelationId>> + Send + 'a>> {
    let _unused = name.len();
    Box::pin(async move {
        assert_eq!(name, "x");
        correlated::current()
    })
}

struct Service;

impl Service {
    #[correlated(id = "method-1")]
    fn call(&self) -> impl Future<Output = Option<CorrelationId>> + '_ {
        async { correlated::current() }
    }
}

fn main() {
    let future = impl_future(1);
    let boxed = boxed_future("x");
    let method = Service.call();
    assert_eq!(correlated::current(), None);
    let (n, seen) = futures::executor::block_on(future);
    assert_eq!(n, 2);
    assert_eq!(seen.unwrap(), "impl-1");
    assert_eq!(futures::executor::block_on(boxed).unwrap(), "boxed-1");
    assert_eq!(futures::executor::block_on(method).unwrap(), "method-1");
}
