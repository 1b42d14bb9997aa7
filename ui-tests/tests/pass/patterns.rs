// Destructuring and `mut` patterns in arguments.
use correlated::correlated;

struct Point {
    x: i32,
    y: i32,
}

#[correlated]
fn sum((a, b): (i32, i32), Point { x, y }: Point) -> i32 {
    a + b + x + y
}

#[correlated]
fn countdown(mut n: u32) -> u32 {
    let mut steps = 0;
    while n > 0 {
        n -= 1;
        steps += 1;
    }
    steps
}

#[correlated]
async fn push(mut items: Vec<u32>, [first, _]: [u32; 2], _: ()) -> Vec<u32> {
    items.push(first);
    items
}

fn main() {
    assert_eq!(sum((1, 2), Point { x: 3, y: 4 }), 10);
    assert_eq!(countdown(3), 3);
    assert_eq!(
        futures::executor::block_on(push(vec![1], [2, 3], ())),
        [1, 2]
    );
}
