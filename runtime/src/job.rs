//! Jobs and messages: the rules every queue integration shares (the
//! `apalis` and `nats` features build on them; so can your own transport).
//!
//! A job (or message) carries, as string entries of its metadata or headers,
//! through any [`Carrier`]:
//!
//! | key | value | on the way in |
//! |---|---|---|
//! | [`KEY`](carrier::KEY) `x-correlation-id` | the correlation ID, the same along the whole chain (request → job → the jobs it enqueues) | floor + the policy's validator; missing or invalid → a new ID |
//! | [`JOB_KEY`] `x-job-id` | this job's own ID, generated when it is enqueued, so every retry of it has the same one | floor; missing or invalid → a new ID |
//! | [`PARENT_KEY`] `x-parent-id` | the [`JOB_ID`] of the job that enqueued it, or the correlation ID of the request that did | floor; missing or invalid → unset |
//! | keys you choose | the user slots you chose ([`Policy::with_slot`]), as text | floor + `FromStr`; missing or invalid → unset |
//!
//! Enqueueing ([`Policy::inject`]) writes those entries from the current
//! context; the worker runs the job in [`Policy::context`], which checks each
//! entry as outside input (job payloads and headers can be written by anyone
//! with access to the broker): nothing that fails is stored, logged or passed
//! on to child jobs, and the rejection is logged at debug level (feature
//! `tracing`) with the key and the reason, never the value.
//!
//! Inside the job, [`JOB_ID`] holds its job ID and [`PARENT_ID`] its parent,
//! so log lines can carry both
//! (`CorrelatedFormat::with_slot(&job::PARENT_ID)`), and jobs it enqueues
//! name it as their parent.
//!
//! # Examples
//!
//! ```
//! use std::collections::HashMap;
//! use correlated::{CorrelationId, job};
//!
//! let policy = job::Policy::new();
//!
//! // In a request: enqueue a job.
//! let mut metadata = HashMap::new();
//! correlated::Context::new()
//!     .with_correlation_id(CorrelationId::parse("req-1").unwrap())
//!     .run(|| policy.inject(&mut metadata));
//!
//! // In the worker: the job runs under the request's ID, its parent is the
//! // request, and it has an ID of its own.
//! let ctx = policy.context(&metadata);
//! ctx.run(|| {
//!     assert_eq!(correlated::current().unwrap(), "req-1");
//!     assert_eq!(job::PARENT_ID.get().unwrap(), "req-1");
//!     assert!(job::JOB_ID.get().is_some());
//! });
//! ```

use std::fmt;
use std::future::IntoFuture;
use std::str::FromStr;
use std::sync::Arc;

use crate::carrier::{self, Carrier};
use crate::context::{Context, current};
use crate::future::Correlated;
use crate::id::{CorrelationId, InvalidCorrelationId};
use crate::slot::Slot;

/// The key a job's own ID travels under: `x-job-id`.
///
/// # Examples
///
/// ```
/// assert_eq!(correlated::job::JOB_KEY, "x-job-id");
/// ```
pub const JOB_KEY: &str = "x-job-id";

/// The key the enqueuer's ID travels under: `x-parent-id`.
///
/// # Examples
///
/// ```
/// assert_eq!(correlated::job::PARENT_KEY, "x-parent-id");
/// ```
pub const PARENT_KEY: &str = "x-parent-id";

crate::slot! {
    /// The ID of the job running now, set by [`Policy::context`] for the
    /// job's whole run: generated when the job was enqueued, so a retry has
    /// the same one. Jobs enqueued from this job get it as their
    /// [`PARENT_ID`]. Logged as `job_id` when registered on a formatter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::job;
    ///
    /// let metadata = HashMap::from([(job::JOB_KEY.to_owned(), "job-1".to_owned())]);
    /// let seen = job::Policy::new().context(&metadata).run(|| job::JOB_ID.get());
    /// assert_eq!(seen.unwrap(), "job-1");
    /// ```
    pub static JOB_ID: CorrelationId;

    /// The ID of whoever enqueued the job running now: the enqueuing job's
    /// [`JOB_ID`], or the correlation ID of the request that enqueued it.
    /// Unset for a job enqueued outside any context. The correlation ID
    /// itself stays the same along the whole chain; this one names the
    /// previous link. Logged as `parent_id` when registered on a formatter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::job;
    ///
    /// let metadata = HashMap::from([(job::PARENT_KEY.to_owned(), "req-9".to_owned())]);
    /// let seen = job::Policy::new().context(&metadata).run(|| job::PARENT_ID.get());
    /// assert_eq!(seen.unwrap(), "req-9");
    /// ```
    pub static PARENT_ID: CorrelationId;
}

