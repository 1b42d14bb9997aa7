//! The jobs examples' logs (`jobs_service.rs`, `jobs_worker.rs`): JSON, which
//! needs tracing-subscriber's `json` feature (correlated's `tracing-json`),
//! kept apart from `jobs.rs` so that the demo, which shares that, does not.

use correlated::job;
use tracing_subscriber::prelude::*;

use super::jobs;

/// One JSON object per line on stdout, each with `correlation_id`,
/// `job_id` and `parent_id` (`-` when unset).
pub(crate) fn init() {
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .map_event_format(|format| {
            correlated::tracing::CorrelatedFormat::json(format)
                .with_slot(&job::JOB_ID)
                .with_slot(&job::PARENT_ID)
        });
    tracing_subscriber::registry()
        .with(layer.with_filter(jobs::log_filter()))
        .init();
}
