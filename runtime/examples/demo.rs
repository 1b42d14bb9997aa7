//! The whole story, end to end: starts the example service on loopback, sends
//! it requests through real HTTP clients (and a websocket client), and prints
//! for each the ID echoed in the response and the log lines that carry it. Exits 0 only if every check
//! holds.
//!
//! ```sh
//! cargo run -p correlated --example demo --features axum,tracing,tokio,reqwest-middleware,apalis
//! ```
//!
//! The service trusts `127.0.0.1` only; the "untrusted peer" requests come
//! from `127.0.0.2`, another loopback address.
//!
//! The last step sends a job through Redis to a worker in another process:
//! it needs `redis-server` (Debian: `apt-get install redis-server`; the
//! README's test command installs it), found on `PATH` or in `/usr/sbin`,
//! which it starts on a free loopback port without persistence and stops
//! when the step ends. The worker is this binary again, run as
//! `demo --worker <redis-url>`. Without `redis-server` the step says it is
//! skipped and the other checks still decide the result; so does
//! `CORRELATED_DEMO_NO_REDIS=1`, to see that path on a machine that has it.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use apalis_redis::RedisStorage;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::routing::post;
use correlated::job;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/app.rs"]
mod app;
#[path = "support/child.rs"]
mod child;
#[path = "support/jobs.rs"]
mod jobs;
#[path = "support/logs.rs"]
mod logs;
#[path = "support/redis.rs"]
mod redis;

use jobs::Order;
use logs::Logs;

const TRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const UNTRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long the job step waits for the worker, from its start: a bound
/// against hangs, not a timing claim.
const JOB_PATIENCE: Duration = Duration::from_secs(20);

/// One response, as the demo reports it.
struct Answer {
    status: StatusCode,
    echoed: Option<String>,
    body: String,
}

struct Demo {
    base: String,
    trusted: Client<HttpConnector, Body>,
    untrusted: Client<HttpConnector, Body>,
    addr: SocketAddr,
    logs: Logs,
    failures: Vec<String>,
}

fn client_from(local: IpAddr) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(local));
    Client::builder(TokioExecutor::new()).build(connector)
}

impl Demo {
    async fn send(
        &self,
        client: &Client<HttpConnector, Body>,
        method: Method,
        path: &str,
        headers: &[(&str, HeaderValue)],
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, value.clone());
        }
        let request = request.body(Body::empty()).expect("a well-formed request");
        let response = client.request(request).await.expect("the service answers");
        let status = response.status();
        let echoed = response
            .headers()
            .get("x-correlation-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a whole body")
            .to_bytes();
        Answer {
            status,
            echoed,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Opens a websocket on `/ws` with `x-correlation-id: {id}`, sends
    /// `messages` texts and returns the echoed ID and the replies.
    async fn websocket(&self, id: &str, messages: usize) -> (Option<String>, Vec<String>) {
        use futures::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .expect("a websocket URL");
        request.headers_mut().insert(
            "x-correlation-id",
            HeaderValue::from_str(id).expect("a valid header"),
        );
        let (mut socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the websocket upgrade");
        let echoed = response
            .headers()
            .get("x-correlation-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let mut replies = Vec::new();
        for n in 0..messages {
            socket
                .send(Message::text(format!("message {n}")))
                .await
                .expect("send");
            if let Some(Ok(Message::Text(reply))) = socket.next().await {
                replies.push(reply.to_string());
            }
        }
        let _ = socket.close(None).await;
        (echoed, replies)
    }

    /// Sends bytes no HTTP library would produce, over a plain TCP socket.
    async fn send_raw(&self, header_value: &[u8]) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the service");
        let mut request =
            b"GET /hello?n=0 HTTP/1.1\r\nhost: demo\r\nconnection: close\r\nx-correlation-id: "
                .to_vec();
        request.extend_from_slice(header_value);
        request.extend_from_slice(b"\r\n\r\n");
        stream.write_all(&request).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("receive");
        let response = String::from_utf8_lossy(&response);
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let echoed = response.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("x-correlation-id")
                .then(|| value.trim().to_owned())
        });
        Answer {
            status,
            echoed,
            body: String::new(),
        }
    }

    fn check(&mut self, ok: bool, what: &str) {
        println!("   {} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            self.failures.push(what.to_owned());
        }
    }

    fn show(&self, sent: &str, answer: &Answer) {
        println!("   sent     x-correlation-id: {sent}");
        println!(
            "   answer   {} x-correlation-id: {}",
            answer.status,
            answer.echoed.as_deref().unwrap_or("(none)")
        );
        if let Some(id) = &answer.echoed {
            for line in self.logs.carrying(id) {
                println!("   log      {line}");
            }
        }
    }
}

