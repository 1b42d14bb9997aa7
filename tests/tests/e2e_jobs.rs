//! Across processes: one ID from an HTTP request through Redis (apalis) and
//! NATS to a worker in another process, and on to the job that job enqueues.
//!
//! The test starts Redis and NATS on free loopback ports, then the jobs
//! example's two binaries (runtime/examples/jobs_service.rs and
//! jobs_worker.rs, built as binaries of this crate), reads every JSON log
//! line both write, and checks the lines of each request: its ID on every
//! one, the parent of every job, and no other request's ID anywhere. Every
//! process is killed when the test ends, also when it fails.

mod servers;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use axum::body::Body;
use correlated::{carrier, job};
use http::Request;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use servers::Server;

/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(90);

const REQUESTS: u64 = 100;

/// The example's job arguments (runtime/examples/support/jobs.rs), as the
/// test pushes them itself for the hostile cases.
#[derive(Debug, Deserialize, Serialize)]
struct Order {
    n: u64,
    step: Step,
}

#[derive(Debug, Deserialize, Serialize)]
enum Step {
    Order,
}

// ---------------------------------------------------------------------------
// Processes and their logs
// ---------------------------------------------------------------------------

/// One of the example's processes; its stdout lines are collected, and it is
/// killed on drop.
struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Set once the child's stdout is closed: it has exited (or closed its
    /// output), and no further line will come.
    closed: Arc<AtomicBool>,
}

