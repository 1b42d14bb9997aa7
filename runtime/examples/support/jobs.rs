//! What the jobs example service (`jobs_service.rs`) and worker
//! (`jobs_worker.rs`) share: the job's arguments, where the queues are, and
//! the JSON log setup.
#![allow(dead_code)] // each binary uses part of it

use correlated::job;
use serde::{Deserialize, Serialize};
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

/// One JSON object per line on stdout, each with `correlation_id`,
/// `job_id` and `parent_id` (`-` when unset): INFO and above, and
/// correlated's own debug lines (each rejected ID, without its value).
pub(crate) fn init_logs() {
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .map_event_format(|format| {
            correlated::tracing::CorrelatedFormat::json(format)
                .with_slot(&job::JOB_ID)
                .with_slot(&job::PARENT_ID)
        });
    tracing_subscriber::registry()
        .with(
            layer.with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_default(tracing::Level::INFO)
                    .with_target("correlated", tracing::Level::DEBUG),
            ),
        )
        .init();
}

/// The value of `--name value` on the command line, else of the environment
/// variable `env`, else `default`.
pub(crate) fn setting(name: &str, env: &str, default: &str) -> String {
    let mut args = std::env::args().skip_while(|arg| arg != name).skip(1);
    args.next()
        .or_else(|| std::env::var(env).ok())
        .unwrap_or_else(|| default.to_owned())
}