fn is_uuid_v7(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|uuid| uuid.get_version_num() == 7)
        && text == text.to_lowercase()
}

fn heading(title: &str) {
    println!();
    println!("== {title}");
}

/// The demo's `/orders/{n}` route enqueues on the Redis that the job step
/// starts; until then (or without Redis) it answers 503.
#[derive(Clone, Default)]
struct Queue(Arc<OnceLock<RedisStorage<Order>>>);

/// Enqueues order `n`'s apalis job, which carries the request's context,
/// and answers the job's own ID.
async fn order(State(queue): State<Queue>, Path(n): Path<u64>) -> Result<String, StatusCode> {
    let storage = queue.0.get().ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
    tracing::info!(n, "order received");
    let job_id = jobs::enqueue(storage, &job::Policy::new(), n)
        .await
        .map_err(|error| {
            tracing::error!(n, %error, "could not enqueue the order");
            StatusCode::SERVICE_UNAVAILABLE
        })?;
    tracing::info!(n, job = %job_id, "order queued");
    Ok(job_id)
}

/// Step 12: a request enqueues a job on a Redis of our own, a worker
/// process runs it; its log lines must carry the request's ID, and name the
/// request as the job's parent.
async fn job_through_redis(demo: &mut Demo, queue: &Queue) {
    heading("12. a job through Redis to a worker process: the worker logs under the request's ID");
    if std::env::var_os("CORRELATED_DEMO_NO_REDIS").is_some() {
        println!("   skipped: CORRELATED_DEMO_NO_REDIS is set");
        return;
    }
    let Some(binary) = redis::find() else {
        println!(
            "   skipped: no redis-server on PATH or in /usr/sbin \
             (apt-get install redis-server, or run `bash .ci/test`, which installs it)"
        );
        return;
    };
    let deadline = Instant::now() + JOB_PATIENCE;
    // Killed when dropped: at the end of this step, or on the way out of a
    // failed check or a panic.
    let servers = match JobServers::start(&binary, queue, deadline).await {
        Ok(servers) => servers,
        Err(failed) => {
            demo.check(false, &failed);
            return;
        }
    };
    demo.check(true, "redis-server and the worker process are up");

    let answer = demo
        .send(
            &demo.trusted,
            Method::POST,
            "/orders/12",
            &[("x-correlation-id", HeaderValue::from_static("jobs-12"))],
        )
        .await;
    demo.show("jobs-12", &answer);
    demo.check(
        answer.status == StatusCode::OK && answer.echoed.as_deref() == Some("jobs-12"),
        "the service queued the job (200, jobs-12 echoed)",
    );
    let shipped = wait_for_line(&servers.lines, deadline, |line| {
        step_of_order_12(line) == Some("Shipping") && line.contains("job done")
    })
    .await;
    let seen = servers
        .lines
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    check_job_lines(demo, &seen, answer.body.trim(), shipped);
    drop(servers);
}

/// Step 12's Redis and worker process, each killed when dropped (the
/// worker first: fields drop in order).
struct JobServers {
    /// Held for its `Drop`.
    _worker: child::OwnChild,
    /// The worker's stdout lines, as they arrive.
    lines: Arc<Mutex<Vec<String>>>,
    /// Held for its `Drop`.
    _redis: redis::Redis,
}

