//! Tower middleware (feature `tower`): a correlation ID for every incoming
//! request, and on every outgoing one.
//!
//! - [`CorrelationLayer`] (server side) takes the ID from the request header
//!   of a trusted peer or generates one, runs the handler in its context,
//!   stores it in the request's extensions and echoes it in the response.
//! - [`PropagateCorrelationLayer`] (client side) adds the current ID to every
//!   request a tower-based client sends.
//!
//! Both work with any `http::Request<B>` service: axum, hyper (through
//! hyper-util), tonic servers and channels.
//!
//! # Examples
//!
//! With axum, serve the app with
//! `into_make_service_with_connect_info::<SocketAddr>()` so the layer can see
//! the peer address (feature `axum`), and read the ID with
//! `correlated::current()` or the `Extension<CorrelationId>` extractor:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # futures::executor::block_on(async {
//! use std::net::SocketAddr;
//! use axum::{Extension, Router, extract::connect_info::MockConnectInfo, routing::get};
//! use correlated::CorrelationId;
//! use correlated::tower::CorrelationLayer;
//! use tower::ServiceExt;
//!
//! async fn handler(Extension(id): Extension<CorrelationId>) -> String {
//!     assert_eq!(correlated::current().as_ref(), Some(&id));
//!     format!("hello from {id}")
//! }
//!
//! let app = Router::new()
//!     .route("/", get(handler))
//!     .layer(CorrelationLayer::builder().trust("127.0.0.1").unwrap().build())
//!     // In production: `axum::serve(listener,
//!     //     app.into_make_service_with_connect_info::<SocketAddr>())`.
//!     .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
//!
//! let request = http::Request::get("/")
//!     .header("x-correlation-id", "req-1")
//!     .body(axum::body::Body::empty())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["x-correlation-id"], "req-1");
//! # });
//! ```
//!
//! A client that forwards the ID of the request being handled:
//!
//! ```
//! use std::convert::Infallible;
//! use correlated::tower::PropagateCorrelationLayer;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # futures::executor::block_on(async {
//! let downstream = service_fn(|request: http::Request<()>| async move {
//!     Ok::<_, Infallible>(http::Response::new(request.headers()["x-correlation-id"].clone()))
//! });
//! let client = ServiceBuilder::new()
//!     .layer(PropagateCorrelationLayer::new())
//!     .service(downstream);
//!
//! let _guard = correlated::scope("req-9".parse().unwrap());
//! let response = client.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(response.body(), "req-9");
//! # });
//! ```
//!
//! # W3C Trace Context
//!
//! With [`CorrelationBuilder::trace_context`] on, the layer also reads
//! the `traceparent` header of trusted peers, parsed strictly as
//! [`TraceParent`] (Trace Context level 1). When no correlation header was
//! accepted, a valid `traceparent`'s trace-id becomes the correlation ID.
//! Both are recorded: the [`TraceParent`] is in the request's extensions and
//! its trace-id in the [`TRACE_ID`] slot, so logs can carry `trace_id` next
//! to `correlation_id` with `CorrelatedFormat::text(format).with_slot(&TRACE_ID)`
//! (feature `tracing`). The `traceparent` header is never rewritten.
//!
//! ```
//! use std::convert::Infallible;
//! use std::net::SocketAddr;
//! use correlated::tower::{CorrelationLayer, TRACE_ID, TraceParent};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # futures::executor::block_on(async {
//! let service = ServiceBuilder::new()
//!     .layer(CorrelationLayer::builder().trust("10.0.0.0/8").unwrap().trace_context(true).build())
//!     .service(service_fn(|request: http::Request<()>| async move {
//!         let parent = request.extensions().get::<TraceParent>().unwrap();
//!         assert_eq!(TRACE_ID.get().as_deref(), Some(parent.trace_id()));
//!         Ok::<_, Infallible>(http::Response::new(correlated::current().unwrap().to_string()))
//!     }));
//!
//! // A trusted peer sends a traceparent and a correlation header: the header
//! // is the correlation ID, and the trace-id is recorded beside it.
//! let mut request = http::Request::builder()
//!     .header("x-correlation-id", "req-1")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(())
//!     .unwrap();
//! request.extensions_mut().insert("10.0.0.7:5000".parse::<SocketAddr>().unwrap());
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.body().get_ref().unwrap(), "req-1");
//! # });
//! ```

// The rules (trust, validation, the `traceparent` bridge, echo) and the
// builder's options are shared with every server integration, in
// `crate::inbound`; tower adds how it reads a request and wraps a response.
//
// Module order, one way: each module uses only those above it.
//   peer, body, client: no other tower module
//   future:   the response future, whose response carries a `body`
//   layer:    `CorrelationLayer` (made from the shared `Config`),
//             `CorrelationService`, whose responses are
//             `Response<ResponseBody<_>>`; the decision reads requests
//             through `layer`'s view of them
//   config:   `CorrelationLayerBuilder`, the shared builder that builds the
//             layer with `CorrelationLayer::from_parts`; and
//             `CorrelationLayer::new`, `builder`, `Default`, so that `layer`
//             never names the builder

mod body;
mod client;
mod config;
mod future;
mod layer;
mod peer;

pub use body::ResponseBody;
pub use client::{PropagateCorrelationLayer, PropagateCorrelationService};
pub use config::CorrelationLayerBuilder;
pub use future::ResponseFuture;
pub use layer::{CorrelationLayer, CorrelationService};
pub use peer::{ExtensionPeer, PeerAddr};
// The shared rules' public face, under tower's name as before.
pub use crate::inbound::{
    CorrelationBuilder, IntoHeaderName, InvalidTraceParent, InvalidTraceParentKind,
    InvalidTrustedSource, OnInvalid, TRACE_ID, TraceParent, TrustedSource,
};

#[cfg(test)]
mod tests;
