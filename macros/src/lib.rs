//! The `#[correlated]` attribute. Use it through the `correlate` crate.

use proc_macro::TokenStream;

/// Placeholder until the attribute lands: emits the item unchanged.
#[proc_macro_attribute]
pub fn correlated(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