type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How jobs and messages carry the context: which user slots travel with
/// them, and which correlation IDs a worker accepts. The `apalis` and `nats`
/// integrations take one; use it directly for any other transport.
///
/// Cheap to clone (the settings are shared).
///
/// # Examples
///
/// ```
/// use correlated::job::Policy;
///
/// correlated::slot! { pub static TENANT: String; }
///
/// let policy = Policy::new()
///     .validator(|id| id.len() >= 8)
///     .with_slot(&TENANT, "x-tenant")
///     .unwrap();
/// # drop(policy);
/// ```
#[derive(Clone, Default)]
pub struct Policy {
    validator: Option<Validator>,
    slots: Arc<[TravellingSlot]>,
}

/// A user slot that travels with jobs, its type erased so that one policy
/// can hold slots of different types.
trait TravelSlot: Sync {
    /// The slot's current value as text, if it has one.
    fn render(&'static self) -> Option<String>;

    /// `ctx` with the slot set to `text` parsed, or `ctx` back as the error
    /// if it does not parse.
    fn apply(&'static self, ctx: Context, text: &str) -> Result<Context, Context>;

    /// `ctx` without the slot.
    fn clear(&'static self, ctx: Context) -> Context;

    fn declared_name(&self) -> &'static str;
}

impl<T> TravelSlot for Slot<T>
where
    T: fmt::Display + FromStr + Clone + Send + Sync + 'static,
{
    fn render(&'static self) -> Option<String> {
        self.with(|value| value.map(ToString::to_string))
    }

    fn apply(&'static self, ctx: Context, text: &str) -> Result<Context, Context> {
        match text.parse::<T>() {
            Ok(value) => Ok(ctx.with_value(self, value)),
            Err(_) => Err(ctx),
        }
    }

    fn clear(&'static self, ctx: Context) -> Context {
        ctx.without(self)
    }

    fn declared_name(&self) -> &'static str {
        self.name()
    }
}

/// One travelling slot and the key it travels under.
#[derive(Clone)]
struct TravellingSlot {
    key: Box<str>,
    slot: &'static dyn TravelSlot,
}

/// A [`Policy`] setting that cannot work, reported when it is made.
///
/// # Examples
///
/// ```
/// use correlated::job::Policy;
///
/// correlated::slot! { static TENANT: String; }
///
/// let error = Policy::new().with_slot(&TENANT, "x-job-id").unwrap_err();
/// assert!(error.to_string().contains("x-job-id"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    key: String,
    reason: &'static str,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is the application's own configuration, not outside input.
        write!(
            f,
            "cannot carry a slot under `{}`: {}",
            self.key, self.reason
        )
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// The default policy: the floor ([`CorrelationId::parse`]) is the only
    /// check on incoming IDs, and no user slot travels.
    ///
    /// # Examples
    ///
    /// ```
    /// let policy = correlated::job::Policy::new();
    /// assert!(format!("{policy:?}").contains("floor"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts an incoming correlation ID only if it passes the floor and
    /// `validator`; a validator that panics rejects it.
    ///
    /// Job and parent IDs are checked by the floor only: they are generated
    /// here (UUIDv7s), not in your format.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::{carrier, job::Policy};
    ///
    /// let policy = Policy::new().validator(|id| id.starts_with("req-"));
    /// let foreign = HashMap::from([(carrier::KEY.to_owned(), "other-1".to_owned())]);
    /// let id = policy.context(&foreign).correlation_id().cloned().unwrap();
    /// assert_ne!(id, "other-1"); // a new one
    /// ```
    #[must_use]
    pub fn validator(mut self, validator: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// Also carries `slot` under `key`: enqueueing writes its value (with
    /// [`Display`](fmt::Display)) when it is set and the text passes the
    /// floor; the worker sets it from the entry when that passes the floor
    /// and parses (with [`FromStr`]), and leaves it unset otherwise.
    ///
    /// Values travel as 1 to 128 bytes of visible ASCII, like IDs: a value
    /// outside that (a name with a space, say) is not sent.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] when `key` is empty, not lowercase ASCII letters,
    /// digits, `-`, `_` or `.`, one of the built-in keys, or already used
    /// by another slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::job::Policy;
    ///
    /// correlated::slot! { pub static TENANT: u32; }
    ///
    /// let policy = Policy::new().with_slot(&TENANT, "x-tenant").unwrap();
    /// let mut metadata = HashMap::new();
    /// {
    ///     let _tenant = TENANT.scope(7);
    ///     policy.inject(&mut metadata);
    /// }
    /// assert_eq!(metadata["x-tenant"], "7");
    /// assert_eq!(policy.context(&metadata).get(&TENANT), Some(7));
    /// ```
    pub fn with_slot<T>(mut self, slot: &'static Slot<T>, key: &str) -> Result<Self, PolicyError>
    where
        T: fmt::Display + FromStr + Clone + Send + Sync + 'static,
    {
        let error = |reason| PolicyError {
            key: key.to_owned(),
            reason,
        };
        let well_formed = !key.is_empty()
            && key.len() <= 64
            && key.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if !well_formed {
            return Err(error(
                "a key is 1 to 64 lowercase ASCII letters, digits, `-`, `_` or `.`",
            ));
        }
        if [carrier::KEY, JOB_KEY, PARENT_KEY].contains(&key) {
            return Err(error("the key is one of the built-in keys"));
        }
        if self.slots.iter().any(|travelling| &*travelling.key == key) {
            return Err(error("another slot already travels under that key"));
        }
        let mut slots = self.slots.to_vec();
        slots.push(TravellingSlot {
            key: key.into(),
            slot,
        });
        self.slots = slots.into();
        Ok(self)
    }

    /// Writes the current context into an outgoing job's `carrier`: the
    /// correlation ID (a new one when there is none, so that every retry of
    /// a job enqueued outside any context still shares one), a new job ID,
    /// the parent (the current [`JOB_ID`], else the current correlation
    /// ID), and the travelling slots that are set.
    ///
    /// An entry the carrier already holds is kept, as with
    /// [`carrier::inject`]. Returns the job ID it stored, if it stored one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::{carrier, job};
    ///
    /// let mut metadata = HashMap::new();
    /// let job_id = job::Policy::new().inject(&mut metadata).unwrap();
    /// assert_eq!(metadata[job::JOB_KEY], job_id.as_str());
    /// assert!(metadata.contains_key(carrier::KEY)); // a new root ID
    /// assert!(!metadata.contains_key(job::PARENT_KEY)); // nobody enqueued it
    /// ```
    pub fn inject<C: Carrier + ?Sized>(&self, carrier: &mut C) -> Option<CorrelationId> {
        let correlation_id = current();
        if !carrier.contains(carrier::KEY) {
            let id = correlation_id
                .clone()
                .unwrap_or_else(CorrelationId::generate);
            carrier.set(carrier::KEY, id.as_str().to_owned());
        }
        if let Some(parent) = JOB_ID.get().or(correlation_id)
            && !carrier.contains(PARENT_KEY)
        {
            carrier.set(PARENT_KEY, parent.as_str().to_owned());
        }
        for travelling in self.slots.iter() {
            if carrier.contains(&travelling.key) {
                continue;
            }
            // Our own value, but it must pass the same floor on the way in:
            // sending what the worker would refuse helps nobody.
            if let Some(text) = travelling.slot.render()
                && CorrelationId::parse(&text).is_ok()
            {
                carrier.set(&travelling.key, text);
            }
        }
        if carrier.contains(JOB_KEY) {
            return None;
        }
        let job_id = CorrelationId::generate();
        carrier.set(JOB_KEY, job_id.as_str().to_owned());
        Some(job_id)
    }

    /// The context to run a received job in: the current context (so the
    /// worker's own slots are kept) with the job's correlation ID, job ID,
    /// parent and travelling slots, each checked as outside input (see the
    /// [module docs](self) for what happens to a missing or invalid one).
    ///
    /// Rejections are logged at debug level (feature `tracing`), in the
    /// job's context, with the key and the reason and never the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::{carrier, job};
    ///
    /// let hostile = HashMap::from([
    ///     (carrier::KEY.to_owned(), "a\r\nforged: yes".to_owned()),
    ///     (job::PARENT_KEY.to_owned(), "x".repeat(500)),
    /// ]);
    /// let ctx = job::Policy::new().context(&hostile);
    /// let id = ctx.correlation_id().unwrap();
    /// assert_eq!(uuid::Uuid::parse_str(id.as_str()).unwrap().get_version_num(), 7);
    /// assert_eq!(ctx.get(&job::PARENT_ID), None);
    /// ```
    pub fn context<C: Carrier + ?Sized>(&self, carrier: &C) -> Context {
        let mut rejected = Rejections::default();
        let id = match self.read_correlation_id(carrier) {
            Ok(id) => id,
            Err(reason) => {
                rejected.push(carrier::KEY, reason);
                CorrelationId::generate()
            }
        };
        let job_id = match read_id(carrier, JOB_KEY) {
            Ok(id) => id,
            Err(reason) => {
                rejected.push(JOB_KEY, reason);
                CorrelationId::generate()
            }
        };
        let mut ctx = Context::current()
            .with_correlation_id(id)
            .with_value(&JOB_ID, job_id);
        ctx = match read_id(carrier, PARENT_KEY) {
            Ok(parent) => ctx.with_value(&PARENT_ID, parent),
            Err(Rejection::Missing) => ctx.without(&PARENT_ID),
            Err(reason) => {
                rejected.push(PARENT_KEY, reason);
                ctx.without(&PARENT_ID)
            }
        };
        for travelling in self.slots.iter() {
            ctx = self.read_slot(travelling, carrier, ctx, &mut rejected);
        }
        rejected.report(&ctx);
        ctx
    }

    /// Runs `job` in the context its `carrier` holds: shorthand for
    /// [`self.context(carrier).wrap(job)`](Policy::context).
    ///
    /// The job sees that context at every point, and only while it is
    /// polled: when it ends, fails, panics or is dropped, the worker's own
    /// context is current again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use correlated::{CorrelationId, Correlate, carrier, job};
    ///
    /// # futures::executor::block_on(async {
    /// let message = HashMap::from([(carrier::KEY.to_owned(), "req-5".to_owned())]);
    /// async {
    ///     let seen = job::Policy::new().wrap(&message, async { correlated::current() }).await;
    ///     assert_eq!(seen.unwrap(), "req-5");
    ///     assert_eq!(correlated::current().unwrap(), "worker-1");
    /// }
    /// .correlated(CorrelationId::parse("worker-1").unwrap())
    /// .await;
    /// # });
    /// ```
    pub fn wrap<C, F>(&self, carrier: &C, job: F) -> Correlated<F::IntoFuture>
    where
        C: Carrier + ?Sized,
        F: IntoFuture,
    {
        self.context(carrier).wrap(job.into_future())
    }

    fn read_correlation_id<C: Carrier + ?Sized>(
        &self,
        carrier: &C,
    ) -> Result<CorrelationId, Rejection> {
        let text = carrier.get(carrier::KEY).ok_or(Rejection::Missing)?;
        let parsed = match &self.validator {
            Some(validator) => CorrelationId::parse_with(text, &**validator),
            None => CorrelationId::parse(text),
        };
        parsed.map_err(Rejection::Invalid)
    }

    fn read_slot<C: Carrier + ?Sized>(
        &self,
        travelling: &TravellingSlot,
        carrier: &C,
        ctx: Context,
        rejected: &mut Rejections,
    ) -> Context {
        let Some(text) = carrier.get(&travelling.key) else {
            return travelling.slot.clear(ctx);
        };
        if let Err(error) = CorrelationId::parse(text) {
            rejected.push_slot(travelling, Rejection::Invalid(error));
            return travelling.slot.clear(ctx);
        }
        match travelling.slot.apply(ctx, text) {
            Ok(ctx) => ctx,
            Err(ctx) => {
                rejected.push_slot(travelling, Rejection::Unparsable);
                travelling.slot.clear(ctx)
            }
        }
    }
}

/// An ID under `key`, checked by the floor.
fn read_id<C: Carrier + ?Sized>(carrier: &C, key: &str) -> Result<CorrelationId, Rejection> {
    let text = carrier.get(key).ok_or(Rejection::Missing)?;
    CorrelationId::parse(text).map_err(Rejection::Invalid)
}

/// Why an incoming entry was not used. Never holds the value, so it is safe
/// to log.
#[derive(Debug)]
enum Rejection {
    /// Not there (or not text).
    Missing,
    /// The floor or the validator refused it.
    Invalid(InvalidCorrelationId),
    /// It passed the floor but does not parse as the slot's type.
    Unparsable,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Missing => f.write_str("it is missing"),
            Rejection::Invalid(error) => fmt::Display::fmt(error, f),
            Rejection::Unparsable => f.write_str("it does not parse as the slot's type"),
        }
    }
}

/// The rejections of one incoming job, logged once its context is known so
/// that the log lines carry the job's (new) ID.
#[derive(Default)]
struct Rejections(Vec<(String, Rejection)>);

impl Rejections {
    fn push(&mut self, key: &str, reason: Rejection) {
        self.0.push((key.to_owned(), reason));
    }

