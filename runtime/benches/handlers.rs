//! Groups 1 and 2 of docs/performance.md: a handler called bare and wrapped
//! each peer's way, measured in one run.
//!
//! ```sh
//! cargo bench -p correlated --all-features --bench handlers
//! ```
//!
//! - `sync_handler`: a synchronous call.
//! - `async_0_polls`, `async_10_polls`: an `async fn` with 0 or 10 `.await`s
//!   that yield, built, polled to completion and dropped. Per-poll cost is
//!   the difference between the two, divided by 10.
//!
//! tracing: "no subscriber" is a process where none is set; "registry" is
//! `tracing_subscriber::registry()` with no layers, a subscriber that keeps
//! spans and discards them. Each is measured through its own callsite,
//! registered while only its subscriber exists (a callsite's interest is
//! cached when it is first hit), and the no-subscriber row of each group runs
//! before its registry row.

#[allow(dead_code)]
mod support;

use std::future::Future;
use std::hint::black_box;

use correlated::{Context, CorrelationId};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::context::FutureExt as _;
use tracing::Dispatch;

use support::*;

fn sync_handler(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let context = Context::new().with_correlation_id(id.clone());
    let otel = otel_context(&id);
    let mut group = c.benchmark_group("sync_handler");
    group.bench_function("unannotated", |b| b.iter(|| sync_plain(black_box(7))));
    group.bench_function("correlated_id", |b| {
        b.iter(|| sync_correlated_id(id.clone(), black_box(7)))
    });
    // A nested handler: the caller is already in a context.
    context.run(|| {
        group.bench_function("correlated_inherit", |b| {
            b.iter(|| sync_correlated(black_box(7)))
        });
    });
    group.bench_function("correlated_generating", |b| {
        b.iter(|| sync_correlated(black_box(7)))
    });
    group.bench_function("scope_guard", |b| {
        b.iter(|| sync_scope_guard(id.clone(), black_box(7)))
    });
    group.bench_function("set_reset", |b| {
        b.iter(|| sync_set_reset(id.clone(), black_box(7)))
    });
    // The guard and the `task_local` scope inside a tokio task, where a set at
    // the thread's root belongs to the task (the misuse rules): each sample
    // runs its iterations in one spawned task.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let in_task = |f: fn(CorrelationId, u64) -> u64| {
        let runtime = &runtime;
        let id = id.clone();
        move |iters: u64| {
            let id = id.clone();
            let task = async move {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    black_box(f(id.clone(), black_box(7)));
                }
                start.elapsed()
            };
            runtime
                .block_on(async { tokio::spawn(task).await })
                .unwrap()
        }
    };
    group.bench_function("scope_guard_in_task", |b| {
        b.iter_custom(in_task(sync_scope_guard))
    });
    group.bench_function("task_local_sync_scope_in_task", |b| {
        b.iter_custom(in_task(sync_task_local))
    });
    group.bench_function("unannotated_in_task", |b| {
        b.iter_custom(in_task(|_, x| sync_plain(x)))
    });
    group.bench_function("context_run", |b| {
        b.iter(|| context.run(|| sync_plain(black_box(7))))
    });
    group.bench_function("task_local_sync_scope", |b| {
        b.iter(|| sync_task_local(id.clone(), black_box(7)))
    });
    group.bench_function("instrument_no_subscriber", |b| {
        b.iter(|| sync_instrumented_no_subscriber(black_box(7)))
    });
    let registry = Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&registry, || {
        group.bench_function("instrument_registry", |b| {
            b.iter(|| sync_instrumented_registry(black_box(7)))
        });
    });
    drop(registry);
    group.bench_function("otel_attach", |b| {
        b.iter(|| sync_otel_attach(&otel, black_box(7)))
    });
    group.finish();
}

fn async_handler<N, R>(
    c: &mut Criterion,
    polls: u32,
    no_subscriber: impl Fn(u64, u32) -> N,
    registry_handler: impl Fn(u64, u32) -> R,
) where
    N: Future<Output = u64>,
    R: Future<Output = u64>,
{
    let id = CorrelationId::generate();
    let context = Context::new().with_correlation_id(id.clone());
    let otel = otel_context(&id);
    let mut group = c.benchmark_group(format!("async_{polls}_polls"));
    group.bench_function("unannotated", |b| {
        b.iter(|| drive(async_plain(black_box(7), polls)))
    });
    group.bench_function("correlated_id", |b| {
        b.iter(|| drive(async_correlated_id(id.clone(), black_box(7), polls)))
    });
    context.run(|| {
        group.bench_function("correlated_inherit", |b| {
            b.iter(|| drive(async_correlated(black_box(7), polls)))
        });
    });
    group.bench_function("context_wrap", |b| {
        b.iter(|| drive(context.wrap(async_plain(black_box(7), polls))))
    });
    group.bench_function("task_local_scope", |b| {
        b.iter(|| drive(TASK_ID.scope(id.clone(), async_plain(black_box(7), polls))))
    });
    group.bench_function("instrument_no_subscriber", |b| {
        b.iter(|| drive(no_subscriber(black_box(7), polls)))
    });
    let registry = Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&registry, || {
        group.bench_function("instrument_registry", |b| {
            b.iter(|| drive(registry_handler(black_box(7), polls)))
        });
    });
    drop(registry);
    group.bench_function("otel_with_context", |b| {
        b.iter(|| drive(async_plain(black_box(7), polls).with_context(otel.clone())))
    });
    group.finish();
}

fn async_0_polls(c: &mut Criterion) {
    async_handler(
        c,
        0,
        async_instrumented_no_subscriber_0,
        async_instrumented_registry_0,
    );
}

fn async_10_polls(c: &mut Criterion) {
    async_handler(
        c,
        10,
        async_instrumented_no_subscriber_10,
        async_instrumented_registry_10,
    );
}

criterion_group!(benches, sync_handler, async_0_polls, async_10_polls);
criterion_main!(benches);
