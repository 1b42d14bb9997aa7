use std::future::Future;
use std::pin::Pin;

use correlated::correlated;

async fn work() -> u32 {
    1
}

// The scope could not follow a future built elsewhere.
#[correlated]
fn delegates() -> impl Future<Output = u32> {
    work()
}

#[correlated]
fn boxes_elsewhere() -> Pin<Box<dyn Future<Output = u32>>> {
    let future = Box::pin(async { 1 });
    future
}

fn main() {
    let _ = delegates();
    let _ = boxes_elsewhere();
}
