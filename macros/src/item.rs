//! Stage 2: the annotated item, checked and modelled as a [`Function`].
//!
//! Anything `#[correlated]` cannot wrap correctly is rejected here, on the
//! offending token: an item that is not a function, a declaration without a
//! body, a `const fn`, a foreign ABI, and a function returning a future whose
//! future the scope could not follow.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::visit::{self, Visit};
use syn::{
    AttrStyle, Attribute, Block, Expr, ExprReturn, GenericArgument, Item, ItemFn, PathArguments,
    ReturnType, Signature, Stmt, Token, Type, TypeParamBound, Visibility,
};

use crate::args::Errors;

/// A function that `#[correlated]` can wrap, split the way it is re-emitted.
pub(crate) struct Function {
    /// Outer attributes (`#[must_use]`, docs, cfgs), kept in order.
    pub(crate) attrs: Vec<Attribute>,
    /// `#![..]` attributes of the body: they must stay first in it.
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Block,
    pub(crate) shape: Shape,
}

/// How the function does its work, which decides how its scope is kept.
pub(crate) enum Shape {
    /// `async fn`: the body's future carries the context.
    Async,
    /// A plain `fn`: the context is current until the body returns.
    Sync,
    /// A plain `fn` whose last expression is the future that does the work,
    /// `async { .. }` or `Box::pin(async { .. })` (also what `#[async_trait]`
    /// turns an `async fn` into): that future must carry the context too.
    ReturnsFuture,
}

impl Function {
    // Input:  the tokens the attribute is on.
    // Output: a `Function`, or every reason it cannot be wrapped.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Self> {
        match syn::parse2::<Item>(tokens.clone())? {
            Item::Fn(item) => Self::validate(item),
            Item::Verbatim(verbatim) => match Parser::parse2(bodyless_fn, verbatim) {
                Ok(semi) => Err(syn::Error::new(
                    semi.span,
                    "`#[correlated]` needs a function body; use it on the implementation, \
                     not on the declaration",
                )),
                Err(_) => Err(not_a_function(tokens)),
            },
            _ => Err(not_a_function(tokens)),
        }
    }

    fn validate(item: ItemFn) -> syn::Result<Self> {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = item;
        let mut errors = Errors::default();
        if let Some(constness) = &sig.constness {
            errors.push(syn::Error::new(
                constness.span,
                "`#[correlated]` cannot be used on a `const fn`",
            ));
        }
        if let Some(abi) = &sig.abi
            && abi.name.as_ref().is_none_or(|name| name.value() != "Rust")
        {
            errors.push(syn::Error::new_spanned(
                abi,
                format!(
                    "`#[correlated]` cannot be used on an `{}` fn",
                    abi.to_token_stream()
                ),
            ));
        }
        let shape = if sig.asyncness.is_some() {
            Shape::Async
        } else if future_tail(&block).is_some() {
            for early in early_returns(&block) {
                errors.push(syn::Error::new(
                    early,
                    "`#[correlated]` cannot follow a future returned early; \
                     return it as the last expression",
                ));
            }
            Shape::ReturnsFuture
        } else if let ReturnType::Type(_, ty) = &sig.output
            && is_future(ty)
        {
            let at = match block.stmts.last() {
                Some(Stmt::Expr(tail, None)) => tail.to_token_stream(),
                _ => ty.to_token_stream(),
            };
            errors.push(syn::Error::new_spanned(
                at,
                "`#[correlated]` on a function returning a future needs `async { ... }` \
                 or `Box::pin(async { ... })` as its last expression",
            ));
            Shape::Sync
        } else {
            Shape::Sync
        };
        errors.finish()?;
        let (inner_attrs, attrs) = attrs
            .into_iter()
            .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
        Ok(Self {
            attrs,
            inner_attrs,
            vis,
            sig,
            body: *block,
            shape,
        })
    }
}

/// `fn name(..);`: a declaration in a trait or an `extern` block. Returns
/// where its body should have been.
fn bodyless_fn(input: ParseStream) -> syn::Result<Token![;]> {
    input.call(Attribute::parse_outer)?;
    input.parse::<Visibility>()?;
    input.parse::<Signature>()?;
    input.parse()
}

