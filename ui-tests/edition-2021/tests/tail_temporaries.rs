//! Before edition 2024, the temporaries of a function's tail expression are
//! dropped after the function's locals. A sync `#[correlated]` fn must still
//! drop them inside its context, so that a drop guard in the tail sees the
//! function's ID, not the caller's (docs/semantics.md, Promise 13).

use std::cell::RefCell;

use correlated::correlated;

thread_local! {
    static SEEN_ON_DROP: RefCell<Vec<Option<String>>> = const { RefCell::new(Vec::new()) };
}

/// Records the ID current when it is dropped, like a guard that logs.
struct LogOnDrop;

impl LogOnDrop {
    fn work(&self) -> usize {
        1
    }
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        let id = correlated::current().map(|id| id.to_string());
        SEEN_ON_DROP.with(|seen| seen.borrow_mut().push(id));
    }
}

fn seen_on_drop() -> Vec<Option<String>> {
    SEEN_ON_DROP.with(|seen| seen.take())
}

#[correlated(id = "inner")]
fn temporary_in_the_tail() -> usize {
    LogOnDrop.work()
}

fn ignore(_: usize) {}

#[correlated(id = "inner")]
fn temporary_in_a_unit_tail() {
    LogOnDrop.work();
    ignore(LogOnDrop.work())
}

#[correlated(id = "inner")]
fn temporary_in_an_impl_trait_tail() -> impl Iterator<Item = usize> {
    std::iter::once(LogOnDrop.work())
}

#[correlated(id = "inner")]
fn temporary_borrowed_by_the_tail(text: &str) -> &str {
    &text[..LogOnDrop.work()]
}

// With `span`, the entered span sits in the tail's `match` beside the frame.
#[correlated(span, id = "inner")]
fn temporary_in_a_spanned_tail() -> usize {
    LogOnDrop.work()
}

fn under_outer<R>(f: impl FnOnce() -> R) -> R {
    let _outer = correlated::scope("outer".parse().unwrap());
    f()
}

#[test]
fn temporaries_in_a_sync_tail_are_dropped_in_the_functions_context() {
    assert_eq!(under_outer(temporary_in_the_tail), 1);
    assert_eq!(seen_on_drop(), [Some("inner".to_owned())]);
}

#[test]
fn temporaries_in_a_unit_tail_are_dropped_in_the_functions_context() {
    under_outer(temporary_in_a_unit_tail);
    assert_eq!(seen_on_drop(), vec![Some("inner".to_owned()); 2]);
}

#[test]
fn temporaries_in_an_impl_trait_tail_are_dropped_in_the_functions_context() {
    assert_eq!(
        under_outer(temporary_in_an_impl_trait_tail).sum::<usize>(),
        1
    );
    assert_eq!(seen_on_drop(), [Some("inner".to_owned())]);
}

#[test]
fn temporaries_in_a_borrowing_tail_are_dropped_in_the_functions_context() {
    assert_eq!(under_outer(|| temporary_borrowed_by_the_tail("abc")), "a");
    assert_eq!(seen_on_drop(), [Some("inner".to_owned())]);
}

#[test]
fn temporaries_in_a_spanned_tail_are_dropped_in_the_functions_context() {
    assert_eq!(under_outer(temporary_in_a_spanned_tail), 1);
    assert_eq!(seen_on_drop(), [Some("inner".to_owned())]);
}
