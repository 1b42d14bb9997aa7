// An annotated `async fn` is `Send` when its body is.
use correlated::correlated;

fn assert_send<T: Send>(_: T) {}

correlated::slot! {
    static USER_ID: String;
}

async fn tick() {}

#[correlated]
async fn handle(input: String) -> usize {
    tick().await;
    input.len()
}

#[correlated(id = request_id, USER_ID = "alice")]
async fn with_arguments(request_id: &str) -> usize {
    let local = String::from("kept across the await");
    tick().await;
    local.len() + request_id.len()
}

struct Service;

impl Service {
    #[correlated(fresh)]
    async fn call(&self) {
        tick().await;
    }
}

fn main() {
    assert_send(handle(String::new()));
    assert_send(with_arguments("req-1"));
    assert_send(Service.call());
}
