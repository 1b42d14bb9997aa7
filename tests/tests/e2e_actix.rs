//! End to end over loopback: a real actix-web `HttpServer` (two workers, each
//! its own single-threaded runtime) behind `correlated::actix::Correlation`,
//! with actix-web's `Logger` and tracing-actix-web's `TracingLogger` inside
//! it (and `Logger` outside it, the other order); real HTTP clients (hyper-util, and a raw TCP socket for bytes no
//! client library would send); and the server's real log output, captured
//! in memory.
//!
//! One process has one global `log` logger and one global tracing
//! subscriber, and the server's workers are threads of their own, so every
//! test shares one capture. Each test uses IDs (and `n=` numbers) of its own
//! and looks only at the lines that carry them.

use std::cell::Cell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::{ServerHandle, ServiceRequest};
use actix_web::middleware::Logger;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, error, web};
use axum::body::Bytes;
use correlated::CorrelationId;
use correlated::actix::{Correlation, OnInvalid};
use futures::StreamExt as _;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::prelude::*;

const HEADER: &str = "x-correlation-id";
const TRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const UNTRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long one request (or one bounded wait) may take before the test fails
/// instead of hanging. A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Log capture: `log` records (actix-web's `Logger`, the handlers) and tracing
// events (the middleware's refusals, `TracingLogger`) in one buffer
// ---------------------------------------------------------------------------

#[path = "../../runtime/examples/support/log_capture.rs"]
mod log_capture;

use log_capture::Logs;

