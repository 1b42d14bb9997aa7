//! docs/semantics.md, promise 29, end to end: a websocket served by axum
//! behind `CorrelationLayer` runs its whole session in the upgrade
//! request's context when its handler is bound with `correlated::bind`.
//!
//! axum answers the upgrade request (`101 Switching Protocols`) and only
//! then, in a plain `tokio::spawn` task, calls the `on_upgrade` callback:
//! by then the request's context has ended. The server below echoes, for
//! every text message, the correlation ID its handler sees; a real client
//! (tokio-tungstenite) connects over loopback and checks the replies
//! against the ID the layer chose and echoed in the `101`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message as ServerMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use correlated::tower::CorrelationLayer;
use futures::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const HEADER: &str = "x-correlation-id";

/// What the handler answers when it sees no correlation ID.
const NO_ID: &str = "<none>";

/// Messages each client sends (and replies it expects).
const MESSAGES: usize = 3;

/// A hang guard for a whole test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(5);

/// The websocket session: one reply per text message, the ID it sees.
async fn handle(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if let ServerMessage::Text(_) = message {
            let seen = correlated::current().map_or_else(|| NO_ID.to_owned(), |id| id.to_string());
            if socket.send(ServerMessage::Text(seen.into())).await.is_err() {
                return;
            }
        }
    }
}

/// The upgrade, with the session bound to the request's context.
#[expect(
    clippy::redundant_closure,
    reason = "the closure form users write: its argument's type comes from `handle`"
)]
async fn bound(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(correlated::bind(|socket| handle(socket)))
}

/// The same without `bind`: the session runs in no context.
async fn unbound(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(handle)
}

/// The server on `127.0.0.1:0`, trusting `127.0.0.1` (where the client
/// connects from); aborted when dropped.
struct Server {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Server {
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .expect("a valid trusted source")
        .build();
    let app = Router::new()
        .route("/ws", get(bound))
        .route("/ws-unbound", get(unbound))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Server { addr, task }
}

/// One websocket session: the ID echoed on the `101`, and the replies to
/// `MESSAGES` text messages.
struct Session {
    echoed: String,
    replies: Vec<String>,
}

impl Server {
    async fn session(&self, path: &str, header: Option<&str>) -> Session {
        let mut request = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .expect("a websocket request");
        if let Some(value) = header {
            let value = HeaderValue::from_str(value).expect("a sendable header value");
            request.headers_mut().insert(HEADER, value);
        }
        let (mut socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade succeeds");
        let echoed = response
            .headers()
            .get(HEADER)
            .expect("the layer echoes the ID on the 101")
            .to_str()
            .expect("the echo is visible ASCII")
            .to_owned();
        let mut replies = Vec::with_capacity(MESSAGES);
        for n in 0..MESSAGES {
            socket
                .send(Message::text(format!("message {n}")))
                .await
                .expect("send");
            match socket.next().await {
                Some(Ok(Message::Text(reply))) => replies.push(reply.as_str().to_owned()),
                other => panic!("message {n}: no text reply: {other:?}"),
            }
        }
        socket.close(None).await.expect("close");
        Session { echoed, replies }
    }
}

/// Runs one test's body against a fresh server, bounded in time; the
/// server is aborted at the end, also on failure.
async fn bounded(body: impl AsyncFnOnce(&Server)) {
    let server = start().await;
    tokio::time::timeout(PATIENCE, body(&server))
        .await
        .expect("the test finished in time (hang guard)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_websocket_session_sees_the_trusted_request_id_in_every_message() {
    bounded(async |server| {
        let session = server.session("/ws", Some("ws-req-1")).await;
        assert_eq!(session.echoed, "ws-req-1");
        assert_eq!(session.replies, ["ws-req-1"; MESSAGES]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_websocket_session_without_a_header_sees_the_generated_echoed_id() {
    bounded(async |server| {
        let first = server.session("/ws", None).await;
        let second = server.session("/ws", None).await;
        for session in [&first, &second] {
            assert!(
                correlated::CorrelationId::parse_uuid(&session.echoed).is_ok(),
                "a generated UUID: {}",
                session.echoed
            );
            assert_eq!(session.replies, vec![session.echoed.clone(); MESSAGES]);
        }
        assert_ne!(first.echoed, second.echoed, "one ID per upgrade request");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_upgrade_header_is_never_echoed_to_the_websocket_session() {
    bounded(async |server| {
        let too_long = "a".repeat(200);
        for hostile in [too_long.as_str(), "ws req 1"] {
            let session = server.session("/ws", Some(hostile)).await;
            assert_ne!(session.echoed, hostile);
            assert!(
                correlated::CorrelationId::parse_uuid(&session.echoed).is_ok(),
                "a generated UUID instead of {hostile:?}: {}",
                session.echoed
            );
            assert_eq!(session.replies, vec![session.echoed.clone(); MESSAGES]);
        }
    })
    .await;
}

/// Why `bind` exists: axum calls `on_upgrade`'s callback in a plain task,
/// after the request's context has ended, so an unbound session sees no ID
/// even though the upgrade request had one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bind_a_websocket_session_sees_no_id() {
    bounded(async |server| {
        let session = server.session("/ws-unbound", Some("ws-req-2")).await;
        assert_eq!(session.echoed, "ws-req-2", "the request itself had it");
        assert_eq!(session.replies, [NO_ID; MESSAGES]);
    })
    .await;
}
