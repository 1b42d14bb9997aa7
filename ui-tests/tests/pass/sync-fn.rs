// A plain `fn` sees its ID until it returns.
use correlated::{CorrelationId, correlated};

#[correlated]
fn handle(input: u32) -> (u32, Option<CorrelationId>) {
    (input * 2, correlated::current())
}

#[correlated]
fn nothing() {}

fn main() {
    let (output, seen) = handle(21);
    assert_eq!(output, 42);
    assert!(seen.is_some());
    nothing();
    assert_eq!(correlated::current(), None);
}
