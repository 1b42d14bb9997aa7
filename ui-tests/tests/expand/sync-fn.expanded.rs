#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use correlate::correlated;

fn first_word(text: &str) -> &str {
    let __correlate_context = ::correlate::__private::inherit();
    let __correlate_frame = {
        super let mut pinned =
                ::correlate::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    };
    ::correlate::__private::enter(__correlate_frame.as_ref());
    {
        text.split(' ').next().unwrap_or(text)
    }
}
fn main() {}
