//! gRPC streams end to end over loopback: the example echo service
//! (runtime/examples/support/echo_service.rs, one RPC of each kind) served
//! by tonic behind `CorrelationLayer`, called by its generated tonic client
//! with the `PropagateCorrelation` interceptor, and its JSON log
//! (`correlated::tracing::json_layer`) captured in memory.
//!
//! Every message the service sends carries the ID current when it was made
//! (`correlated::current()`), and it logs one line per message. A unary
//! reply is made in the handler; a stream's messages are made long after
//! the handler returned, when tonic polls the response body for them, so
//! they keep the request's context only because the layer's body does.
//!
//! A global tracing subscriber can be set only once per process, and the
//! server's tasks run on tokio worker threads, so every test shares one
//! global subscriber; each test uses IDs of its own and reads only the
//! lines that carry them.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use correlated::tonic::PropagateCorrelation;
use correlated::{Correlate, CorrelationId};
use futures::SinkExt;
use futures::channel::mpsc;
use serde_json::{Map, Value};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[path = "../../runtime/examples/support/echo_service.rs"]
mod echo_service;

use echo_service::LOG_TARGET;
use echo_service::proto::echo_client::EchoClient;
use echo_service::proto::{CountdownRequest, EchoReply, EchoRequest};

/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(30);

type Client = EchoClient<InterceptedService<Channel, PropagateCorrelation>>;
type Line = Map<String, Value>;

// ---------------------------------------------------------------------------
// Log capture
// ---------------------------------------------------------------------------

#[path = "../../runtime/examples/support/log_capture.rs"]
mod log_capture;

use log_capture::Logs;

// The service's JSON log, kept in memory.
impl Logs {
    /// Every line, parsed as one JSON object.
    fn lines(&self) -> Vec<Line> {
        String::from_utf8_lossy(&self.bytes())
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(object)) => object,
                other => panic!("not a JSON object: {line}\n({other:?})"),
            })
            .collect()
    }

    /// The lines whose `correlation_id` is `id`.
    fn carrying(&self, id: &str) -> Vec<Line> {
        self.lines()
            .into_iter()
            .filter(|line| line.get("correlation_id").and_then(Value::as_str) == Some(id))
            .collect()
    }

    /// The echo service's lines that carry `id`.
    fn service_lines(&self, id: &str) -> Vec<Line> {
        self.carrying(id)
            .into_iter()
            .filter(|line| line.get("target").and_then(Value::as_str) == Some(LOG_TARGET))
            .collect()
    }

    /// Waits (bounded) for a line that carries `id` and whose `message`
    /// starts with `message`.
    async fn wait_for(&self, id: &str, message: &str) -> Option<Line> {
        for _ in 0..1_000 {
            let found = self.carrying(id).into_iter().find(|line| {
                line.get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|logged| logged.starts_with(message))
            });
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

/// The capture, installed on first use as the process's global subscriber:
/// the service's events and the layer's own (debug, for rejected IDs), as a
/// service would configure them.
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let filter = Targets::new()
            .with_target(LOG_TARGET, Level::INFO)
            .with_target("correlated", Level::DEBUG);
        tracing_subscriber::registry()
            .with(
                correlated::tracing::json_layer()
                    .with_writer(logs.clone())
                    .with_filter(filter),
            )
            .init();
        logs
    })
}

fn field<'a>(line: &'a Line, name: &str) -> &'a Value {
    line.get(name)
        .unwrap_or_else(|| panic!("no `{name}` in {line:?}"))
}

/// The `message` of each line.
fn messages(lines: &[Line]) -> Vec<&str> {
    lines
        .iter()
        .map(|line| field(line, "message").as_str().expect("a string"))
        .collect()
}

// ---------------------------------------------------------------------------
// The service and its client
// ---------------------------------------------------------------------------