/// The error for a struct, impl, static...: on its keyword, after any
/// attributes and visibility.
fn not_a_function(tokens: TokenStream) -> syn::Error {
    let keyword = |input: ParseStream| {
        input.call(Attribute::parse_outer)?;
        input.parse::<Visibility>()?;
        let span = input.span();
        input.parse::<TokenStream>()?;
        Ok(span)
    };
    let span = Parser::parse2(keyword, tokens).unwrap_or_else(|_| Span::call_site());
    syn::Error::new(span, "`#[correlated]` can only be used on a `fn`")
}

/// The future a [`Shape::ReturnsFuture`] body ends with: the `async` block
/// itself, or the one inside `Box::pin(..)`.
pub(crate) fn future_tail(block: &Block) -> Option<&Expr> {
    let Some(Stmt::Expr(tail, None)) = block.stmts.last() else {
        return None;
    };
    match tail {
        Expr::Async(_) => Some(tail),
        Expr::Call(call) if is_box_pin(&call.func) && call.args.len() == 1 => call
            .args
            .first()
            .filter(|arg| matches!(arg, Expr::Async(_))),
        _ => None,
    }
}

/// [`future_tail`], to be rewritten.
pub(crate) fn future_tail_mut(block: &mut Block) -> Option<&mut Expr> {
    future_tail(block)?;
    match block.stmts.last_mut() {
        Some(Stmt::Expr(Expr::Call(call), None)) => call.args.first_mut(),
        Some(Stmt::Expr(tail, None)) => Some(tail),
        _ => None,
    }
}

/// `Box::pin`, however much of its path is written.
fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let mut segments = path.path.segments.iter().rev();
    matches!(
        (segments.next(), segments.next()),
        (Some(pin), Some(boxed)) if pin.ident == "pin" && boxed.ident == "Box"
    )
}

/// Whether a return type is, by its spelling, a future: `impl Future<..>`,
/// `Pin<Box<dyn Future<..>>>`, or futures' `BoxFuture` / `LocalBoxFuture`.
fn is_future(ty: &Type) -> bool {
    let is_future_bound = |bound: &TypeParamBound| match bound {
        TypeParamBound::Trait(bound) => bound
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Future"),
        _ => false,
    };
    match ty {
        Type::ImplTrait(ty) => ty.bounds.iter().any(is_future_bound),
        Type::TraitObject(ty) => ty.bounds.iter().any(is_future_bound),
        Type::Paren(ty) => is_future(&ty.elem),
        Type::Group(ty) => is_future(&ty.elem),
        Type::Path(ty) => {
            let Some(last) = ty.path.segments.last() else {
                return false;
            };
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                return true;
            }
            // `Pin<Box<dyn Future>>`: look through `Pin` and `Box`.
            if last.ident != "Pin" && last.ident != "Box" {
                return false;
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            args.args.iter().any(|arg| match arg {
                GenericArgument::Type(inner) => is_future(inner),
                _ => false,
            })
        }
        _ => false,
    }
}

/// Whether a type mentions `impl Trait` anywhere: such a type cannot be
/// written as the type of a `let`.
pub(crate) fn contains_impl_trait(ty: &Type) -> bool {
    fn scan(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => scan(group.stream()),
            _ => false,
        })
    }
    scan(ty.to_token_stream())
}

