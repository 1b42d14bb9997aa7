//! The worker process of the jobs example (see `jobs_service.rs`): runs the
//! apalis jobs the service enqueued on Redis, each under the ID of the
//! request that enqueued it, and the NATS messages it published, the same
//! way. An order job enqueues a shipping job, which runs under the same
//! correlation ID with the order job as its parent.
//!
//! ```sh
//! cargo run -p correlated --example jobs_worker --features apalis,nats,axum,tracing-json,tokio
//! ```
//!
//! Settings: `--redis` or `REDIS_URL`, `--nats` or `NATS_URL` (defaults as
//! in `jobs_service.rs`). Logs are JSON lines on stdout, each with
//! `correlation_id`, `job_id` and `parent_id`; the first says when the
//! worker is ready.

use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use correlated::apalis::CorrelationLayer;
use correlated::job;

#[path = "support/jobs.rs"]
mod jobs;

use jobs::{Order, Step};

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
    let millis = jobs::setting("--job-millis", "JOB_MILLIS", "10");
    Duration::from_millis(millis.parse().unwrap_or(10))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    jobs::init_logs();
    let redis = jobs::setting("--redis", "REDIS_URL", "redis://127.0.0.1:6379/");
    let nats = jobs::setting("--nats", "NATS_URL", "nats://127.0.0.1:4222");
    let policy = job::Policy::new();

    let nats = async_nats::connect(nats).await?;
    let subscriber = nats.subscribe(jobs::SUBJECT).await?;
    nats.flush().await?;
    let messages = tokio::spawn(correlated::nats::serve(
        subscriber,
        policy.clone(),
        |message| async move {
            let n = String::from_utf8_lossy(&message.payload).into_owned();
            tracing::info!(n = %n, "message received");
        },
    ));

    let config = Config::default()
        .queue(jobs::QUEUE)
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
    tokio::select! {
        result = worker.run() => result?,
        result = messages => result?,
    }
    Ok(())
}
