//! Carrying the correlation ID through anything with string keys: job queue
//! messages, Kafka or AMQP headers, gRPC metadata, environment variables.
//!
//! A producer [`inject`]s the current ID into a message's headers; the
//! consumer runs the job in the context [`extract`]ed from them with
//! [`wrap`], which falls back to a fresh ID when the message has none or
//! carries one that fails the floor (see [`CorrelationId::parse`]).
//!
//! Values read from a carrier come from outside and are always validated;
//! the key is [`KEY`] (`x-correlation-id`) unless you name another.
//!
//! These functions carry the correlation ID alone. For jobs that should also
//! know their own ID and the parent that enqueued them, a validator, and user
//! slots that travel, use [`job::Policy`](crate::job::Policy) with the same
//! carriers.
//!
//! # Examples
//!
//! ```
//! use std::collections::HashMap;
//! use correlated::{CorrelationId, carrier};
//!
//! // Producer: inside a request, put the ID on the outgoing message.
//! let request_id = CorrelationId::parse("req-42").unwrap();
//! let mut headers = HashMap::new();
//! correlated::Context::new()
//!     .with_correlation_id(request_id)
//!     .run(|| carrier::inject(&mut headers));
//! assert_eq!(headers[carrier::KEY], "req-42");
//!
//! // Consumer: run the job in the message's context.
//! let job = async { correlated::current() };
//! let seen = futures::executor::block_on(carrier::wrap(&headers, job));
//! assert_eq!(seen.unwrap(), "req-42");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::IntoFuture;
use std::hash::BuildHasher;

use crate::context::{Context, current};
use crate::future::Correlated;
use crate::id::CorrelationId;

/// The key the correlation ID travels under unless you choose another:
/// `x-correlation-id`, the same name as the HTTP header.
///
/// # Examples
///
/// ```
/// assert_eq!(correlated::carrier::KEY, "x-correlation-id");
/// ```
pub const KEY: &str = "x-correlation-id";

/// Something that carries string values under string keys, such as the
/// headers of a queued message.
///
/// Implemented for `HashMap<String, String>` and `BTreeMap<String, String>`
/// (keys compared exactly, so use one spelling on both sides), and, with the
/// `http` feature, for `http::HeaderMap` (keys compared case-insensitively).
///
/// # Examples
///
/// A carrier for a message type of your own:
///
/// ```
/// use correlated::carrier::{self, Carrier};
///
/// #[derive(Default)]
/// struct Message {
///     headers: Vec<(String, String)>,
/// }
///
/// impl Carrier for Message {
///     fn get(&self, key: &str) -> Option<&str> {
///         self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
///     }
///
///     fn set(&mut self, key: &str, value: String) {
///         self.headers.retain(|(k, _)| k != key);
///         self.headers.push((key.to_owned(), value));
///     }
/// }
///
/// let mut message = Message::default();
/// let _guard = correlated::scope("job-7".parse().unwrap());
/// assert!(carrier::inject(&mut message));
/// assert_eq!(carrier::extract(&message).unwrap(), "job-7");
/// ```
pub trait Carrier {
    /// The value stored under `key`, if there is one that is text.
    fn get(&self, key: &str) -> Option<&str>;

    /// Stores `value` under `key`, replacing what was there.
    ///
    /// Carriers that cannot hold the key or value (for example an
    /// `http::HeaderMap` given a key that is not a valid header name) leave
    /// themselves unchanged.
    fn set(&mut self, key: &str, value: String);