    fn push_slot(&mut self, travelling: &TravellingSlot, reason: Rejection) {
        self.0.push((
            format!(
                "{} (slot {})",
                travelling.key,
                travelling.slot.declared_name()
            ),
            reason,
        ));
    }

    #[cfg(feature = "tracing")]
    fn report(self, ctx: &Context) {
        if self.0.is_empty() {
            return;
        }
        ctx.run(|| {
            for (key, reason) in &self.0 {
                let outcome = if key == carrier::KEY || key == JOB_KEY {
                    "using a new id"
                } else {
                    "leaving it unset"
                };
                match reason {
                    Rejection::Missing => {
                        ::tracing::debug!(key = %key, "the job has no {key} entry; {outcome}");
                    }
                    Rejection::Invalid(_) | Rejection::Unparsable => ::tracing::debug!(
                        key = %key,
                        reason = %reason,
                        "rejected the job's {key} entry; {outcome}"
                    ),
                }
            }
        });
    }

    #[cfg(not(feature = "tracing"))]
    fn report(self, _ctx: &Context) {}
}

// By hand: the validator is a closure.
impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let validation = if self.validator.is_some() {
            "custom"
        } else {
            "floor"
        };
        let slots: Vec<_> = self
            .slots
            .iter()
            .map(|travelling| (travelling.slot.declared_name(), &*travelling.key))
            .collect();
        f.debug_struct("Policy")
            .field("validation", &validation)
            .field("slots", &slots)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn is_generated(id: &CorrelationId) -> bool {
        uuid::Uuid::parse_str(id.as_str()).is_ok_and(|uuid| uuid.get_version_num() == 7)
    }

