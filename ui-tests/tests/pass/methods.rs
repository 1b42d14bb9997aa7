// Every kind of receiver, sync and async.
use correlated::correlated;

struct Counter {
    count: u32,
}

impl Counter {
    #[correlated]
    fn by_ref(&self) -> u32 {
        self.count
    }

    #[correlated]
    fn by_mut(&mut self) -> u32 {
        self.count += 1;
        self.count
    }

    #[correlated]
    fn by_value(self) -> u32 {
        self.count
    }

    #[allow(clippy::boxed_local)] // the receiver shape is what is tested
    #[correlated]
    fn boxed(self: Box<Self>) -> u32 {
        self.count
    }

    #[correlated]
    async fn async_by_ref(&self) -> u32 {
        self.count
    }

    #[correlated]
    async fn async_by_mut(&mut self) -> u32 {
        self.count += 1;
        self.count
    }

    #[correlated]
    async fn async_by_value(self) -> u32 {
        self.count
    }

    #[correlated]
    async fn async_boxed(self: Box<Self>) -> u32 {
        self.count
    }

    #[correlated]
    fn associated() -> Self {
        Self { count: 0 }
    }
}

fn main() {
    let mut counter = Counter::associated();
    assert_eq!(counter.by_mut(), 1);
    assert_eq!(counter.by_ref(), 1);
    futures::executor::block_on(async {
        assert_eq!(counter.async_by_mut().await, 2);
        assert_eq!(counter.async_by_ref().await, 2);
        assert_eq!(Box::new(Counter { count: 3 }).async_boxed().await, 3);
        assert_eq!(Counter { count: 4 }.async_by_value().await, 4);
    });
    assert_eq!(Box::new(Counter { count: 5 }).boxed(), 5);
    assert_eq!(counter.by_value(), 2);
}
