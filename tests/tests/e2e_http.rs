//! End to end over loopback: the example service users run
//! (`runtime/examples/support/app.rs`), real HTTP clients (hyper-util, and a
//! raw TCP socket for bytes no client library would send), and the service's
//! real log output, captured in memory.
//!
//! A global tracing subscriber can be set only once per process, and the
//! server's tasks run on tokio worker threads that would not see a
//! thread-local default, so every test shares one global subscriber writing
//! to one buffer. Each test uses IDs (and `?n=` numbers) of its own and looks
//! only at the lines that carry them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use correlated::CorrelationId;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

#[path = "../../runtime/examples/support/app.rs"]
mod app;
#[path = "../../runtime/examples/support/logs.rs"]
mod logs;

use logs::{Logs, logged_id};

const HEADER: &str = "x-correlation-id";
const TRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const UNTRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long one request (or one bounded wait) may take before the test fails
/// instead of hanging. A guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Log capture
// ---------------------------------------------------------------------------

/// The capture, installed on first use as the process's global subscriber.
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        logs.install();
        logs
    })
}

// ---------------------------------------------------------------------------
// The service and its clients
// ---------------------------------------------------------------------------

/// The example service on `127.0.0.1:0`, trusting `127.0.0.1` only, with its
/// `/checkout` calling its own `/inventory` as the "downstream" service.
struct Service {
    addr: SocketAddr,
    trusted: Client<HttpConnector, Body>,
    untrusted: Client<HttpConnector, Body>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One response: status, every `x-correlation-id` it carries, body.
struct Answer {
    status: StatusCode,
    echoed: Vec<HeaderValue>,
    body: String,
}

impl Answer {
    /// The single echoed ID.
    fn id(&self) -> &str {
        assert_eq!(self.echoed.len(), 1, "exactly one echoed ID");
        self.echoed[0].to_str().expect("the echo is visible ASCII")
    }
}

/// A client whose connections come from `local`.
fn client_from(local: IpAddr) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(local));
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer (hang guard)"))
}

async fn start() -> Service {
    logs();
    let listener = tokio::net::TcpListener::bind((TRUSTED, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let router = app::app(&[TRUSTED.to_string()], addr).expect("valid trusted sources");
    Service {
        addr,
        trusted: client_from(TRUSTED),
        untrusted: client_from(UNTRUSTED),
        server: tokio::spawn(app::serve(listener, router)),
    }
}

impl Service {
    fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::empty()).expect("a well-formed request")
    }

    async fn send(
        &self,
        client: &Client<HttpConnector, Body>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let request = self.request(method, path, headers);
        let response = bounded(path, client.request(request))
            .await
            .expect("the service answers");
        let status = response.status();
        let echoed = response.headers().get_all(HEADER).iter().cloned().collect();
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
        self.send(&self.trusted, Method::GET, path, headers).await
    }

    /// Sends `GET /hello?n={n}` with `x-correlation-id: {value}` as raw bytes
    /// from `127.0.0.1` (trusted), and returns the raw response head.
    async fn send_raw(&self, n: u32, value: &[u8]) -> RawAnswer {
        let mut request =
            format!("GET /hello?n={n} HTTP/1.1\r\nhost: e2e\r\nconnection: close\r\n{HEADER}: ")
                .into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n\r\n");
        let mut response = Vec::new();
        bounded("raw request", async {
            let mut stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .expect("connect to the service");
            stream.write_all(&request).await.expect("send");
            // The server may close before reading everything (a 400): the
            // answer is what arrived.
            let _ = stream.read_to_end(&mut response).await;
        })
        .await;
        RawAnswer::parse(response)
    }
}

/// A response read off a raw socket.
struct RawAnswer {
    status: u16,
    /// The status line and headers, as sent.
    head: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

impl RawAnswer {
    fn parse(response: Vec<u8>) -> Self {
        let end = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or(response.len());
        let head = response[..end].to_vec();
        let mut lines = head.split(|&b| b == b'\n');
        let status_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {status_line:?}"));
        let headers = lines
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
                Some((name, line[colon + 1..].trim_ascii().to_vec()))
            })
            .collect();
        RawAnswer {
            status,
            head,
            headers,
        }
    }

    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(header, _)| header == name)
            .map(|(_, value)| value.as_slice())
            .collect()
    }
}

