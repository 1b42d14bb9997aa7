//! NATS messages through a real nats-server (started by each test on a free
//! loopback port): publish inside a context carries it in the headers,
//! `nats::serve` runs each handler in the message's context with the job
//! rules, and hostile headers never survive.

mod servers;

use std::time::Duration;

use async_nats::HeaderMap;
use correlated::{Correlate, CorrelationId, carrier, job};
use servers::Server;
use tokio::sync::mpsc;

/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Debug)]
struct Seen {
    payload: String,
    id: Option<CorrelationId>,
    job: Option<CorrelationId>,
    parent: Option<CorrelationId>,
}

/// Subscribes to `subject` and serves `count` messages in a task whose own
/// context is `loop-1`; each handler reports what it saw and republishes
/// the payload on `<subject>.child` from inside its context. The task
/// returns what is current once the loop has ended.
async fn serve(
    client: &async_nats::Client,
    subject: &str,
    count: u64,
) -> (
    mpsc::UnboundedReceiver<Seen>,
    tokio::task::JoinHandle<Option<CorrelationId>>,
) {
    let mut subscriber = client.subscribe(subject.to_owned()).await.unwrap();
    subscriber.unsubscribe_after(count).await.unwrap();
    client.flush().await.unwrap();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let publisher = client.clone();
    let child_subject = format!("{subject}.child");
    let task = tokio::spawn(
        async move {
            correlated::nats::serve(subscriber, job::Policy::new(), |message| {
                let seen = seen_tx.clone();
                let publisher = publisher.clone();
                let child_subject = child_subject.clone();
                async move {
                    let _ = seen.send(Seen {
                        payload: String::from_utf8_lossy(&message.payload).into_owned(),
                        id: correlated::current(),
                        job: job::JOB_ID.get(),
                        parent: job::PARENT_ID.get(),
                    });
                    tokio::task::yield_now().await;
                    let headers = correlated::nats::headers(&job::Policy::new());
                    publisher
                        .publish_with_headers(child_subject, headers, message.payload)
                        .await
                        .unwrap();
                }
            })
            .await;
            correlated::current()
        }
        .correlated(CorrelationId::parse("loop-1").unwrap()),
    );
    (seen, task)
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(PATIENCE, receiver.recv())
        .await
        .expect("a message arrived in time")
        .expect("the subscriber is running")
}

async fn next_message(subscriber: &mut async_nats::Subscriber) -> async_nats::Message {
    use futures::StreamExt;
    tokio::time::timeout(PATIENCE, subscriber.next())
        .await
        .expect("a message arrived in time")
        .expect("the subscription is open")
}

fn assert_generated(id: &CorrelationId) {
    let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap_or_else(|_| panic!("{id} is no UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_in_a_request_is_handled_under_its_id_and_the_loop_gets_its_own_back() {
    let nats = Server::nats();
    let client = async_nats::connect(nats.nats_url()).await.unwrap();
    let mut children = client.subscribe("orders.child").await.unwrap();
    let (mut seen, task) = serve(&client, "orders", 2).await;

    for n in 0..2 {
        let headers = correlated::Context::new()
            .with_correlation_id(CorrelationId::parse(&format!("req-{n}")).unwrap())
            .run(|| correlated::nats::headers(&job::Policy::new()));
        let message_id = headers.get(job::JOB_KEY).unwrap().as_str().to_owned();
        client
            .publish_with_headers("orders", headers, format!("order-{n}").into())
            .await
            .unwrap();
        let handled = next(&mut seen).await;
        assert_eq!(handled.payload, format!("order-{n}"));
        assert_eq!(handled.id.unwrap(), format!("req-{n}").as_str());
        assert_eq!(handled.parent.unwrap(), format!("req-{n}").as_str());
        assert_eq!(handled.job.as_ref().unwrap(), message_id.as_str());

        // The handler's own publication keeps the ID and names it as parent.
        let child = next_message(&mut children).await;
        let headers = child.headers.unwrap();
        let header = |key| headers.get(key).unwrap().as_str().to_owned();
        assert_eq!(header(carrier::KEY), format!("req-{n}"));
        assert_eq!(header(job::PARENT_KEY), message_id);
    }
    let after = tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
    assert_eq!(after.unwrap(), "loop-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_missing_headers_give_a_new_id_that_never_reaches_child_messages() {
    let nats = Server::nats();
    let client = async_nats::connect(nats.nats_url()).await.unwrap();
    let mut children = client.subscribe("hostile.child").await.unwrap();
    let long = "x".repeat(129);
    // CR and LF cannot be inside a NATS header value at all: they end it.
    let hostile = [
        long.as_str(),
        "caf\u{e9}",
        "nul\0byte",
        "tab\there",
        "a b",
        "",
    ];
    let (mut seen, task) = serve(&client, "hostile", hostile.len() as u64 + 2).await;

    for value in hostile {
        let mut headers = HeaderMap::new();
        for key in [carrier::KEY, job::JOB_KEY, job::PARENT_KEY] {
            headers.insert(key, value);
        }
        client
            .publish_with_headers("hostile", headers, value.to_owned().into())
            .await
            .unwrap();
    }
    // Sent twice: ambiguous, so not used.
    let mut repeated = HeaderMap::new();
    repeated.append(carrier::KEY, "req-a");
    repeated.append(carrier::KEY, "req-b");
    client
        .publish_with_headers("hostile", repeated, "repeated".into())
        .await
        .unwrap();
    client
        .publish("hostile", "no headers".into())
        .await
        .unwrap();

    for _ in 0..hostile.len() + 2 {
        let handled = next(&mut seen).await;
        let id = handled.id.unwrap();
        assert_generated(&id);
        assert_generated(handled.job.as_ref().unwrap());
        assert_eq!(handled.parent, None, "{}", handled.payload);
        let child = next_message(&mut children).await;
        let headers = child.headers.unwrap();
        for (_, values) in headers.iter() {
            for value in values {
                assert!(
                    !hostile.contains(&value.as_str()),
                    "{value:?} was passed on"
                );
                assert!(!["req-a", "req-b"].contains(&value.as_str()));
            }
        }
        assert_eq!(headers.get(carrier::KEY).unwrap().as_str(), id.as_str());
    }
    let after = tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
    assert_eq!(after.unwrap(), "loop-1");
}
