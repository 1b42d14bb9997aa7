#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use correlate::correlated;

static USER_ID: ::correlate::Slot<String> = ::correlate::Slot::__new("USER_ID");
fn audit(user: &str, action: &str) {
    let __correlate_context = ::correlate::__private::inherit();
    let __correlate_context = ::correlate::__private::bind(__correlate_context, &USER_ID, user);
    let __correlate_frame = {
        super let mut pinned =
                ::correlate::__private::frame(__correlate_context);
        unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
    };
    ::correlate::__private::enter(__correlate_frame.as_ref());
    {
        {
            ::std::io::_print(format_args!("{0}\n", action));
        };
    }
}
fn main() {}
