use std::future::Future;
use std::pin::Pin;

use correlated::correlated;

#[correlated]
fn spawn_work(n: u32) -> impl Future<Output = u32> {
    let doubled = n * 2;
    async move { doubled + 1 }
}

#[correlated]
fn boxed_work(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move { n })
}

fn main() {}
