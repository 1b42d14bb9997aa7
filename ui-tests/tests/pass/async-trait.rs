// Methods of `#[async_trait]` impls (and trait defaults): the attribute sees
// the `Box::pin(async move { .. })` they are rewritten to.
use async_trait::async_trait;
use correlated::{CorrelationId, correlated};

#[async_trait]
trait Handler {
    async fn handle(&self, input: u32) -> Result<u32, String>;

    #[correlated(id = "default-1")]
    async fn current(&self) -> Option<CorrelationId> {
        correlated::current()
    }
}

struct Doubler;

#[async_trait]
impl Handler for Doubler {
    #[correlated(id = format!("req-{input}"))]
    async fn handle(&self, input: u32) -> Result<u32, String> {
        if input == 0 {
            return Err("zero".to_owned());
        }
        let id = correlated::current().ok_or("no id")?;
        assert_eq!(id.as_str(), format!("req-{input}"));
        Ok(input * 2)
    }
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(Doubler.handle(2).await, Ok(4));
        assert_eq!(Doubler.handle(0).await, Err("zero".to_owned()));
        assert_eq!(Doubler.current().await.unwrap(), "default-1");
    });
    assert_eq!(correlated::current(), None);
}
