use correlated::correlated;

// The span's name is a string literal, not a number or a path.
#[correlated(span = 3)]
fn number() {}

#[correlated(span = checkout)]
fn path() {}

fn main() {
    number();
    path();
}
