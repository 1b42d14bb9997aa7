use correlated::correlated;

struct Service {
    calls: u32,
}

impl Service {
    #[correlated(id = request_id)]
    async fn call(&mut self, request_id: &str) -> u32 {
        self.calls += 1;
        self.calls
    }
}

fn main() {}
