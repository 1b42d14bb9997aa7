use correlated::correlated;

// Every bad argument is reported, not just the first.
#[correlated(ids = 1, fresh, id = 2, fresh, crate)]
fn many() {}

// Bad arguments on a bad item: both are reported.
#[correlated(freshh)]
const fn both() {}

fn main() {
    many();
    both();
}
