// `impl Trait` in argument and return position.
use std::fmt::Display;

use correlated::correlated;

#[correlated]
fn show(value: impl Display) -> String {
    value.to_string()
}

#[correlated]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[correlated]
async fn total(values: impl IntoIterator<Item = u32>) -> impl Display {
    values.into_iter().sum::<u32>()
}

fn main() {
    assert_eq!(show(5), "5");
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    let sum = futures::executor::block_on(total([1, 2, 3]));
    assert_eq!(sum.to_string(), "6");
}
