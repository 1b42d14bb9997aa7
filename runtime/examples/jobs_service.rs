//! The HTTP side of a request that goes on through a job queue and a message
//! broker to another process (`jobs_worker.rs`): an axum service whose
//! `/orders/{n}` enqueues an apalis job on Redis and publishes a NATS
//! message, both carrying the request's correlation ID.
//!
//! ```sh
//! redis-server --port 6379 &  nats-server -p 4222 &
//! cargo run -p correlated --example jobs_worker --features apalis,nats,axum,tracing-json,tokio &
//! cargo run -p correlated --example jobs_service --features apalis,nats,axum,tracing-json,tokio -- --addr 127.0.0.1:8080
//! curl -H 'x-correlation-id: my-order-1' http://127.0.0.1:8080/orders/1
//! ```
//!
//! Settings: `--addr` (default `127.0.0.1:8080`), `--redis` or `REDIS_URL`
//! (default `redis://127.0.0.1:6379/`), `--nats` or `NATS_URL` (default
//! `nats://127.0.0.1:4222`). Logs are JSON lines on stdout; the first says
//! where the service listens.

use std::net::SocketAddr;

use apalis_redis::RedisStorage;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use correlated::job;
use correlated::tower::CorrelationLayer;

#[path = "support/jobs.rs"]
mod jobs;
#[path = "support/json_logs.rs"]
mod json_logs;
#[path = "support/nats_connect.rs"]
mod nats_connect;

use jobs::Order;

#[derive(Clone)]
struct App {
    storage: RedisStorage<Order>,
    nats: async_nats::Client,
    policy: job::Policy,
}

/// Enqueues the order's job, announces it on NATS, and answers with the
/// request's correlation ID (also in the `x-correlation-id` header).
async fn order(State(app): State<App>, Path(n): Path<u64>) -> Result<String, StatusCode> {
    tracing::info!(n, "order received");
    let job_id = jobs::enqueue(&app.storage, &app.policy, n)
        .await
        .map_err(|error| {
            tracing::error!(n, %error, "could not enqueue the order");
            StatusCode::SERVICE_UNAVAILABLE
        })?;
    let headers = correlated::nats::headers(&app.policy);
    app.nats
        .publish_with_headers(jobs::SUBJECT, headers, n.to_string().into())
        .await
        .map_err(|error| {
            tracing::error!(n, %error, "could not publish the order");
            StatusCode::SERVICE_UNAVAILABLE
        })?;
    tracing::info!(n, job = %job_id, "order queued");
    Ok(correlated::current()
        .map(|id| id.to_string())
        .unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    json_logs::init();
    let addr = jobs::setting("--addr", "ADDR", "127.0.0.1:8080");
    let redis = jobs::setting("--redis", "REDIS_URL", "redis://127.0.0.1:6379/");
    let nats = jobs::setting("--nats", "NATS_URL", "nats://127.0.0.1:4222");

    let storage = jobs::storage(&redis).await?;
    let nats = nats_connect::connect(&nats).await?;
    let app = App {
        storage,
        nats,
        policy: job::Policy::new(),
    };
    let router = Router::new()
        .route("/orders/{n}", get(order))
        .with_state(app)
        // Only a proxy on this host may choose a request's ID.
        .layer(CorrelationLayer::builder().trust("127.0.0.1")?.build());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
