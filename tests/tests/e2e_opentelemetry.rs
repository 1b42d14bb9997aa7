//! docs/users-guide.md, "Traces and OpenTelemetry", end to end over loopback:
//! axum services behind `CorrelationLayer` with the request span on, the
//! subscriber the guide tells users to install (tracing-opentelemetry for
//! spans, OpenTelemetry's tracing appender for logs, with
//! `CorrelationLogProcessor`), and the SDK's in-memory exporters standing in
//! for a collector.
//!
//! - every exported span of a request that fans out (its request span, the
//!   called service's request span, a job spawned with `correlated::spawn`)
//!   carries `correlation_id`;
//! - a request whose `traceparent` the bridge accepted continues that trace;
//! - every exported log record carries `correlation_id`.
//!
//! One global subscriber per process (the services' tasks run on worker
//! threads), so every test uses IDs of its own and looks only at the spans
//! and records that carry them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use correlated::correlated;
use correlated::opentelemetry::CorrelationLogProcessor;
use correlated::tower::{CorrelationLayer, PropagateCorrelationLayer};
use correlated::tracing::RequestSpan;
use http::Request;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::task::JoinHandle;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracing::Instrument as _;
use tracing_subscriber::prelude::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

// --- The telemetry pipeline, as the guide sets it up ------------------------

struct Telemetry {
    spans: InMemorySpanExporter,
    logs: InMemoryLogExporter,
    // Kept alive for the whole process: dropping a provider shuts it down.
    _tracer_provider: SdkTracerProvider,
    _logger_provider: SdkLoggerProvider,
}

fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
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
            .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("e2e")))
            .with(OpenTelemetryTracingBridge::new(&logger_provider))
            .init();
        Telemetry {
            spans,
            logs,
            _tracer_provider: tracer_provider,
            _logger_provider: logger_provider,
        }
    })
}

/// A span's attribute as text, if it has it.
fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|pair| pair.key.as_str() == key)
        .map(|pair| &pair.value)
}

fn correlation_id(span: &SpanData) -> Option<String> {
    attribute(&span.attributes, "correlation_id").map(Value::to_string)
}

