//! apalis jobs on a real Redis (started by each test on a free loopback port):
//! the context goes with the task's metadata, the worker runs each task in
//! it, retries keep it, hostile metadata never survives, and the worker's
//! own context is back after every task.

mod servers;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use correlated::apalis::CorrelationLayer;
use correlated::{Correlate, CorrelationId, carrier, job};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use servers::Server;
use tokio::sync::mpsc;

/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Deserialize, Serialize)]
struct Work {
    name: String,
    /// Fail (return an error) on these attempts (apalis counts from 1).
    fail_on: Vec<usize>,
    panic: bool,
    hang: bool,
    /// Enqueue a child job with this name.
    child: Option<String>,
}

impl Work {
    fn named(name: &str) -> Self {
        Work {
            name: name.to_owned(),
            fail_on: Vec::new(),
            panic: false,
            hang: false,
            child: None,
        }
    }
}

/// What a job saw while it ran.
#[derive(Debug)]
struct Seen {
    name: String,
    attempt: usize,
    id: Option<CorrelationId>,
    job: Option<CorrelationId>,
    parent: Option<CorrelationId>,
}

/// What the probe outside the correlation layer saw around a job.
#[derive(Debug)]
struct Around {
    before: Option<CorrelationId>,
    after: Option<CorrelationId>,
    job_after: Option<CorrelationId>,
}

#[derive(Clone)]
struct Tools {
    seen: mpsc::UnboundedSender<Seen>,
    storage: RedisStorage<Work>,
}

async fn run_work(work: Work, attempt: Attempt, tools: Data<Tools>) -> Result<(), BoxDynError> {
    let attempt = attempt.current();
    let _ = tools.seen.send(Seen {
        name: work.name.clone(),
        attempt,
        id: correlated::current(),
        job: job::JOB_ID.get(),
        parent: job::PARENT_ID.get(),
    });
    if let Some(child) = &work.child {
        let task = correlated::apalis::task(&job::Policy::new(), Work::named(child));
        tools.storage.clone().push_task(task).await?;
    }
    if work.panic {
        panic!("the job panics");
    }
    if work.hang {
        std::future::pending::<()>().await;
    }
    if work.fail_on.contains(&attempt) {
        return Err("the job fails this attempt".into());
    }
    Ok(())
}

/// A layer outside the correlation layer that records the context before
/// and after each task, and turns a panic or a hang into an error so the
/// worker goes on.
#[derive(Clone)]
struct Probe(mpsc::UnboundedSender<Around>);

impl<S> tower::Layer<S> for Probe {
    type Service = ProbeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ProbeService(inner, self.0.clone())
    }
}

#[derive(Clone)]
struct ProbeService<S>(S, mpsc::UnboundedSender<Around>);

impl<S, Req> tower::Service<Req> for ProbeService<S>
where
    S: tower::Service<Req, Error = BoxDynError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = Option<S::Response>;
    type Error = BoxDynError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxDynError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxDynError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let before = correlated::current();
        let future = self.0.call(request);
        let report = self.1.clone();
        Box::pin(async move {
            // A hanging job is cancelled: its future dropped mid-await.
            let outcome = tokio::time::timeout(
                Duration::from_secs(2),
                AssertUnwindSafe(future).catch_unwind(),
            )
            .await;
            let _ = report.send(Around {
                before,
                after: correlated::current(),
                job_after: job::JOB_ID.get(),
            });
            match outcome {
                Ok(Ok(result)) => result.map(Some),
                // Panicked or cancelled: done with it, no retry.
                Ok(Err(_)) | Err(_) => Ok(None),
            }
        })
    }
}

