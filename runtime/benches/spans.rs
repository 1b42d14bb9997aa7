//! The request span (issue #16): a request through correlated's layer with
//! its span on, next to tower-http's `TraceLayer` alone and the two together,
//! in one run.
//!
//! ```sh
//! cargo bench -p correlated --all-features --bench spans
//! ```
//!
//! Every stack serves the same request as `http_stream_16` (benches/http.rs:
//! a trusted peer's ID, a 16-frame body polled to its end), under a
//! subscriber that records spans and writes nothing (tracing-subscriber's
//! `Registry`), so each span is really made, entered for every poll and
//! closed, as in a service that exports spans:
//!
//! - `trace_layer`: tower-http's `TraceLayer` alone (`DefaultMakeSpan`, no ID);
//! - `correlate_layer_span`: correlated's layer with `request_span`, alone;
//! - `correlate_layer_trace_layer_span`: the recommended pair, correlated's
//!   layer (no span of its own) outside `TraceLayer` making
//!   `correlated::tracing::request_span`;
//! - `correlate_layer_no_span`: correlated's layer without a span, the
//!   baseline the span's cost is read against.

#[allow(dead_code)]
mod support;

use correlated::CorrelationId;
use correlated::tracing::RequestSpan;
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderValue;
use tower_http::trace::TraceLayer;

use support::http::request;
use support::http::streaming::{correlated, handler, serve, trace_layer};

fn http_span_16(c: &mut Criterion) {
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry());
    let _default = tracing::dispatcher::set_default(&dispatch);

    let id = CorrelationId::generate();
    let incoming = HeaderValue::from(&id);
    let incoming = Some(&incoming);
    let mut group = c.benchmark_group("http_span_16");

    let mut traced = trace_layer();
    group.bench_function("trace_layer", |b| {
        b.iter(|| serve(&mut traced, request(incoming)))
    });

    let mut spanned = tower::ServiceBuilder::new()
        .layer(
            support::http::correlated_layer_builder()
                .request_span(RequestSpan::new())
                .build(),
        )
        .service_fn(handler);
    group.bench_function("correlate_layer_span", |b| {
        b.iter(|| serve(&mut spanned, request(incoming)))
    });

    let mut both = tower::ServiceBuilder::new()
        .layer(support::http::correlated_layer())
        .layer(TraceLayer::new_for_http().make_span_with(correlated::tracing::request_span))
        .service_fn(handler);
    group.bench_function("correlate_layer_trace_layer_span", |b| {
        b.iter(|| serve(&mut both, request(incoming)))
    });

    let mut plain = correlated();
    group.bench_function("correlate_layer_no_span", |b| {
        b.iter(|| serve(&mut plain, request(incoming)))
    });
    group.finish();
}

criterion_group!(benches, http_span_16);
criterion_main!(benches);
