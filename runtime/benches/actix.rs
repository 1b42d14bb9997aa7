//! actix-web in-process (`actix_web::test`): one app around a trivial
//! handler, bare, behind correlated's `Correlation`, and behind
//! actix-request-identifier's `RequestIdentifier`, in one run (issue #14,
//! docs/performance.md).
//!
//! ```sh
//! cargo bench -p correlated --features actix-web --bench actix
//! ```
//!
//! Each iteration builds a request (header `x-request-id`, both middleware
//! are configured to use it, and the loopback peer address), calls the app,
//! polls the response body to its end and drops the response, as a server
//! would. Every app gets the same request, so only the middleware differ.
//!
//! - `actix_new_id`: no incoming ID; each middleware makes one (correlated:
//!   UUIDv7; actix-request-identifier: a v4 UUID formatted to a header
//!   value).
//! - `actix_incoming_id`: a trusted peer sends an ID; correlated checks the
//!   trust and the floor, keeps it, passes it to the handler's context and
//!   echoes it; actix-request-identifier (`IdReuse::UseIncoming`) keeps it
//!   unchecked and echoes it.

use actix_web::http::header::HeaderValue;
use correlated::CorrelationId;
use criterion::{Criterion, criterion_group, criterion_main};

#[allow(dead_code)]
mod support;

use support::actix::{bare, check_echo, correlated, identifier, request, serve};

fn group(c: &mut Criterion, name: &str, incoming: Option<HeaderValue>) {
    let incoming = incoming.as_ref();
    let mut group = c.benchmark_group(name);

    let bare = bare();
    group.bench_function("no_middleware", |b| {
        b.iter(|| serve(&bare, request(incoming)))
    });

    let correlated = correlated();
    check_echo(&correlated, incoming);
    group.bench_function("correlated", |b| {
        b.iter(|| serve(&correlated, request(incoming)))
    });

    let identified = identifier();
    check_echo(&identified, incoming);
    group.bench_function("actix_request_identifier", |b| {
        b.iter(|| serve(&identified, request(incoming)))
    });
    group.finish();
}

fn actix_new_id(c: &mut Criterion) {
    group(c, "actix_new_id", None);
}

fn actix_incoming_id(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let value = HeaderValue::from_str(id.as_str()).expect("an ID is a valid header value");
    group(c, "actix_incoming_id", Some(value));
}

criterion_group!(benches, actix_new_id, actix_incoming_id);
criterion_main!(benches);