/// A canonical UUIDv7 (lowercase, hyphenated), as the service generates.
fn assert_generated_v7(id: &str) {
    let canonical = CorrelationId::parse_uuid(id).unwrap_or_else(|_| panic!("{id:?} is no UUID"));
    assert_eq!(canonical.as_str(), id, "not canonical lowercase hyphenated");
    assert_eq!(&id[14..15], "7", "{id} is not version 7");
    assert!(
        matches!(&id[19..20], "8" | "9" | "a" | "b"),
        "{id} is not an RFC 9562 variant"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Both lines of the `/hello?n={n}` handler, each carrying exactly `id`.
fn assert_hello_logged_under(n: u32, id: &str) {
    let lines = logs().of_request(n);
    assert_eq!(lines.len(), 2, "start and done of n={n}: {lines:#?}");
    assert!(lines[0].contains("hello: start"), "{lines:#?}");
    assert!(lines[1].contains("hello: done"), "{lines:#?}");
    for line in &lines {
        assert_eq!(logged_id(line).as_deref(), Some(id), "{line}");
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_header_gets_a_lowercase_uuid_v7_echoed_and_on_both_log_lines() {
    let service = start().await;
    let answer = service.get("/hello?n=1001", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "hello 1001\n");
    let id = answer.id().to_owned();
    assert_generated_v7(&id);
    assert_hello_logged_under(1001, &id);

    // Another request gets another ID.
    let again = service.get("/hello?n=1002", &[]).await;
    assert_ne!(again.id(), id);
    assert_generated_v7(again.id());
    assert_hello_logged_under(1002, again.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peers_header_is_kept_echoed_and_logged() {
    let service = start().await;
    let id = "e2e-trusted-2001";
    let answer = service.get("/hello?n=2001", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), id);
    assert_hello_logged_under(2001, id);
    assert_eq!(logs().carrying(id).len(), 2, "no other line carries it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_header_is_replaced_and_never_logged() {
    let service = start().await;
    let spoofed = "e2e-spoofed-3001";
    let answer = service
        .send(
            &service.untrusted,
            Method::GET,
            "/hello?n=3001",
            &[(HEADER, spoofed)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let id = answer.id().to_owned();
    assert_ne!(id, spoofed);
    assert_generated_v7(&id);
    assert_hello_logged_under(3001, &id);
    // The refusal is logged, under the new ID and without the value.
    let refusal = logs().carrying(&id);
    assert!(
        refusal
            .iter()
            .any(|line| line.contains("DEBUG") && line.contains("not trusted")),
        "{refusal:#?}"
    );
    let logged = logs().bytes();
    assert!(
        !contains(&logged, spoofed.as_bytes()),
        "the spoofed ID was logged"
    );
    assert!(!contains(&logged, b"spoofed-3001"));
}

/// One raw header value and what the service must make of it.
struct Hostile {
    label: &'static str,
    n: u32,
    value: Vec<u8>,
    /// A part of the value that must appear nowhere: not echoed, not logged
    /// (none for the empty value).
    marker: &'static str,
    /// Legal HTTP field content (RFC 9110 allows SP, HTAB and obs-text, and
    /// sets no length limit): the parser hands it on, so it is the
    /// correlation layer that must replace it.
    legal_http: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_over_raw_tcp_are_refused_or_replaced_never_echoed_or_logged() {
    let service = start().await;
    let hostile = |label, n, value: &[u8], marker| Hostile {
        label,
        n,
        value: value.to_vec(),
        marker,
        legal_http: !value.iter().any(|&b| b.is_ascii_control() && b != b'\t'),
    };
    let padded = |prefix: &str, len: usize| {
        let mut value = prefix.as_bytes().to_vec();
        value.resize(len, b'A');
        value
    };
    let cases = [
        hostile(
            "bare CR",
            4001,
            b"e2e-cr-4001\rX-Injected: 1",
            "e2e-cr-4001",
        ),
        hostile("NUL", 4002, b"e2e-nul-4002\0x", "e2e-nul-4002"),
        hostile("tab", 4003, b"e2e-tab-4003\tx", "e2e-tab-4003"),
        hostile("space", 4004, b"e2e-space-4004 x", "e2e-space-4004"),
        hostile(
            "129 bytes",
            4005,
            &padded("e2e-len129-4005-", 129),
            "e2e-len129-4005",
        ),
        hostile(
            "600 bytes",
            4006,
            &padded("e2e-len600-4006-", 600),
            "e2e-len600-4006",
        ),
        hostile(
            "UTF-8",
            4007,
            "e2e-utf8-4007-\u{e9}t\u{e9}".as_bytes(),
            "e2e-utf8-4007",
        ),
        hostile(
            "Latin-1",
            4008,
            b"e2e-latin1-4008-\xe9t\xe9",
            "e2e-latin1-4008",
        ),
        hostile("DEL", 4009, b"e2e-del-4009\x7f", "e2e-del-4009"),
        hostile(
            "obs-fold (CRLF + space)",
            4010,
            b"e2e-fold-4010\r\n X-Injected: 1",
            "e2e-fold-4010",
        ),
        hostile("empty", 4011, b"", ""),
        hostile("escape", 4012, b"e2e-esc-4012\x1b[31m", "e2e-esc-4012"),
    ];
    for case in &cases {
        let Hostile {
            label,
            n,
            value,
            legal_http,
            ..
        } = case;
        let answer = service.send_raw(*n, value).await;
        let echoed = answer.all(HEADER);
        assert!(
            !legal_http || answer.status == 200,
            "{label}: legal HTTP, yet {}",
            answer.status
        );
        match answer.status {
            // Refused by the HTTP parser: the service never saw it.
            400 => {
                assert!(echoed.is_empty(), "{label}: a 400 with an echo");
                assert!(logs().of_request(*n).is_empty(), "{label}: handled");
            }
            200 => {
                assert_eq!(echoed.len(), 1, "{label}: one echo");
                let id = std::str::from_utf8(echoed[0]).expect("an ASCII echo");
                assert_generated_v7(id);
                assert_hello_logged_under(*n, id);
                let lines = logs().carrying(id);
                assert!(
                    lines
                        .iter()
                        .any(|line| line.contains("DEBUG") && line.contains("rejected")),
                    "{label}: the rejection is logged under the new ID: {lines:#?}"
                );
            }
            status => panic!("{label}: status {status}"),
        }
        assert!(
            answer.all("x-injected").is_empty(),
            "{label}: an injected header"
        );
        assert!(
            value.is_empty() || !contains(&answer.head, value),
            "{label}: the value is in the response head"
        );
        assert!(
            case.marker.is_empty() || !contains(&answer.head, case.marker.as_bytes()),
            "{label}: part of the value is in the response head"
        );
    }

    let logged = logs().bytes();
    for Hostile {
        label,
        value,
        marker,
        ..
    } in &cases
    {
        if !value.is_empty() {
            assert!(!contains(&logged, value), "{label}: logged verbatim");
        }
        if !marker.is_empty() {
            assert!(
                !contains(&logged, marker.as_bytes()),
                "{label}: part of it logged"
            );
        }
    }
    assert!(
        !contains(&logged, b"X-Injected"),
        "an injected header made it into the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_breaks_end_the_header_so_an_injection_carries_nothing_across() {
    // With LF (or CRLF) the client itself ends the header line: the service
    // sees the part before the break as the whole value, and the rest as a
    // header of its own. That part is a valid ID and may be kept; the break
    // and what follows it are never echoed nor logged as part of the ID.
    let service = start().await;
    let cases: [(&str, u32, &[u8], &str); 2] = [
        ("LF", 4101, b"e2e-lf-4101\nX-Injected: 1", "e2e-lf-4101"),
        (
            "CRLF",
            4102,
            b"e2e-crlf-4102\r\nX-Injected: 1",
            "e2e-crlf-4102",
        ),
    ];
    for (label, n, value, before_break) in cases {
        let answer = service.send_raw(n, value).await;
        assert!(
            answer.all("x-injected").is_empty(),
            "{label}: injected header"
        );
        assert!(!contains(&answer.head, value), "{label}: echoed verbatim");
        match answer.status {
            400 => assert!(answer.all(HEADER).is_empty(), "{label}: a 400 with an echo"),
            200 => {
                let echoed = answer.all(HEADER);
                assert_eq!(echoed.len(), 1, "{label}: one echo");
                let id = std::str::from_utf8(echoed[0]).expect("an ASCII echo");
                assert!(
                    id == before_break || CorrelationId::parse_uuid(id).is_ok(),
                    "{label}: echoed {id:?}"
                );
                assert_hello_logged_under(n, id);
            }
            status => panic!("{label}: status {status}"),
        }
    }
    let logged = logs().bytes();
    for (label, _, value, _) in cases {
        assert!(!contains(&logged, value), "{label}: logged verbatim");
    }
    assert!(!contains(&logged, b"X-Injected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visible_ascii_with_quotes_and_backslashes_is_kept_verbatim_and_logged_quoted() {
    let service = start().await;
    let boundary = {
        let mut value = b"e2e-len128-4205-".to_vec();
        value.resize(128, b'A');
        String::from_utf8(value).unwrap()
    };
    let cases: [(u32, &str); 5] = [
        (4201, r#"e2e-"quoted"-4201"#),
        (4202, r"e2e-back\slash-4202"),
        (4203, r#"e2e-\"both=\-4203"#),
        (4204, "e2e-%0D%0AX-Injected:%201-4204"),
        (4205, &boundary),
    ];
    for (n, id) in cases {
        let answer = service.send_raw(n, id.as_bytes()).await;
        assert_eq!(answer.status, 200, "{id}");
        assert_eq!(answer.all(HEADER), [id.as_bytes()], "kept verbatim");
        assert_hello_logged_under(n, id);
        for line in logs().of_request(n) {
            // One line per event, and a `"` inside the ID never ends the field.
            if id.contains('"') {
                assert!(line.starts_with("correlation_id=\""), "unquoted: {line}");
                assert!(!line.contains(id), "a quote written raw: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_each_see_and_log_only_their_own_id() {
    // One process holds both ends of every connection: two descriptors each.
    // `ulimit -n` is 20000 where this was written, but 1024 is a common soft
    // limit, so at most 200 requests are on the wire at once (about 400
    // descriptors) while all 1,000 are spawned and outstanding together. The
    // handlers yield and sleep, so hundreds of them interleave on the
    // server's worker threads.
    const REQUESTS: u32 = 1_000;
    const IN_FLIGHT: usize = 200;
    const FIRST_N: u32 = 500_000;
    let service = start().await;
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let requests: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let n = FIRST_N + i;
            let id = format!("e2e-burst-{i}");
            let request = service.request(Method::GET, &format!("/hello?n={n}"), &[(HEADER, &id)]);
            let client = service.trusted.clone();
            let permits = Arc::clone(&permits);
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.expect("never closed");
                let response = client.request(request).await.expect("an answer");
                let echoed: Vec<_> = response.headers().get_all(HEADER).iter().cloned().collect();
                let body = response.into_body().collect().await.expect("a body");
                (i, echoed, body.to_bytes())
            })
        })
        .collect();
    let answers =
        tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(requests))
            .await
            .expect("1,000 requests answered (hang guard)");
    assert_eq!(answers.len(), REQUESTS as usize);
    for answer in answers {
        let (i, echoed, body) = answer.expect("the request task finished");
        assert_eq!(echoed, [format!("e2e-burst-{i}").as_str()], "request {i}");
        assert_eq!(body, format!("hello {}\n", FIRST_N + i).as_str());
    }

    // Every request's lines, by their `n=`: two each, under its own ID only.
    let mut by_n: HashMap<u32, Vec<String>> = HashMap::new();
    for line in logs().lines() {
        let n = line
            .split(' ')
            .find_map(|token| token.strip_prefix("n="))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (FIRST_N..FIRST_N + REQUESTS).contains(n));
        if let Some(n) = n {
            by_n.entry(n).or_default().push(line);
        }
    }
    for i in 0..REQUESTS {
        let lines = by_n.remove(&(FIRST_N + i)).unwrap_or_default();
        assert_eq!(lines.len(), 2, "request {i}: {lines:#?}");
        let own = format!("e2e-burst-{i}");
        for line in lines {
            assert_eq!(logged_id(&line), Some(own.clone()), "request {i}: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downstream_call_carries_the_id_to_the_called_service() {
    let service = start().await;
    let id = "e2e-checkout-6001";
    let answer = service.get("/checkout", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), id);
    assert_eq!(answer.body, "checkout ok; in stock\n");
    let lines = logs().carrying(id);
    let inventory: Vec<_> = lines
        .iter()
        .filter(|line| line.contains("inventory: checked"))
        .collect();
    assert_eq!(inventory.len(), 1, "{lines:#?}");
    assert!(inventory[0].contains("forwarded=true"), "{}", inventory[0]);
    for step in ["checkout: asking inventory", "checkout: inventory answered"] {
        assert!(lines.iter().any(|line| line.contains(step)), "{step}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_job_logs_under_the_requests_id_after_the_response() {
    let service = start().await;
    let id = "e2e-signup-7001";
    let answer = service
        .send(&service.trusted, Method::POST, "/signup", &[(HEADER, id)])
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.id(), id);
    assert!(
        logs()
            .carrying(id)
            .iter()
            .any(|line| line.contains("signup: queueing welcome email"))
    );
    let job = logs().wait_for(id, "job: welcome email sent").await;
    assert!(job.is_some(), "the job's line never carried {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_slot_bound_by_the_handler_is_on_its_lines() {
    let service = start().await;
    let id = "e2e-profile-8001";
    let answer = service
        .get("/profile", &[(HEADER, id), ("x-user", "alice")])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), id);
    assert_eq!(answer.body, "profile of alice\n");
    let lines = logs().carrying(id);
    let loading: Vec<_> = lines
        .iter()
        .filter(|line| line.contains("profile: loading"))
        .collect();
    assert_eq!(loading.len(), 1, "{lines:#?}");
    assert!(
        loading[0].starts_with(&format!("correlation_id={id} user_id=alice ")),
        "{}",
        loading[0]
    );

    // Without the header, the slot's fallback; the slot does not stick.
    let id = "e2e-profile-8002";
    let answer = service.get("/profile", &[(HEADER, id)]).await;
    assert_eq!(answer.body, "profile of anonymous\n");
    let lines = logs().carrying(id);
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&format!("correlation_id={id} user_id=anonymous "))),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_panics_are_answered_with_the_id_echoed() {
    let service = start().await;
    let answer = service.get("/fail", &[(HEADER, "e2e-fail-9001")]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.id(), "e2e-fail-9001");
    assert!(
        logs()
            .carrying("e2e-fail-9001")
            .iter()
            .any(|line| line.contains("WARN") && line.contains("fail: giving up"))
    );

    let answer = service.get("/panic", &[(HEADER, "e2e-panic-9002")]).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.id(), "e2e-panic-9002");
    assert!(
        logs()
            .carrying("e2e-panic-9002")
            .iter()
            .any(|line| line.contains("ERROR") && line.contains("panic: about to panic"))
    );

    // Without a header, the error answers carry a generated ID.
    let answer = service.get("/panic", &[]).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_generated_v7(answer.id());

    // The server survived the panic.
    let answer = service
        .get("/hello?n=9003", &[(HEADER, "e2e-after-9003")])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), "e2e-after-9003");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_made_and_logged_under_the_requests_id_while_it_streams() {
    let service = start().await;
    let id = "e2e-stream-10001";
    let answer = service.get("/stream", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), id);
    let expected: String = (0..4).map(|n| format!("chunk {n} {id}\n")).collect();
    assert_eq!(answer.body, expected, "every chunk saw the request's ID");
    let lines = logs().carrying(id);
    let chunks = lines.iter().filter(|line| line.contains("stream: chunk"));
    assert_eq!(
        chunks.count(),
        4,
        "one line per chunk, each under {id}: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_carry_and_log_the_requests_id() {
    let service = start().await;
    let id = "e2e-events-10002";
    let answer = service.get("/events", &[(HEADER, id)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.id(), id);
    let data: Vec<&str> = answer
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(
        data, [id; 3],
        "every event saw the request's ID: {:?}",
        answer.body
    );
    let lines = logs().carrying(id);
    let sent = lines.iter().filter(|line| line.contains("events: sent"));
    assert_eq!(sent.count(), 3, "{lines:#?}");

    // Without a header, the events carry the generated ID that was echoed.
    let answer = service.get("/events", &[]).await;
    let echoed = answer.id().to_owned();
    assert_generated_v7(&echoed);
    assert!(
        answer
            .body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .all(|data| data == echoed),
        "{:?}",
        answer.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_each_see_only_their_own_id() {
    let service = Arc::new(start().await);
    let streams: Vec<_> = (0..50)
        .map(|i| {
            let service = Arc::clone(&service);
            tokio::spawn(async move {
                let id = format!("e2e-streams-{i:03}");
                let answer = service.get("/stream", &[(HEADER, &id)]).await;
                (id, answer)
            })
        })
        .collect();
    for stream in streams {
        let (id, answer) = bounded("a stream", stream).await.expect("the client task");
        assert_eq!(answer.id(), id);
        let expected: String = (0..4).map(|n| format!("chunk {n} {id}\n")).collect();
        assert_eq!(answer.body, expected);
    }
}