    /// Whether anything is stored under `key`, text or not.
    ///
    /// Injecting never overwrites such an entry. The default asks
    /// [`Carrier::get`]; override it when a key can hold a value that `get`
    /// cannot show.
    fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<S: BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// Puts the current correlation ID into `carrier` under [`KEY`], unless the
/// carrier already has an entry there.
///
/// Returns `true` if it stored the ID, and `false` if there is no current ID
/// or the key was already set (what the caller put there wins).
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use correlated::carrier;
///
/// let mut headers = HashMap::new();
/// assert!(!carrier::inject(&mut headers)); // no current ID: nothing to send
///
/// let _guard = correlated::scope("req-1".parse().unwrap());
/// assert!(carrier::inject(&mut headers));
/// assert_eq!(headers[carrier::KEY], "req-1");
/// ```
pub fn inject<C: Carrier + ?Sized>(carrier: &mut C) -> bool {
    inject_named(carrier, KEY)
}

/// Puts the current correlation ID into `carrier` under `key`, unless the
/// carrier already has an entry there.
///
/// Returns `true` if it stored the ID, and `false` if there is no current ID
/// or the key was already set.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use correlated::carrier;
///
/// let mut headers = HashMap::from([("trace".to_owned(), "keep-me".to_owned())]);
/// let _guard = correlated::scope("req-1".parse().unwrap());
/// assert!(!carrier::inject_named(&mut headers, "trace"));
/// assert_eq!(headers["trace"], "keep-me");
/// assert!(carrier::inject_named(&mut headers, "correlation"));
/// assert_eq!(headers["correlation"], "req-1");
/// ```
pub fn inject_named<C: Carrier + ?Sized>(carrier: &mut C, key: &str) -> bool {
    inject_unless_set(carrier.contains(key), |id| {
        carrier.set(key, id.as_str().to_owned());
    })
}

/// The rule of every `inject` (here and in `http`): an entry already there
/// (`set`) wins; otherwise the current ID, if there is one, is stored with
/// `store`. Returns whether it was stored.
pub(crate) fn inject_unless_set(set: bool, store: impl FnOnce(CorrelationId)) -> bool {
    if set {
        return false;
    }
    match current() {
        Some(id) => {
            store(id);
            true
        }
        None => false,
    }
}

/// The correlation ID stored under [`KEY`], if it passes the floor
/// ([`CorrelationId::parse`]); `None` when it is missing or invalid.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use correlated::carrier;
///
/// let good = HashMap::from([(carrier::KEY.to_owned(), "job-9".to_owned())]);
/// assert_eq!(carrier::extract(&good).unwrap(), "job-9");
///
/// let hostile = HashMap::from([(carrier::KEY.to_owned(), "a\r\nb".to_owned())]);
/// assert_eq!(carrier::extract(&hostile), None);
/// ```
pub fn extract<C: Carrier + ?Sized>(carrier: &C) -> Option<CorrelationId> {
    extract_named(carrier, KEY)
}

/// The correlation ID stored under `key`, if it passes the floor; `None` when
/// it is missing or invalid.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use correlated::carrier;
///
/// let headers = BTreeMap::from([("correlation".to_owned(), "job-9".to_owned())]);
/// assert_eq!(carrier::extract_named(&headers, "correlation").unwrap(), "job-9");
/// assert_eq!(carrier::extract_named(&headers, "other"), None);
/// ```
pub fn extract_named<C: Carrier + ?Sized>(carrier: &C, key: &str) -> Option<CorrelationId> {
    carrier
        .get(key)
        .and_then(|value| CorrelationId::parse(value).ok())
}

/// The context to run a received job in: the current context (so a worker's
/// own slots are kept) with the carrier's correlation ID, or with a freshly
/// generated one when the carrier has none under [`KEY`] or it is invalid.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use correlated::carrier;
///
/// let headers = HashMap::from([(carrier::KEY.to_owned(), "job-3".to_owned())]);
/// let ctx = carrier::context(&headers);
/// assert_eq!(ctx.run(correlated::current).unwrap(), "job-3");
///
/// let empty: HashMap<String, String> = HashMap::new();
/// assert!(carrier::context(&empty).correlation_id().is_some()); // generated
/// ```
pub fn context<C: Carrier + ?Sized>(carrier: &C) -> Context {
    let id = extract(carrier).unwrap_or_else(CorrelationId::generate);
    Context::current().with_correlation_id(id)
}

/// Runs a job in the context carried by its message: shorthand for
/// [`context(carrier).wrap(job)`](context).
///
/// The job sees the carrier's ID (or a fresh one, if it has none or an
/// invalid one) at every point, and only while it is polled: when it ends,
/// is cancelled or panics, the worker's own context, including its previous
/// correlation ID, is current again.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use correlated::{CorrelationId, Correlate, carrier};
///
/// # futures::executor::block_on(async {
/// let message = HashMap::from([(carrier::KEY.to_owned(), "req-5".to_owned())]);
/// async {
///     let seen = carrier::wrap(&message, async { correlated::current() }).await;
///     assert_eq!(seen.unwrap(), "req-5");
///     // Back in the worker's own context.
///     assert_eq!(correlated::current().unwrap(), "worker-1");
/// }
/// .correlated(CorrelationId::parse("worker-1").unwrap())
/// .await;
/// # });
/// ```
pub fn wrap<C, F>(carrier: &C, job: F) -> Correlated<F::IntoFuture>
where
    C: Carrier + ?Sized,
    F: IntoFuture,
{
    context(carrier).wrap(job.into_future())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn inject_without_a_current_id_stores_nothing() {
        let mut headers = HashMap::new();
        assert!(!inject(&mut headers));
        assert!(headers.is_empty());
    }

    #[test]
    fn inject_never_overwrites_an_existing_entry() {
        let mut headers = map(&[(KEY, "caller-set")]);
        let _guard = crate::scope(CorrelationId::parse("ours").unwrap());
        assert!(!inject(&mut headers));
        assert_eq!(headers[KEY], "caller-set");
    }

    #[test]
    fn inject_says_when_it_stored_the_id() {
        let _guard = crate::scope(CorrelationId::parse("ours").unwrap());
        let mut headers = HashMap::new();
        assert!(inject(&mut headers));
        assert_eq!(headers[KEY], "ours");
        assert!(inject_named(&mut headers, "other-key"));
        assert_eq!(headers["other-key"], "ours");
        // Stored once: the second call finds the entry and says so.
        assert!(!inject_named(&mut headers, "other-key"));
    }

    #[test]
    fn a_btree_map_carries_the_id_both_ways() {
        let mut headers = BTreeMap::new();
        let _guard = crate::scope(CorrelationId::parse("sorted-1").unwrap());
        assert!(inject(&mut headers));
        assert_eq!(headers.get(KEY).map(String::as_str), Some("sorted-1"));
        assert_eq!(extract(&headers).unwrap(), "sorted-1");
        assert!(!inject(&mut headers), "an entry already there wins");
        assert_eq!(extract_named(&headers, "missing"), None);
    }

    #[test]
    fn extract_rejects_what_fails_the_floor() {
        for bad in ["", " ", "a b", "line\nbreak", "caf\u{e9}", &"x".repeat(600)] {
            assert_eq!(extract(&map(&[(KEY, bad)])), None, "{bad:?}");
        }
    }

    #[test]
    fn extract_named_keys_are_exact_in_maps() {
        let headers = map(&[("X-Correlation-ID", "req-1")]);
        assert_eq!(extract(&headers), None);
        assert_eq!(
            extract_named(&headers, "X-Correlation-ID").unwrap(),
            "req-1"
        );
    }

    #[test]
    fn wrap_generates_a_fresh_id_for_a_missing_or_invalid_one() {
        for headers in [map(&[]), map(&[(KEY, "bad value")])] {
            let seen = futures::executor::block_on(wrap(&headers, async { current() }));
            let seen = seen.expect("a generated ID");
            let uuid = uuid::Uuid::parse_str(seen.as_str()).unwrap();
            assert_eq!(uuid.get_version_num(), 7);
        }
    }

    #[test]
    fn wrap_restores_the_previous_id_when_the_job_ends() {
        let headers = map(&[(KEY, "job")]);
        let _worker = crate::scope(CorrelationId::parse("worker").unwrap());
        let seen = futures::executor::block_on(wrap(&headers, async { current() }));
        assert_eq!(seen.unwrap(), "job");
        assert_eq!(current().unwrap(), "worker");
    }

    #[test]
    fn wrap_keeps_the_workers_other_slots() {
        crate::slot! { static WORKER: u8; }
        let _worker = WORKER.scope(3);
        let headers = map(&[(KEY, "job")]);
        let seen = futures::executor::block_on(wrap(&headers, async { WORKER.get() }));
        assert_eq!(seen, Some(3));
    }
}
