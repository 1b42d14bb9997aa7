#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use std::future::Future;
use std::pin::Pin;

use correlate::correlated;

fn spawn_work(n: u32) -> impl Future<Output = u32> {
    let __correlate_context = ::correlate::__private::inherit();
    let __correlate_frame = {
        super let mut pinned =
                ::correlate::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    };
    ::correlate::__private::enter(__correlate_frame.as_ref());
    {
        let doubled = n * 2;
        ::correlate::__private::in_current_context(async move { doubled + 1 })
    }
}
fn boxed_work(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    let __correlate_context = ::correlate::__private::inherit();
    let __correlate_frame = {
        super let mut pinned =
                ::correlate::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    };
    ::correlate::__private::enter(__correlate_frame.as_ref());
    {
        Box::pin(::correlate::__private::in_current_context(async move { n }))
    }
}
fn main() {}
