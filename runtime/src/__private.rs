//! What `#[correlated]` expands into. Not part of the API: names and
//! signatures here change whenever the macro needs them to.
//!
//! Every handler call builds a [`Context`] at entry (inherit, fresh, or an
//! explicit ID, plus slot bindings), then either wraps its future
//! ([`wrap`]) or enters the context synchronously until its pinned frame
//! drops ([`frame`], [`enter`]).

use std::future::IntoFuture;
use std::pin::Pin;

pub use crate::context::Context;
pub use crate::future::Correlated;
pub use crate::guard::SyncFrame;
use crate::id::{CorrelationId, IntoCorrelationId};
use crate::slot::Slot;

/// `#[correlated]`: the caller's context; its ID, or a new one if it has none.
pub fn inherit() -> Context {
    let context = Context::current();
    if context.correlation_id().is_some() {
        context
    } else {
        context.with_generated_id()
    }
}

/// `#[correlated(fresh)]`: the caller's context with a new ID.
pub fn fresh() -> Context {
    Context::current_with_correlation_id(CorrelationId::generate())
}

/// `#[correlated(id = EXPR)]`: the caller's context with `id`, or a new ID
/// when `id` is missing or invalid.
pub fn explicit(id: impl IntoCorrelationId) -> Context {
    Context::current_with_correlation_id(id.into_correlation_id_or_generate())
}

/// `#[correlated(SLOT = EXPR)]`: binds one slot for the body.
pub fn bind<T, V>(context: Context, slot: &'static Slot<T>, value: V) -> Context
where
    T: Clone + Send + Sync + 'static,
    V: Into<T>,
{
    context.with_value(slot, value.into())
}

/// An `async` body: runs the future in `context`.
#[inline]
pub fn wrap<F: IntoFuture>(context: Context, future: F) -> Correlated<F::IntoFuture> {
    Correlated::new(context.into_values(), future.into_future())
}

/// A synchronous body's frame: pin it (`core::pin::pin!`), then [`enter`]
/// it; `context` is current until the frame is dropped.
#[inline]
pub fn frame(context: Context) -> SyncFrame {
    SyncFrame::new(context.into_values())
}

/// Makes a pinned [`frame`] current until it is dropped.
#[inline]
pub fn enter(frame: Pin<&SyncFrame>) {
    frame.enter();
}

/// The `async` tail of a function that returns a future: it runs in the
/// context current where it is built (inside the guard from [`enter`]).
pub fn in_current_context<F: IntoFuture>(future: F) -> Correlated<F::IntoFuture> {
    Context::current().wrap(future.into_future())
}

/// How many misuses were reported in this process (for tests).
pub fn misuse_reports() -> usize {
    crate::misuse::reports()
}

// === `#[correlated(span)]` (feature `tracing`) ===
//
// The expansion names these only when `span` is used, so a build without
// the feature compiles every other use of the attribute; the macro reports a
// `span` without the feature itself.

/// The `tracing` crate, for the `span!` the expansion makes in the user's
/// crate (its callsite and target are the user's function and module), so
/// the user needs no `tracing` dependency of their own.
#[cfg(feature = "tracing")]
pub use ::tracing;

/// The span's `correlation_id` field: the context's ID.
#[cfg(feature = "tracing")]
pub fn span_id(context: &Context) -> Option<::tracing::field::DisplayValue<CorrelationId>> {
    context
        .correlation_id()
        .cloned()
        .map(::tracing::field::display)
}

/// The span's field for a slot bound by the attribute: its value in the
/// context, converted already.
#[cfg(feature = "tracing")]
///
/// The value's type is hidden, so a slot whose type is not `Display` is one
/// error, here, rather than one more in each of `span!`'s own bounds.
pub fn span_value<T>(context: &Context, slot: &'static Slot<T>) -> impl ::tracing::Value + use<T>
where
    T: std::fmt::Display + Clone + Send + Sync + 'static,
{
    context.get(slot).map(::tracing::field::display)
}

/// An `async` body with `span`: the span is entered inside the context, for
/// every poll and while the body drops.
#[cfg(feature = "tracing")]
#[inline]
pub fn wrap_in_span<F: IntoFuture>(
    context: Context,
    span: ::tracing::Span,
    future: F,
) -> Correlated<::tracing::instrument::Instrumented<F::IntoFuture>> {
    use ::tracing::Instrument as _;
    Correlated::new(context.into_values(), future.into_future().instrument(span))
}

/// A synchronous body with `span`: the span is entered until the returned
/// guard drops, beside the body's frame.
#[cfg(feature = "tracing")]
#[inline]
pub fn enter_span(span: &::tracing::Span) -> ::tracing::span::EnteredSpan {
    span.clone().entered()
}

/// The `async` tail of a function with `span` that returns a future: it
/// carries the context current where it is built, and the span.
#[cfg(feature = "tracing")]
pub fn in_current_context_in_span<F: IntoFuture>(
    span: &::tracing::Span,
    future: F,
) -> Correlated<::tracing::instrument::Instrumented<F::IntoFuture>> {
    use ::tracing::Instrument as _;
    Context::current().wrap(future.into_future().instrument(span.clone()))
}
