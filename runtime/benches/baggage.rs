//! W3C Baggage, read and written by `correlated::baggage` next to
//! OpenTelemetry's `BaggagePropagator` doing the same work, in one run.
//!
//! ```sh
//! cargo bench -p correlated --features http --bench baggage
//! ```
//!
//! The header is what an OpenTelemetry upstream sends: seven members of its
//! own, some percent-encoded, one with properties, and (when read)
//! `correlation_id`, eight in all.
//!
//! - `baggage_read`: from the request's `HeaderMap` to a floor-checked
//!   `CorrelationId`. correlated: `Baggage::from_headers` and
//!   `correlation_id()`; OpenTelemetry: `BaggagePropagator::extract`, the
//!   `correlation_id` entry, then the same floor (`CorrelationId::parse`).
//! - `baggage_write`: add `correlation_id=<current id>` to an outgoing
//!   `HeaderMap`, with and without the upstream's members already in it.
//!   correlated: `baggage::inject`. OpenTelemetry: `inject_context` of a
//!   context whose baggage already holds every member (its usual case:
//!   the baggage lives in the context, not in the headers), and, for the
//!   same job as correlated's (merge into a header that is there),
//!   `extract` + insert + `inject_context`. The header map is cloned outside
//!   the timed part.

use std::hint::black_box;

use correlated::CorrelationId;
use correlated::baggage::{self, BAGGAGE, Baggage};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::BaggagePropagator;

/// The upstream's own members.
const UPSTREAM: &str = "userId=alice,serverNode=DF%2028,isProduction=false,\
                        tenant=acme;ttl=30,region=eu-west-1,session=s-7f3a9b,note=caf%C3%A9";

const ID: &str = "0192f5c4-8d3e-7a1b-9c2d-3e4f5a6b7c8d";

/// OpenTelemetry's view of an `http::HeaderMap` (what `opentelemetry-http`
/// provides, written out to keep that crate out of the build).
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

fn upstream() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(BAGGAGE, HeaderValue::from_static(UPSTREAM));
    headers
}

fn incoming() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = format!("{UPSTREAM},correlation_id={ID}");
    headers.insert(BAGGAGE, HeaderValue::from_str(&value).unwrap());
    headers
}

/// `context` with `correlation_id` added to its baggage (OpenTelemetry's
/// `with_baggage` replaces the baggage, so the members are copied over).
fn with_correlation_id(context: Context, id: &CorrelationId) -> Context {
    let mut members: opentelemetry::baggage::Baggage = context
        .baggage()
        .iter()
        .map(|(key, (value, metadata))| {
            KeyValueMetadata::new(key.clone(), value.clone(), metadata.clone())
        })
        .collect();
    let _ = members.insert("correlation_id", id.to_string());
    context.with_baggage(members)
}

fn baggage_read(c: &mut Criterion) {
    let headers = incoming();
    let propagator = BaggagePropagator::new();
    let mut group = c.benchmark_group("baggage_read");

    let correlated = |headers: &HeaderMap| {
        let baggage = Baggage::from_headers(headers);
        baggage
            .ok()
            .flatten()
            .and_then(|b| b.correlation_id().ok().flatten())
    };
    let opentelemetry = |headers: &HeaderMap| {
        let context = propagator.extract(&Headers(headers));
        let value = context.baggage().get("correlation_id")?;
        CorrelationId::parse(value.as_str()).ok()
    };
    // The same work: both find the ID.
    assert_eq!(correlated(&headers).unwrap(), ID);
    assert_eq!(opentelemetry(&headers).unwrap(), ID);

    group.bench_function("correlated", |b| b.iter(|| correlated(black_box(&headers))));
    group.bench_function("opentelemetry", |b| {
        b.iter(|| opentelemetry(black_box(&headers)))
    });

    group.finish();
}

fn baggage_write(c: &mut Criterion) {
    let propagator = BaggagePropagator::new();
    let id = CorrelationId::parse(ID).unwrap();
    let _guard = correlated::scope(id.clone());
    let mut group = c.benchmark_group("baggage_write");

    for (case, headers) in [("empty", HeaderMap::new()), ("upstream", upstream())] {
        // What OpenTelemetry holds in the context for this request: the
        // upstream's members and the correlation ID.
        let context = with_correlation_id(propagator.extract(&Headers(&headers)), &id);
        // The same work: every way ends with the upstream's members and the ID.
        let mut written = headers.clone();
        assert!(baggage::inject(&mut written));
        let members = propagator.extract(&Headers(&written)).baggage().len();
        assert_eq!(members, context.baggage().len());

        group.bench_function(format!("correlated/{case}"), |b| {
            b.iter_batched(
                || headers.clone(),
                |mut headers| {
                    baggage::inject(&mut headers);
                    headers
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function(format!("opentelemetry_inject/{case}"), |b| {
            b.iter_batched(
                || headers.clone(),
                |mut headers| {
                    propagator.inject_context(black_box(&context), &mut HeadersMut(&mut headers));
                    headers
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function(format!("opentelemetry_merge/{case}"), |b| {
            b.iter_batched(
                || headers.clone(),
                |mut headers| {
                    let incoming = propagator.extract(&Headers(&headers));
                    let outgoing = with_correlation_id(incoming, &id);
                    propagator.inject_context(&outgoing, &mut HeadersMut(&mut headers));
                    headers
                },
                BatchSize::SmallInput,
            )
        });
    }

    group.finish();
}

criterion_group!(benches, baggage_read, baggage_write);
criterion_main!(benches);
