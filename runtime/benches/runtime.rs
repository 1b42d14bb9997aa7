//! Runtime costs next to their peers, measured in one run.
//!
//! `cargo bench -p correlate --bench runtime`; figures and what they mean are
//! in docs/performance.md.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use correlate::{Context, CorrelationId, FutureExt};
use criterion::{Criterion, criterion_group, criterion_main};

tokio::task_local! {
    static TASK_ID: CorrelationId;
}

/// Returns `Pending` `yields` times, then `Ready`: each poll is one trip
/// through the wrapper under test, without an executor's overhead.
struct Yields {
    left: u32,
}

impl Future for Yields {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        if self.left == 0 {
            Poll::Ready(())
        } else {
            self.left -= 1;
            Poll::Pending
        }
    }
}

fn drive<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

#[inline(never)]
fn handler(x: u64) -> u64 {
    black_box(x).wrapping_mul(31)
}

fn sync_scope(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let context = Context::new().with_correlation_id(id.clone());
    let mut group = c.benchmark_group("sync_enter_exit");
    group.bench_function("unannotated", |b| b.iter(|| handler(7)));
    group.bench_function("correlate_context_run", |b| {
        b.iter(|| context.run(|| handler(7)))
    });
    group.bench_function("correlate_scope_guard", |b| {
        b.iter(|| {
            let _guard = correlate::scope(id.clone());
            handler(7)
        })
    });
    group.bench_function("task_local_sync_scope", |b| {
        b.iter(|| TASK_ID.sync_scope(id.clone(), || handler(7)))
    });
    group.finish();
}

fn per_poll(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let context = Context::new().with_correlation_id(id.clone());
    let mut group = c.benchmark_group("async_10_polls");
    group.bench_function("unannotated", |b| b.iter(|| drive(Yields { left: 10 })));
    group.bench_function("correlate_wrap", |b| {
        b.iter(|| drive(context.wrap(Yields { left: 10 })))
    });
    group.bench_function("task_local_scope", |b| {
        b.iter(|| drive(TASK_ID.scope(id.clone(), Yields { left: 10 })))
    });
    group.finish();

    let mut group = c.benchmark_group("async_0_polls");
    group.bench_function("unannotated", |b| b.iter(|| drive(Yields { left: 0 })));
    group.bench_function("correlate_wrap", |b| {
        b.iter(|| drive(context.wrap(Yields { left: 0 })))
    });
    group.bench_function("correlate_correlated_id", |b| {
        b.iter(|| drive(Yields { left: 0 }.correlated(id.clone())))
    });
    group.bench_function("task_local_scope", |b| {
        b.iter(|| drive(TASK_ID.scope(id.clone(), Yields { left: 0 })))
    });
    group.finish();
}

fn reads(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let context = Context::new().with_correlation_id(id.clone());
    let mut group = c.benchmark_group("read");
    context.run(|| {
        group.bench_function("correlate_current", |b| b.iter(correlate::current));
        group.bench_function("correlate_with_current", |b| {
            b.iter(|| correlate::with_current(|id| id.map(|id| id.as_str().len())))
        });
    });
    TASK_ID.sync_scope(id.clone(), || {
        group.bench_function("task_local_try_with_len", |b| {
            b.iter(|| TASK_ID.try_with(|id| id.as_str().len()).ok())
        });
        group.bench_function("task_local_try_with_clone", |b| {
            b.iter(|| TASK_ID.try_with(CorrelationId::clone).ok())
        });
    });
    group.bench_function("clone_id", |b| b.iter(|| black_box(&id).clone()));
    group.finish();
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("id");
    group.bench_function("correlate_generate", |b| b.iter(CorrelationId::generate));
    group.bench_function("uuid_now_v7_to_string", |b| {
        b.iter(|| uuid::Uuid::now_v7().hyphenated().to_string())
    });
    let text = CorrelationId::generate().to_string();
    group.bench_function("correlate_parse", |b| {
        b.iter(|| CorrelationId::parse(black_box(&text)))
    });
    group.bench_function("correlate_parse_uuid", |b| {
        b.iter(|| CorrelationId::parse_uuid(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, sync_scope, per_poll, reads, ids);
criterion_main!(benches);
