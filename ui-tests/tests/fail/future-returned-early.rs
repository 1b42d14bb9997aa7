use std::future::Future;
use std::pin::Pin;

use correlated::correlated;

#[correlated]
fn early(cached: Option<u32>) -> Pin<Box<dyn Future<Output = u32>>> {
    if let Some(value) = cached {
        return Box::pin(async move { value });
    }
    Box::pin(async {
        // A `return` inside the future is fine.
        return 1;
    })
}

fn main() {
    let _ = early(None);
}
