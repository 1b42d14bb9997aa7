//! reqwest end to end over loopback: real reqwest clients, plain (with
//! `correlated::reqwest::RequestBuilderExt`) and built with
//! reqwest-middleware (with `correlated::reqwest::PropagateCorrelation`),
//! calling a real axum server behind `CorrelationLayer`.
//!
//! The server answers with every value it received in the correlation
//! headers and with the ID its handler ran under, so each test sees exactly
//! what went over the wire.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use correlated::reqwest::{PropagateCorrelation, RequestBuilderExt as _};
use correlated::tower::CorrelationLayer;
use correlated::{Correlate, CorrelationId};
use http::HeaderName;
use reqwest_middleware::ClientWithMiddleware;

const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long one request may take before the test fails instead of hanging.
/// A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer (hang guard)"))
}

fn id(text: &str) -> CorrelationId {
    CorrelationId::parse(text).expect("a valid ID")
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// A server on `127.0.0.1:0`, trusting `127.0.0.1`, stopped when dropped.
///
/// `/seen` answers with what it received; `/hop` calls `downstream`'s
/// `/seen` through a reqwest-middleware client with `PropagateCorrelation`
/// and answers with what that server received.
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Downstream {
    client: ClientWithMiddleware,
    url: Option<String>,
}

async fn serve(downstream: Option<&Server>) -> Server {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .expect("a valid trusted source")
        .build();
    let state = Downstream {
        client: middleware_client(PropagateCorrelation::new()),
        url: downstream.map(|server| server.url("/seen")),
    };
    let router = Router::new()
        .route("/seen", get(seen).post(seen))
        .route("/hop", get(hop))
        .with_state(state)
        .layer(layer);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Server { addr, task }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// One line per received correlation header value (`name=value`), then the
/// ID the handler ran under (`current=id`).
async fn seen(headers: HeaderMap) -> String {
    let mut answer = String::new();
    for name in [X_CORRELATION_ID, X_REQUEST_ID] {
        for value in headers.get_all(&name) {
            let value = value.to_str().unwrap_or("(not text)");
            answer.push_str(&format!("{name}={value}\n"));
        }
    }
    let current = correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string());
    answer.push_str(&format!("current={current}\n"));
    answer
}

/// Calls the downstream server from inside this request's context and
/// passes on its answer, after this handler's own ID.
async fn hop(State(downstream): State<Downstream>) -> String {
    let url = downstream.url.expect("a server with a downstream");
    let own = correlated::current().expect("the layer's ID");
    let answer = downstream
        .client
        .get(url)
        .send()
        .await
        .expect("the downstream answers")
        .text()
        .await
        .expect("a text body");
    format!("hop={own}\n{answer}")
}

// ---------------------------------------------------------------------------
// Clients and what the server saw
// ---------------------------------------------------------------------------

/// A reqwest client that talks to loopback directly, whatever proxy the
/// environment names.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client without TLS or proxy")
}

fn middleware_client(propagate: PropagateCorrelation) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(plain_client())
        .with(propagate)
        .build()
}

/// What `/seen` received, parsed back.
#[derive(Debug)]
struct Seen {
    correlation_ids: Vec<String>,
    request_ids: Vec<String>,
    current: String,
}

impl Seen {
    fn parse(body: &str) -> Self {
        let mut seen = Seen {
            correlation_ids: Vec::new(),
            request_ids: Vec::new(),
            current: String::new(),
        };
        for line in body.lines() {
            let (name, value) = line.split_once('=').expect("name=value");
            match name {
                "x-correlation-id" => seen.correlation_ids.push(value.to_owned()),
                "x-request-id" => seen.request_ids.push(value.to_owned()),
                "current" => seen.current = value.to_owned(),
                _ => {}
            }
        }
        seen
    }
}

async fn text(response: reqwest::Response) -> String {
    assert!(response.status().is_success(), "{}", response.status());
    response.text().await.expect("a text body")
}

async fn send_with_middleware(request: reqwest_middleware::RequestBuilder) -> Seen {
    let response = bounded("middleware request", request.send())
        .await
        .expect("the server answers");
    Seen::parse(&text(response).await)
}

async fn send_plain(request: reqwest::RequestBuilder) -> Seen {
    let response = bounded("plain request", request.send())
        .await
        .expect("the server answers");
    Seen::parse(&text(response).await)
}

/// Canonical lowercase hyphenated, version 7 (the 15th character).
fn is_uuid_v7(text: &str) -> bool {
    text.len() == 36
        && text
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && text.chars().nth(14) == Some('7')
}

// ---------------------------------------------------------------------------
// reqwest-middleware: PropagateCorrelation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_middleware_forwards_the_current_id() {
    let server = serve(None).await;
    let client = middleware_client(PropagateCorrelation::new());
    let seen = send_with_middleware(client.get(server.url("/seen")))
        .correlated(id("order-1"))
        .await;
    assert_eq!(seen.correlation_ids, ["order-1"]);
    assert_eq!(seen.current, "order-1", "the trusted server kept it");
}

#[tokio::test]
async fn the_middleware_adds_nothing_outside_a_context() {
    let server = serve(None).await;
    let client = middleware_client(PropagateCorrelation::new());
    let seen = send_with_middleware(client.get(server.url("/seen"))).await;
    assert!(seen.correlation_ids.is_empty(), "{seen:?}");
    assert!(is_uuid_v7(&seen.current), "the server made its own");
}

