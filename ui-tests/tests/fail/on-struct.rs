use correlated::correlated;

#[correlated]
pub struct Handler {
    pub id: u32,
}

#[correlated]
impl Handler {}

fn main() {
    // The item is still emitted: no "cannot find" errors follow.
    let _ = Handler { id: 1 };
}
