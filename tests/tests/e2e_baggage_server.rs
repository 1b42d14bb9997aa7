//! docs/semantics.md, promise 30, server side. The server middleware reads
//! the correlation ID from a trusted peer's W3C `baggage` (`.baggage(true)`),
//! end to end over loopback: a real axum server (the tower layer) and a real
//! actix-web `HttpServer`, each called by a real HTTP client (hyper-util)
//! from a trusted address (`127.0.0.1`) or an untrusted one (`127.0.0.2`).
//!
//! Both servers are built from the same options and must answer the same.
//! Every server started here is stopped when its handle drops, also when a
//! test fails. The servers' debug logs are captured in memory (one global
//! subscriber per test binary) so that the tests can check that no refused
//! value is ever logged.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use axum::body::Bytes;
use correlated::CorrelationId;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use tracing_subscriber::prelude::*;

const HEADER: &str = "x-correlation-id";
const TRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const UNTRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long one request or server start may take before the test fails
/// instead of hanging. A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

/// Every value a test sends that must never be chosen, echoed or logged
/// carries this marker.
const SECRET: &str = "s3cr3t";

// ---------------------------------------------------------------------------
// Log capture
// ---------------------------------------------------------------------------

#[path = "../../runtime/examples/support/log_capture.rs"]
mod log_capture;

use log_capture::Logs;

/// The capture, installed on first use as the process's tracing subscriber,
/// at debug level (the middleware's refusals are debug events).
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(logs.clone())
            .map_event_format(correlated::tracing::CorrelatedFormat::text);
        tracing_subscriber::registry()
            .with(layer.with_filter(tracing_subscriber::filter::LevelFilter::DEBUG))
            .init();
        logs
    })
}

// ---------------------------------------------------------------------------
// The servers: the same options, two frameworks
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Framework {
    Axum,
    Actix,
}

const FRAMEWORKS: [Framework; 2] = [Framework::Axum, Framework::Actix];

/// The options under test: trust `127.0.0.1`, read baggage, the given
/// policy for invalid values.
#[derive(Clone, Copy)]
struct Options {
    reject: bool,
    trace_context: bool,
}

const REGENERATE: Options = Options {
    reject: false,
    trace_context: false,
};
const REJECT: Options = Options {
    reject: true,
    trace_context: false,
};

/// The same options on either framework's builder (the shared
/// `CorrelationBuilder`; a macro, since its integration parameter is sealed).
macro_rules! configure {
    ($builder:expr, $options:expr) => {{
        let options: Options = $options;
        let builder = $builder
            .trust(&TRUSTED.to_string())
            .expect("a valid address")
            .baggage(true)
            .trace_context(options.trace_context);
        if options.reject {
            builder.on_invalid(correlated::tower::OnInvalid::Reject)
        } else {
            builder
        }
    }};
}

/// The handler of both servers: the ID it runs with.
async fn current_id() -> String {
    correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string())
}

/// A running server on `127.0.0.1:0`; stopped when dropped.
struct Server {
    addr: SocketAddr,
    stop: Stop,
}

enum Stop {
    Axum(tokio::task::JoinHandle<std::io::Result<()>>),
    Actix {
        handle: ServerHandle,
        thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    },
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.stop {
            Stop::Axum(task) => task.abort(),
            Stop::Actix { handle, thread } => {
                // The stop command is sent at once; the future only waits.
                drop(handle.stop(false));
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

async fn start(framework: Framework, options: Options) -> Server {
    logs();
    match framework {
        Framework::Axum => start_axum(options).await,
        Framework::Actix => start_actix(options),
    }
}

async fn start_axum(options: Options) -> Server {
    let layer = configure!(correlated::tower::CorrelationLayer::builder(), options).build();
    let app = axum::Router::new()
        .route("/", axum::routing::get(current_id))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind((TRUSTED, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move { axum::serve(listener, service).await });
    Server {
        addr,
        stop: Stop::Axum(task),
    }
}

/// actix-web runs its own system, on a thread of its own.
fn start_actix(options: Options) -> Server {
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let correlation =
                configure!(correlated::actix::Correlation::builder(), options).build();
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .route("/", actix_web::web::get().to(current_id))
                    .wrap(correlation.clone())
            })
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .bind((TRUSTED, 0))?;
            let addr = server.addrs()[0];
            let server = server.run();
            sender
                .send((addr, server.handle()))
                .expect("the test waits for the address");
            server.await
        })
    });
    let (addr, handle) = receiver.recv_timeout(PATIENCE).expect("the server starts");
    Server {
        addr,
        stop: Stop::Actix {
            handle,
            thread: Some(thread),
        },
    }
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// One answer: status, the single echoed ID, and the ID the handler saw
/// (empty for a `400`, which no handler made).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    echoed: String,
    seen: String,
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("no answer in time (hang guard)")
}