/// The echo service on `127.0.0.1:0`, trusting `127.0.0.1`; stopped when
/// dropped.
struct Service {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start() -> Service {
    logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let layer = echo_service::layer(&["127.0.0.1".to_owned()]).expect("a valid trusted source");
    Service {
        addr,
        server: tokio::spawn(echo_service::serve(listener, layer)),
    }
}

impl Service {
    /// A client with the propagation interceptor, on its own connection.
    async fn client(&self) -> Client {
        let endpoint = Channel::from_shared(format!("http://{}", self.addr)).expect("a valid URI");
        let channel = bounded(endpoint.connect())
            .await
            .expect("connect to the service");
        EchoClient::with_interceptor(channel, PropagateCorrelation::new())
    }
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("no answer in time (hang guard)")
}

fn id(text: &str) -> CorrelationId {
    CorrelationId::parse(text).expect("a valid ID")
}

fn echoed(metadata: &MetadataMap) -> String {
    metadata
        .get("x-correlation-id")
        .expect("the ID is echoed")
        .to_str()
        .expect("visible ASCII")
        .to_owned()
}

fn text(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.to_owned(),
    }
}

/// Reads the next reply of a chat.
async fn next_reply(replies: &mut tonic::Streaming<EchoReply>) -> EchoReply {
    bounded(replies.message())
        .await
        .expect("a reply")
        .expect("the chat is open")
}

/// Counts down from `from` under `caller` (the ID the interceptor sends):
/// the echoed ID and every tick's `correlation_id`, in order.
async fn countdown(client: &mut Client, from: u32) -> (String, Vec<(u32, String)>) {
    let response = bounded(client.countdown(CountdownRequest { from }))
        .await
        .expect("a countdown");
    let echoed = echoed(response.metadata());
    let mut stream = response.into_inner();
    let mut ticks = Vec::new();
    while let Some(tick) = bounded(stream.message()).await.expect("a tick") {
        ticks.push((tick.remaining, tick.correlation_id));
    }
    (echoed, ticks)
}

