//! The rules of the server-side integrations, written once for all of them:
//! which peers are trusted, how an incoming header is read and checked, the
//! `traceparent` bridge, generation, the rejection policy and the echo; the
//! settings that configure them ([`CorrelationBuilder`]); and the decision
//! they drive, request by request.
//!
//! Nothing here knows a framework. An integration (`tower`, `actix`) shows
//! the decision its requests through [`RequestView`] (header lookups and the
//! peer address), builds its middleware from the shared [`Config`], and adds
//! only how its framework hands over requests and responses. The public items
//! are re-exported by each integration (`correlated::tower::OnInvalid`,
//! `correlated::actix::OnInvalid`, ...).

// Module order, one way: each module uses only those above it.
//   trust, trace_context: no other inbound module
//   request:  `RequestView`, `HeaderBytes`: what the decision reads
//   decision: `Config`, `Decision`, `OnInvalid`; which ID a request runs with
//   builder:  `CorrelationBuilder`, the options over a `Config`
//   span:     the request span (`request_span`) and `InSpan`, which enters it
//   body:     `InRequest`, a response body in its request's frame and span

mod body;
mod builder;
mod decision;
mod request;
mod span;
mod trace_context;
mod trust;

pub(crate) use body::InRequest;
pub use builder::{CorrelationBuilder, IntoHeaderName};
pub(crate) use builder::{Integration, sealed};
pub use decision::OnInvalid;
pub(crate) use decision::{Config, Decision};
#[cfg(feature = "actix-web")]
pub(crate) use request::HeaderBytes;
pub(crate) use request::RequestView;
pub(crate) use span::{InSpan, MaybeSpan, request_span};
pub use trace_context::{InvalidTraceParent, InvalidTraceParentKind, TRACE_ID, TraceParent};
pub use trust::{InvalidTrustedSource, TrustedSource};

use crate::context::Context;
use crate::id::CorrelationId;

/// The context a request runs in: the caller's, with the request's ID, and
/// the trace-id of its `traceparent` when the bridge accepted one. Without
/// one, the request does not inherit a trace-id from whatever context called
/// the middleware.
// Inline: it is on every request's path, and returns the context by value.
#[inline]
pub(crate) fn request_context(id: CorrelationId, parent: Option<&TraceParent>) -> Context {
    let mut context = Context::current_with_correlation_id(id);
    context.remove(&TRACE_ID);
    if let Some(parent) = parent {
        context = context.with_value(&TRACE_ID, parent.trace_id().to_owned());
    }
    context
}
