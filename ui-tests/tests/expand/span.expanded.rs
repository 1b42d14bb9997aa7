#![feature(prelude_import)]
extern crate std;
#[prelude_import]
use std::prelude::rust_2024::*;
use correlated::correlated;

static USER_ID: ::correlated::Slot<String> = ::correlated::Slot::__new("USER_ID");
async fn load_order(user: String, id: u32) -> u32 {
    let __correlate_context = ::correlated::__private::inherit();
    let __correlate_context = ::correlated::__private::bind(__correlate_context, &USER_ID, user);
    let __correlate_span = {
        use ::tracing::__macro_support::Callsite as _;
        static __CALLSITE: ::tracing::callsite::DefaultCallsite = {
            static META: ::tracing::Metadata<'static> = {
                ::tracing_core::metadata::Metadata::new(
                    "load_order",
                    "macrotest012",
                    ::correlated::__private::tracing::Level::INFO,
                    ::tracing_core::__macro_support::Option::Some(
                        "/work/wt/otel/ui-tests/tests/expand/span.rs",
                    ),
                    ::tracing_core::__macro_support::Option::Some(7u32),
                    ::tracing_core::__macro_support::Option::Some("macrotest012"),
                    ::tracing_core::field::FieldSet::new(
                        &["correlation_id", "user_id"],
                        ::tracing_core::callsite::Identifier(&__CALLSITE),
                    ),
                    ::tracing::metadata::Kind::SPAN,
                )
            };
            ::tracing::callsite::DefaultCallsite::new(&META)
        };
        let mut interest = ::tracing::subscriber::Interest::never();
        if ::correlated::__private::tracing::Level::INFO
            <= ::tracing::level_filters::STATIC_MAX_LEVEL
            && ::correlated::__private::tracing::Level::INFO
                <= ::tracing::level_filters::LevelFilter::current()
            && {
                interest = __CALLSITE.interest();
                !interest.is_never()
            }
            && ::tracing::__macro_support::__is_enabled(__CALLSITE.metadata(), interest)
        {
            let meta = __CALLSITE.metadata();
            ::tracing::Span::new(meta, &{
                #[allow(unused_imports)]
                use ::tracing::field::{debug, display, Value};
                meta.fields().value_set_all(&[
                    (::tracing::__macro_support::Option::Some(&::correlated::__private::span_id(
                        &__correlate_context,
                    )
                        as &dyn ::tracing::field::Value)),
                    (::tracing::__macro_support::Option::Some(
                        &::correlated::__private::span_value(&__correlate_context, &USER_ID)
                            as &dyn ::tracing::field::Value,
                    )),
                ])
            })
        } else {
            let span = ::tracing::__macro_support::__disabled_span(__CALLSITE.metadata());
            {};
            span
        }
    };
    ::correlated::__private::wrap_in_span(__correlate_context, __correlate_span, async move {
        if let ::core::option::Option::Some(__correlate_return) =
            ::core::option::Option::None::<u32>
        {
            return __correlate_return;
        }
        {
            id
        }
    })
    .await
}
fn report() {
    let __correlate_context = ::correlated::__private::fresh();
    let __correlate_span = {
        use ::tracing::__macro_support::Callsite as _;
        static __CALLSITE: ::tracing::callsite::DefaultCallsite = {
            static META: ::tracing::Metadata<'static> = {
                ::tracing_core::metadata::Metadata::new(
                    "nightly-report",
                    "macrotest012",
                    ::correlated::__private::tracing::Level::INFO,
                    ::tracing_core::__macro_support::Option::Some(
                        "/work/wt/otel/ui-tests/tests/expand/span.rs",
                    ),
                    ::tracing_core::__macro_support::Option::Some(12u32),
                    ::tracing_core::__macro_support::Option::Some("macrotest012"),
                    ::tracing_core::field::FieldSet::new(
                        &["correlation_id"],
                        ::tracing_core::callsite::Identifier(&__CALLSITE),
                    ),
                    ::tracing::metadata::Kind::SPAN,
                )
            };
            ::tracing::callsite::DefaultCallsite::new(&META)
        };
        let mut interest = ::tracing::subscriber::Interest::never();
        if ::correlated::__private::tracing::Level::INFO
            <= ::tracing::level_filters::STATIC_MAX_LEVEL
            && ::correlated::__private::tracing::Level::INFO
                <= ::tracing::level_filters::LevelFilter::current()
            && {
                interest = __CALLSITE.interest();
                !interest.is_never()
            }
            && ::tracing::__macro_support::__is_enabled(__CALLSITE.metadata(), interest)
        {
            let meta = __CALLSITE.metadata();
            ::tracing::Span::new(meta, &{
                #[allow(unused_imports)]
                use ::tracing::field::{debug, display, Value};
                meta.fields()
                    .value_set_all(&[(::tracing::__macro_support::Option::Some(
                        &::correlated::__private::span_id(&__correlate_context)
                            as &dyn ::tracing::field::Value,
                    ))])
            })
        } else {
            let span = ::tracing::__macro_support::__disabled_span(__CALLSITE.metadata());
            {};
            span
        }
    };
    match (
        {
            super let mut pinned =
                    ::correlated::__private::frame(__correlate_context);
            unsafe { ::core::pin::Pin::new_unchecked(&mut pinned) }
        },
        ::correlated::__private::enter_span(&__correlate_span),
    ) {
        (__correlate_frame, _) => {
            ::correlated::__private::enter(__correlate_frame.as_ref());
            {}
        }
    }
}
fn main() {}
