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
//! `correlate::current()` or the `Extension<CorrelationId>` extractor:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # futures::executor::block_on(async {
//! use std::net::SocketAddr;
//! use axum::{Extension, Router, extract::connect_info::MockConnectInfo, routing::get};
//! use correlate::CorrelationId;
//! use correlate::tower::CorrelationLayer;
//! use tower::ServiceExt;
//!
//! async fn handler(Extension(id): Extension<CorrelationId>) -> String {
//!     assert_eq!(correlate::current().as_ref(), Some(&id));
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
//! use correlate::tower::PropagateCorrelationLayer;
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
//! let _guard = correlate::scope("req-9".parse().unwrap());
//! let response = client.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(response.body(), "req-9");
//! # });
//! ```

mod client;
mod config;
mod future;
mod layer;
mod peer;
mod trust;

pub use client::{PropagateCorrelationLayer, PropagateCorrelationService};
pub use config::{CorrelationLayerBuilder, OnInvalid};
pub use future::ResponseFuture;
pub use layer::{CorrelationLayer, CorrelationService};
pub use peer::{ExtensionPeer, PeerAddr};
pub use trust::{InvalidTrustedSource, TrustedSource};

#[cfg(test)]
mod tests;
