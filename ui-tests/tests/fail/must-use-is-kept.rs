#![deny(unused_must_use)]

use correlated::correlated;

#[must_use = "the total is the point"]
#[correlated]
fn total() -> u32 {
    1
}

#[correlated]
#[must_use]
async fn total_later() -> u32 {
    2
}

fn main() {
    total();
    let _ = async {
        total_later().await;
    };
}
