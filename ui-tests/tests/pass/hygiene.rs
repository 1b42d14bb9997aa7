// The expansion uses absolute paths and hidden locals: a module named
// `correlated`, local `Option`/`Result` types and same-named locals break
// nothing.
#![allow(dead_code)]

mod correlated {}

struct Option;
struct Result;
struct Box;

#[allow(non_camel_case_types)]
struct core;

#[::correlated::correlated]
async fn returns_std_result() -> ::std::result::Result<u32, ()> {
    let __correlate_context = 1;
    let __correlate_guard = 2;
    ::std::result::Result::Ok(__correlate_context + __correlate_guard)
}

// The user's `__correlate_context` is the argument, in `id = ..` and in the
// body alike.
#[::correlated::correlated(id = __correlate_context)]
fn sync_with_locals(__correlate_context: &str) -> ::std::option::Option<usize> {
    let __correlate_guard = __correlate_context.len();
    assert_eq!(::correlated::current().unwrap(), __correlate_context);
    ::std::option::Option::Some(__correlate_guard)
}

fn main() {
    let _ = (Option, Result, Box, core);
    let value = ::futures::executor::block_on(returns_std_result());
    assert_eq!(value, ::std::result::Result::Ok(3));
    assert_eq!(sync_with_locals("abcd"), ::std::option::Option::Some(4));
}