impl JobServers {
    /// Starts `redis-server` (the `binary`), connects the service's queue
    /// to it and starts the worker; waits for it until `deadline`. The
    /// error is the failed check.
    async fn start(
        binary: &std::path::Path,
        queue: &Queue,
        deadline: Instant,
    ) -> Result<Self, String> {
        let redis = redis::Redis::start(binary)
            .map_err(|error| format!("redis-server starts ({error})"))?;
        println!("   redis    {} on {}", binary.display(), redis.url());
        let storage = jobs::storage(&redis.url())
            .await
            .map_err(|error| format!("the service connects to Redis ({error})"))?;
        // Set once: this step runs once.
        drop(queue.0.set(storage));
        let mut worker = child::OwnChild::spawn(&["--worker", &redis.url()])
            .map_err(|error| format!("the worker process starts ({error})"))?;
        let lines = worker.collect_lines().expect("a new child's stdout");
        println!(
            "   worker   process {} (the demo is {})",
            worker.id(),
            std::process::id()
        );
        if !wait_for_line(&lines, deadline, |line| line.contains("worker ready")).await {
            return Err("the worker process is ready".to_owned());
        }
        Ok(Self {
            _worker: worker,
            lines,
            _redis: redis,
        })
    }
}

/// Shows the worker's lines for order 12 and checks their IDs: the order
/// job's (`job_id`, the service's answer) under jobs-12 with the request as
/// parent, and the shipping job's under jobs-12 with the order job as
/// parent. `shipped`: the shipping job's last line came in time.
fn check_job_lines(demo: &mut Demo, seen: &[String], job_id: &str, shipped: bool) {
    let of_step = |step| {
        seen.iter()
            .filter(move |line| step_of_order_12(line) == Some(step))
    };
    for line in of_step("Order").chain(of_step("Shipping")) {
        println!("   worker   {line}");
    }
    let field = |line: &str, name: &str| logs::logged_field(line, name).unwrap_or_default();
    demo.check(
        shipped
            && !job_id.is_empty()
            && of_step("Order").count() > 0
            && of_step("Order").all(|line| {
                field(line, "correlation_id") == "jobs-12"
                    && field(line, "job_id") == job_id
                    && field(line, "parent_id") == "jobs-12"
            }),
        "the worker ran the job under jobs-12, with its job ID, the request as its parent",
    );
    demo.check(
        of_step("Shipping").count() > 0
            && of_step("Shipping").all(|line| {
                field(line, "correlation_id") == "jobs-12"
                    && field(line, "parent_id") == job_id
                    && field(line, "job_id") != job_id
            }),
        "the job it enqueued ran under jobs-12 too, with that job as its parent",
    );
}

/// The step (`Order`, `Shipping`) of a worker line about order 12's jobs.
fn step_of_order_12(line: &str) -> Option<&str> {
    let mut tokens = line.split(' ');
    let step = tokens.clone().find_map(|token| token.strip_prefix("step="));
    tokens
        .any(|token| token == "n=12")
        .then_some(step)
        .flatten()
}

/// Waits until a line that `found` accepts has arrived, or `deadline`.
async fn wait_for_line(
    lines: &Mutex<Vec<String>>,
    deadline: Instant,
    found: impl Fn(&str) -> bool,
) -> bool {
    loop {
        let arrived = lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|line| found(line));
        if arrived || Instant::now() >= deadline {
            return arrived;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--worker") {
        return match args.next() {
            Some(redis) => worker(&redis),
            None => {
                eprintln!("demo: --worker needs a Redis URL");
                ExitCode::FAILURE
            }
        };
    }
    demo()
}