impl Server {
    /// `GET /` from `from`, with `headers` (a name may repeat).
    async fn get(&self, from: IpAddr, headers: &[(&str, &str)]) -> Answer {
        let mut connector = HttpConnector::new();
        connector.set_local_address(Some(from));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        let mut request = Request::get(format!("http://{}/", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::default()).expect("a request");
        let response = bounded(client.request(request))
            .await
            .expect("the server answers");
        let status = response.status();
        let echoed: Vec<_> = response.headers().get_all(HEADER).iter().collect();
        assert_eq!(echoed.len(), 1, "exactly one echoed ID");
        let echoed = echoed[0].to_str().expect("visible ASCII").to_owned();
        let body = bounded(response.into_body().collect())
            .await
            .expect("a whole body")
            .to_bytes();
        Answer {
            status,
            echoed,
            seen: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

impl Answer {
    /// Served under `id`: the handler saw it and the response echoes it.
    fn assert_served_under(&self, id: &str, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}");
        assert_eq!(self.echoed, id, "{what}");
        assert_eq!(self.seen, id, "{what}");
    }

    /// Served under a newly generated ID, with nothing of what was sent.
    fn assert_generated(&self, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}");
        assert_v7(&self.echoed, what);
        assert_eq!(self.seen, self.echoed, "{what}");
    }

    /// `OnInvalid::Reject`: a 400 under a new ID; no handler ran.
    fn assert_rejected(&self, what: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{what}");
        assert_v7(&self.echoed, what);
        assert!(self.seen.is_empty(), "{what}: {}", self.seen);
    }
}

/// A canonical UUIDv7, as the middleware generates.
fn assert_v7(id: &str, what: &str) {
    let canonical = CorrelationId::parse_uuid(id).unwrap_or_else(|_| panic!("{what}: {id:?}"));
    assert_eq!(canonical.as_str(), id, "{what}: not canonical");
    assert_eq!(&id[14..15], "7", "{what}: {id} is not version 7");
}

/// The refusals were logged (with `message`), and nothing the tests marked
/// as secret reached the servers' logs.
fn assert_logged_without_secrets(message: &str) {
    let text = logs().text();
    assert!(text.contains(message), "no {message:?} in:\n{text}");
    assert!(
        !text.contains(SECRET),
        "a refused value was logged:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peers_baggage_gives_the_id() {
    for framework in FRAMEWORKS {
        let server = start(framework, REGENERATE).await;
        let what = format!("{framework:?}");
        let answer = server
            .get(
                TRUSTED,
                &[(
                    "baggage",
                    "userId=alice,correlation_id=req-bag-1;origin=edge",
                )],
            )
            .await;
        answer.assert_served_under("req-bag-1", &what);
        // Percent-encoded, across two lines: one list, decoded.
        let answer = server
            .get(
                TRUSTED,
                &[
                    ("baggage", "userId=alice"),
                    ("baggage", "correlation_id=req%2Fbag%3D2"),
                ],
            )
            .await;
        answer.assert_served_under("req/bag=2", &what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correlation_header_wins_over_the_baggage() {
    for framework in FRAMEWORKS {
        let server = start(framework, REGENERATE).await;
        let what = format!("{framework:?}");
        let answer = server
            .get(
                TRUSTED,
                &[
                    (HEADER, "req-header-1"),
                    ("baggage", "correlation_id=req-bag-other"),
                ],
            )
            .await;
        answer.assert_served_under("req-header-1", &what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baggage_wins_over_traceparent() {
    let options = Options {
        reject: false,
        trace_context: true,
    };
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for framework in FRAMEWORKS {
        let server = start(framework, options).await;
        let what = format!("{framework:?}");
        let both = [
            ("traceparent", traceparent),
            ("baggage", "correlation_id=req-bag-3"),
        ];
        server
            .get(TRUSTED, &both)
            .await
            .assert_served_under("req-bag-3", &what);
        let no_member = [("traceparent", traceparent), ("baggage", "userId=alice")];
        server
            .get(TRUSTED, &no_member)
            .await
            .assert_served_under("4bf92f3577b34da6a3ce929d0e0e4736", &what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_baggage_is_ignored() {
    let value = format!("correlation_id=req-{SECRET}-untrusted");
    for framework in FRAMEWORKS {
        // Under `Reject` too: an untrusted peer's value is never judged.
        for options in [REGENERATE, REJECT] {
            let server = start(framework, options).await;
            let what = format!("{framework:?}");
            let answer = server.get(UNTRUSTED, &[("baggage", &value)]).await;
            answer.assert_generated(&what);
        }
    }
    assert_logged_without_secrets("ignored the incoming baggage header: the peer is not trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_oversize_baggage_is_ignored_whole() {
    let id = format!("req-{SECRET}-whole");
    let too_many: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
    let cases = [
        // An empty member spoils the valid `correlation_id` beside it.
        format!("correlation_id={id},,userId=alice"),
        format!("correlation_id={id},note=two words"),
        format!("correlation_id={id},bad=100%"),
        // 65 members, and 8193 bytes.
        format!("correlation_id={id},{}", too_many.join(",")),
        format!(
            "correlation_id={id},pad={}",
            "v".repeat(8193 - 20 - id.len())
        ),
    ];
    assert_eq!(cases[4].len(), 8193);
    for framework in FRAMEWORKS {
        // Not a rejection: `Reject` serves the request too.
        for options in [REGENERATE, REJECT] {
            let server = start(framework, options).await;
            for case in &cases {
                let what = format!("{framework:?}: {}", &case[..case.len().min(60)]);
                let answer = server.get(TRUSTED, &[("baggage", case)]).await;
                answer.assert_generated(&what);
            }
        }
    }
    assert_logged_without_secrets("invalid baggage: member 1 is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_baggage_id_is_rejected_like_an_invalid_header() {
    let long = format!("{SECRET}{}", "x".repeat(600));
    let cases = [
        // CR, percent-encoded (a header value cannot hold it raw).
        format!("correlation_id={SECRET}%0Dinjected"),
        // 600 bytes: past the floor's 128.
        format!("correlation_id={long}"),
        // Non-ASCII, percent-encoded (UTF-8 of `é`).
        format!("correlation_id={SECRET}caf%C3%A9"),
        // Sent twice: ambiguous, as a repeated header is.
        format!("correlation_id={SECRET}-1,correlation_id={SECRET}-2"),
    ];
    for framework in FRAMEWORKS {
        let regenerate = start(framework, REGENERATE).await;
        let reject = start(framework, REJECT).await;
        for case in &cases {
            let what = format!("{framework:?}: {}", &case[..case.len().min(60)]);
            regenerate
                .get(TRUSTED, &[("baggage", case)])
                .await
                .assert_generated(&what);
            reject
                .get(TRUSTED, &[("baggage", case)])
                .await
                .assert_rejected(&what);
        }
        // The header's own rejection, for comparison: the same answers.
        let header = [(HEADER, "two words")];
        regenerate
            .get(TRUSTED, &header)
            .await
            .assert_generated("header");
        reject.get(TRUSTED, &header).await.assert_rejected("header");
    }
    assert_logged_without_secrets(
        "rejected the correlation id in the incoming baggage; answering 400 Bad Request",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baggage_written_by_opentelemetry_is_read() {
    // An ID with characters OpenTelemetry percent-encodes, beside members
    // with properties and encoded values.
    let id = "req:otel/2024 #1".replace(' ', "-");
    let baggage: opentelemetry::baggage::Baggage = [
        KeyValueMetadata::new("userId", "alice", "ttl=30"),
        KeyValueMetadata::new("correlation_id", id.clone(), ""),
        KeyValueMetadata::new("note", "caf\u{e9}, 10 = ten", ""),
    ]
    .into_iter()
    .collect();
    let context = opentelemetry::Context::new().with_baggage(baggage);
    let mut carrier = HashMap::new();
    BaggagePropagator::new().inject_context(&context, &mut carrier);
    let written = carrier.remove("baggage").expect("a baggage header");
    for framework in FRAMEWORKS {
        let server = start(framework, REGENERATE).await;
        let what = format!("{framework:?}: {written}");
        server
            .get(TRUSTED, &[("baggage", &written)])
            .await
            .assert_served_under(&id, &what);
    }
}
