//! docs/users-guide.md, "actix-web", the request span: a real actix-web
//! `HttpServer` on loopback (two workers, each its own single-threaded
//! runtime) behind `Correlation` with `request_span`, and a real HTTP client.
//! A recording layer stands for "any layer" (tracing-opentelemetry, JSON,
//! Sentry): it sees only what tracing hands every layer, span attributes,
//! their later records and each event's span context, never the formatter.
//!
//! Also `set_request_header(true)` under a middleware that keeps a clone of
//! the `HttpRequest`, where actix-web cannot lend the headers mutably.
//!
//! The subscriber is the process's (the workers are threads of their own),
//! so each test looks only at the events that carry its own `n`.

use std::cell::Cell;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::{Payload, Service};
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, HttpServer, web};
use axum::body::Bytes;
use correlated::CorrelationId;
use correlated::actix::Correlation;
use correlated::tracing::RequestSpan;
use futures::StreamExt as _;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tracing::Level;
use tracing_subscriber::prelude::*;

const HEADER: &str = "x-correlation-id";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

correlated::slot! {
    /// Set by a middleware outside `Correlation`, before the span is made.
    static TENANT: String;
    /// Set by a middleware inside `Correlation`, after the span is made.
    static USER_ID: String;
}

// ---------------------------------------------------------------------------
// A layer that records what every layer sees
// ---------------------------------------------------------------------------

#[path = "support/span_recorder.rs"]
mod span_recorder;

use span_recorder::{Recorder, SeenEvent};

/// The recorder, installed on first use as the process's subscriber.
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = Recorder::default();
        tracing_subscriber::registry().with(recorder.clone()).init();
        recorder
    })
}

