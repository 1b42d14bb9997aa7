//! NATS messages that carry the correlation ID to their subscribers (feature
//! `nats`).
//!
//! The context travels in the message headers (NATS 2.2 and later), under
//! the keys of [`job`](crate::job)'s table: `x-correlation-id`, `x-job-id`
//! (the message's own ID), `x-parent-id` and the user slots your [`Policy`]
//! names. The rules are the same as for jobs, written once in
//! [`Policy`]:
//!
//! - publish with [`headers`]: `client.publish_with_headers(subject,
//!   correlated::nats::headers(&policy), payload)`;
//! - receive with [`serve`], which runs the handler of each message in the
//!   context its headers carry, checked as outside input (a missing or
//!   invalid ID gives a new one, logged at debug level without the value),
//!   or build that context yourself with [`context`].
//!
//! # Examples
//!
//! ```
//! use correlated::{CorrelationId, job};
//!
//! # futures::executor::block_on(async {
//! let policy = job::Policy::new();
//!
//! // Publisher, in a request: `client.publish_with_headers(subject, headers, payload)`.
//! let headers = correlated::Context::new()
//!     .with_correlation_id(CorrelationId::parse("req-1").unwrap())
//!     .run(|| correlated::nats::headers(&policy));
//! let message = async_nats::Message {
//!     subject: "orders".into(),
//!     reply: None,
//!     payload: Default::default(),
//!     headers: Some(headers),
//!     status: None,
//!     description: None,
//!     length: 0,
//! };
//!
//! // Subscriber: `serve(client.subscribe("orders").await?, policy, handler)`.
//! let messages = futures::stream::iter([message]);
//! correlated::nats::serve(messages, policy, |_message| async {
//!     assert_eq!(correlated::current().unwrap(), "req-1");
//!     assert_eq!(job::PARENT_ID.get().unwrap(), "req-1");
//! })
//! .await;
//! # });
//! ```

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue, Message};
use futures_core::Stream;

use crate::carrier::Carrier;
use crate::context::Context;
use crate::job::Policy;

/// NATS headers as a carrier.
///
/// A key that is not a valid header name is never found and never stored
/// (async-nats's own `HeaderMap::insert` would panic on it). A header sent
/// more than once is ambiguous and reads as missing.
impl Carrier for HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        let name = HeaderName::from_str(key).ok()?;
        let mut values = self.get_all(name);
        let first = values.next()?;
        match values.next() {
            Some(_) => None,
            None => Some(first.as_str()),
        }
    }

    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_str(key), HeaderValue::from_str(&value)) {
            self.insert(name, value);
        }
    }

    fn contains(&self, key: &str) -> bool {
        HeaderName::from_str(key).is_ok_and(|name| self.get(name).is_some())
    }
}

/// Headers for a message published now: the current context's entries, as
/// [`Policy::inject`] writes them.
///
/// # Examples
///
/// ```
/// use correlated::job;
///
/// let _request = correlated::scope("req-1".parse().unwrap());
/// let headers = correlated::nats::headers(&job::Policy::new());
/// assert_eq!(headers.get("x-correlation-id").unwrap().as_str(), "req-1");
/// // then: client.publish_with_headers("orders", headers, payload).await?;
/// ```
pub fn headers(policy: &Policy) -> HeaderMap {
    let mut headers = HeaderMap::new();
    policy.inject(&mut headers);
    headers
}

/// The context to handle `message` in: [`Policy::context`] of its headers
/// (a message without headers runs under a new ID).
///
/// # Examples
///
/// ```
/// use correlated::job;
///
/// let message = async_nats::Message {
///     subject: "orders".into(),
///     reply: None,
///     payload: Default::default(),
///     headers: None,
///     status: None,
///     description: None,
///     length: 0,
/// };
/// let ctx = correlated::nats::context(&job::Policy::new(), &message);
/// assert!(ctx.correlation_id().is_some()); // a new one
/// ```
pub fn context(policy: &Policy, message: &Message) -> Context {
    match &message.headers {
        Some(headers) => policy.context(headers),
        None => policy.context(&HeaderMap::new()),
    }
}

/// Runs `handler` for each message of `messages` (an `async_nats::Subscriber`,
/// or any stream of messages), one at a time, each in the message's
/// [`context`]; returns when the stream ends.
///
/// The handler's future is polled only in that context, so the loop (and
/// the task running it) has its own context back after each message, also
/// when a handler panics. For messages handled concurrently, spawn from the
/// handler with `correlated::spawn` (feature `tokio`), which keeps the
/// message's context.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let subscriber = client.subscribe("orders").await?;
/// correlated::nats::serve(subscriber, correlated::job::Policy::new(), |message| async move {
///     tracing::info!(subject = %message.subject, "received"); // carries the publisher's ID
/// })
/// .await;
/// # Ok(())
/// # }
/// ```
pub async fn serve<S, F, Fut>(mut messages: S, policy: Policy, mut handler: F)
where
    S: Stream<Item = Message> + Unpin,
    F: FnMut(Message) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(message) = poll_fn(|cx| Pin::new(&mut messages).poll_next(cx)).await {
        let ctx = context(&policy, &message);
        ctx.bind(&mut handler)(message).await;
    }
}
