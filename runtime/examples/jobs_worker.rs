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

use correlated::job;

#[path = "support/jobs.rs"]
mod jobs;
#[path = "support/json_logs.rs"]
mod json_logs;
#[path = "support/nats_connect.rs"]
mod nats_connect;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    json_logs::init();
    let redis = jobs::setting("--redis", "REDIS_URL", "redis://127.0.0.1:6379/");
    let nats = jobs::setting("--nats", "NATS_URL", "nats://127.0.0.1:4222");
    let policy = job::Policy::new();

    let nats = nats_connect::connect(&nats).await?;
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

    // The apalis worker (shared with the demo): it logs "worker ready".
    tokio::select! {
        result = jobs::work(&redis, policy) => result?,
        result = messages => result?,
    }
    Ok(())
}