/// The events of request `n`.
fn events_of(n: u32) -> Vec<SeenEvent> {
    let n = n.to_string();
    recorder()
        .events()
        .into_iter()
        .filter(|event| event.fields.get("n") == Some(&n))
        .collect()
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// The request's `n=<u32>` query.
fn number(request: &HttpRequest) -> u32 {
    request
        .query_string()
        .strip_prefix("n=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// An extractor that logs while it extracts.
struct Logged;

impl FromRequest for Logged {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        tracing::info!(n = number(request), "extractor");
        ready(Ok(Logged))
    }
}

/// `/local?n=`: a `!Send` handler (an `Rc` across awaits) that logs before
/// and after them.
async fn local(request: HttpRequest, _: Logged) -> String {
    let n = number(&request);
    let visits = Rc::new(Cell::new(0));
    tracing::info!(n, "handler: start");
    for _ in 0..3 {
        visits.set(visits.get() + 1);
        actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    }
    tracing::info!(n, "handler: done");
    format!("{}", visits.get())
}

/// `/stream?n=`: three chunks made after the handler returned, each logged.
async fn stream(request: HttpRequest) -> HttpResponse {
    let n = number(&request);
    let chunks = futures::stream::iter(1..=3).then(move |chunk| async move {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        tracing::info!(n, chunk, "chunk");
        Ok::<_, actix_web::Error>(web::Bytes::from(format!("{chunk};")))
    });
    HttpResponse::Ok().streaming(chunks)
}

/// `/header`: which `x-correlation-id` header the handler got, and the ID.
async fn header(request: HttpRequest, id: CorrelationId) -> String {
    let header = request
        .headers()
        .get(HEADER)
        .map_or("none", |value| value.to_str().unwrap_or("?"));
    format!("{header} {id}")
}

/// A real `HttpServer` on `127.0.0.1:0`, run by an actix system on a thread
/// of its own; stopped on drop, also when a test fails.
struct Server {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start() -> Server {
    recorder();
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let correlation = Correlation::builder()
                .trust(&LOCALHOST.to_string())
                .expect("a valid address")
                .request_span(RequestSpan::new().slot(&TENANT).slot(&USER_ID))
                .build();
            let rewriting = Correlation::builder().set_request_header(true).build();
            let server = HttpServer::new(move || {
                let spans = web::scope("/spans")
                    .route("/local", web::get().to(local))
                    .route("/stream", web::get().to(stream))
                    // Inside `Correlation`: a bare set, which lasts until the
                    // request ends (its frame is the request's).
                    .wrap_fn(|request, service| {
                        let _persists = USER_ID.set("user-7".to_owned());
                        service.call(request)
                    })
                    .wrap(correlation.clone())
                    // Outside: a scope around the inner call.
                    .wrap_fn(|request, service| {
                        let _tenant = TENANT.scope("acme".to_owned());
                        service.call(request)
                    });
                // A middleware outside `Correlation` that keeps a clone of
                // the request until the response is ready; on a resource,
                // since actix-web's own routing needs the request unshared.
                let kept = web::resource("/kept")
                    .route(web::get().to(header))
                    .wrap(rewriting.clone())
                    .wrap_fn(|request, service| {
                        let kept = request.request().clone();
                        let response = service.call(request);
                        async move {
                            let response = response.await;
                            drop(kept);
                            response
                        }
                    });
                let rewritten = web::resource("/rewritten")
                    .route(web::get().to(header))
                    .wrap(rewriting.clone());
                App::new().service(spans).service(kept).service(rewritten)
            })
            .workers(2)
            .disable_signals()
            .shutdown_timeout(1)
            .bind((LOCALHOST, 0))?;
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
        handle,
        thread: Some(thread),
    }
}

impl Server {
    /// `GET path`, with `x-correlation-id: id` if given: the echoed ID and
    /// the whole body.
    async fn get(&self, path: &str, id: Option<&str>) -> (String, String) {
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let mut request = http::Request::get(format!("http://{}{path}", self.addr));
        if let Some(id) = id {
            request = request.header(HEADER, id);
        }
        let request = request.body(Empty::<Bytes>::new()).unwrap();
        let answer = async {
            let response = client.request(request).await.expect("the server answers");
            assert_eq!(response.status(), http::StatusCode::OK, "{path}");
            let echoed = response.headers()[HEADER].to_str().unwrap().to_owned();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (echoed, String::from_utf8_lossy(&body).into_owned())
        };
        tokio::time::timeout(PATIENCE, answer)
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer (hang guard)"))
    }
}

/// Every event of request `n` is in exactly one span named `request`, at
/// DEBUG, with the request line and `id`, the ID the code saw.
fn assert_in_request_span(events: &[SeenEvent], id: &str, uri: &str) {
    for event in events {
        let requests = event.requests();
        assert_eq!(requests.len(), 1, "{event:#?}");
        let span = requests[0];
        assert_eq!(span.target, "correlated::tracing");
        assert_eq!(span.level, Level::DEBUG);
        assert_eq!(span.fields["method"], "GET");
        assert_eq!(span.fields["uri"], uri);
        assert_eq!(span.fields["version"], "HTTP/1.1");
        assert_eq!(span.fields["correlation_id"], id, "{event:#?}");
        assert_eq!(event.current.as_deref(), Some(id));
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extractor_and_a_not_send_handler_run_in_the_request_span() {
    let server = start();
    let id = "e2e-actix-span-1001";
    let (echoed, body) = server.get("/spans/local?n=1001", Some(id)).await;
    assert_eq!(echoed, id);
    assert_eq!(body, "3");
    let events = events_of(1001);
    let messages: Vec<_> = events.iter().map(|event| event.message.as_str()).collect();
    assert_eq!(messages, ["extractor", "handler: start", "handler: done"]);
    assert_in_request_span(&events, id, "/spans/local?n=1001");
    for event in &events {
        // The outer middleware's slot was in the request's context when the
        // span was made; the inner one's is recorded when the handler is
        // done.
        let span = event.requests()[0];
        assert_eq!(span.fields["tenant"], "acme", "{event:#?}");
        assert!(!span.fields.contains_key("user_id"), "{event:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_is_polled_in_the_request_span_with_the_slots_the_handler_left() {
    let server = start();
    let (id, body) = server.get("/spans/stream?n=1002", None).await;
    assert_eq!(body, "1;2;3;");
    let events = events_of(1002);
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_in_request_span(&events, &id, "/spans/stream?n=1002");
    for event in &events {
        assert_eq!(event.message, "chunk");
        let span = event.requests()[0];
        assert_eq!(span.fields["tenant"], "acme");
        assert_eq!(span.fields["user_id"], "user-7");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_span() {
    let server = Arc::new(start());
    let requests = (0..20_u32).map(|i| {
        let server = Arc::clone(&server);
        async move {
            let n = 2000 + i;
            let id = format!("e2e-actix-span-{n}");
            let (echoed, _) = server.get(&format!("/spans/local?n={n}"), Some(&id)).await;
            assert_eq!(echoed, id);
            (n, id)
        }
    });
    for (n, id) in futures::future::join_all(requests).await {
        let events = events_of(n);
        assert_eq!(events.len(), 3, "{events:#?}");
        assert_in_request_span(&events, &id, &format!("/spans/local?n={n}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_request_header_under_a_middleware_that_keeps_the_request_leaves_the_header() {
    let server = start();
    let before = correlated::__private::misuse_reports();
    let (id, body) = server.get("/kept", Some("from-client")).await;
    // The write was impossible: the header is as it came, the ID (a new
    // one: the client is not trusted) is in the context, and the response
    // is whole.
    assert_ne!(id, "from-client");
    assert_eq!(body, format!("from-client {id}"));
    assert_eq!(correlated::__private::misuse_reports(), before + 1);
    // Without the clone, the header is rewritten.
    let (id, body) = server.get("/rewritten", Some("from-client")).await;
    assert_eq!(body, format!("{id} {id}"));
}
