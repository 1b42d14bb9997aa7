// `#![..]` stays first in the body and covers the whole function.
#![deny(unused_variables)]

use correlated::correlated;

#[correlated]
fn sync_with_inner(unused: u32) -> u32 {
    #![allow(unused_variables)]
    let also_unused = 1;
    2
}

#[correlated]
async fn async_with_inner(unused: u32) -> u32 {
    #![allow(unused_variables)]
    let also_unused = 1;
    3
}

fn main() {
    assert_eq!(sync_with_inner(0), 2);
    assert_eq!(futures::executor::block_on(async_with_inner(0)), 3);
}