impl Process {
    fn start(
        binary: &str,
        redis: &Server,
        nats: &Server,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Process {
        let mut child = Command::new(binary)
            .args(args)
            .env("REDIS_URL", redis.redis_url())
            .env("NATS_URL", nats.nats_url())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("start {binary}: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let sink = Arc::clone(&lines);
        let eof = Arc::clone(&closed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
            eof.store(true, Ordering::Release);
        });
        Process {
            child,
            lines,
            closed,
        }
    }

    fn service(redis: &Server, nats: &Server) -> (Process, SocketAddr) {
        let process = Process::start(
            env!("CARGO_BIN_EXE_jobs_service"),
            redis,
            nats,
            &["--addr", "127.0.0.1:0"],
            &[],
        );
        let line = process.wait_for(|line| line["message"] == "listening");
        let addr = line["addr"]
            .as_str()
            .expect("the address")
            .parse()
            .expect("an address");
        (process, addr)
    }

    fn worker(redis: &Server, nats: &Server, job_millis: u64) -> Process {
        let millis = job_millis.to_string();
        let process = Process::start(
            env!("CARGO_BIN_EXE_jobs_worker"),
            redis,
            nats,
            &[],
            &[("JOB_MILLIS", &millis)],
        );
        process.wait_for(|line| line["message"] == "worker ready");
        process
    }

    fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn json(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
            })
            .collect()
    }

    /// Waits (bounded) for a line that `found` accepts, and returns it.
    fn wait_for(&self, found: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            // Read the flag before the lines: every line was pushed before
            // it was set, so a miss after a set flag is final.
            let closed = self.closed.load(Ordering::Acquire);
            if let Some(line) = self.json().into_iter().find(|line| found(line)) {
                return line;
            }
            assert!(
                !closed,
                "the process closed its output (exited) before such a line:\n{}",
                self.lines().join("\n")
            );
            assert!(
                start.elapsed() < PATIENCE,
                "no such line in:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field as text (`n` is a number in job lines, text in message lines).
fn text(line: &Value, field: &str) -> Option<String> {
    match &line[field] {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn is_job(line: &Value, n: u64, step: &str, message: &str) -> bool {
    text(line, "n") == Some(n.to_string()) && line["step"] == step && line["message"] == message
}

fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// `GET /orders/{n}`, with `header` as `x-correlation-id`; the body is the
/// ID the service ran the request under.
async fn order(addr: SocketAddr, n: u64, header: Option<String>) -> String {
    let (status, body) = try_order(addr, n, header).await;
    assert_eq!(status, 200, "request {n}: {body}");
    body
}

/// `GET /orders/{n}`: the status and the body.
async fn try_order(addr: SocketAddr, n: u64, header: Option<String>) -> (http::StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let mut request = Request::get(format!("http://{addr}/orders/{n}"));
    if let Some(header) = header {
        request = request.header(carrier::KEY, header);
    }
    let response = tokio::time::timeout(
        PATIENCE,
        client.request(request.body(Body::empty()).unwrap()),
    )
    .await
    .expect("an answer in time")
    .expect("an answer");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Sends `/orders/{n}` for every `n` in `range` at once, every other one with
/// a header of its own; returns the ID of each.
async fn orders(addr: SocketAddr, range: std::ops::Range<u64>) -> HashMap<u64, String> {
    let requests = range.map(|n| async move {
        let header = (n % 2 == 0).then(|| format!("e2e-request-{n}"));
        let id = order(addr, n, header.clone()).await;
        match header {
            Some(header) => assert_eq!(id, header),
            None => assert_generated(&id),
        }
        (n, id)
    });
    futures::future::join_all(requests)
        .await
        .into_iter()
        .collect()
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// Hostile values for the ID entries; each is marked so that the logs can be
/// searched for it whatever escaping a logger applies.
fn hostile_values() -> Vec<String> {
    vec![
        format!("HOSTILE{}", "x".repeat(200)),
        "HOSTILE-caf\u{e9}".to_owned(),
        "HOSTILE\u{1}ctl".to_owned(),
        "HOSTILE\ttab".to_owned(),
        "HOSTILE\0nul".to_owned(),
        "{\"HOSTILE\": [1, 2]}".to_owned(), // another producer's JSON, not an ID
    ]
}

/// Pushes order jobs with hostile metadata straight into Redis, and NATS
/// messages with hostile headers, for `n` from `first` on.
async fn send_hostile(redis: &Server, nats: &Server, first: u64) -> usize {
    let mut storage = RedisStorage::<Order>::new(redis.redis_connection().await)
        .with_config(Config::default().queue("orders"));
    let client = async_nats::connect(nats.nats_url()).await.unwrap();
    let hostile = hostile_values();
    for (i, value) in hostile.iter().enumerate() {
        let n = first + i as u64;
        let metadata = MetadataStore::from_map(
            [carrier::KEY, job::JOB_KEY, job::PARENT_KEY]
                .into_iter()
                .map(|key| (key.to_owned(), value.clone()))
                .collect(),
        );
        let task = TaskBuilder::new(Order {
            n,
            step: Step::Order,
        })
        .with_metadata(metadata)
        .build();
        storage.push_task(task).await.unwrap();
        let mut headers = async_nats::HeaderMap::new();
        for key in [carrier::KEY, job::JOB_KEY, job::PARENT_KEY] {
            headers.insert(key, value.as_str());
        }
        client
            .publish_with_headers("orders.created", headers, n.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    hostile.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_id_from_each_request_through_redis_and_nats_to_the_worker_and_its_child_jobs() {
    let redis = Server::redis();
    let nats = Server::nats();
    let worker = Process::worker(&redis, &nats, 10);
    let (service, addr) = Process::service(&redis, &nats);

    let ids = orders(addr, 0..REQUESTS).await;
    let hostile_first = 10_000;
    let hostile = send_hostile(&redis, &nats, hostile_first).await as u64;
    let all = (0..REQUESTS).chain(hostile_first..hostile_first + hostile);

    // Everything has run: each order's shipping job and each message.
    for n in all.clone() {
        worker.wait_for(|line| is_job(line, n, "Shipping", "job done"));
        worker.wait_for(|line| {
            line["message"] == "message received" && text(line, "n") == Some(n.to_string())
        });
    }

    let service_lines = service.json();
    let worker_lines = worker.json();
    let raw: Vec<String> = service.lines().into_iter().chain(worker.lines()).collect();

    // No hostile value is logged, escaped or not.
    for line in &raw {
        assert!(
            !line.contains("HOSTILE"),
            "a hostile value was logged: {line}"
        );
    }

    let request_ids: HashSet<&str> = ids.values().map(String::as_str).collect();
    // The job ID the service gave each request's order job.
    let mut order_jobs = HashMap::new();
    for line in &service_lines {
        let id = line["correlation_id"]
            .as_str()
            .expect("every line has correlation_id");
        let Some(n) = text(line, "n").and_then(|n| n.parse::<u64>().ok()) else {
            assert!(
                !request_ids.contains(id),
                "a service line of a request without its number: {line}"
            );
            continue;
        };
        assert_eq!(id, ids[&n], "{line}");
        assert_eq!(line["job_id"], "-", "{line}");
        if line["message"] == "order queued" {
            order_jobs.insert(n, line["job"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(order_jobs.len() as u64, REQUESTS);

    // In the worker: per order number, the IDs of its order job, its
    // shipping job and its message.
    let mut chains: HashMap<u64, HashMap<&str, (String, String, String)>> = HashMap::new();
    for line in &worker_lines {
        let id = line["correlation_id"]
            .as_str()
            .expect("every line has correlation_id")
            .to_owned();
        let Some(n) = text(line, "n").and_then(|n| n.parse::<u64>().ok()) else {
            assert!(
                !request_ids.contains(id.as_str()),
                "a worker line of a request without its number: {line}"
            );
            continue;
        };
        let kind = if line["message"] == "message received" {
            "message"
        } else if line["step"] == "Order" {
            "order"
        } else {
            "shipping"
        };
        let entry = (
            id,
            text(line, "job_id").unwrap(),
            text(line, "parent_id").unwrap(),
        );
        let previous = chains.entry(n).or_default().insert(kind, entry.clone());
        // Every line of one job carries the same three IDs.
        if let Some(previous) = previous {
            assert_eq!(previous, entry, "{line}");
        }
    }

    for n in 0..REQUESTS {
        let chain = &chains[&n];
        let request = ids[&n].as_str();
        let (order_id, order_job, order_parent) = &chain["order"];
        assert_eq!(order_id, request, "order job {n}");
        assert_eq!(
            order_parent, request,
            "order job {n}: the request is its parent"
        );
        assert_eq!(
            order_job, &order_jobs[&n],
            "order job {n}: the ID it was enqueued with"
        );
        let (shipping_id, shipping_job, shipping_parent) = &chain["shipping"];
        assert_eq!(shipping_id, request, "shipping job {n}");
        assert_eq!(
            shipping_parent, order_job,
            "shipping job {n}: the order job is its parent"
        );
        assert_ne!(shipping_job, order_job);
        let (message_id, message_job, message_parent) = &chain["message"];
        assert_eq!(message_id, request, "message {n}");
        assert_eq!(
            message_parent, request,
            "message {n}: the request is its parent"
        );
        assert_generated(message_job);
    }

    // Hostile metadata: a new ID for the job, kept by its child job, which
    // names the job (not the hostile parent) as its parent.
    for n in hostile_first..hostile_first + hostile {
        let chain = &chains[&n];
        let (order_id, order_job, order_parent) = &chain["order"];
        assert_generated(order_id);
        assert_generated(order_job);
        assert_eq!(order_parent, "-");
        let (shipping_id, _, shipping_parent) = &chain["shipping"];
        assert_eq!(shipping_id, order_id);
        assert_eq!(shipping_parent, order_job);
        let (message_id, message_job, message_parent) = &chain["message"];
        assert_generated(message_id);
        assert_generated(message_job);
        assert_eq!(message_parent, "-");
        assert!(!request_ids.contains(order_id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_leaves_the_retry_to_another_worker_under_the_same_ids() {
    let redis = Server::redis();
    let nats = Server::nats();
    // Jobs take ten seconds in the first worker: it is killed in the middle.
    let first = Process::worker(&redis, &nats, 10_000);
    let (_service, addr) = Process::service(&redis, &nats);
    let id = order(addr, 7, Some("e2e-killed-7".to_owned())).await;
    let started = first.wait_for(|line| is_job(line, 7, "Order", "job started"));
    first.kill();

    let second = Process::worker(&redis, &nats, 10);
    let retried = second.wait_for(|line| is_job(line, 7, "Order", "job done"));
    assert_eq!(retried["correlation_id"], id.as_str());
    assert_eq!(retried["job_id"], started["job_id"]);
    assert_eq!(retried["parent_id"], "e2e-killed-7");
    let shipped = second.wait_for(|line| is_job(line, 7, "Shipping", "job done"));
    assert_eq!(shipped["correlation_id"], id.as_str());
    assert_eq!(shipped["parent_id"], started["job_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_id() {
    let redis = Server::redis();
    let nats = Server::nats();
    let (service, addr) = Process::service(&redis, &nats);
    // Enqueued while no worker runs, so the jobs wait in Redis.
    let ids = orders(addr, 0..10).await;
    let redis = redis.restart_redis();
    let worker = Process::worker(&redis, &nats, 10);
    for n in 0..10 {
        let done = worker.wait_for(|line| is_job(line, n, "Shipping", "job done"));
        assert_eq!(done["correlation_id"], ids[&n].as_str(), "{done}");
    }
    // The service's connection comes back too: its first command after the
    // restart may fail (503) while the client reconnects; a retry with the
    // same header runs under the same ID.
    let mut answer = None;
    for _ in 0..50 {
        let (status, body) = try_order(addr, 10, Some("e2e-after-restart".to_owned())).await;
        if status == 200 {
            answer = Some(body);
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.as_deref(), Some("e2e-after-restart"));
    let done = worker.wait_for(|line| is_job(line, 10, "Shipping", "job done"));
    assert_eq!(done["correlation_id"], "e2e-after-restart");
    drop(service);
}
