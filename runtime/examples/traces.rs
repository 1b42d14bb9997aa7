//! The correlation ID in traces: the subscriber of the users' guide
//! ("Traces and OpenTelemetry"), a service behind `CorrelationLayer` with the
//! request span on, and what OpenTelemetry would export.
//!
//! Two requests go through the service in process: one from a trusted peer
//! with a `traceparent` (its request span continues that trace), one from an
//! untrusted peer (a new trace, a new ID). The handler logs and runs a
//! `#[correlated(span)]` function. The SDK's in-memory exporters stand in for
//! a collector; the example prints every exported span and log record with
//! its `correlation_id`, next to the fmt lines.
//!
//! Run with: `cargo run -p correlated --example traces --features axum,opentelemetry,tokio`

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::routing::get;
use correlated::correlated;
use correlated::opentelemetry::CorrelationLogProcessor;
use correlated::tower::CorrelationLayer;
use correlated::tracing::RequestSpan;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

/// A step of the handler with a span of its own.
#[correlated(span)]
async fn load_order(order: u32) -> u32 {
    tracing::info!(order, "order loaded");
    order
}

async fn handler() -> String {
    tracing::info!("handling");
    format!("order {}", load_order(7).await)
}

#[tokio::main]
async fn main() {
    // The telemetry pipeline, as in the users' guide (in-memory exporters in
    // place of opentelemetry-otlp's).
    let spans = InMemorySpanExporter::default();
    let logs = InMemoryLogExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let logger_provider = SdkLoggerProvider::builder()
        .with_log_processor(CorrelationLogProcessor::new())
        .with_simple_exporter(logs.clone())
        .build();
    tracing_subscriber::registry()
        .with(correlated::tracing::fmt_layer())
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("shop")))
        .with(OpenTelemetryTracingBridge::new(&logger_provider))
        .init();

    let layer = CorrelationLayer::builder()
        .trust("10.0.0.0/8")
        .expect("a valid CIDR range")
        .trace_context(true)
        .request_span(RequestSpan::new())
        .build();
    let app = Router::new().route("/orders", get(handler)).layer(layer);

    let requests = [
        (
            "10.0.0.7:5000",
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ),
        ("192.0.2.1:5000", None),
    ];
    for (peer, traceparent) in requests {
        let peer: SocketAddr = peer.parse().expect("a socket address");
        let mut request = http::Request::get("/orders");
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let app = app.clone().layer(MockConnectInfo(peer));
        let response = app
            .oneshot(request.body(Body::empty()).expect("a request"))
            .await
            .expect("axum answers");
        println!(
            "\n{peer} -> x-correlation-id: {:?}\n",
            response.headers()["x-correlation-id"]
        );
    }

    println!("exported spans:");
    for span in spans.get_finished_spans().expect("the spans") {
        let id = span
            .attributes
            .iter()
            .find(|pair| pair.key.as_str() == "correlation_id")
            .map(|pair| pair.value.to_string());
        println!(
            "  {:<12} trace {} parent {} correlation_id {}",
            span.name,
            span.span_context.trace_id(),
            span.parent_span_id,
            id.unwrap_or_default(),
        );
    }
    println!("exported log records:");
    for log in logs.get_emitted_logs().expect("the records") {
        let id = log
            .record
            .attributes_iter()
            .find(|(key, _)| key.as_str() == "correlation_id")
            .map(|(_, value)| text(value));
        println!(
            "  {:<14} correlation_id {}",
            text(log.record.body().expect("a message")),
            id.unwrap_or_default(),
        );
    }
    let _ = tracer_provider.shutdown();
    let _ = logger_provider.shutdown();
}

/// A log record's string value as text.
fn text(value: &opentelemetry::logs::AnyValue) -> String {
    match value {
        opentelemetry::logs::AnyValue::String(text) => text.to_string(),
        other => format!("{other:?}"),
    }
}