    crate::slot! {
        static TENANT: u32;
        static USER: String;
    }

    #[test]
    fn a_request_is_the_parent_of_the_jobs_it_enqueues() {
        let mut metadata = HashMap::new();
        let _request = crate::scope(CorrelationId::parse("req-1").unwrap());
        let job_id = Policy::new().inject(&mut metadata).unwrap();
        assert_eq!(metadata[carrier::KEY], "req-1");
        assert_eq!(metadata[PARENT_KEY], "req-1");
        assert_eq!(metadata[JOB_KEY], job_id.as_str());
        assert!(is_generated(&job_id));
    }

    #[test]
    fn a_job_is_the_parent_of_the_jobs_it_enqueues_and_keeps_the_correlation_id() {
        let policy = Policy::new();
        let incoming = map(&[(carrier::KEY, "req-1"), (JOB_KEY, "job-a")]);
        let mut child = HashMap::new();
        policy.context(&incoming).run(|| policy.inject(&mut child));
        assert_eq!(child[carrier::KEY], "req-1");
        assert_eq!(child[PARENT_KEY], "job-a");
        assert_ne!(child[JOB_KEY], "job-a");
    }

    #[test]
    fn hostile_entries_are_never_kept_nor_passed_to_child_jobs() {
        let policy = Policy::new().with_slot(&USER, "x-user").unwrap();
        let long = "x".repeat(129);
        for bad in [
            "",
            "a b",
            "line\nbreak",
            "nul\0",
            "caf\u{e9}",
            "tab\t",
            long.as_str(),
        ] {
            let incoming = map(&[
                (carrier::KEY, bad),
                (JOB_KEY, bad),
                (PARENT_KEY, bad),
                ("x-user", bad),
            ]);
            let ctx = policy.context(&incoming);
            assert!(is_generated(ctx.correlation_id().unwrap()), "{bad:?}");
            assert!(is_generated(&ctx.get(&JOB_ID).unwrap()), "{bad:?}");
            assert_eq!(ctx.get(&PARENT_ID), None, "{bad:?}");
            assert_eq!(ctx.get(&USER), None, "{bad:?}");
            let mut child = HashMap::new();
            ctx.run(|| policy.inject(&mut child));
            assert!(child.values().all(|value| value != bad), "{bad:?}");
            assert!(!child.contains_key("x-user"));
        }
    }

