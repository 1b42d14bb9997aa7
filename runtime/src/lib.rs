//! Correlation IDs for async Rust.
//!
//! `correlated` gives every request, job or task a correlation ID that all code
//! running on its behalf can read — across `.await`s, worker threads, spawned
//! tasks and outgoing calls — and that is always restored when the work ends:
//! on return, on error, on panic and on cancellation.
//!
//! ```
//! use correlated::{CorrelationId, Correlate};
//!
//! async fn load_order() -> Option<CorrelationId> {
//!     // Any code running for the request sees its ID, after every `.await`.
//!     correlated::current()
//! }
//!
//! let id = CorrelationId::generate();
//! let seen = futures::executor::block_on(load_order().correlated(id.clone()));
//! assert_eq!(seen, Some(id));
//! assert_eq!(correlated::current(), None); // nothing leaks out
//! ```
//!
//! The model is Python's `contextvars`, made correct for async Rust:
//!
//! - a [`Slot`] is a typed cell (a `ContextVar`); the correlation ID is the
//!   built-in [`CORRELATION_ID`], and [`slot!`] declares more;
//! - [`Slot::set`] returns a [`Token`] that [`Slot::reset`] consumes to undo
//!   exactly that set; [`Slot::scope`] does both around a block;
//! - a [`Context`] is a snapshot of every slot, to run code in
//!   ([`Context::run`]) or to attach to a future ([`Context::wrap`]);
//! - [`bind`] (and [`Context::bind`]) turns a callback that another API calls
//!   later, such as a websocket upgrade, into one whose future runs in the
//!   context captured at the bind;
//! - a [`Correlated`] future owns its context and makes it current only while
//!   it is polled, so concurrent tasks on one thread never see each other's
//!   values.
//!
//! # Features
//!
//! None is on by default; the core works under any executor.
//!
//! - `tokio`: `correlated::spawn` and `correlated::spawn_blocking`, which carry the context into
//!   new tasks, and misuse detection that knows which task is running.
//! - `tracing`: `tracing::CorrelatedFormat` and `tracing::fmt_layer`, so
//!   that every event formatted by `tracing-subscriber` carries
//!   `correlation_id` (and chosen user slots); `tracing-json` adds
//!   `tracing::json_layer` for JSON output.
//!   `tracing::RequestSpan` is the request span (name `request`, as
//!   tower-http's): the tower layer's `request_span` option or tower-http's
//!   `TraceLayer` makes it, so every subscriber layer sees `correlation_id`
//!   in the span context; `#[correlated(span)]` makes one for a function.
//! - `opentelemetry` (implies `tracing`): request spans continue the trace
//!   of an accepted `traceparent`, and `opentelemetry::CorrelationLogProcessor`
//!   puts the ID on every log record exported through OpenTelemetry.
//! - `log`: `log::CorrelatedLogger`, which adds the same as key-values to
//!   every `log` record.
//! - `http`: `http::inject` and `http::extract` for `http::HeaderMap`s,
//!   `http::HeaderValue` as an [`IntoCorrelationId`], and a [`carrier::Carrier`]
//!   impl for header maps.
//! - `tower` (implies `http`): `tower::CorrelationLayer`, the server
//!   middleware (trusted peers, validation, echo, the request's context), and
//!   `tower::PropagateCorrelationLayer` for outgoing requests.
//! - `axum` (implies `tower`): the layer also finds the peer address in axum's
//!   `ConnectInfo<SocketAddr>`.
//! - `tonic` (implies `tower`): the layer also finds the peer address in
//!   tonic's `TcpConnectInfo`, and `tonic::PropagateCorrelation` is an
//!   interceptor for generated clients.
//! - `tonic-tls` (implies `tonic`): the layer also finds the peer address in
//!   tonic's `TlsConnectInfo<TcpConnectInfo>`, for servers that accept TLS
//!   with their own rustls acceptor; it adds no crypto provider of its own.
//! - `reqwest` (implies `http`): `reqwest::RequestBuilderExt`, whose
//!   `.with_correlation_id()` puts the current ID on a plain reqwest request;
//!   `reqwest-middleware` adds `reqwest::PropagateCorrelation`, a middleware
//!   that does it for every request of a reqwest-middleware client.
//! - `apalis`: apalis tasks carry the context in their metadata
//!   (`apalis::task`), and `apalis::CorrelationLayer` runs each task in it.
//! - `nats`: NATS messages carry the context in their headers
//!   (`nats::headers`), and `nats::serve` runs each message's handler in it.
//!
//! Without any feature, [`carrier`] carries the ID through any string-keyed
//! headers, and [`job`] adds the rules jobs and messages share: a job ID and
//! the parent that enqueued it, the checks on arrival, and user slots that
//! travel.
//! - `actix-web` (implies `http`): `actix::Correlation`, the actix-web
//!   middleware with the tower layer's options and rules (trusted peers from
//!   the socket, validation, echo, the request's context for extractors,
//!   handler and body), and `CorrelationId` as an extractor.

