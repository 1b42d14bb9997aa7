//! Jobs (#15): what carrying the context costs per job, with and without
//! the integration.
//!
//! ```sh
//! cargo bench -p correlated --features apalis,nats,tokio --bench jobs
//! ```
//!
//! - `jobs_enqueue`: one `push_task` to a local Redis (apalis-redis), with
//!   a plain task and with `correlated::apalis::task` inside a request's
//!   context (its metadata: correlation ID, a new job ID, the parent). Both
//!   include the Redis round trip, as a service pays it. The bench starts
//!   its own `redis-server` on a free loopback port (with
//!   examples/support/redis.rs, as the demo does), or uses `REDIS_URL`;
//!   without either it says so and skips this group.
//! - `jobs_worker`: one task through a worker's service stack, in process:
//!   a trivial task function bare, and behind `apalis::CorrelationLayer`,
//!   for a task with the context in its metadata and one without (a new ID).
//!   This is the layer's own cost per job; a worker's fetch from Redis is the
//!   same with and without it (the metadata comes with the task either way),
//!   and apalis-redis fetches on its heartbeat, so a timed loop through Redis
//!   would measure the polling interval rather than the layer.
//! - `jobs_nats_headers`: the headers of one published message, and the
//!   context of one received message.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::task::{Context as TaskContext, Poll};

use apalis::prelude::{Task, TaskBuilder, TaskSink};
use apalis_redis::{Config, RedisStorage};
use correlated::apalis::CorrelationLayer;
use correlated::{CorrelationId, job};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Layer, Service};

#[path = "../examples/support/redis.rs"]
mod redis;

/// Where the bench enqueues: `REDIS_URL`, else a `redis-server` started on a
/// free loopback port (its guard, kept by the caller, stops it), else `None`.
fn redis() -> Option<(String, Option<redis::Redis>)> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return Some((url, None));
    }
    let server = redis::Redis::start(&redis::find()?).ok()?;
    Some((server.url(), Some(server)))
}

fn enqueue(c: &mut Criterion) {
    let Some((url, _server)) = redis() else {
        eprintln!("jobs_enqueue: no redis-server and no REDIS_URL; skipped");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut storage = runtime.block_on(async {
        let conn = apalis_redis::connect(url.as_str())
            .await
            .expect("connect to Redis");
        RedisStorage::<u64>::new(conn).with_config(Config::default().queue("bench"))
    });
    let policy = job::Policy::new();
    let request = correlated::Context::new().with_correlation_id(CorrelationId::generate());

    let mut group = c.benchmark_group("jobs_enqueue");
    group.bench_function("plain", |b| {
        b.iter(|| {
            runtime
                .block_on(storage.push_task(TaskBuilder::new(7).build()))
                .expect("pushed")
        })
    });
    group.bench_function("correlated", |b| {
        b.iter(|| {
            let task = request.run(|| correlated::apalis::task(&policy, 7));
            runtime.block_on(storage.push_task(task)).expect("pushed")
        })
    });
    group.finish();
}

/// A task function that does nothing, as a tower service.
#[derive(Clone, Copy)]
struct Noop;

impl Service<Task<u64>> for Noop {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<u64>) -> Self::Future {
        ready(Ok(black_box(task.args)))
    }
}

fn run<S: Service<Task<u64>, Response = u64>>(service: &mut S, task: Task<u64>) -> u64 {
    let output = futures::executor::block_on(service.call(task));
    output.ok().expect("the task ran")
}

fn worker(c: &mut Criterion) {
    let policy = job::Policy::new();
    let carried = correlated::Context::new()
        .with_correlation_id(CorrelationId::generate())
        .run(|| correlated::apalis::task(&policy, 7));
    let bare_task = Task::new(7);

    let mut group = c.benchmark_group("jobs_worker");
    let mut bare = Noop;
    group.bench_function("no_layer", |b| b.iter(|| run(&mut bare, carried.clone())));
    let mut layered = CorrelationLayer::new(policy).layer(Noop);
    group.bench_function("correlation_layer", |b| {
        b.iter(|| run(&mut layered, carried.clone()))
    });
    group.bench_function("correlation_layer_new_id", |b| {
        b.iter(|| run(&mut layered, bare_task.clone()))
    });
    group.finish();
}

fn nats(c: &mut Criterion) {
    let policy = job::Policy::new();
    let request = correlated::Context::new().with_correlation_id(CorrelationId::generate());
    let headers = request.run(|| correlated::nats::headers(&policy));

    let mut group = c.benchmark_group("jobs_nats_headers");
    group.bench_function("publish_headers", |b| {
        b.iter(|| request.run(|| correlated::nats::headers(&policy)))
    });
    group.bench_function("receive_context", |b| {
        b.iter(|| policy.context(black_box(&headers)))
    });
    group.finish();
}

criterion_group!(benches, enqueue, worker, nats);
criterion_main!(benches);
