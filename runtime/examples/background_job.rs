//! A request hands work to a background worker through a queue, and the job
//! runs under the request's correlation ID.
//!
//! The queue is a tokio channel of messages whose headers are a
//! `HashMap<String, String>`, as with Kafka, AMQP or SQS message attributes.
//! The producer injects the current ID into the headers; the worker runs each
//! job in the context extracted from them, with a fresh ID when a message
//! has none or a hostile one. Between jobs the worker is back under its own
//! ID: a job's ID never outlives the job.
//!
//! Run with: `cargo run -p correlated --example background_job`

use std::collections::HashMap;
use std::time::Duration;

use correlated::{Correlate, CorrelationId, carrier};
use tokio::sync::mpsc;

/// A queued job: a payload plus string headers.
struct Message {
    payload: &'static str,
    headers: HashMap<String, String>,
}

fn log(what: &str) {
    let id = correlated::current();
    println!(
        "[{}] {what}",
        id.as_ref().map_or("-", CorrelationId::as_str)
    );
}

/// The request handler: does its part, then enqueues a job carrying its ID.
async fn handle_signup(queue: mpsc::Sender<Message>) {
    log("signup received; queueing the welcome e-mail");
    let mut headers = HashMap::new();
    carrier::inject(&mut headers);
    let message = Message {
        payload: "send welcome e-mail",
        headers,
    };
    queue.send(message).await.expect("the worker is running");
}

/// Knows nothing about correlation IDs, yet its log lines carry the job's.
async fn run_job(payload: &'static str) -> CorrelationId {
    log(&format!("job started: {payload}"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    log("job finished");
    correlated::current().expect("every job runs under an ID")
}

/// The worker: its own ID between jobs, the message's ID during each job.
async fn worker(mut queue: mpsc::Receiver<Message>) -> Vec<CorrelationId> {
    let own = correlated::current();
    let mut seen = Vec::new();
    while let Some(message) = queue.recv().await {
        // The job runs in the message's context (or a fresh ID if the header
        // is missing or invalid); the worker's context is back afterwards.
        let id = carrier::wrap(&message.headers, run_job(message.payload)).await;
        assert_eq!(
            correlated::current(),
            own,
            "the worker's own ID is restored"
        );
        seen.push(id);
    }
    log("queue closed; worker stops");
    seen
}

#[tokio::main]
async fn main() {
    let (sender, receiver) = mpsc::channel(8);
    let worker_id = CorrelationId::parse("worker-1").unwrap();
    let worker = tokio::spawn(worker(receiver).correlated(worker_id));

    // 1. A request with an ID of its own (from a trusted upstream, say).
    let request_id = CorrelationId::parse("req-signup-42").unwrap();
    handle_signup(sender.clone())
        .correlated(request_id.clone())
        .await;

    // 2. A message from a producer that knows nothing about correlation IDs.
    let untagged = Message {
        payload: "rebuild search index",
        headers: HashMap::new(),
    };
    sender.send(untagged).await.unwrap();

    // 3. A message whose header was tampered with: never used, never echoed.
    let hostile = Message {
        payload: "charge card",
        headers: HashMap::from([(carrier::KEY.to_owned(), "x\r\nInjected: 1".to_owned())]),
    };
    sender.send(hostile).await.unwrap();

    drop(sender);
    let seen = worker.await.unwrap();

    assert_eq!(seen[0], request_id, "the job kept the request's ID");
    for fresh in &seen[1..] {
        let uuid = uuid::Uuid::parse_str(fresh.as_str()).unwrap();
        assert_eq!(
            uuid.get_version_num(),
            7,
            "a missing or bad ID is regenerated"
        );
    }
    assert_eq!(correlated::current(), None);
    println!("ok: {} jobs, each under its own correlation ID", seen.len());
}