// Each exception is `#[allow]`ed where it stands, next to its invariant;
// docs/design.md lists them with the measurements that justify them.
#![deny(unsafe_code)]
#![warn(missing_docs)]
// Feature badges on docs.rs (`[package.metadata.docs.rs]` passes `--cfg docsrs`).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod context;
mod current;
#[cfg(any(feature = "log", feature = "tracing"))]
mod fields;
mod frame;
mod future;
mod guard;
mod id;
mod key;
mod misuse;
mod slot;
// The rules every server integration shares (feature `tower` or
// `actix-web`); each integration re-exports its public face.
#[cfg(any(feature = "tower", feature = "actix-web"))]
mod inbound;
#[cfg(feature = "tokio")]
mod spawn;
mod token;

#[doc(hidden)]
pub mod __private;

/// Unit tests that emit `tracing` events or install a scoped subscriber run
/// one at a time: tracing caches each callsite's interest when the callsite
/// is first hit and rebuilds the cache when a dispatcher comes or goes, and a
/// test racing another on either can lose the events it checks.
#[cfg(all(
    test,
    any(feature = "tower", feature = "actix-web", feature = "tracing")
))]
pub(crate) fn tracing_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod actix;
#[cfg(feature = "apalis")]
#[cfg_attr(docsrs, doc(cfg(feature = "apalis")))]
pub mod apalis;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod baggage;
pub mod carrier;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod job;
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub mod log;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod opentelemetry;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod tracing;

pub use context::{Context, Correlate, bind, current, with_current};
pub use correlated_macros::correlated;
pub use future::Correlated;
pub use guard::ScopeGuard;
pub use id::{CorrelationId, IntoCorrelationId, InvalidCorrelationId, InvalidIdKind};
pub use slot::{CORRELATION_ID, Slot};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use spawn::{spawn, spawn_blocking};
pub use token::{ResetError, ResetErrorKind, Token};

/// Sets the correlation ID in the current context; shorthand for
/// [`CORRELATION_ID.set(id)`](Slot::set).
///
/// # Examples
///
/// ```
/// let token = correlated::set(correlated::CorrelationId::parse("req-1").unwrap());
/// assert_eq!(correlated::current().unwrap(), "req-1");
/// correlated::reset(token).unwrap();
/// ```
pub fn set(id: CorrelationId) -> Token {
    CORRELATION_ID.set(id)
}

/// Undoes a [`set`]; shorthand for [`CORRELATION_ID.reset(token)`](Slot::reset).
///
/// # Errors
///
/// [`ResetError`] when the token belongs to another context or slot; nothing
/// changes then.
///
/// # Examples
///
/// ```
/// let token = correlated::set(correlated::CorrelationId::generate());
/// correlated::reset(token).unwrap();
/// assert_eq!(correlated::current(), None);
/// ```
pub fn reset(token: Token) -> Result<(), ResetError> {
    CORRELATION_ID.reset(token)
}

/// Sets the correlation ID until the guard is dropped, also on panic;
/// shorthand for [`CORRELATION_ID.scope(id)`](Slot::scope).
///
/// # Examples
///
/// ```
/// {
///     let _guard = correlated::scope(correlated::CorrelationId::parse("job-3").unwrap());
///     assert_eq!(correlated::current().unwrap(), "job-3");
/// }
/// assert_eq!(correlated::current(), None);
/// ```
pub fn scope(id: CorrelationId) -> ScopeGuard {
    CORRELATION_ID.scope(id)
}
