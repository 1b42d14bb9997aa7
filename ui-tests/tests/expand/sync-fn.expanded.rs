#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use correlated::correlated;

fn first_word(text: &str) -> &str {
    let __correlate_context = ::correlated::__private::inherit();
    match {
        super let mut pinned =
                ::correlated::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    } {
        __correlate_frame => {
            ::correlated::__private::enter(__correlate_frame.as_ref());
            {
                text.split(' ').next().unwrap_or(text)
            }
        }
    }
}
fn main() {}
