#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use std::future::Future;
use std::pin::Pin;

use correlated::correlated;

fn spawn_work(n: u32) -> impl Future<Output = u32> {
    let __correlate_context = ::correlated::__private::inherit();
    match {
        super let mut pinned =
                ::correlated::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    } {
        __correlate_frame => {
            ::correlated::__private::enter(__correlate_frame.as_ref());
            {
                let doubled = n * 2;
                ::correlated::__private::in_current_context(async move { doubled + 1 })
            }
        }
    }
}
fn boxed_work(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    let __correlate_context = ::correlated::__private::inherit();
    match {
        super let mut pinned =
                ::correlated::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    } {
        __correlate_frame => {
            ::correlated::__private::enter(__correlate_frame.as_ref());
            {
                Box::pin(::correlated::__private::in_current_context(
                    async move { n },
                ))
            }
        }
    }
}
fn main() {}