    #[test]
    fn the_validator_applies_to_the_correlation_id_and_a_panic_rejects() {
        let policy = Policy::new().validator(|id| {
            assert!(id != "boom", "validator failure");
            id.starts_with("req-")
        });
        for (value, kept) in [("req-1", true), ("job-1", false), ("boom", false)] {
            let ctx = policy.context(&map(&[(carrier::KEY, value)]));
            assert_eq!(ctx.correlation_id().unwrap() == value, kept, "{value}");
        }
    }

    #[test]
    fn missing_entries_give_a_new_id_and_no_parent() {
        let ctx = Policy::new().context(&map(&[]));
        assert!(is_generated(ctx.correlation_id().unwrap()));
        assert!(is_generated(&ctx.get(&JOB_ID).unwrap()));
        assert_eq!(ctx.get(&PARENT_ID), None);
    }

    #[test]
    fn slots_travel_when_they_parse_and_are_unset_otherwise() {
        let policy = Policy::new().with_slot(&TENANT, "x-tenant").unwrap();
        let mut metadata = HashMap::new();
        {
            let _tenant = TENANT.scope(42);
            policy.inject(&mut metadata);
        }
        assert_eq!(policy.context(&metadata).get(&TENANT), Some(42));
        // The worker's own value never leaks into a job that has none.
        let _worker = TENANT.scope(1);
        assert_eq!(policy.context(&map(&[])).get(&TENANT), None);
        assert_eq!(
            policy.context(&map(&[("x-tenant", "-3")])).get(&TENANT),
            None
        );
    }

