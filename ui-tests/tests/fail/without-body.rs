use correlated::correlated;

trait Handler {
    #[correlated]
    fn handle(&self) -> u32;
}

struct Impl;

impl Handler for Impl {
    fn handle(&self) -> u32 {
        1
    }
}

fn main() {
    let _ = Impl.handle();
}
