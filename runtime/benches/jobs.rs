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
//!   include the Redis round trip, as a service pays it. A third row pushes
//!   the same metadata entries made once beforehand: it separates what Redis
//!   spends storing them (apalis-redis's push script decodes them and writes
//!   them into the task's metadata hash) from correlated's own work. The
//!   bench starts its own `redis-server` on a free loopback port (with
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
    if redis().is_none() {
        eprintln!("jobs_enqueue: no redis-server and no REDIS_URL; skipped");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let policy = job::Policy::new();
    let request = correlated::Context::new().with_correlation_id(CorrelationId::generate());
    // The same entries, made once: what storing them costs Redis, without
    // reading the context and minting a job ID per task.
    let prebuilt = request.run(|| correlated::apalis::metadata(&policy));
    let rows: [(&str, &dyn Fn() -> Task<u64>); 3] = [
        ("plain", &|| TaskBuilder::new(7).build()),
        ("prebuilt_metadata", &|| {
            TaskBuilder::new(7).with_metadata(prebuilt.clone()).build()
        }),
        ("correlated", &|| {
            request.run(|| correlated::apalis::task(&policy, 7))
        }),
    ];

    let mut group = c.benchmark_group("jobs_enqueue");
    for (name, task) in rows {
        // Each row on a fresh server: Redis grows with every task pushed, and
        // a later row would otherwise pay for the earlier rows' data.
        let (url, _server) = redis().expect("Redis started for the first row");
        let mut storage = runtime.block_on(async {
            let conn = apalis_redis::connect(url.as_str())
                .await
                .expect("connect to Redis");
            RedisStorage::<u64>::new(conn).with_config(Config::default().queue("bench"))
        });
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(storage.push_task(task())).expect("pushed"))
        });
    }
    group.finish();
}

/// What `jobs_enqueue` times besides Redis, in process: a task with the
/// prebuilt entries, and one made by `correlated::apalis::task` in the
/// request's context (reading it, minting the job ID).
fn metadata(c: &mut Criterion) {
    let policy = job::Policy::new();
    let request = correlated::Context::new().with_correlation_id(CorrelationId::generate());
    let prebuilt = request.run(|| correlated::apalis::metadata(&policy));
    let mut group = c.benchmark_group("jobs_task");
    group.bench_function("prebuilt_metadata", |b| {
        b.iter(|| {
            TaskBuilder::new(7u64)
                .with_metadata(prebuilt.clone())
                .build()
        })
    });
    group.bench_function("correlated", |b| {
        b.iter(|| request.run(|| correlated::apalis::task(&policy, 7u64)))
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

criterion_group!(benches, enqueue, metadata, worker, nats);
criterion_main!(benches);
