// Native `async fn` in a trait impl, including one the trait requires `Send`.
use std::future::Future;

use correlated::{CorrelationId, correlated};

trait Handler {
    async fn handle(&self, input: u32) -> u32;

    fn handle_send(&self) -> impl Future<Output = Option<CorrelationId>> + Send;
}

struct Doubler;

impl Handler for Doubler {
    #[correlated]
    async fn handle(&self, input: u32) -> u32 {
        input * 2
    }

    #[correlated(id = "job-1")]
    async fn handle_send(&self) -> Option<CorrelationId> {
        correlated::current()
    }
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(Doubler.handle(2).await, 4);
        assert_eq!(Doubler.handle_send().await.unwrap(), "job-1");
    });
}