/// `return` expressions of the function itself, not of its closures, async
/// blocks or nested items.
fn early_returns(block: &Block) -> Vec<Span> {
    struct Returns(Vec<Span>);
    impl<'ast> Visit<'ast> for Returns {
        fn visit_expr_return(&mut self, node: &'ast ExprReturn) {
            self.0.push(node.return_token.span);
            visit::visit_expr_return(self, node);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast Item) {}
    }
    let mut returns = Returns(Vec::new());
    returns.visit_block(block);
    returns.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

    fn error(tokens: TokenStream) -> String {
        match Function::parse(tokens) {
            Ok(_) => "parsed".to_owned(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn shapes_are_told_apart() {
        let shape = |tokens| Function::parse(tokens).unwrap().shape;
        assert!(matches!(
            shape(quote!(
                async fn f() {}
            )),
            Shape::Async
        ));
        assert!(matches!(
            shape(quote!(
                fn f() -> u8 {
                    1
                }
            )),
            Shape::Sync
        ));
        assert!(matches!(
            shape(quote!(
                fn f() -> impl Future<Output = u8> {
                    let x = 1;
                    async move { x }
                }
            )),
            Shape::ReturnsFuture
        ));
        assert!(matches!(
            shape(quote!(
                fn f() -> BoxFut {
                    ::std::boxed::Box::pin(async {})
                }
            )),
            Shape::ReturnsFuture
        ));
    }

    #[test]
    fn inner_attributes_are_split_off() {
        let function = Function::parse(quote!(
            #[inline]
            fn f() {
                #![allow(unused)]
            }
        ))
        .unwrap();
        assert_eq!(function.attrs.len(), 1);
        assert_eq!(function.inner_attrs.len(), 1);
    }

    #[test]
    fn unsupported_items_are_rejected() {
        assert_eq!(
            error(quote!(
                pub struct S;
            )),
            "`#[correlated]` can only be used on a `fn`"
        );
        assert!(
            error(quote!(
                fn f(&self);
            ))
            .starts_with("`#[correlated]` needs a function body")
        );
        assert_eq!(
            error(quote!(
                const fn f() {}
            )),
            "`#[correlated]` cannot be used on a `const fn`"
        );
        assert_eq!(
            error(quote!(
                extern "C" fn f() {}
            )),
            "`#[correlated]` cannot be used on an `extern \"C\"` fn"
        );
        assert_eq!(
            error(quote!(
                extern "Rust" fn f() {}
            )),
            "parsed"
        );
    }

    #[test]
    fn futures_the_scope_cannot_follow_are_rejected() {
        assert!(
            error(quote!(
                fn f() -> impl Future<Output = ()> {
                    g()
                }
            ))
            .contains("as its last expression")
        );
        assert!(
            error(quote!(
                fn f() -> Pin<Box<dyn Future<Output = ()>>> {
                    other()
                }
            ))
            .contains("as its last expression")
        );
        // An `async` block handed to anything but `Box::pin` is not the future
        // returned: the scope would follow the wrong one.
        for tail in [
            quote!(with_timeout(async {})),
            quote!(pin(async {})),
            quote!(Box::new(async {})),
        ] {
            assert!(
                error(quote!(
                    fn f() -> impl Future<Output = ()> {
                        #tail
                    }
                ))
                .contains("as its last expression"),
                "{tail}"
            );
        }
        assert!(
            error(quote!(
                fn f(x: bool) -> BoxFuture<'static, ()> {
                    if x {
                        return Box::pin(async {});
                    }
                    Box::pin(async {
                        let f = || {
                            return 1;
                        };
                        f();
                    })
                }
            ))
            .contains("returned early")
        );
    }

    #[test]
    fn future_types_are_recognised_by_spelling() {
        assert!(is_future(&parse_quote!(impl Future<Output = u8> + Send)));
        assert!(is_future(&parse_quote!(
            impl std::future::Future<Output = u8>
        )));
        assert!(is_future(&parse_quote!(
            Pin<Box<dyn Future<Output = u8> + Send + 'a>>
        )));
        assert!(is_future(&parse_quote!(futures::future::BoxFuture<'a, u8>)));
        // Parenthesised, and as a `macro_rules!` `$ty:ty` hands it on:
        // wrapped in a group without delimiters.
        assert!(is_future(&parse_quote!((impl Future<Output = u8>))));
        let grouped = proc_macro2::Group::new(
            proc_macro2::Delimiter::None,
            quote!(impl Future<Output = u8>),
        );
        let grouped: Type = syn::parse2(grouped.into_token_stream()).unwrap();
        assert!(matches!(grouped, Type::Group(_)));
        assert!(is_future(&grouped));
        assert!(!is_future(&parse_quote!(Pin<Box<u8>>)));
        assert!(!is_future(&parse_quote!(impl Iterator<Item = u8>)));
    }

    #[test]
    fn impl_trait_is_found_anywhere_in_a_type() {
        assert!(contains_impl_trait(&parse_quote!(Result<impl Display, E>)));
        assert!(contains_impl_trait(&parse_quote!((u8, impl Display))));
        assert!(contains_impl_trait(&parse_quote!([impl Display; 2])));
        assert!(!contains_impl_trait(&parse_quote!(
            Result<Box<dyn Display>, E>
        )));
    }
}