impl Logs {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.bytes())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines with the field `correlation_id={id}`.
    fn carrying(&self, id: &str) -> Vec<String> {
        let field = format!("correlation_id={id}");
        self.lines()
            .into_iter()
            .filter(|line| line.split(' ').any(|token| token == field))
            .collect()
    }

    /// The lines with the token `n={n}` (the handlers log it).
    fn of_request(&self, n: u32) -> Vec<String> {
        let tag = format!("n={n}");
        self.lines()
            .into_iter()
            .filter(|line| line.split(' ').any(|token| token == tag))
            .collect()
    }

    /// Waits (bounded) for a line carrying `id` that contains `text`:
    /// `Logger` writes its line when the response body is dropped, which
    /// may be just after the client has the whole response.
    async fn wait_for(&self, id: &str, text: &str) -> String {
        for _ in 0..1_000 {
            if let Some(line) = self
                .carrying(id)
                .into_iter()
                .find(|line| line.contains(text))
            {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no line carrying {id} with {text:?}: {:#?}", self.lines());
    }
}

/// `LEVEL target: message key=value ...`, as a plain `log` backend would
/// print; `CorrelatedLogger` adds `correlation_id` to the key-values.
impl log::Log for Logs {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        struct Pairs(String);
        impl<'kvs> log::kv::VisitSource<'kvs> for Pairs {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push_str(&format!(" {key}={value}"));
                Ok(())
            }
        }
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = Pairs(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
        record
            .key_values()
            .visit(&mut line)
            .expect("the visitor never fails");
        self.write_line(line.0.as_bytes());
    }

    fn flush(&self) {}
}

/// The capture, installed on first use as the process's `log` logger and
/// tracing subscriber (debug level: the middleware's refusals are debug
/// events).
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        correlated::log::CorrelatedLogger::new(logs.clone())
            .init(log::LevelFilter::Info)
            .expect("the only `log` logger of this test binary");
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
// The server
// ---------------------------------------------------------------------------

/// The request's `n=<u32>` query (no serde derive in this crate).
fn number(request: &HttpRequest) -> u32 {
    request
        .query_string()
        .strip_prefix("n=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `/hello?n=`: the ID as an extractor and from `current()`, across awaits.
async fn hello(request: HttpRequest, id: CorrelationId) -> String {
    let n = number(&request);
    log::info!(n; "hello: start");
    for _ in 0..3 {
        actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    }
    let current = correlated::current().expect("set by the middleware");
    assert_eq!(current, id, "the extractor and the context agree");
    log::info!(n; "hello: done");
    format!("hello {n} {id}")
}

/// `/concurrent`: yields a few times, then says which ID it saw.
async fn concurrent(id: CorrelationId) -> String {
    for round in 0..5_u64 {
        actix_web::rt::time::sleep(Duration::from_millis(round % 3)).await;
        assert_eq!(correlated::current().as_ref(), Some(&id));
    }
    id.to_string()
}

/// `/local`: a `!Send` handler, an `Rc` held across awaits.
async fn local() -> String {
    let visits = Rc::new(Cell::new(0));
    let mut seen = Vec::new();
    for _ in 0..3 {
        visits.set(visits.get() + 1);
        actix_web::rt::time::sleep(Duration::from_millis(1)).await;
        seen.push(correlated::current().expect("set by the middleware"));
    }
    assert!(seen.windows(2).all(|pair| pair[0] == pair[1]));
    format!("{} {}", visits.get(), seen[0])
}

/// `/stream?n=`: three chunks made after the handler returned, apart in time.
async fn stream(request: HttpRequest) -> HttpResponse {
    let n = number(&request);
    let chunks = futures::stream::iter(1..=3).then(move |chunk| async move {
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        let id = correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string());
        log::info!(n, chunk; "stream: chunk");
        Ok::<_, actix_web::Error>(web::Bytes::from(format!("chunk {chunk} {id}\n")))
    });
    HttpResponse::Ok().streaming(chunks)
}

/// `/fail?n=`: a handler's `Err`.
async fn fail(request: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    log::warn!(n = number(&request); "fail: the downstream is unavailable");
    tracing::info!("fail: about to answer 503");
    Err(error::ErrorServiceUnavailable("try again later"))
}

/// `POST /json`: `web::Json` rejects a body that is not a JSON list.
async fn json(words: web::Json<Vec<String>>) -> String {
    words.join(" ")
}

/// `Logger`'s `%{correlation_id}xi`: the chosen ID, from the extensions.
fn logged_id(request: &ServiceRequest) -> String {
    request
        .extensions()
        .get::<CorrelationId>()
        .map_or_else(|| "-".to_owned(), CorrelationId::to_string)
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/hello", web::get().to(hello))
        .route("/concurrent", web::get().to(concurrent))
        .route("/local", web::get().to(local))
        .route("/stream", web::get().to(stream))
        .route("/fail", web::get().to(fail))
        .route("/json", web::post().to(json));
}

/// Where the loggers sit around `Correlation`.
#[derive(Clone, Copy)]
enum Loggers {
    LoggerInside,
    TracingLoggerInside,
    /// `Logger` wrapped outside, and `OnInvalid::Reject`.
    LoggerOutside,
}

/// A real `HttpServer` on `127.0.0.1:0`, trusting `127.0.0.1` only, run by
/// an actix system on a thread of its own; stopped on drop.
struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The stop command is sent at once; the future only waits for it.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds an app factory on `127.0.0.1:0` and runs it: the address and the
/// running server. A macro, since each factory makes its own server type.
macro_rules! serve {
    ($factory:expr) => {{
        let server = HttpServer::new($factory)
            .workers(2)
            .disable_signals()
            .shutdown_timeout(1)
            .bind((TRUSTED, 0))?;
        let addr = server.addrs()[0];
        (addr, server.run())
    }};
}

fn start(loggers: Loggers) -> Server {
    logs();
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let builder = Correlation::builder()
                .trust(&TRUSTED.to_string())
                .expect("a valid address");
            let correlation = match loggers {
                Loggers::LoggerOutside => builder.on_invalid(OnInvalid::Reject).build(),
                Loggers::LoggerInside | Loggers::TracingLoggerInside => builder.build(),
            };
            // A logger wrapped before `Correlation` is inside it.
            let (addr, server) = match loggers {
                Loggers::LoggerInside => serve!(move || {
                    App::new()
                        .configure(routes)
                        .wrap(
                            Logger::new("access %r %s id=%{correlation_id}xi")
                                .custom_request_replace("correlation_id", logged_id),
                        )
                        .wrap(correlation.clone())
                }),
                Loggers::TracingLoggerInside => serve!(move || {
                    App::new()
                        .configure(routes)
                        .wrap(tracing_actix_web::TracingLogger::default())
                        .wrap(correlation.clone())
                }),
                // Wrapped after `Correlation`: outside it, seeing the echo.
                Loggers::LoggerOutside => serve!(move || {
                    App::new()
                        .configure(routes)
                        .wrap(correlation.clone())
                        .wrap(Logger::new("outer %r %s echoed=%{x-correlation-id}o"))
                }),
            };
            sender
                .send((addr, server.handle()))
                .expect("the test waits for the address");
            server.await
        })
    });
    let (addr, handle) = receiver.recv_timeout(PATIENCE).expect("the server starts");
    Server {
        addr,
        handle,
        thread: Some(thread),
    }
}

