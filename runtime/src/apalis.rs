//! apalis jobs that carry the correlation ID to their worker (feature
//! `apalis`).
//!
//! apalis 1.0 keeps a string map of metadata with every task and stores it
//! with the task in its backend (for `apalis-redis`, a hash next to the
//! task's arguments), so the context travels there, not in the job's
//! arguments: the entries of [`job`](crate::job)'s table (`x-correlation-id`,
//! `x-job-id`, `x-parent-id` and the user slots your [`Policy`] names).
//!
//! - Enqueue with [`task`] (or put [`metadata`] into your own
//!   `TaskBuilder`): the task takes the current context's entries with it.
//! - Run the worker with [`CorrelationLayer`]: each task runs in the context
//!   its metadata holds, checked by the policy as outside input (a missing
//!   or invalid ID gives a new one, logged at debug level without the
//!   value); the worker's own context is back after each task, whether it
//!   succeeded, failed, panicked or was cancelled. Retries read the same
//!   metadata, so they run under the same correlation ID and job ID.
//!
//! # Examples
//!
//! ```
//! use apalis_core::task::Task;
//! use correlated::{CorrelationId, job};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # futures::executor::block_on(async {
//! let policy = job::Policy::new();
//!
//! // In a request: the task takes the request's context along.
//! let task = correlated::Context::new()
//!     .with_correlation_id(CorrelationId::parse("req-1").unwrap())
//!     .run(|| correlated::apalis::task(&policy, "send-mail"));
//!
//! // In the worker (normally `WorkerBuilder::new(..).layer(CorrelationLayer::new(policy))`):
//! let worker = ServiceBuilder::new()
//!     .layer(correlated::apalis::CorrelationLayer::new(policy))
//!     .service(service_fn(|_task: Task<&str>| async {
//!         Ok::<_, std::convert::Infallible>((correlated::current(), job::PARENT_ID.get()))
//!     }));
//! let (id, parent) = worker.oneshot(task).await.unwrap();
//! assert_eq!(id.unwrap(), "req-1");
//! assert_eq!(parent.unwrap(), "req-1");
//! # });
//! ```

use std::task::{Context as TaskContext, Poll};

use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::metadata::MetadataStore;
use tower_layer::Layer;
use tower_service::Service;

use crate::carrier::Carrier;
use crate::future::Correlated;
use crate::job::Policy;

/// Task metadata as a carrier; keys are compared exactly.
impl Carrier for MetadataStore {
    fn get(&self, key: &str) -> Option<&str> {
        MetadataStore::get(self, key)
    }

    fn set(&mut self, key: &str, value: String) {
        self.replace(key, value);
    }

    fn contains(&self, key: &str) -> bool {
        self.contains_key(key)
    }
}

/// The metadata a task enqueued now should carry: the current context's
/// entries, as [`Policy::inject`] writes them.
///
/// # Examples
///
/// ```
/// use apalis_core::task::builder::TaskBuilder;
/// use correlated::job;
///
/// let _request = correlated::scope("req-1".parse().unwrap());
/// let task = TaskBuilder::new(42_u32)
///     .with_metadata(correlated::apalis::metadata(&job::Policy::new()))
///     .max_attempts(3)
///     .build();
/// assert_eq!(task.metadata().get("x-correlation-id"), Some("req-1"));
/// ```
pub fn metadata(policy: &Policy) -> MetadataStore {
    let mut store = MetadataStore::new();
    policy.inject(&mut store);
    store
}

/// A task for `args` that carries the current context: push it with
/// apalis's `TaskSink::push_task`.
///
/// # Examples
///
/// ```
/// use correlated::job;
///
/// let _request = correlated::scope("req-1".parse().unwrap());
/// let task = correlated::apalis::task(&job::Policy::new(), "payload");
/// assert_eq!(task.metadata().get(job::PARENT_KEY), Some("req-1"));
/// // then: storage.push_task(task).await?;
/// ```
pub fn task<Args>(policy: &Policy, args: Args) -> Task<Args> {
    TaskBuilder::new(args)
        .with_metadata(metadata(policy))
        .build()
}

/// A tower [`Layer`] for apalis workers: every task runs in the context its
/// metadata carries (see the [module docs](self)).
///
/// Add it with `WorkerBuilder::layer`. Layers added after it (inside it) and
/// the task function run in the task's context; apalis's own backend layers
/// sit outside every user layer.
///
/// # Examples
///
/// ```no_run
/// use apalis::prelude::*;
/// use apalis_redis::RedisStorage;
/// use correlated::{apalis::CorrelationLayer, job};
///
/// async fn send_mail(to: String) -> Result<(), BoxDynError> {
///     tracing::info!("sending"); // carries the request's correlation_id
///     Ok(())
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let storage = RedisStorage::<String>::new(apalis_redis::connect("redis://127.0.0.1/").await?);
/// WorkerBuilder::new("mailer")
///     .backend(storage)
///     .layer(CorrelationLayer::new(job::Policy::new()))
///     .build(send_mail)
///     .run()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct CorrelationLayer {
    policy: Policy,
}

impl CorrelationLayer {
    /// A layer that reads tasks' metadata with `policy`.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::apalis::CorrelationLayer::new(correlated::job::Policy::new());
    /// # drop(layer);
    /// ```
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

impl<S> Layer<S> for CorrelationLayer {
    type Service = CorrelationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorrelationService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service [`CorrelationLayer`] builds: runs `S` for each task in the
/// task's context.
///
/// # Examples
///
/// ```
/// use apalis_core::task::Task;
/// use correlated::apalis::CorrelationLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # futures::executor::block_on(async {
/// let service = CorrelationLayer::default()
///     .layer(service_fn(|_: Task<()>| async { Ok::<_, ()>(correlated::current()) }));
/// // A task with no metadata runs under a new ID.
/// assert!(service.oneshot(Task::new(())).await.unwrap().is_some());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct CorrelationService<S> {
    inner: S,
    policy: Policy,
}

impl<S> CorrelationService<S> {
    /// The wrapped service.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::apalis::CorrelationLayer;
    /// use tower::Layer;
    ///
    /// let service = CorrelationLayer::default().layer(7_u8);
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::apalis::CorrelationLayer;
    /// use tower::Layer;
    ///
    /// let mut service = CorrelationLayer::default().layer(7_u8);
    /// *service.get_mut() += 1;
    /// assert_eq!(service.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::apalis::CorrelationLayer;
    /// use tower::Layer;
    ///
    /// assert_eq!(CorrelationLayer::default().layer("svc").into_inner(), "svc");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Args> Service<Task<Args>> for CorrelationService<S>
where
    S: Service<Task<Args>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Correlated<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let context = self.policy.context(task.metadata());
        // One frame for `call` and its future: what the inner `call` sets is
        // still set while the future runs.
        let inner = &mut self.inner;
        context.bind(|task| inner.call(task))(task)
    }
}
