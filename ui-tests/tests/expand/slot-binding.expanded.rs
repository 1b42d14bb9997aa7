#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use correlated::correlated;

static USER_ID: ::correlated::Slot<String> = ::correlated::Slot::__new("USER_ID");
fn audit(user: &str, action: &str) {
    let __correlate_context = ::correlated::__private::inherit();
    let __correlate_context = ::correlated::__private::bind(__correlate_context, &USER_ID, user);
    match {
        super let mut pinned =
                ::correlated::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    } {
        __correlate_frame => {
            ::correlated::__private::enter(__correlate_frame.as_ref());
            {
                {
                    ::std::io::_print(format_args!("{0}\n", action));
                };
            }
        }
    }
}
fn main() {}
