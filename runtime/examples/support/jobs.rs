//! What the jobs examples (`jobs_service.rs`, `jobs_worker.rs`) and the
//! demo's job step (`demo.rs`) share: the job's arguments, where the queues
//! are, how an order is enqueued, the worker that runs it, and the log filter.
#![allow(dead_code)] // each binary uses part of it

use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use correlated::apalis::CorrelationLayer;
use correlated::job;
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The apalis queue (a Redis key prefix) the service enqueues on.
pub(crate) const QUEUE: &str = "orders";

/// The NATS subject the service publishes on.
pub(crate) const SUBJECT: &str = "orders.created";

/// One job: an order to process, then its shipping, enqueued by the order
/// job itself (a job chain: request → order job → shipping job).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Order {
    pub(crate) n: u64,
    pub(crate) step: Step,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) enum Step {
    Order,
    Shipping,
}

/// The service's handle on the queue.
pub(crate) async fn storage(redis: &str) -> Result<RedisStorage<Order>, apalis_redis::RedisError> {
    Ok(RedisStorage::new(apalis_redis::connect(redis).await?)
        .with_config(Config::default().queue(QUEUE)))
}

/// Enqueues order `n`'s job under the current context (in a request: its
/// ID, and the request as the job's parent); returns the job's own ID.
pub(crate) async fn enqueue(
    storage: &RedisStorage<Order>,
    policy: &job::Policy,
    n: u64,
) -> Result<String, BoxDynError> {
    let order = Order {
        n,
        step: Step::Order,
    };
    let task = correlated::apalis::task(policy, order);
    let job_id = task
        .metadata()
        .get(job::JOB_KEY)
        .expect("a new task's metadata always gets a job ID")
        .to_owned();
    storage.clone().push_task(task).await?;
    Ok(job_id)
}

/// Runs the jobs enqueued on `redis`, each in the context its metadata
/// carries; logs "worker ready" once it is about to fetch, then runs until
/// the process ends.
pub(crate) async fn work(redis: &str, policy: job::Policy) -> Result<(), BoxDynError> {
    let config = Config::default()
        .queue(QUEUE)
        // Each heartbeat also looks for retried and orphaned tasks.
        .heartbeat_interval(Duration::from_millis(500));
    let storage = RedisStorage::new(apalis_redis::connect(redis).await?).with_config(config);
    let worker = WorkerBuilder::new(format!("worker-{}", std::process::id()))
        .backend(storage.clone())
        .data(storage)
        .data(policy.clone())
        // Each task on a tokio task of its own: the correlation layer's
        // future, with the task's context, is what gets spawned.
        .parallelize(tokio::spawn)
        .layer(CorrelationLayer::new(policy))
        .build(run);
    tracing::info!("worker ready");
    worker.run().await?;
    Ok(())
}

/// An order job enqueues its shipping; a shipping job just logs.
async fn run(
    order: Order,
    attempt: Attempt,
    storage: Data<RedisStorage<Order>>,
    policy: Data<job::Policy>,
) -> Result<(), BoxDynError> {
    let n = order.n;
    tracing::info!(n, step = ?order.step, attempt = attempt.current(), "job started");
    // Work takes a while (`JOB_MILLIS`, default 10): long enough for a test
    // to kill the process in the middle of a job.
    tokio::time::sleep(job_time()).await;
    if order.step == Step::Order {
        let shipping = Order {
            n,
            step: Step::Shipping,
        };
        (*storage)
            .clone()
            .push_task(correlated::apalis::task(&policy, shipping))
            .await?;
    }
    tracing::info!(n, step = ?order.step, "job done");
    Ok(())
}

fn job_time() -> Duration {
    let millis = setting("--job-millis", "JOB_MILLIS", "10");
    Duration::from_millis(millis.parse().unwrap_or(10))
}

/// Log lines on stdout that start with the job's three IDs
/// (`correlation_id=… job_id=… parent_id=…`, `-` when unset), as the demo
/// shows them. The jobs examples log the same as JSON (`json_logs.rs`).
pub(crate) fn init_text_logs() {
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .map_event_format(|format| {
            correlated::tracing::CorrelatedFormat::text(format)
                .with_slot(&job::JOB_ID)
                .with_slot(&job::PARENT_ID)
        });
    tracing_subscriber::registry()
        .with(layer.with_filter(log_filter()))
        .init();
}

/// INFO and above, and correlated's own debug lines (each rejected ID,
/// without its value).
pub(crate) fn log_filter() -> Targets {
    Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("correlated", tracing::Level::DEBUG)
}

/// The value of `--name value` on the command line, else of the environment
/// variable `env`, else `default`.
pub(crate) fn setting(name: &str, env: &str, default: &str) -> String {
    let mut args = std::env::args().skip_while(|arg| arg != name).skip(1);
    args.next()
        .or_else(|| std::env::var(env).ok())
        .unwrap_or_else(|| default.to_owned())
}
