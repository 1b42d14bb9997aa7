//! Groups 3 and 4 of docs/performance.md: reading the current ID, and making
//! and parsing IDs, next to their peers in one run.
//!
//! ```sh
//! cargo bench -p correlated --all-features --bench runtime
//! ```
//!
//! - `read`: `current()` and `with_current` in a context, at a thread root
//!   under a `scope()` guard, and outside any context (before and after a
//!   root `scope()`), against
//!   `tokio::task_local!`'s `try_with` and `with`; cloning an ID.
//! - `id`: `CorrelationId::generate()` against `uuid::Uuid::now_v7()` plus
//!   formatting; parsing.

use std::hint::black_box;

use correlated::{Context, CorrelationId};
use criterion::{Criterion, criterion_group, criterion_main};

tokio::task_local! {
    static TASK_ID: CorrelationId;
}

fn reads(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let context = Context::new().with_correlation_id(id.clone());
    let mut group = c.benchmark_group("read");
    // First, while this thread's root frame has never been set.
    group.bench_function("correlate_current_outside_context", |b| {
        b.iter(correlated::current)
    });
    // The closures touch the reference (`black_box`) and nothing else, so
    // each row is the cost of getting at the ID.
    context.run(|| {
        group.bench_function("correlate_with_current", |b| {
            b.iter(|| correlated::with_current(|id| black_box(id).is_some()))
        });
        group.bench_function("correlate_current", |b| b.iter(correlated::current));
        group.bench_function("correlate_with_current_as_str_len", |b| {
            b.iter(|| correlated::with_current(|id| id.map(|id| id.as_str().len())))
        });
    });
    {
        let _guard = correlated::scope(id.clone());
        group.bench_function("correlate_current_root_scope_guard", |b| {
            b.iter(correlated::current)
        });
        group.bench_function("correlate_with_current_root_scope_guard", |b| {
            b.iter(|| correlated::with_current(|id| black_box(id).is_some()))
        });
        group.bench_function("correlate_with_current_as_str_len_root_scope_guard", |b| {
            b.iter(|| correlated::with_current(|id| id.map(|id| id.as_str().len())))
        });
    }
    // The root frame now keeps the (empty) log of the guard's set.
    group.bench_function("correlate_current_outside_context_after_scope", |b| {
        b.iter(correlated::current)
    });
    TASK_ID.sync_scope(id.clone(), || {
        group.bench_function("task_local_try_with", |b| {
            b.iter(|| TASK_ID.try_with(|id| black_box(Some(id)).is_some()).ok())
        });
        group.bench_function("task_local_with", |b| {
            b.iter(|| TASK_ID.with(|id| black_box(Some(id)).is_some()))
        });
        group.bench_function("task_local_try_with_clone", |b| {
            b.iter(|| TASK_ID.try_with(CorrelationId::clone).ok())
        });
        group.bench_function("task_local_try_with_as_str_len", |b| {
            b.iter(|| TASK_ID.try_with(|id| id.as_str().len()).ok())
        });
    });
    group.bench_function("clone_id", |b| b.iter(|| black_box(&id).clone()));
    let long = CorrelationId::parse(&"l".repeat(100)).unwrap();
    group.bench_function("clone_id_long_shared", |b| {
        b.iter(|| black_box(&long).clone())
    });
    group.finish();
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("id");
    group.bench_function("correlate_generate", |b| b.iter(CorrelationId::generate));
    group.bench_function("uuid_now_v7_encode", |b| {
        b.iter(|| {
            let mut buffer = [0; uuid::fmt::Hyphenated::LENGTH];
            uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
            buffer
        })
    });
    group.bench_function("uuid_now_v7_to_string", |b| {
        b.iter(|| uuid::Uuid::now_v7().hyphenated().to_string())
    });
    // What `generate()` was before: the uuid crate's v7, stored inline.
    group.bench_function("correlate_from_uuid_now_v7", |b| {
        b.iter(|| CorrelationId::from(uuid::Uuid::now_v7()))
    });
    let text = CorrelationId::generate().to_string();
    group.bench_function("correlate_parse", |b| {
        b.iter(|| CorrelationId::parse(black_box(&text)))
    });
    group.bench_function("correlate_parse_uuid", |b| {
        b.iter(|| CorrelationId::parse_uuid(black_box(&text)))
    });
    group.bench_function("uuid_parse_str", |b| {
        b.iter(|| uuid::Uuid::parse_str(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, reads, ids);
criterion_main!(benches);
