// Type and const generics, lifetimes and `where` clauses.
use std::fmt::Display;

use correlated::correlated;

#[correlated]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[correlated]
fn describe<T, const N: usize>(items: [T; N]) -> String
where
    T: Display,
{
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[correlated]
async fn first<'a, T>(items: &'a [T]) -> Option<&'a T>
where
    T: Sync,
{
    items.first()
}

struct Wrapper<T>(T);

impl<T: Clone> Wrapper<T> {
    #[correlated]
    fn get<U: From<T>>(&self) -> U {
        U::from(self.0.clone())
    }
}

fn main() {
    assert_eq!(longest("abc", "de"), "abc");
    assert_eq!(describe([1, 2, 3]), "1,2,3");
    assert_eq!(futures::executor::block_on(first(&[7, 8])), Some(&7));
    assert_eq!(Wrapper(3u8).get::<u32>(), 3);
}
