//! Stage 3: the generated code.
//!
//! Every call builds a `Context` at entry from the helpers in
//! `correlated::__private` (`inherit`, `fresh`, `explicit`, `bind`), then:
//!
//! - an `async fn` runs its body as a future that carries the context
//!   (`wrap`): the context is current only while the body is polled;
//! - a plain `fn` enters the context until a pinned frame drops (`frame`,
//!   `enter`);
//! - a plain `fn` that ends with `async { .. }` or `Box::pin(async { .. })`
//!   does both: the frame covers the code that builds the future, and the
//!   future carries the context for its whole life (`in_current_context`).
//!
//! With `span`, a `tracing` span is made after the context (`span_id`,
//! `span_value` give its fields) and is entered wherever the context is:
//! inside the future's frame for every poll (`wrap_in_span`,
//! `in_current_context_in_span`), and for a plain `fn` beside its frame
//! (`enter_span`). Those helpers exist only with the runtime's `tracing`
//! feature, which `args` checks for.
//!
//! Spans: the user's tokens keep their spans, so type errors in the body and
//! in argument expressions point at the user's code. Generated locals are
//! `Span::mixed_site()`, invisible to the user's code and unable to shadow it.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Block, Expr, Ident, LitStr, Path, ReturnType, Type, parse_quote};

use crate::args::{Args, Errors, IdSource, SlotBinding, SpanRequest};
use crate::item::{self, Function, Shape};

// Input:  the attribute's arguments and the item it is on.
// Output: the wrapped function, or every error found in either.
pub(crate) fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    match (Args::parse(args), Function::parse(item)) {
        (Ok(args), Ok(function)) => Ok(expand(&args, function)),
        (args, function) => {
            let mut errors = Errors::default();
            for error in [args.err(), function.err()].into_iter().flatten() {
                errors.push(error);
            }
            errors.finish().map(|()| TokenStream::new())
        }
    }
}

// Input:  #[attrs] vis fn name(args) -> Ret { #![inner] body }
// Output: #[attrs] vis fn name(args) -> Ret { #![inner] <context> <shape-specific body> }
fn expand(args: &Args, function: Function) -> TokenStream {
    let krate: Path = args
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::correlated));
    let Function {
        attrs,
        inner_attrs,
        vis,
        sig,
        body,
        shape,
    } = function;
    let context = context(args, &krate);
    let span = args
        .span
        .as_ref()
        .map(|request| span(args, request, &krate, &sig.ident));
    let spanned = span.is_some();
    let brace = body.brace_token;
    let body = match shape {
        Shape::Async => async_body(&krate, &sig.output, &body, spanned),
        Shape::Sync => sync_body(&krate, &body, spanned),
        Shape::ReturnsFuture => future_body(&krate, body, spanned),
    };
    let mut tokens = quote! {
        #(#attrs)*
        #vis #sig
    };
    // The function's own braces keep their span: "expected `T` because of
    // return type" notes point at the user's body.
    brace.surround(&mut tokens, |tokens| {
        tokens.extend(quote! {
            #(#inner_attrs)*
            #context
            #span
            #body
        });
    });
    tokens
}

/// The local that holds the context being built. Mixed-site: the user's
/// expressions can neither see nor shadow it.
fn context_ident() -> Ident {
    Ident::new("__correlate_context", Span::mixed_site())
}

