//! actix-web middleware (feature `actix-web`): a correlation ID for every
//! incoming request.
//!
//! [`Correlation`] takes the ID from the request header of a trusted peer or
//! generates one, runs middleware inside it, extractors, the handler and the
//! response body in its context, stores it in the request's extensions and
//! echoes it in the response, also on error responses. Its options and rules
//! are those of the tower layer ([`CorrelationBuilder`], shared by both), and
//! [`CorrelationId`](crate::CorrelationId) is an extractor.
//!
//! Trust is decided on the socket's peer address only
//! ([`ServiceRequest::peer_addr`](actix_web::dev::ServiceRequest::peer_addr)),
//! never on `Forwarded` or `X-Forwarded-For`.
//!
//! # Examples
//!
//! ```
//! use actix_web::{App, HttpResponse, test, web};
//! use correlated::CorrelationId;
//! use correlated::actix::Correlation;
//!
//! async fn handler(id: CorrelationId) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello from {id}"))
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let app = test::init_service(
//!     App::new()
//!         .wrap(Correlation::builder().trust("127.0.0.1").unwrap().build())
//!         .route("/", web::get().to(handler)),
//! )
//! .await;
//!
//! let request = test::TestRequest::get()
//!     .insert_header(("x-correlation-id", "req-1"))
//!     .peer_addr("127.0.0.1:4000".parse().unwrap())
//!     .to_request();
//! let response = test::call_service(&app, request).await;
//! assert_eq!(response.headers().get("x-correlation-id").unwrap(), "req-1");
//! assert_eq!(test::read_body(response).await, "hello from req-1");
//! # });
//! ```
//!
//! # Order with `Logger` and `TracingLogger`
//!
//! In actix-web the middleware wrapped last is the outermost. Wrap
//! `Correlation` last, so that the loggers run inside it, in the request's
//! context:
//!
//! ```
//! use actix_web::middleware::Logger;
//! use actix_web::{App, HttpMessage, HttpResponse, dev::ServiceRequest, web};
//! use correlated::CorrelationId;
//! use correlated::actix::Correlation;
//!
//! let app = App::new()
//!     .wrap(Logger::new("%r %s %{correlation_id}xi").custom_request_replace(
//!         "correlation_id",
//!         |request: &ServiceRequest| match request.extensions().get::<CorrelationId>() {
//!             Some(id) => id.to_string(),
//!             None => "-".to_owned(),
//!         },
//!     ))
//!     .wrap(Correlation::new())
//!     .route("/", web::get().to(HttpResponse::Ok));
//! # drop(app);
//! ```
//!
//! - `Logger` then sees the request's ID in its extensions (the
//!   `%{correlation_id}xi` above), and writes its line when the response
//!   body is dropped, in the request's context: with
//!   [`correlated::log`](crate::log)'s `CorrelatedLogger` installed, the
//!   line's record carries `correlation_id` as a key-value too.
//! - tracing-actix-web's `TracingLogger` makes its request span and emits
//!   its events in the request's context: with
//!   [`correlated::tracing`](crate::tracing)'s formatter they carry
//!   `correlation_id`, and a custom `RootSpanBuilder` can record
//!   `correlated::current()` as a span field.
//!
//! The builder's
#![cfg_attr(
    feature = "tracing",
    doc = "[`request_span`](CorrelationBuilder::request_span)"
)]
#![cfg_attr(not(feature = "tracing"), doc = "`request_span`")]
//! option (feature `tracing`) makes a span of its own, named `request`, with
//! `correlation_id` as a field, entered inside the request's context for
//! `call`, every poll of the handler's future and of the response body.
//! `TracingLogger` also makes one (`HTTP request`): use one of the two, or
//! know that with both, in the order above, `request` is the outer span.
//!
//! The other order works for `Logger` too, differently: wrapped outside
//! `Correlation`, it sees the echoed response header, `%{x-correlation-id}o`
//! (never log `%{x-correlation-id}i`, the raw request header: it is whatever
//! the client sent), and it also logs the `400`s of
//! [`OnInvalid::Reject`], which never reach a logger inside.
//!
//! # `!Send` handlers and workers
//!
//! Each actix-web worker runs its own single-threaded runtime, and handlers
//! may hold `!Send` values (`Rc`, `RefCell`) across `.await`. The middleware
//! needs nothing from them: the request's context lives in its future (a
//! [`Correlated`](crate::Correlated) one, `!Send` when the handler is) and
//! is made current only while the worker polls it, so requests interleaved
//! on one worker never see each other's IDs. Code the handler spawns with
//! `actix_web::rt::spawn` is not correlated unless wrapped:
//! `actix_web::rt::spawn(work.in_current_context())`.

// The rules (trust, validation, the `traceparent` bridge, echo) and the
// builder's options are shared with every server integration, in
// `crate::inbound`; actix adds how it reads a request and wraps a response.
//
// Module order, one way: each module uses only those above it.
//   body, error, extract: no other actix module
//   future:     the response future, whose response carries a `body` and
//               whose errors an `error`
//   middleware: `Correlation` (made from the shared `Config`) and
//               `CorrelationMiddleware`, whose responses are
//               `ServiceResponse<ResponseBody<_>>`
//   config:     the shared builder's `build` for `Correlation`, and
//               `Correlation::new`, `builder`, `Default`, so that
//               `middleware` never names the builder

mod body;
mod config;
mod error;
mod extract;
mod future;
mod middleware;

pub use body::ResponseBody;
pub use error::EchoedError;
pub use future::ResponseFuture;
pub use middleware::{Correlation, CorrelationMiddleware};
// The shared rules' public face, the same types as under `correlated::tower`.
pub use crate::inbound::{
    CorrelationBuilder, IntoHeaderName, InvalidTraceParent, InvalidTraceParentKind,
    InvalidTrustedSource, OnInvalid, TRACE_ID, TraceParent, TrustedSource,
};

#[cfg(test)]
mod tests;