/// `demo --worker <redis-url>`: the job step's worker process. Text log
/// lines on stdout, each starting with the job's three IDs.
#[tokio::main]
async fn worker(redis: &str) -> ExitCode {
    jobs::init_text_logs();
    match jobs::work(redis, job::Policy::new()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo worker: {error}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn demo() -> ExitCode {
    // The `/panic` route panics on purpose; keep its message out of the output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"handler bug") {
            default_hook(info);
        }
    }));

    let logs = Logs::default();
    logs.install();

    let listener = tokio::net::TcpListener::bind((TRUSTED, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let queue = Queue::default();
    let orders = Router::new()
        .route("/orders/{n}", post(order))
        .with_state(queue.clone());
    let app = app::app_with(&[TRUSTED.to_string()], addr, orders).expect("valid trusted sources");
    tokio::spawn(app::serve(listener, app));
    println!(
        "service on http://{addr}, trusting {TRUSTED} only; untrusted requests come from {UNTRUSTED}"
    );

    let mut demo = Demo {
        base: format!("http://{addr}"),
        trusted: client_from(TRUSTED),
        untrusted: client_from(UNTRUSTED),
        addr,
        logs,
        failures: Vec::new(),
    };
    let trusted = demo.trusted.clone();
    let untrusted = demo.untrusted.clone();
    let header = |value: &str| {
        [(
            "x-correlation-id",
            HeaderValue::from_str(value).expect("a valid header"),
        )]
    };

    heading("1. no header: a UUIDv7 is generated and echoed");
    let answer = demo.send(&trusted, Method::GET, "/hello?n=1", &[]).await;
    demo.show("(none)", &answer);
    let id = answer.echoed.clone().unwrap_or_default();
    demo.check(is_uuid_v7(&id), "echoed ID is a lowercase UUIDv7");
    demo.check(
        demo.logs.carrying(&id).len() == 2,
        "both log lines of the handler carry it",
    );

    heading("2. valid header from a trusted peer: kept");
    let answer = demo
        .send(
            &trusted,
            Method::GET,
            "/hello?n=2",
            &header("order-2024-0001"),
        )
        .await;
    demo.show("order-2024-0001", &answer);
    demo.check(
        answer.echoed.as_deref() == Some("order-2024-0001"),
        "echoed as sent",
    );
    demo.check(
        demo.logs.carrying("order-2024-0001").len() == 2,
        "logged under it",
    );

    heading("3. the same header from an untrusted peer: replaced");
    let answer = demo
        .send(
            &untrusted,
            Method::GET,
            "/hello?n=3",
            &header("spoofed-by-client"),
        )
        .await;
    demo.show("spoofed-by-client", &answer);
    demo.check(
        answer.echoed.as_deref().is_some_and(is_uuid_v7),
        "a generated ID is echoed instead",
    );
    demo.check(
        !demo
            .logs
            .lines()
            .iter()
            .any(|line| line.contains("spoofed-by-client")),
        "the untrusted value appears in no log line",
    );

    heading("4. hostile headers: never echoed, never logged");
    let long = "A".repeat(600);
    let cases: [(&str, &[u8]); 4] = [
        ("EVIL<CR>X-Injected: 1 (bare CR)", b"EVIL\rX-Injected: 1"),
        ("EVIL<NUL>", b"EVIL\0"),
        ("600 bytes of A", long.as_bytes()),
        (
            "EVIL-\u{e9}t\u{e9} (non-ASCII)",
            "EVIL-\u{e9}t\u{e9}".as_bytes(),
        ),
    ];
    for (label, bytes) in cases {
        let answer = demo.send_raw(bytes).await;
        demo.show(label, &answer);
        let echoed = answer.echoed.clone().unwrap_or_default();
        demo.check(
            answer.echoed.is_none() || is_uuid_v7(&echoed),
            "refused by the HTTP parser (400, no echo) or replaced by a UUIDv7",
        );
    }
    demo.check(
        !demo
            .logs
            .lines()
            .iter()
            .any(|line| line.contains("EVIL") || line.contains(&long)),
        "no log line contains a hostile value",
    );

    heading("5. a burst of 200 concurrent requests: each logs and echoes only its own ID");
    let burst: Vec<_> = (0..200)
        .map(|n| {
            let client = trusted.clone();
            let request = Request::get(format!("{}/hello?n={}", demo.base, 1000 + n))
                .header("x-correlation-id", format!("burst-{n}"))
                .body(Body::empty())
                .expect("a well-formed request");
            tokio::spawn(async move { client.request(request).await })
        })
        .collect();
    let mut echoed_own = 0;
    for (n, request) in burst.into_iter().enumerate() {
        let echoed = request
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|response| response.headers().get("x-correlation-id").cloned());
        echoed_own += usize::from(echoed.is_some_and(|id| id == format!("burst-{n}").as_str()));
    }
    let own_lines = (0..200)
        .filter(|n| {
            let lines = demo.logs.of_request(1000 + n);
            lines.len() == 2
                && lines
                    .iter()
                    .all(|line| logs::logged_id(line) == Some(format!("burst-{n}")))
        })
        .count();
    println!(
        "   {echoed_own}/200 echoed their own ID; {own_lines}/200 logged both lines under their own ID"
    );
    demo.check(
        echoed_own == 200 && own_lines == 200,
        "no request saw another's ID",
    );

    heading(
        "6. a handler that calls a downstream service through reqwest: the ID travels with the call",
    );
    let answer = demo
        .send(&trusted, Method::GET, "/checkout", &header("checkout-42"))
        .await;
    demo.show("checkout-42", &answer);
    demo.check(
        demo.logs
            .carrying("checkout-42")
            .iter()
            .any(|line| line.contains("inventory: checked") && line.contains("forwarded=true")),
        "the downstream handler logged under the caller's ID",
    );

    heading("7. a handler that spawns a background job: the job keeps the ID");
    let answer = demo
        .send(&trusted, Method::POST, "/signup", &header("signup-7"))
        .await;
    let job_logged = demo
        .logs
        .wait_for("signup-7", "job: welcome email sent")
        .await
        .is_some();
    demo.show("signup-7", &answer);
    demo.check(
        job_logged,
        "the job's line, written after the response, carries the ID",
    );

    heading("8. a user slot bound by the handler: user_id on its lines");
    let answer = demo
        .send(
            &trusted,
            Method::GET,
            "/profile",
            &[
                ("x-correlation-id", HeaderValue::from_static("profile-8")),
                ("x-user", HeaderValue::from_static("alice")),
            ],
        )
        .await;
    demo.show("profile-8 (x-user: alice)", &answer);
    demo.check(
        demo.logs
            .carrying("profile-8")
            .iter()
            .any(|line| line.contains("user_id=alice")),
        "logged with user_id=alice",
    );

    heading("9. errors and panics are echoed too");
    let answer = demo
        .send(&trusted, Method::GET, "/fail", &header("fail-9"))
        .await;
    demo.show("fail-9", &answer);
    demo.check(
        answer.status == StatusCode::SERVICE_UNAVAILABLE
            && answer.echoed.as_deref() == Some("fail-9"),
        "503 with the ID",
    );
    let answer = demo
        .send(&trusted, Method::GET, "/panic", &header("panic-9"))
        .await;
    demo.show("panic-9", &answer);
    demo.check(
        answer.status == StatusCode::INTERNAL_SERVER_ERROR
            && answer.echoed.as_deref() == Some("panic-9"),
        "500 with the ID",
    );

    heading("10. a streamed body and server-sent events keep the ID while they stream");
    let answer = demo
        .send(&trusted, Method::GET, "/stream", &header("stream-10"))
        .await;
    demo.show("stream-10", &answer);
    demo.check(
        answer.body.lines().count() == 4
            && answer.body.lines().all(|line| line.ends_with(" stream-10")),
        "every chunk, made after the handler returned, saw stream-10",
    );
    demo.check(
        demo.logs
            .carrying("stream-10")
            .iter()
            .filter(|line| line.contains("stream: chunk"))
            .count()
            == 4,
        "every chunk's log line carries it",
    );
    let answer = demo
        .send(&trusted, Method::GET, "/events", &header("events-10"))
        .await;
    demo.show("events-10", &answer);
    let data: Vec<&str> = answer
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    demo.check(
        data == ["events-10"; 3],
        "every server-sent event saw events-10",
    );

    heading("11. a websocket session keeps the upgrade request's ID");
    let (echoed, replies) = demo.websocket("ws-11", 3).await;
    println!("   sent     x-correlation-id: ws-11, then 3 messages");
    println!(
        "   answer   101 x-correlation-id: {}; replies {replies:?}",
        echoed.as_deref().unwrap_or("(none)")
    );
    for line in demo.logs.carrying("ws-11") {
        println!("   log      {line}");
    }
    demo.check(
        echoed.as_deref() == Some("ws-11") && replies == ["ws-11"; 3],
        "the upgrade echoed ws-11 and every message's handler saw it",
    );

    job_through_redis(&mut demo, &queue).await;

    println!();
    let _ = std::io::stdout().flush();
    if demo.failures.is_empty() {
        println!("demo: every check held");
        ExitCode::SUCCESS
    } else {
        println!(
            "demo: {} checks failed: {:?}",
            demo.failures.len(),
            demo.failures
        );
        ExitCode::FAILURE
    }
}
