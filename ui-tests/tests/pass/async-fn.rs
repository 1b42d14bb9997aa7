// An `async fn` sees its ID before and after an `.await`; the caller does not.
use correlated::{CorrelationId, correlated};

async fn tick() {}

#[correlated]
async fn handle(input: u32) -> (u32, Option<CorrelationId>, Option<CorrelationId>) {
    let before = correlated::current();
    tick().await;
    (input + 1, before, correlated::current())
}

fn main() {
    let (output, before, after) = futures::executor::block_on(handle(1));
    assert_eq!(output, 2);
    assert!(before.is_some());
    assert_eq!(before, after);
    assert_eq!(correlated::current(), None);
}
