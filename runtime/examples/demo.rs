//! The whole story, end to end: starts the example service on loopback, sends
//! it requests through real HTTP clients (and a websocket client), and prints
//! for each the ID echoed in the response and the log lines that carry it. Exits 0 only if every check
//! holds.
//!
//! ```sh
//! cargo run -p correlated --example demo --features axum,tracing,tokio,reqwest-middleware
//! ```
//!
//! The service trusts `127.0.0.1` only; the "untrusted peer" requests come
//! from `127.0.0.2`, another loopback address.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/app.rs"]
mod app;
#[path = "support/logs.rs"]
mod logs;

use logs::Logs;

const TRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const UNTRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
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
    let app = app::app(&[TRUSTED.to_string()], addr).expect("valid trusted sources");
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
