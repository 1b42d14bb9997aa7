//! Every log line carries the correlation ID of the request it was written
//! for, and the user it was written on behalf of.
//!
//! Four "requests" run at once on a two-thread runtime. Each logs before and
//! after several `.await`s, from a helper that knows nothing about IDs, and
//! from a background job it spawns; a startup line outside any request shows
//! `correlation_id=-`, and one line sets `correlation_id` itself, which is kept.
//!
//! Run with: `cargo run -p correlated --example logging --features tracing,tokio`
//! or, for JSON lines, add the `tracing-json` feature and pass `--json`:
//! `cargo run -p correlated --example logging --features tracing-json,tokio -- --json`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use correlated::{Correlate, CorrelationId};
use tracing_subscriber::prelude::*;

correlated::slot! {
    /// The authenticated user, known once the request is authenticated.
    static USER_ID: String;
}

fn install_subscriber() {
    let json = std::env::args().any(|arg| arg == "--json");
    if json {
        #[cfg(feature = "tracing-json")]
        {
            let layer = correlated::tracing::json_layer()
                .map_event_format(|format| format.with_slot(&USER_ID));
            tracing_subscriber::registry().with(layer).init();
            return;
        }
        #[cfg(not(feature = "tracing-json"))]
        eprintln!("--json needs the `tracing-json` feature; writing text");
    }
    // The documented setup, plus a user slot and thread names.
    let layer = tracing_subscriber::fmt::layer()
        .with_thread_names(true)
        .map_event_format(|format| {
            correlated::tracing::CorrelatedFormat::text(format).with_slot(&USER_ID)
        });
    tracing_subscriber::registry().with(layer).init();
}

/// Knows nothing about correlation IDs, yet its log line carries one.
async fn load_order(order: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(u64::from(order % 3) * 5)).await;
    tracing::debug!(order, "database answered");
    tracing::info!(order, "order loaded");
    order * 100
}

async fn handle(request: u32) {
    tracing::info!(request, "request received");
    tokio::task::yield_now().await;

    // Authentication binds the user for the rest of the request.
    let _user = USER_ID.scope(format!("user-{request}"));
    tracing::info!("authenticated");

    let total = load_order(request).await;
    let job = correlated::spawn(async move {
        tracing::info!(total, "background job: sending receipt");
    });
    job.await.expect("the job runs to completion");

    if request == 2 {
        // An explicit field wins over the injected one.
        tracing::warn!(
            correlation_id = "legacy-42",
            "forwarded on behalf of another request"
        );
    }
    tracing::info!(total, "request done");
}

fn main() {
    install_subscriber();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name_fn(|| {
            static NEXT: AtomicUsize = AtomicUsize::new(1);
            format!("worker-{}", NEXT.fetch_add(1, Ordering::Relaxed))
        })
        .enable_all()
        .build()
        .expect("a tokio runtime");

    tracing::info!("service starting");
    runtime.block_on(async {
        let requests: Vec<_> = (1..=4)
            .map(|request| {
                let id = CorrelationId::parse(&format!("req-{request}")).expect("a valid ID");
                tokio::spawn(handle(request).correlated(id))
            })
            .collect();
        for request in requests {
            request.await.expect("the request completes");
        }
    });
    tracing::info!("service stopped");
}
