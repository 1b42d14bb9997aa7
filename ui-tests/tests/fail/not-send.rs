use std::rc::Rc;

use correlated::correlated;

fn assert_send<T: Send>(_: T) {}

async fn tick() {}

// A body that is not `Send` makes the function not `Send`, and the error says
// why in the user's terms.
#[correlated]
async fn holds_rc() {
    let rc = Rc::new(1);
    tick().await;
    drop(rc);
}

fn main() {
    assert_send(holds_rc());
}
