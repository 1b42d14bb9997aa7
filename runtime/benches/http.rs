//! Group 5 of docs/performance.md: an in-process tower stack around a trivial
//! service, bare, behind correlated's `CorrelationLayer`, and behind
//! tower-http's `SetRequestId` + `PropagateRequestId` pair, in one run.
//!
//! ```sh
//! cargo bench -p correlated --all-features --bench http
//! ```
//!
//! Each iteration builds a request, calls the stack (`poll_ready` + `call`),
//! polls the response future to completion and drops the response. Every
//! stack gets the same request: header `x-request-id` (both layers are
//! configured to use it) and the loopback peer address in its extensions, so
//! only the layers differ.
//!
//! - `http_new_id`: no incoming ID; each layer makes one (correlated: UUIDv7
//!   from `CorrelationId::generate`; tower-http: `MakeRequestUuid`, a v4
//!   `Uuid::new_v4()` formatted to a `String`; and tower-http with correlated's
//!   generator, to separate the layer from the generator).
//! - `http_incoming_id`: a trusted peer sends an ID; each layer keeps it,
//!   passes it to the handler and echoes it.
//! - `http_stream_16`: as `http_incoming_id`, with a response body of 16
//!   frames, polled to its end: bare, behind correlated's layer (whose
//!   body enters the request's context for every frame), and behind
//!   tower-http's `TraceLayer` (whose body enters its span for every frame;
//!   no subscriber, as in a service that only logs at INFO).

#[allow(dead_code)]
mod support;

use correlated::CorrelationId;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, MakeRequestUuid, RequestId};

use support::http::{bare, correlated, request, serve, tower_http};

/// tower-http's `MakeRequestId` with correlated's generator.
#[derive(Clone, Copy)]
struct MakeCorrelationId;

impl MakeRequestId for MakeCorrelationId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(
            HeaderValue::from(&CorrelationId::generate()),
        ))
    }
}

fn group(c: &mut Criterion, name: &str, incoming: Option<HeaderValue>) {
    let incoming = incoming.as_ref();
    let mut group = c.benchmark_group(name);

    let mut bare = bare();
    group.bench_function("no_layer", |b| {
        b.iter(|| serve(&mut bare, request(incoming)))
    });

    let mut correlated = correlated();
    group.bench_function("correlate_layer", |b| {
        b.iter(|| serve(&mut correlated, request(incoming)))
    });

    let mut tower_http_uuid = tower_http(MakeRequestUuid);
    group.bench_function("tower_http_request_id", |b| {
        b.iter(|| serve(&mut tower_http_uuid, request(incoming)))
    });

    if incoming.is_none() {
        let mut tower_http_fast = tower_http(MakeCorrelationId);
        group.bench_function("tower_http_request_id_correlate_generator", |b| {
            b.iter(|| serve(&mut tower_http_fast, request(incoming)))
        });
    }
    group.finish();
}

fn http_new_id(c: &mut Criterion) {
    group(c, "http_new_id", None);
}

fn http_incoming_id(c: &mut Criterion) {
    let id = CorrelationId::generate();
    group(c, "http_incoming_id", Some(HeaderValue::from(&id)));
}

/// A 16-frame body behind each layer; per-frame costs are the difference
/// from `http_incoming_id`'s rows, divided by 16 (docs/performance.md).
fn http_stream_16(c: &mut Criterion) {
    use support::http::streaming::{bare, correlated, serve, trace_layer};

    let id = CorrelationId::generate();
    let incoming = HeaderValue::from(&id);
    let incoming = Some(&incoming);
    let mut group = c.benchmark_group("http_stream_16");
    let mut bare = bare();
    group.bench_function("no_layer", |b| {
        b.iter(|| serve(&mut bare, request(incoming)))
    });
    let mut correlated = correlated();
    group.bench_function("correlate_layer", |b| {
        b.iter(|| serve(&mut correlated, request(incoming)))
    });
    let mut traced = trace_layer();
    group.bench_function("tower_http_trace_layer", |b| {
        b.iter(|| serve(&mut traced, request(incoming)))
    });
    group.finish();
}

criterion_group!(benches, http_new_id, http_incoming_id, http_stream_16);
criterion_main!(benches);