/// Waits until `pick` finds what the test expects among the exported spans:
/// a span is exported when it closes, which for a request span is when the
/// server drops the response body, after the client has read it.
async fn exported_spans<T>(mut pick: impl FnMut(&[SpanData]) -> Option<T>) -> T {
    let wait = async {
        loop {
            let spans = telemetry().spans.get_finished_spans().unwrap();
            if let Some(found) = pick(&spans) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("the spans were exported (hang guard)")
}

// --- The services -----------------------------------------------------------

/// A server on a free loopback port, stopped when dropped.
struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` behind `layer`, trusting loopback peers.
async fn serve(app: Router) -> Server {
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, service).await.unwrap();
    });
    Server { addr, task }
}

/// The layer under test: loopback trusted, the request span on, the
/// trace-context bridge on.
fn layer() -> CorrelationLayer {
    CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .trace_context(true)
        .request_span(RequestSpan::new())
        .build()
}

fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends `GET http://{addr}{path}` with `headers`; the response body as text.
async fn fetch(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let mut request = Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let send = async {
        let response = client()
            .request(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    };
    tokio::time::timeout(PATIENCE, send)
        .await
        .expect("an answer (hang guard)")
}

// --- Spans of a request that fans out -----------------------------------------

/// The downstream service: answers with the ID it runs under.
async fn inventory() -> String {
    tracing::info!("inventory checked");
    correlated::current().unwrap().to_string()
}

/// A job the checkout hands to another task.
#[correlated(span)]
async fn send_receipt() {
    tokio::task::yield_now().await;
    tracing::info!("receipt sent");
}

/// The upstream service: calls the downstream one through
/// `PropagateCorrelationLayer` and spawns a job, both under its ID.
async fn checkout(State(downstream): State<SocketAddr>) -> String {
    let mut client = ServiceBuilder::new()
        .layer(PropagateCorrelationLayer::new())
        .service(client());
    let request = Request::get(format!("http://{downstream}/inventory"))
        .body(Body::empty())
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // `correlated::spawn` carries the ID; tracing's own span context is
    // carried as usual, with `in_current_span`, so the job's span is part of
    // the request's trace.
    correlated::spawn(send_receipt().in_current_span())
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_of_a_request_that_fans_out_carries_the_id() {
    telemetry();
    let downstream = serve(
        Router::new()
            .route("/inventory", get(inventory))
            .layer(layer()),
    )
    .await;
    let upstream = serve(
        Router::new()
            .route("/checkout", get(checkout))
            .with_state(downstream.addr)
            .layer(layer()),
    )
    .await;

    let seen_downstream = fetch(
        upstream.addr,
        "/checkout",
        &[("x-correlation-id", "fanout-1")],
    )
    .await;
    assert_eq!(seen_downstream, "fanout-1");

    let ours = exported_spans(|spans| {
        let ours: Vec<SpanData> = spans
            .iter()
            .filter(|span| correlation_id(span).as_deref() == Some("fanout-1"))
            .cloned()
            .collect();
        (ours.len() == 3).then_some(ours)
    })
    .await;
    let mut names: Vec<&str> = ours.iter().map(|span| &*span.name).collect();
    names.sort_unstable();
    // The upstream's and the downstream's request spans, and the job's.
    assert_eq!(names, ["request", "request", "send_receipt"]);
    let upstream_request = ours
        .iter()
        .find(|span| {
            span.name == "request"
                && attribute(&span.attributes, "uri")
                    .map(Value::to_string)
                    .as_deref()
                    == Some("/checkout")
        })
        .expect("the upstream request span");
    let job = ours
        .iter()
        .find(|span| span.name == "send_receipt")
        .unwrap();
    // The spawned job is part of the request's trace, below its span.
    assert_eq!(
        job.span_context.trace_id(),
        upstream_request.span_context.trace_id()
    );
    assert_eq!(job.parent_span_id, upstream_request.span_context.span_id());
    // No other exported span claims the ID: nothing leaked to another request.
    let all = telemetry().spans.get_finished_spans().unwrap();
    assert_eq!(
        all.iter()
            .filter(|span| correlation_id(span).as_deref() == Some("fanout-1"))
            .count(),
        3
    );
}

// --- A continued trace --------------------------------------------------------

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// The request span exported for `path`, once the server closed it.
async fn request_span_for(path: &'static str) -> SpanData {
    exported_spans(|spans| {
        spans
            .iter()
            .find(|span| {
                span.name == "request"
                    && attribute(&span.attributes, "uri")
                        .map(Value::to_string)
                        .as_deref()
                        == Some(path)
            })
            .cloned()
    })
    .await
}

fn assert_continues_the_callers_trace(span: &SpanData) {
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE_ID).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    assert!(span.parent_span_is_remote);
}

async fn hello() -> &'static str {
    "hello"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_traceparent_is_the_request_spans_remote_parent() {
    telemetry();
    let server = serve(
        Router::new()
            .route("/traced/trace-id", get(hello))
            .route("/traced/header", get(hello))
            .layer(layer()),
    )
    .await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");

    // No correlation header: the trace-id is the correlation ID too.
    fetch(
        server.addr,
        "/traced/trace-id",
        &[("traceparent", &traceparent)],
    )
    .await;
    let span = request_span_for("/traced/trace-id").await;
    assert_continues_the_callers_trace(&span);
    assert_eq!(correlation_id(&span).as_deref(), Some(TRACE_ID));

    // A correlation header wins as the ID; the trace is still continued, and
    // the span carries both.
    let headers = [
        ("traceparent", &*traceparent),
        ("x-correlation-id", "req-77"),
    ];
    fetch(server.addr, "/traced/header", &headers).await;
    let span = request_span_for("/traced/header").await;
    assert_continues_the_callers_trace(&span);
    assert_eq!(correlation_id(&span).as_deref(), Some("req-77"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_layers_span_continues_the_trace_too() {
    telemetry();
    let service = ServiceBuilder::new()
        .layer(
            CorrelationLayer::builder()
                .trust("127.0.0.1")
                .unwrap()
                .trace_context(true)
                .build(),
        )
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(correlated::tracing::request_span),
        )
        .service(Router::new().route("/traced/trace-layer", get(hello)));
    let server = serve(Router::new().fallback_service(service)).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");

    let headers = [
        ("traceparent", &*traceparent),
        ("x-correlation-id", "req-78"),
    ];
    fetch(server.addr, "/traced/trace-layer", &headers).await;
    let span = request_span_for("/traced/trace-layer").await;
    assert_continues_the_callers_trace(&span);
    assert_eq!(correlation_id(&span).as_deref(), Some("req-78"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_traceparent_starts_a_new_trace() {
    telemetry();
    // Nobody is trusted: the traceparent is ignored, and so is the header.
    let layer = CorrelationLayer::builder()
        .trace_context(true)
        .request_span(RequestSpan::new())
        .build();
    let server = serve(
        Router::new()
            .route("/traced/untrusted", get(hello))
            .layer(layer),
    )
    .await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");

    fetch(
        server.addr,
        "/traced/untrusted",
        &[("traceparent", &traceparent)],
    )
    .await;
    let span = request_span_for("/traced/untrusted").await;
    assert_ne!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE_ID).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    assert_ne!(correlation_id(&span).as_deref(), Some(TRACE_ID));
}

// --- Log records --------------------------------------------------------------

fn record_attribute(record: &SdkLogRecord, key: &str) -> Option<String> {
    record
        .attributes_iter()
        .find(|(name, _)| name.as_str() == key)
        .map(|(_, value)| match value {
            opentelemetry::logs::AnyValue::String(text) => text.to_string(),
            other => format!("{other:?}"),
        })
}

/// Logs in the handler, and in a job it spawns outside the request span.
async fn order() -> &'static str {
    tracing::info!(order = 7, "order loaded");
    correlated::spawn(async { tracing::warn!("order job ran") })
        .await
        .unwrap();
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_log_records_carry_the_id() {
    telemetry();
    let server = serve(
        Router::new()
            .route("/logs/order", get(order))
            .layer(layer()),
    )
    .await;

    fetch(
        server.addr,
        "/logs/order",
        &[("x-correlation-id", "logs-1")],
    )
    .await;

    let records: Vec<SdkLogRecord> = telemetry()
        .logs
        .get_emitted_logs()
        .unwrap()
        .into_iter()
        .map(|log| log.record)
        .filter(|record| record_attribute(record, "correlation_id").as_deref() == Some("logs-1"))
        .collect();
    let bodies: Vec<String> = records
        .iter()
        .map(|record| format!("{:?}", record.body().unwrap()))
        .collect();
    assert_eq!(records.len(), 2, "{bodies:?}");
    assert!(bodies[0].contains("order loaded"), "{bodies:?}");
    assert!(bodies[1].contains("order job ran"), "{bodies:?}");
    // The event's own fields are still there, beside the ID.
    assert_eq!(
        record_attribute(&records[0], "order").as_deref(),
        Some("Int(7)")
    );
    // The handler's record is in the request span's trace; the job's is in
    // no trace at all, and still carries the ID.
    let span = request_span_for("/logs/order").await;
    let context = records[0].trace_context().expect("a trace context");
    assert_eq!(context.trace_id, span.span_context.trace_id());
    assert!(records[1].trace_context().is_none());
}