struct Harness {
    _redis: Server,
    storage: RedisStorage<Work>,
    seen: mpsc::UnboundedReceiver<Seen>,
    around: mpsc::UnboundedReceiver<Around>,
    worker: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

async fn storage(redis: &Server) -> RedisStorage<Work> {
    RedisStorage::new(redis.redis_connection().await).with_config(
        Config::default()
            .queue("work")
            // Each heartbeat also looks for rescheduled (retried) tasks.
            .heartbeat_interval(Duration::from_millis(200)),
    )
}

/// Redis, a storage, and a worker running under its own correlation ID
/// `worker-1` with the probe outside the correlation layer.
async fn harness() -> Harness {
    let redis = Server::redis();
    let storage = storage(&redis).await;
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (around_tx, around) = mpsc::unbounded_channel();
    let tools = Tools {
        seen: seen_tx,
        storage: storage.clone(),
    };
    let worker = WorkerBuilder::new("worker-1")
        .backend(storage.clone())
        .data(tools)
        .layer(Probe(around_tx))
        .layer(CorrelationLayer::new(job::Policy::new()))
        .build(run_work);
    let worker = tokio::spawn(
        async move {
            // A worker that stops early fails the test at its next `next`;
            // this says why.
            if let Err(error) = worker.run().await {
                eprintln!("the worker stopped: {error}");
            }
        }
        .correlated(CorrelationId::parse("worker-1").unwrap()),
    );
    Harness {
        _redis: redis,
        storage,
        seen,
        around,
        worker,
    }
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(PATIENCE, receiver.recv())
        .await
        .expect("a job ran in time")
        .expect("the worker is running")
}

fn request(id: &str) -> correlated::Context {
    correlated::Context::new().with_correlation_id(CorrelationId::parse(id).unwrap())
}

fn assert_generated(id: &CorrelationId) {
    let uuid = uuid_of(id);
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

fn uuid_of(id: &CorrelationId) -> ::uuid::Uuid {
    ::uuid::Uuid::parse_str(id.as_str()).unwrap_or_else(|_| panic!("{id} is not a UUID"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_under_the_request_id_with_the_request_as_parent_and_a_child_names_the_job() {
    let mut h = harness().await;
    let mut work = Work::named("parent");
    work.child = Some("child".to_owned());
    let task = request("req-42").run(|| correlated::apalis::task(&job::Policy::new(), work));
    let job_id = task.metadata().get(job::JOB_KEY).unwrap().to_owned();
    h.storage.push_task(task).await.unwrap();

    let parent = next(&mut h.seen).await;
    assert_eq!(parent.name, "parent");
    assert_eq!(parent.id.unwrap(), "req-42");
    assert_eq!(parent.parent.unwrap(), "req-42");
    assert_eq!(parent.job.as_ref().unwrap(), job_id.as_str());

    let child = next(&mut h.seen).await;
    assert_eq!(child.name, "child");
    assert_eq!(child.id.unwrap(), "req-42");
    assert_eq!(child.parent.as_ref(), parent.job.as_ref());
    assert_ne!(child.job, parent.job);

    for _ in 0..2 {
        let around = next(&mut h.around).await;
        assert_eq!(around.before, around.after);
        assert_ne!(around.after.unwrap(), "req-42");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_once_is_retried_under_the_same_ids() {
    let mut h = harness().await;
    let mut work = Work::named("flaky");
    work.fail_on = vec![1];
    let task = request("req-retry").run(|| correlated::apalis::task(&job::Policy::new(), work));
    h.storage.push_task(task).await.unwrap();

    let first = next(&mut h.seen).await;
    let second = next(&mut h.seen).await;
    assert_eq!(
        (first.attempt, second.attempt),
        (1, 2),
        "{first:?} {second:?}"
    );
    assert_eq!(first.id.unwrap(), "req-retry");
    assert_eq!(second.id.unwrap(), "req-retry");
    assert_eq!(first.job, second.job);
    assert_eq!(first.parent, second.parent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_outside_any_context_keeps_its_new_id_across_retries() {
    let mut h = harness().await;
    let mut work = Work::named("rootless");
    work.fail_on = vec![1];
    h.storage
        .push_task(correlated::apalis::task(&job::Policy::new(), work))
        .await
        .unwrap();
    let first = next(&mut h.seen).await;
    let second = next(&mut h.seen).await;
    assert_generated(first.id.as_ref().unwrap());
    assert_eq!(first.id, second.id);
    assert_eq!(first.parent, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_context_is_back_after_success_error_panic_and_cancellation() {
    let mut h = harness().await;
    let mut failing = Work::named("error");
    failing.fail_on = (0..30).collect();
    let mut panicking = Work::named("panic");
    panicking.panic = true;
    let mut hanging = Work::named("hang");
    hanging.hang = true;
    for (n, work) in [Work::named("ok"), failing, panicking, hanging]
        .into_iter()
        .enumerate()
    {
        let task = request(&format!("req-{n}"))
            .run(|| correlated::apalis::task(&job::Policy::new(), work));
        h.storage.push_task(task).await.unwrap();
    }
    for _ in 0..4 {
        let around = next(&mut h.around).await;
        assert_eq!(around.before, around.after, "{around:?}");
        assert!(
            around
                .after
                .as_ref()
                .is_none_or(|id| !id.as_str().starts_with("req-")),
            "{around:?}"
        );
        assert_eq!(around.job_after, None, "{around:?}");
    }
}

/// Tasks pushed with metadata written by someone else: hostile values,
/// values of another type, missing entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_malformed_metadata_runs_under_a_new_id_that_child_jobs_keep() {
    let mut h = harness().await;
    let long = "x".repeat(129);
    let hostile = [
        long.as_str(),
        "caf\u{e9}",
        "line\r\nbreak",
        "nul\0byte",
        "tab\there",
        "",
        "{\"id\": [1, 2]}", // another producer's JSON, not an ID
    ];
    for (n, value) in hostile.iter().enumerate() {
        let metadata = MetadataStore::from_map(
            [
                (carrier::KEY.to_owned(), (*value).to_owned()),
                (job::JOB_KEY.to_owned(), (*value).to_owned()),
                (job::PARENT_KEY.to_owned(), (*value).to_owned()),
            ]
            .into(),
        );
        let mut work = Work::named(&format!("hostile-{n}"));
        work.child = Some(format!("child-{n}"));
        let task = TaskBuilder::new(work).with_metadata(metadata).build();
        h.storage.push_task(task).await.unwrap();
    }
    // Missing entries: no metadata at all.
    h.storage.push(Work::named("bare")).await.unwrap();

    let mut jobs = std::collections::HashMap::new();
    for _ in 0..(hostile.len() * 2 + 1) {
        let seen = next(&mut h.seen).await;
        jobs.insert(seen.name.clone(), seen);
    }
    for n in 0..hostile.len() {
        let parent = &jobs[&format!("hostile-{n}")];
        let child = &jobs[&format!("child-{n}")];
        assert_generated(parent.id.as_ref().unwrap());
        assert_generated(parent.job.as_ref().unwrap());
        assert_eq!(parent.parent, None, "{parent:?}");
        assert_eq!(child.id, parent.id);
        assert_eq!(child.parent, parent.job);
        for id in [&parent.id, &parent.job, &child.id, &child.parent] {
            assert!(!hostile.contains(&id.as_ref().unwrap().as_str()));
        }
    }
    let bare = &jobs["bare"];
    assert_generated(bare.id.as_ref().unwrap());
    assert_eq!(bare.parent, None);
}