// ---------------------------------------------------------------------------
// The clients
// ---------------------------------------------------------------------------

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client whose connections come from `local`.
fn client_from(local: IpAddr) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(local));
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer (hang guard)"))
}

/// One response: status, every `x-correlation-id` it carries, body.
struct Answer {
    status: StatusCode,
    echoed: Vec<String>,
    body: String,
}

impl Answer {
    /// The single echoed ID.
    fn id(&self) -> &str {
        assert_eq!(self.echoed.len(), 1, "exactly one echoed ID");
        &self.echoed[0]
    }
}

impl Server {
    async fn send(
        &self,
        client: &HttpClient,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &'static str,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("a well-formed request");
        let response = bounded(path, client.request(request))
            .await
            .expect("the server answers");
        let status = response.status();
        let echoed = response
            .headers()
            .get_all(HEADER)
            .iter()
            .map(|value| {
                value
                    .to_str()
                    .expect("the echo is visible ASCII")
                    .to_owned()
            })
            .collect();
        let body = bounded(path, response.into_body().collect())
            .await
            .expect("a whole body")
            .to_bytes();
        Answer {
            status,
            echoed,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let client = client_from(TRUSTED);
        self.send(&client, Method::GET, path, headers, "").await
    }

    /// Sends `GET /hello?n={n}` with `x-correlation-id: {value}` as raw
    /// bytes from `127.0.0.1` (trusted), and returns the raw response.
    async fn send_raw(&self, n: u32, value: &[u8]) -> Vec<u8> {
        let mut request =
            format!("GET /hello?n={n} HTTP/1.1\r\nhost: e2e\r\nconnection: close\r\n{HEADER}: ")
                .into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n\r\n");
        let mut response = Vec::new();
        bounded("raw request", async {
            let mut stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .expect("connect to the server");
            stream.write_all(&request).await.expect("send");
            // The server may close before reading everything (a 400): the
            // answer is what arrived.
            let _ = stream.read_to_end(&mut response).await;
        })
        .await;
        response
    }
}

/// The status and the `x-correlation-id` values of a raw response.
fn parse_raw(response: &[u8]) -> (u16, Vec<Vec<u8>>) {
    let end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(response.len());
    let mut lines = response[..end].split(|&b| b == b'\n');
    let status_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {status_line:?}"));
    let echoed = lines
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            (name == HEADER).then(|| line[colon + 1..].trim_ascii().to_vec())
        })
        .collect();
    (status, echoed)
}