    #[test]
    fn slot_values_outside_the_floor_are_not_sent() {
        let policy = Policy::new().with_slot(&USER, "x-user").unwrap();
        let mut metadata = HashMap::new();
        let _user = USER.scope("Alice Smith".to_owned());
        policy.inject(&mut metadata);
        assert!(!metadata.contains_key("x-user"));
    }

    #[test]
    fn bad_slot_keys_are_errors_when_the_policy_is_made() {
        for key in [
            "",
            "X-Upper",
            "with space",
            carrier::KEY,
            JOB_KEY,
            PARENT_KEY,
        ] {
            assert!(Policy::new().with_slot(&USER, key).is_err(), "{key:?}");
        }
        let policy = Policy::new().with_slot(&USER, "x-user").unwrap();
        assert!(policy.with_slot(&TENANT, "x-user").is_err());
    }

    #[test]
    fn inject_keeps_entries_the_caller_set() {
        let mut metadata = map(&[(JOB_KEY, "mine"), (carrier::KEY, "theirs")]);
        let _request = crate::scope(CorrelationId::parse("req-1").unwrap());
        assert_eq!(Policy::new().inject(&mut metadata), None);
        assert_eq!(metadata[JOB_KEY], "mine");
        assert_eq!(metadata[carrier::KEY], "theirs");
    }

    #[test]
    fn the_workers_context_is_back_after_a_job() {
        let _worker = crate::scope(CorrelationId::parse("worker").unwrap());
        let incoming = map(&[(carrier::KEY, "req-1")]);
        let seen = futures::executor::block_on(
            Policy::new().wrap(&incoming, async { (current(), JOB_ID.get()) }),
        );
        assert_eq!(seen.0.unwrap(), "req-1");
        assert!(seen.1.is_some());
        assert_eq!(current().unwrap(), "worker");
        assert_eq!(JOB_ID.get(), None);
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn rejections_are_logged_at_debug_in_the_jobs_context_without_the_value() {
        use std::io;
        use std::sync::Mutex;

        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        let _serial = crate::tracing_test_lock();
        let output = Capture::default();
        let writer = output.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(::tracing::Level::DEBUG)
            .without_time()
            .with_writer(move || writer.clone())
            .map_event_format(crate::tracing::CorrelatedFormat::text)
            .finish();
        let policy = Policy::new().with_slot(&TENANT, "x-tenant").unwrap();
        let incoming = map(&[
            (carrier::KEY, "SECRET\u{7f}"),
            (PARENT_KEY, "SECRET parent"),
            ("x-tenant", "SECRET-tenant"),
        ]);
        let ctx = ::tracing::subscriber::with_default(subscriber, || policy.context(&incoming));
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        let id = ctx.correlation_id().unwrap().as_str();
        let lines: Vec<_> = text.lines().collect();
        // correlation id, job id (missing), parent, tenant
        assert_eq!(lines.len(), 4, "{text}");
        for line in lines {
            assert!(line.starts_with(&format!("correlation_id={id} ")), "{line}");
            assert!(line.contains("DEBUG"), "{line}");
        }
    }
}