#[tokio::test]
async fn the_middleware_keeps_the_callers_header() {
    let server = serve(None).await;
    let client = middleware_client(PropagateCorrelation::new());
    let request = client
        .get(server.url("/seen"))
        .header(X_CORRELATION_ID, "chosen-by-caller");
    let seen = send_with_middleware(request).correlated(id("ours")).await;
    assert_eq!(seen.correlation_ids, ["chosen-by-caller"]);
}

#[tokio::test]
async fn the_middleware_uses_the_header_it_was_given() {
    let server = serve(None).await;
    let client = middleware_client(PropagateCorrelation::with_header(X_REQUEST_ID));
    let seen = send_with_middleware(client.get(server.url("/seen")))
        .correlated(id("named-1"))
        .await;
    assert_eq!(seen.request_ids, ["named-1"]);
    assert!(seen.correlation_ids.is_empty(), "{seen:?}");
}

// ---------------------------------------------------------------------------
// Plain reqwest: RequestBuilderExt
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_extension_forwards_the_current_id() {
    let server = serve(None).await;
    let client = plain_client();
    let url = server.url("/seen");
    let seen = async { send_plain(client.get(&url).with_correlation_id()).await }
        .correlated(id("plain-1"))
        .await;
    assert_eq!(seen.correlation_ids, ["plain-1"]);
    assert_eq!(seen.current, "plain-1");
}

#[tokio::test]
async fn the_extension_adds_nothing_outside_a_context() {
    let server = serve(None).await;
    let request = plain_client()
        .get(server.url("/seen"))
        .with_correlation_id();
    let seen = send_plain(request).await;
    assert!(seen.correlation_ids.is_empty(), "{seen:?}");
    assert!(is_uuid_v7(&seen.current));
}

#[tokio::test]
async fn the_extension_keeps_the_callers_header() {
    let server = serve(None).await;
    let client = plain_client();
    let url = server.url("/seen");
    let seen = async {
        let request = client
            .post(&url)
            .header(X_CORRELATION_ID, "chosen-by-caller")
            .body("a body")
            .with_correlation_id();
        send_plain(request).await
    }
    .correlated(id("ours"))
    .await;
    assert_eq!(seen.correlation_ids, ["chosen-by-caller"]);
}

#[tokio::test]
async fn the_extension_uses_the_header_it_was_given() {
    let server = serve(None).await;
    let client = plain_client();
    let url = server.url("/seen");
    let seen =
        async { send_plain(client.get(&url).with_correlation_id_named(&X_REQUEST_ID)).await }
            .correlated(id("named-2"))
            .await;
    assert_eq!(seen.request_ids, ["named-2"]);
    assert!(seen.correlation_ids.is_empty(), "{seen:?}");
}

// ---------------------------------------------------------------------------
// Concurrency and a downstream hop
// ---------------------------------------------------------------------------

/// 100 requests in flight at once on a multi-thread runtime, half through
/// each client, each from a task of its own with its own ID: each one
/// reaches the server with its own ID and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_carry_their_own_id() {
    let server = serve(None).await;
    let url = server.url("/seen");
    let with_middleware = middleware_client(PropagateCorrelation::new());
    let plain = plain_client();
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let (url, with_middleware, plain) =
                (url.clone(), with_middleware.clone(), plain.clone());
            let request = async move {
                // Hand the task over between setting up and sending, so
                // requests interleave on the worker threads.
                tokio::task::yield_now().await;
                if n % 2 == 0 {
                    send_with_middleware(with_middleware.get(&url)).await
                } else {
                    send_plain(plain.get(&url).with_correlation_id()).await
                }
            };
            tokio::spawn(request.correlated(id(&format!("burst-{n}"))))
        })
        .collect();
    for (n, task) in tasks.into_iter().enumerate() {
        let seen = bounded("a burst request", task)
            .await
            .expect("the task ran");
        let own = format!("burst-{n}");
        assert_eq!(seen.correlation_ids, [own.as_str()], "request {n}");
        assert_eq!(seen.current, own, "request {n}");
    }
}

/// A handler on server A calls server B through reqwest-middleware: B sees
/// A's ID, the one A kept from its caller or the one A made.
#[tokio::test]
async fn a_downstream_hop_carries_the_callers_id() {
    let b = serve(None).await;
    let a = serve(Some(&b)).await;
    let client = plain_client();

    // A trusts its caller (loopback) and keeps its ID; B sees that one.
    let response = bounded(
        "hop",
        client
            .get(a.url("/hop"))
            .header(X_CORRELATION_ID, "hop-1")
            .send(),
    )
    .await
    .expect("A answers");
    assert_eq!(response.headers()[X_CORRELATION_ID], "hop-1");
    let body = text(response).await;
    let seen_by_b = Seen::parse(&body);
    assert!(body.starts_with("hop=hop-1\n"), "{body}");
    assert_eq!(seen_by_b.correlation_ids, ["hop-1"]);
    assert_eq!(seen_by_b.current, "hop-1");

    // No ID from the caller: A makes one, and B gets that one.
    let response = bounded("hop", client.get(a.url("/hop")).send())
        .await
        .expect("A answers");
    let made_by_a = response.headers()[X_CORRELATION_ID]
        .to_str()
        .expect("visible ASCII")
        .to_owned();
    assert!(is_uuid_v7(&made_by_a), "{made_by_a}");
    let seen_by_b = Seen::parse(&text(response).await);
    assert_eq!(seen_by_b.correlation_ids, [made_by_a.as_str()]);
    assert_eq!(seen_by_b.current, made_by_a);
}