/// A canonical UUIDv7 (lowercase, hyphenated), as the middleware generates.
fn assert_generated_v7(id: &str) {
    let canonical = CorrelationId::parse_uuid(id).unwrap_or_else(|_| panic!("{id:?} is no UUID"));
    assert_eq!(canonical.as_str(), id, "not canonical lowercase hyphenated");
    assert_eq!(&id[14..15], "7", "{id} is not version 7");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Both lines of the `/hello?n={n}` handler, each carrying exactly `id`.
fn assert_hello_logged_under(n: u32, id: &str) {
    let lines = logs().of_request(n);
    assert_eq!(lines.len(), 2, "start and done of n={n}: {lines:#?}");
    for line in &lines {
        assert!(
            line.ends_with(&format!("correlation_id={id}"))
                || line.contains(&format!(" correlation_id={id} ")),
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peers_id_is_kept_echoed_seen_by_the_handler_and_on_every_log_line() {
    let server = start(Loggers::LoggerInside);
    let id = "e2e-actix-trusted-1001";
    let answer = server.get("/hello?n=1001", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), id);
    assert_eq!(answer.body, format!("hello 1001 {id}"));
    assert_hello_logged_under(1001, id);
    // `Logger`'s access line, written inside the request's context: the
    // chosen ID in its format and as the record's key-value.
    let access = logs().wait_for(id, "access GET /hello?n=1001").await;
    assert!(access.contains(&format!("id={id}")), "{access}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_header_gets_a_generated_v7_echoed_and_logged() {
    let server = start(Loggers::LoggerInside);
    let answer = server.get("/hello?n=1101", &[]).await;
    let id = answer.id().to_owned();
    assert_generated_v7(&id);
    assert_eq!(answer.body, format!("hello 1101 {id}"));
    assert_hello_logged_under(1101, &id);
    let again = server.get("/hello?n=1102", &[]).await;
    assert_ne!(again.id(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_id_is_replaced_and_never_logged_forwarding_headers_or_not() {
    let server = start(Loggers::LoggerInside);
    let spoofed = "e2e-actix-spoofed-2001";
    let untrusted = client_from(UNTRUSTED);
    let forwarded = TRUSTED.to_string();
    let forwarded_for = format!("for={TRUSTED}");
    let headers = [
        (HEADER, spoofed),
        ("x-forwarded-for", forwarded.as_str()),
        ("forwarded", forwarded_for.as_str()),
        ("x-real-ip", forwarded.as_str()),
    ];
    let answer = server
        .send(&untrusted, Method::GET, "/hello?n=2001", &headers, "")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let id = answer.id().to_owned();
    assert_ne!(id, spoofed);
    assert_generated_v7(&id);
    assert_hello_logged_under(2001, &id);
    // The refusal is logged at debug level, under the new ID, without the value.
    let refusal = logs().carrying(&id);
    assert!(
        refusal
            .iter()
            .any(|line| line.contains("DEBUG") && line.contains("not trusted")),
        "{refusal:#?}"
    );
    logs().wait_for(&id, "access GET /hello?n=2001").await;
    assert!(
        !contains(&logs().bytes(), spoofed.as_bytes()),
        "the spoofed ID was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_over_raw_tcp_are_refused_or_replaced_never_echoed_or_logged() {
    let server = start(Loggers::LoggerInside);
    let mut long = b"e2e-actix-len600-3004-".to_vec();
    long.resize(600, b'A');
    // (n, value, a part of it that must appear nowhere, whether the HTTP
    // parser hands it on: bare CR and NUL are not field content, the rest is)
    let cases: [(u32, &[u8], &str, bool); 7] = [
        (
            3001,
            b"e2e-actix-cr-3001\rX-Injected: 1",
            "e2e-actix-cr-3001",
            false,
        ),
        (3002, b"e2e-actix-nul-3002\0x", "e2e-actix-nul-3002", false),
        (3003, b"e2e-actix-tab-3003\tx", "e2e-actix-tab-3003", true),
        (3004, &long, "e2e-actix-len600-3004", true),
        (
            3005,
            "e2e-actix-utf8-3005-\u{e9}t\u{e9}".as_bytes(),
            "e2e-actix-utf8-3005",
            true,
        ),
        (
            3006,
            b"e2e-actix-latin1-3006-\xe9t\xe9",
            "e2e-actix-latin1-3006",
            true,
        ),
        (
            3007,
            b"e2e-actix-space-3007 x",
            "e2e-actix-space-3007",
            true,
        ),
    ];
    for (n, value, marker, legal_http) in cases {
        let response = server.send_raw(n, value).await;
        let (status, echoed) = parse_raw(&response);
        assert!(
            !contains(&response, marker.as_bytes()),
            "n={n}: the value came back: {:?}",
            String::from_utf8_lossy(&response)
        );
        if legal_http {
            // Handed on, refused by the floor: served under a new ID.
            assert_eq!(status, 200, "n={n}");
            assert_eq!(echoed.len(), 1, "n={n}");
            let id = String::from_utf8(echoed[0].clone()).expect("an ASCII ID");
            assert_generated_v7(&id);
            assert_hello_logged_under(n, &id);
        } else {
            // The HTTP parser refused the request before any middleware.
            assert_eq!(status, 400, "n={n}");
            assert!(echoed.is_empty(), "n={n}");
            assert!(logs().of_request(n).is_empty(), "n={n}: the handler ran");
        }
    }
    // Whatever was logged, no value made it in.
    let logged = logs().bytes();
    for (n, _, marker, _) in cases {
        assert!(
            !contains(&logged, marker.as_bytes()),
            "n={n}: {marker} was logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_each_see_their_own_id() {
    let server = Arc::new(start(Loggers::LoggerInside));
    let client = client_from(TRUSTED);
    let requests = (0..200).map(|i| {
        let server = Arc::clone(&server);
        let client = client.clone();
        async move {
            let id = format!("e2e-actix-concurrent-{i}");
            let answer = server
                .send(&client, Method::GET, "/concurrent", &[(HEADER, &id)], "")
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{id}");
            assert_eq!(answer.id(), id);
            assert_eq!(answer.body, id, "the handler saw another request's ID");
        }
    });
    bounded("200 requests", futures::future::join_all(requests)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_send_handler_keeps_its_id_across_awaits() {
    let server = start(Loggers::LoggerInside);
    let id = "e2e-actix-local-4001";
    let answer = server.get("/local", &[(HEADER, id)]).await;
    assert_eq!(answer.body, format!("3 {id}"));
    assert_eq!(answer.id(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_makes_every_chunk_in_the_requests_context() {
    let server = start(Loggers::LoggerInside);
    let id = "e2e-actix-stream-5001";
    let answer = server.get("/stream?n=5001", &[(HEADER, id)]).await;
    assert_eq!(answer.id(), id);
    assert_eq!(
        answer.body,
        format!("chunk 1 {id}\nchunk 2 {id}\nchunk 3 {id}\n")
    );
    let chunks = logs().of_request(5001);
    assert_eq!(chunks.len(), 3, "{chunks:#?}");
    assert!(
        chunks
            .iter()
            .all(|line| line.contains(&format!("correlation_id={id}")))
    );
    // `Logger` writes its line when the body is dropped, after the last chunk.
    logs().wait_for(id, "access GET /stream?n=5001").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_error_and_an_extractor_rejection_echo_the_id() {
    let server = start(Loggers::LoggerInside);
    let id = "e2e-actix-fail-6001";
    let answer = server.get("/fail?n=6001", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.id(), id);
    let warned = logs().of_request(6001);
    assert!(
        warned
            .iter()
            .any(|line| line.contains(&format!("correlation_id={id}"))),
        "{warned:#?}"
    );
    logs()
        .wait_for(id, "access GET /fail?n=6001 HTTP/1.1 503")
        .await;

    let id = "e2e-actix-json-6002";
    let client = client_from(TRUSTED);
    let headers = [(HEADER, id), ("content-type", "application/json")];
    let answer = server
        .send(&client, Method::POST, "/json", &headers, "not json")
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.id(), id);
    let answer = server
        .send(
            &client,
            Method::POST,
            "/json",
            &headers,
            r#"["still", "correlated"]"#,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "still correlated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_logger_inside_correlation_emits_its_events_under_the_id() {
    let server = start(Loggers::TracingLoggerInside);
    let id = "e2e-actix-tracing-7001";
    let answer = server.get("/fail?n=7001", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.id(), id);
    // The handler's event, inside `TracingLogger`'s request span...
    let handler = logs().wait_for(id, "fail: about to answer 503").await;
    assert!(
        handler.contains("HTTP request"),
        "in the request span: {handler}"
    );
    // ... and `TracingLogger`'s own error event.
    logs()
        .wait_for(
            id,
            "Error encountered while processing the incoming HTTP request",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logger_outside_correlation_logs_the_echoed_id_and_the_rejections() {
    let server = start(Loggers::LoggerOutside);
    let id = "e2e-actix-outer-8001";
    let answer = server.get("/hello?n=8001", &[(HEADER, id)]).await;
    assert_eq!(answer.id(), id);
    // Written outside the request's context: the ID is in the text only.
    let line = wait_for_text(&format!("outer GET /hello?n=8001 HTTP/1.1 200 echoed={id}")).await;
    assert!(line.ends_with("correlation_id=-"), "{line}");

    // A rejected header never reaches a logger inside; this one sees the 400.
    let answer = server
        .get("/hello?n=8002", &[(HEADER, "e2e outer 8002")])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let fresh = answer.id().to_owned();
    assert_generated_v7(&fresh);
    wait_for_text(&format!(
        "outer GET /hello?n=8002 HTTP/1.1 400 echoed={fresh}"
    ))
    .await;
    assert!(logs().of_request(8002).is_empty(), "the handler ran");
    assert!(!contains(&logs().bytes(), b"e2e outer 8002"));
}

/// Waits (bounded) for a line containing `text`; returns it.
async fn wait_for_text(text: &str) -> String {
    for _ in 0..1_000 {
        if let Some(line) = logs().lines().into_iter().find(|line| line.contains(text)) {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no line with {text:?}: {:#?}", logs().lines());
}
