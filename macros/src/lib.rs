//! The `#[correlated]` attribute. Use it through the `correlated` crate, which
//! re-exports it as `correlated::correlated`.
//!
//! The stages: `args` parses the attribute's arguments, `item` checks and
//! models the function, `expand` writes the wrapped function. The generated
//! code only names `correlated::__private`.

mod args;
mod expand;
mod item;

use proc_macro::TokenStream;

/// Runs a function in its own correlation context.
///
/// Each call gets a context of its own: the correlation ID (and any slots
/// bound here) is current for the whole body, before and after every
/// `.await`, and is restored when the call ends, whether it returns, returns
/// an error, panics or, for futures, is dropped. Values set inside never
/// reach the caller.
///
/// # Arguments
///
/// ```text
/// #[correlated]                      inherit the caller's ID, else generate one
/// #[correlated(fresh)]               always generate a new ID (a new root: jobs)
/// #[correlated(id = EXPR)]           any `IntoCorrelationId`; missing or invalid → generated
/// #[correlated(USER_ID = EXPR)]      bind a slot declared with `correlated::slot!`
/// #[correlated(path::TO::SLOT = EXPR)]   the same, naming the slot by path
/// #[correlated(span)]                also run the body in a `tracing` span (feature `tracing`)
/// #[correlated(span = "name")]       the same, with another name than the function's
/// #[correlated(crate = path)]        where the `correlated` crate is (default `::correlated`)
/// ```
///
/// `span` makes a span as `#[instrument]` does (named after the function,
/// level `INFO`, target the module) with `correlation_id` and the slots
/// bound here (under their names in lower case) as fields, and enters it
/// wherever the context is current: every poll of an `async` body, a whole
/// synchronous body, and the returned future of a function that returns one.
/// Every layer of the subscriber (tracing-opentelemetry included) then sees
/// the ID in the span context. It needs `correlated`'s `tracing` feature, and
/// a slot bound with it must be `Display`.
///
/// Arguments combine, separated by commas (`fresh` and `id` excepted). `EXPR`
/// may use the function's arguments; it is evaluated when the body starts
/// (for an `async fn`, at its first poll). A slot's `EXPR` is converted with
/// `Into` to the slot's type.
///
/// # Examples
///
/// ```
/// use correlated::{CorrelationId, correlated};
///
/// correlated::slot! { static USER_ID: String; }
///
/// #[correlated]
/// async fn handle() -> Option<CorrelationId> {
///     correlated::current() // the caller's ID, or a new one
/// }
///
/// #[correlated(id = request_id, USER_ID = user)]
/// fn load(request_id: &str, user: &str) -> (String, String) {
///     let id = correlated::current().unwrap();
///     (id.to_string(), USER_ID.get().unwrap())
/// }
///
/// #[correlated(fresh)]
/// fn job() -> bool {
///     correlated::current().is_some()
/// }
///
/// assert!(futures::executor::block_on(handle()).is_some());
/// assert_eq!(load("req-1", "alice"), ("req-1".to_owned(), "alice".to_owned()));
/// assert!(job());
/// assert_eq!(correlated::current(), None); // nothing leaks to the caller
/// ```
///
/// Methods, generics, `impl Trait` arguments, trait impls (native `async fn`
/// and `#[async_trait]`), and functions that return `async { .. }` or
/// `Box::pin(async { .. })` as their last expression are supported: for the
/// latter the returned future carries the context for its whole life.
///
/// # Errors
///
/// A compile error, on the offending token, for an unknown, duplicate or
/// valueless argument, `fresh` with `id`, a lower-case slot name, a span name
/// that is not a string, `span` without the `tracing` feature, and use on
/// anything but a function with a body that is not `const` or `extern "C"`.
#[proc_macro_attribute]
pub fn correlated(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::try_expand(args.into(), item.clone()) {
        Ok(expanded) => expanded.into(),
        // The original item is kept, so the error is the only one: nothing
        // that uses the function breaks for want of it.
        Err(error) => {
            let mut tokens = item;
            tokens.extend(error.into_compile_error());
            tokens.into()
        }
    }
}