// Input:  (id = req.id(), USER_ID = user)
// Output: let __correlate_context = ::correlated::__private::explicit(req.id());
//         let __correlate_context = ::correlated::__private::bind(__correlate_context, &USER_ID, user);
fn context(args: &Args, krate: &Path) -> TokenStream {
    let ctx = context_ident();
    let start = match &args.id {
        IdSource::Inherit => quote!(#krate::__private::inherit()),
        IdSource::Fresh => quote!(#krate::__private::fresh()),
        IdSource::Explicit(id) => quote!(#krate::__private::explicit(#id)),
    };
    let bindings = args.slots.iter().map(|SlotBinding { slot, value }| {
        // `&` on the slot's span: "expected `&Slot<_>`" lands on the name.
        let slot = quote_spanned!(slot.span()=> &#slot);
        quote!(let #ctx = #krate::__private::bind(#ctx, #slot, #value);)
    });
    quote! {
        let #ctx = #start;
        #(#bindings)*
    }
}

/// The local that holds the span of `span`; mixed-site, like the context.
fn span_ident() -> Ident {
    Ident::new("__correlate_span", Span::mixed_site())
}

// Input:  (span, USER_ID = user) on `fn load`, or (span = "name", ..)
// Output: let __correlate_span = ::correlated::__private::tracing::span!(
//             ::correlated::__private::tracing::Level::INFO,
//             "load",
//             "correlation_id" = ::correlated::__private::span_id(&__correlate_context),
//             "user_id" = ::correlated::__private::span_value(&__correlate_context, &USER_ID),
//         );
//
// Named and levelled as `#[instrument]` names its spans (the function, INFO),
// with the target of the user's module (`span!`'s default). The fields are
// read from the context being entered, after the bindings, so they hold the
// values the body sees; each slot is a field under its name in lower case,
// as the logging integrations write it.
fn span(args: &Args, request: &SpanRequest, krate: &Path, function: &Ident) -> TokenStream {
    let ctx = context_ident();
    let span = span_ident();
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&function.unraw().to_string(), function.span()));
    let slots = args.slots.iter().map(|SlotBinding { slot, .. }| {
        let last = &slot
            .segments
            .last()
            .expect("a parsed path has a segment")
            .ident;
        let field = LitStr::new(&last.unraw().to_string().to_lowercase(), last.span());
        // The whole call on the slot's span: a slot whose type is not
        // `Display` is reported once, at its name.
        let at_slot = respan(krate.to_token_stream(), slot.span());
        let value = quote_spanned!(slot.span()=> #at_slot::__private::span_value(&#ctx, &#slot));
        quote!(#field = #value,)
    });
    // `span!` and its paths resolve at the keyword, so an error in them (a
    // runtime without `__private::tracing`) points at `span`.
    let tracing = quote_spanned!(request.keyword.span()=> #krate::__private::tracing);
    quote! {
        let #span = #tracing::span!(
            #tracing::Level::INFO,
            #name,
            "correlation_id" = #krate::__private::span_id(&#ctx),
            #(#slots)*
        );
    }
}

/// `tokens` with every token, nested ones too, located at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}

// Input:  async fn f(..) -> Ret { body }
// Output: async fn f(..) -> Ret {
//             <context>
//             ::correlated::__private::wrap(__correlate_context, async move { body }).await
//         }
//
// The function stays `async`, so the context is built when the body starts
// (its first poll), exactly when an unwrapped body would start running. The
// inner block is `async move`: it takes the arguments, as the body did.
//
// With `span`: `::correlated::__private::wrap_in_span(__correlate_context,
// __correlate_span, async move { body }).await`, the span entered inside the
// context for every poll.
fn async_body(krate: &Path, output: &ReturnType, body: &Block, spanned: bool) -> TokenStream {
    let ctx = context_ident();
    let future = match fake_return(output) {
        Some(edge) => quote!(async move { #edge #body }),
        None => quote!(async move #body),
    };
    if spanned {
        let span = span_ident();
        quote!(#krate::__private::wrap_in_span(#ctx, #span, #future).await)
    } else {
        quote!(#krate::__private::wrap(#ctx, #future).await)
    }
}

// Input:  -> Ret
// Output: a never-taken `return` of type `Ret` at the top of the async block.
//
// Without it the async block infers its output from the body alone, so a
// `return Err(Box::new(e))` in a `-> Result<_, Box<dyn Error>>` body would no
// longer coerce, and `?` could not pick its error type from `Ret`. The
// signature's return type is known before the body is checked; this makes the
// block's output known just as early (tracing-attributes' "fake return edge",
// tokio-rs/tracing#2270). It is written outside the user's block so that
// `use` items in the body cannot change what `Ret` names.
//
// Skipped where `Ret` cannot be named in an expression (`impl Trait`) or says
// nothing (`()`), and for `!`, which is unstable as a type argument.
fn fake_return(output: &ReturnType) -> Option<TokenStream> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let unit = matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty());
    if unit || matches!(&**ty, Type::Never(_)) || item::contains_impl_trait(ty) {
        return None;
    }
    // Located at the return type, so "return type inferred to be `Ret` here"
    // points at it; resolved as macro code, so lints leave it alone.
    let span = Span::call_site().located_at(ty.span());
    let ret = Ident::new(
        "__correlate_return",
        Span::mixed_site().located_at(ty.span()),
    );
    Some(quote_spanned! {span=>
        if let ::core::option::Option::Some(#ret) = ::core::option::Option::None::<#ty> {
            return #ret;
        }
    })
}

// Input:  fn f(..) -> Ret { body }
// Output: fn f(..) -> Ret {
//             <context>
//             match ::core::pin::pin!(::correlated::__private::frame(__correlate_context)) {
//                 __correlate_frame => {
//                     ::correlated::__private::enter(__correlate_frame.as_ref());
//                     { body }
//                 }
//             }
//         }
//
// A pinned frame, left when it drops, never a closure: a closure could not
// return borrows of the arguments (tokio-rs/tracing#2796), and `return` and
// `?` in the body would leave the closure instead of the function. Pinned,
// the frame stays where the thread can point at it until its `Drop` runs
// (runtime `current.rs`). The body stays a block of its own, so its `use`
// items do not reach the generated lines, and its locals are dropped while
// the frame is still current.
//
// The frame is a temporary of the function's tail, not a local: before
// edition 2024, temporaries of the tail expression (`LogOnDrop::new().work()`)
// are dropped after the function's locals, and they must still see the
// function's context. Temporaries are dropped in reverse order of creation,
// so the body's go first and the frame last, in every edition. The body
// stays the tail, so it is checked against the return type as before.
//
// With `span`, the entered span is a temporary of the tail too, beside the
// frame: `match (::core::pin::pin!(frame(..)), enter_span(&__correlate_span))
// { (__correlate_frame, _) => .. }`, so the body's temporaries are dropped
// inside it in every edition as well.
fn sync_body(krate: &Path, body: &Block, spanned: bool) -> TokenStream {
    let ctx = context_ident();
    let frame = Ident::new("__correlate_frame", Span::mixed_site());
    let pinned = quote!(::core::pin::pin!(#krate::__private::frame(#ctx)));
    let (scrutinee, pattern) = if spanned {
        let span = span_ident();
        (
            quote!((#pinned, #krate::__private::enter_span(&#span))),
            quote!((#frame, _)),
        )
    } else {
        (pinned, quote!(#frame))
    };
    quote! {
        match #scrutinee {
            #pattern => {
                #krate::__private::enter(#frame.as_ref());
                #body
            }
        }
    }
}

// Input:  fn f(..) -> impl Future<Output = T> { stmts; async move { .. } }
//         (or `Box::pin(async move { .. })`, the shape `#[async_trait]` emits)
// Output: fn f(..) -> impl Future<Output = T> {
//             <context>
//             <the frame, as for a plain fn>
//             { stmts; ::correlated::__private::in_current_context(async move { .. }) }
//         }
//
// The frame covers the statements that build the future; the future takes a
// snapshot of the context where it is built, inside the frame, and carries it
// for as long as it lives, however long after the function returned.
//
// With `span`, the statements run in the span as a plain `fn`'s body does,
// and the future carries it too: `in_current_context_in_span(&__correlate_span,
// async move { .. })`.
fn future_body(krate: &Path, mut body: Block, spanned: bool) -> TokenStream {
    if let Some(tail) = item::future_tail_mut(&mut body) {
        let future = std::mem::replace(tail, Expr::Verbatim(TokenStream::new()));
        *tail = Expr::Verbatim(if spanned {
            let span = span_ident();
            quote!(#krate::__private::in_current_context_in_span(&#span, #future))
        } else {
            quote!(#krate::__private::in_current_context(#future))
        });
    }
    sync_body(krate, &body, spanned)
}

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use super::*;

    /// The expansion as text, without spaces: `span!` is not expanded here,
    /// unlike in a `cargo expand` snapshot (ui-tests/tests/expand.rs says why
    /// `span` has none).
    fn expanded(args: TokenStream, item: TokenStream) -> String {
        try_expand(args, item).unwrap().to_string().replace(' ', "")
    }

    #[test]
    fn span_on_an_async_fn_is_made_from_the_context_and_entered_inside_it() {
        let code = expanded(
            quote!(span, USER_ID = user),
            quote!(
                async fn load(user: String) -> u32 {
                    7
                }
            ),
        );
        let span = "let__correlate_span=::correlated::__private::tracing::span!(\
                    ::correlated::__private::tracing::Level::INFO,\"load\",\
                    \"correlation_id\"=::correlated::__private::span_id(&__correlate_context),\
                    \"user_id\"=::correlated::__private::span_value(&__correlate_context,&USER_ID),);";
        assert!(code.contains(span), "{code}");
        let context = code
            .find("let__correlate_context=::correlated::__private::bind")
            .unwrap();
        assert!(
            context < code.find(span).unwrap(),
            "the span reads the bound slots: {code}"
        );
        assert!(
            code.contains(
                "::correlated::__private::wrap_in_span(__correlate_context,__correlate_span,asyncmove"
            ),
            "{code}"
        );
    }

    #[test]
    fn span_on_a_sync_fn_is_entered_beside_the_frame_under_its_given_name() {
        let code = expanded(
            quote!(span = "nightly", fresh),
            quote!(
                fn report() {}
            ),
        );
        assert!(code.contains("Level::INFO,\"nightly\","), "{code}");
        assert!(
            code.contains(
                "match(::core::pin::pin!(::correlated::__private::frame(__correlate_context)),\
                 ::correlated::__private::enter_span(&__correlate_span)){(__correlate_frame,_)=>"
            ),
            "{code}"
        );
    }

    #[test]
    fn span_on_a_fn_returning_a_future_carries_it_into_the_future() {
        let code = expanded(
            quote!(span),
            quote!(
                fn call() -> impl Future<Output = ()> {
                    async {}
                }
            ),
        );
        assert!(
            code.contains(
                "::correlated::__private::in_current_context_in_span(&__correlate_span,async{})"
            ),
            "{code}"
        );
        assert!(code.contains("enter_span(&__correlate_span)"), "{code}");
    }

    #[test]
    fn without_span_nothing_of_tracing_is_named() {
        let code = expanded(
            quote!(fresh),
            quote!(
                async fn job() {}
            ),
        );
        assert!(!code.contains("span"), "{code}");
    }
}