/// Chats under the current ID: sends `before` messages before reading any
/// reply, reads them, then sends and reads `after` more one by one. Returns
/// the echoed ID and every reply's `(text, correlation_id)`.
async fn chat(
    client: &mut Client,
    tag: &str,
    before: usize,
    after: usize,
) -> (String, Vec<(String, String)>) {
    let (mut sender, inputs) = mpsc::unbounded();
    let response = bounded(client.chat(inputs)).await.expect("a chat");
    let echoed = echoed(response.metadata());
    let mut replies = response.into_inner();
    let mut seen = Vec::new();
    for n in 0..before {
        sender
            .send(text(&format!("{tag}-{n}")))
            .await
            .expect("the chat is open");
    }
    for _ in 0..before {
        let reply = next_reply(&mut replies).await;
        seen.push((reply.text, reply.correlation_id));
    }
    for n in before..before + after {
        sender
            .send(text(&format!("{tag}-{n}")))
            .await
            .expect("the chat is open");
        let reply = next_reply(&mut replies).await;
        seen.push((reply.text, reply.correlation_id));
    }
    sender.close_channel();
    assert!(
        bounded(replies.message())
            .await
            .expect("a clean end")
            .is_none(),
        "the chat ends when the client stops sending"
    );
    (echoed, seen)
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_reply_and_its_log_line_are_made_under_the_callers_id() {
    let service = start().await;
    let mut client = service.client().await;
    let response = bounded(client.echo(text("hello")).correlated(id("grpc-unary-1")))
        .await
        .expect("an echo");
    assert_eq!(echoed(response.metadata()), "grpc-unary-1");
    let reply = response.into_inner();
    assert_eq!(reply.text, "hello");
    assert_eq!(reply.correlation_id, "grpc-unary-1");

    let lines = logs().service_lines("grpc-unary-1");
    assert_eq!(messages(&lines), ["reply"], "{lines:#?}");
    assert_eq!(field(&lines[0], "rpc"), "Echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tick_of_a_server_stream_and_its_log_line_are_made_under_the_callers_id() {
    let service = start().await;
    let mut client = service.client().await;
    let (echoed, ticks) = countdown(&mut client, 5)
        .correlated(id("grpc-countdown-1"))
        .await;
    assert_eq!(echoed, "grpc-countdown-1");
    let expected: Vec<_> = (1..=5)
        .rev()
        .map(|remaining| (remaining, "grpc-countdown-1".to_owned()))
        .collect();
    assert_eq!(ticks, expected, "every tick made in the request's context");

    let lines = logs().service_lines("grpc-countdown-1");
    assert_eq!(
        messages(&lines),
        ["start", "tick", "tick", "tick", "tick", "tick"],
        "{lines:#?}"
    );
    let remaining: Vec<_> = lines[1..]
        .iter()
        .map(|line| field(line, "remaining").as_u64().expect("a number"))
        .collect();
    assert_eq!(remaining, [5, 4, 3, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reply_of_a_bidi_stream_also_after_several_inputs_is_made_under_the_callers_id() {
    let service = start().await;
    let mut client = service.client().await;
    let (echoed, replies) = chat(&mut client, "bidi", 3, 2)
        .correlated(id("grpc-chat-1"))
        .await;
    assert_eq!(echoed, "grpc-chat-1");
    let expected: Vec<_> = (0..5)
        .map(|n| (format!("bidi-{n}"), "grpc-chat-1".to_owned()))
        .collect();
    assert_eq!(
        replies, expected,
        "every reply made in the request's context"
    );

    let lines = logs().service_lines("grpc-chat-1");
    assert_eq!(
        messages(&lines),
        ["open", "reply", "reply", "reply", "reply", "reply"],
        "{lines:#?}"
    );
    let seq: Vec<_> = lines[1..]
        .iter()
        .map(|line| field(line, "seq").as_u64().expect("a number"))
        .collect();
    assert_eq!(seq, [0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_streams_never_see_each_others_ids() {
    const STREAMS: u32 = 20;
    let service = start().await;
    let mut tasks = Vec::new();
    for n in 0..STREAMS {
        // Countdowns and chats, each on its own connection, all at once: their
        // messages interleave on the server's worker threads.
        let mut countdown_client = service.client().await;
        let countdown_id = format!("grpc-many-countdown-{n}");
        tasks.push(tokio::spawn(
            async move {
                let (echoed, ticks) = countdown(&mut countdown_client, 8).await;
                (
                    echoed,
                    ticks.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
                )
            }
            .correlated(id(&countdown_id)),
        ));
        let mut chat_client = service.client().await;
        let chat_id = format!("grpc-many-chat-{n}");
        tasks.push(tokio::spawn(
            async move {
                let (echoed, replies) = chat(&mut chat_client, "many", 4, 4).await;
                (
                    echoed,
                    replies.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
                )
            }
            .correlated(id(&chat_id)),
        ));
    }
    let mut callers = BTreeSet::new();
    for task in tasks {
        let (echoed, made_under) = bounded(task).await.expect("the stream's task");
        assert_eq!(made_under.len(), 8, "{echoed}: every message arrived");
        assert!(
            made_under.iter().all(|id| *id == echoed),
            "{echoed}: every message made under its own request's ID: {made_under:?}"
        );
        callers.insert(echoed);
    }
    assert_eq!(
        callers.len(),
        2 * STREAMS as usize,
        "each caller's own ID kept"
    );

    for n in 0..STREAMS {
        let countdown = logs().service_lines(&format!("grpc-many-countdown-{n}"));
        assert_eq!(countdown.len(), 1 + 8, "start and 8 ticks: {countdown:#?}");
        let chat = logs().service_lines(&format!("grpc-many-chat-{n}"));
        assert_eq!(chat.len(), 1 + 8, "open and 8 replies: {chat:#?}");
    }
    let unattributed: Vec<_> = logs()
        .carrying("-")
        .into_iter()
        .filter(|line| line.get("target").and_then(Value::as_str) == Some(LOG_TARGET))
        .collect();
    assert!(
        unattributed.is_empty(),
        "no line of the service without an ID: {unattributed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_drops_the_stream_under_its_id() {
    let service = start().await;
    let mut client = service.client().await;
    let response = bounded(client.countdown(CountdownRequest { from: 1_000 }))
        .correlated(id("grpc-leaves-1"))
        .await
        .expect("a countdown");
    let mut stream = response.into_inner();
    for _ in 0..2 {
        let tick = bounded(stream.message())
            .await
            .expect("a tick")
            .expect("the stream is open");
        assert_eq!(tick.correlation_id, "grpc-leaves-1");
    }
    // Closing the client's side resets the HTTP/2 stream; the server then
    // drops the response body and with it the countdown's state, which logs.
    drop(stream);
    drop(client);
    let line = logs()
        .wait_for("grpc-leaves-1", "stopped early")
        .await
        .expect("the countdown's state was dropped in the request's context");
    assert_eq!(field(&line, "target"), LOG_TARGET);
}

/// A hostile `x-correlation-id` on a gRPC request, as tonic lets a client
/// send it (HTTP/2 refuses CR, LF and NUL in header values before any
/// server sees them).
struct Hostile {
    label: &'static str,
    value: Vec<u8>,
    /// A piece of the value that must appear in no log line.
    marker: &'static str,
}

fn hostile_values() -> Vec<Hostile> {
    let long = {
        let mut value = b"grpc-hostile-long-".to_vec();
        value.resize(600, b'x');
        value
    };
    vec![
        Hostile {
            label: "600 bytes",
            value: long,
            marker: "grpc-hostile-long-",
        },
        Hostile {
            label: "non-ASCII",
            value: b"grpc-hostile-utf8-\xc3\xa9\xff".to_vec(),
            marker: "grpc-hostile-utf8-",
        },
        Hostile {
            label: "space",
            value: b"grpc-hostile-space x".to_vec(),
            marker: "grpc-hostile-space",
        },
        Hostile {
            label: "tab",
            value: b"grpc-hostile-tab\tx".to_vec(),
            marker: "grpc-hostile-tab",
        },
        Hostile {
            label: "JSON breaking",
            value: b"grpc-hostile-json\",\"level\":\"ERROR x".to_vec(),
            marker: "grpc-hostile-json",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_on_unary_and_streaming_rpcs_is_replaced_never_echoed_or_logged() {
    let service = start().await;
    let mut client = service.client().await;
    for hostile in hostile_values() {
        let label = hostile.label;
        let value = AsciiMetadataValue::try_from(hostile.value.as_slice())
            .unwrap_or_else(|_| panic!("{label}: tonic sends it"));

        let mut request = tonic::Request::new(text("hostile"));
        request
            .metadata_mut()
            .insert("x-correlation-id", value.clone());
        let response = bounded(client.echo(request)).await.expect("an echo");
        let unary_id = echoed(response.metadata());
        CorrelationId::parse_uuid(&unary_id)
            .unwrap_or_else(|_| panic!("{label}: a generated ID is echoed, not {unary_id:?}"));
        assert_eq!(response.into_inner().correlation_id, unary_id, "{label}");

        let mut request = tonic::Request::new(CountdownRequest { from: 2 });
        request.metadata_mut().insert("x-correlation-id", value);
        let response = bounded(client.countdown(request))
            .await
            .expect("a countdown");
        let stream_id = echoed(response.metadata());
        CorrelationId::parse_uuid(&stream_id)
            .unwrap_or_else(|_| panic!("{label}: a generated ID is echoed, not {stream_id:?}"));
        let mut stream = response.into_inner();
        while let Some(tick) = bounded(stream.message()).await.expect("a tick") {
            assert_eq!(tick.correlation_id, stream_id, "{label}");
        }

        for generated in [&unary_id, &stream_id] {
            let rejected = logs()
                .wait_for(generated, "rejected the incoming correlation id")
                .await;
            assert!(
                rejected.is_some(),
                "{label}: the rejection is logged under the new ID: {:#?}",
                logs().carrying(generated)
            );
        }
        let log = logs().bytes();
        assert!(
            !log.windows(hostile.marker.len())
                .any(|window| window == hostile.marker.as_bytes()),
            "{label}: the hostile value is never logged"
        );
    }
}
