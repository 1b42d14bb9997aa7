//! Spawning tokio tasks that carry the current context.
//!
//! A task spawned with plain `tokio::spawn` starts with no context: nothing
//! is inherited implicitly, so work that outlives its request is only
//! correlated when you say so.

use std::future::Future;

use tokio::task::JoinHandle;

use crate::context::Context;
use crate::context::Correlate;

/// Spawns a task that runs in a snapshot of the current context.
///
/// # Examples
///
/// ```
/// use correlated::CorrelationId;
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let id = CorrelationId::generate();
/// let _guard = correlated::scope(id.clone());
/// let seen = correlated::spawn(async { correlated::current() }).await.unwrap();
/// assert_eq!(seen, Some(id));
/// # }
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_context())
}

/// Runs a blocking closure on tokio's blocking pool in a snapshot of the
/// current context.
///
/// # Examples
///
/// ```
/// use correlated::CorrelationId;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let _guard = correlated::scope(CorrelationId::parse("req-5").unwrap());
/// let seen = correlated::spawn_blocking(correlated::current).await.unwrap();
/// assert_eq!(seen.unwrap(), "req-5");
/// # }
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let context = Context::current();
    tokio::task::spawn_blocking(move || context.run(f))
}
