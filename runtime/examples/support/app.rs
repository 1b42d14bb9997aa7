//! The example service shared by `server.rs` and `demo.rs`: an axum app whose
//! handlers are annotated with `#[correlated]`, behind correlated's tower layer.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use correlated::correlated;
use correlated::reqwest::PropagateCorrelation;
use correlated::tower::{CorrelationLayer, InvalidTrustedSource};
use reqwest_middleware::ClientWithMiddleware;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Level;
use tracing_subscriber::filter::Targets;

correlated::slot! {
    /// Who the request is for, from the `x-user` header (a stand-in for auth).
    pub static USER_ID: String;
}

/// What the handlers share: a client for the "downstream" service.
#[derive(Clone)]
pub(crate) struct AppState {
    client: ClientWithMiddleware,
    downstream: String,
}

/// The app: correlation layer outermost, so every response carries the ID,
/// including the 500 that `CatchPanicLayer` makes of a panicking handler.
///
/// # Errors
///
/// A malformed trusted-source entry.
#[allow(dead_code)] // the demo adds a route of its own, through `app_with`
pub(crate) fn app(
    trusted: &[String],
    downstream: SocketAddr,
) -> Result<Router, InvalidTrustedSource> {
    app_with(trusted, downstream, Router::new())
}

/// The app with `more` routes (the demo's `/orders/{n}`), behind the same
/// layers as the others.
///
/// # Errors
///
/// A malformed trusted-source entry.
pub(crate) fn app_with(
    trusted: &[String],
    downstream: SocketAddr,
    more: Router,
) -> Result<Router, InvalidTrustedSource> {
    let correlation = CorrelationLayer::builder().trust_many(trusted.iter().map(String::as_str))?;
    let state = AppState {
        client: downstream_client(),
        downstream: format!("http://{downstream}"),
    };
    Ok(Router::new()
        .route("/hello", get(hello))
        .route("/profile", get(profile))
        .route("/checkout", get(checkout))
        .route("/inventory", get(inventory))
        .route("/signup", post(signup))
        .route("/fail", get(fail))
        .route("/panic", get(panics))
        .route("/stream", get(stream))
        .route("/events", get(events))
        .route("/ws", get(websocket))
        .with_state(state)
        .merge(more)
        .layer(
            ServiceBuilder::new()
                .layer(correlation.build())
                .layer(CatchPanicLayer::new()),
        ))
}

/// A reqwest client whose requests carry the current correlation ID.
fn downstream_client() -> ClientWithMiddleware {
    // The downstream service is on loopback: no proxy, whatever the
    // environment says.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain-HTTP client has no TLS backend to fail");
    reqwest_middleware::ClientBuilder::new(client)
        .with(PropagateCorrelation::new())
        .build()
}

/// Serves `app` on `listener`, with peer addresses for the trust check.
pub(crate) async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Logs before and after a few `.await`s; the ID is the same throughout.
/// `?n=` numbers the request, so the demo can match log lines to requests.
#[correlated]
async fn hello(RawQuery(query): RawQuery) -> String {
    let n: u32 = query
        .as_deref()
        .and_then(|query| query.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    tracing::info!(n, "hello: start");
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(u64::from(n % 5))).await;
    tracing::info!(n, "hello: done");
    format!("hello {n}\n")
}

/// Binds a user slot for the body: its log lines carry `user_id`.
#[correlated(USER_ID = user_of(&headers))]
async fn profile(headers: HeaderMap) -> String {
    tracing::info!("profile: loading");
    let user = USER_ID.get().unwrap_or_default();
    format!("profile of {user}\n")
}

fn user_of(headers: &HeaderMap) -> String {
    headers
        .get("x-user")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("anonymous")
        .to_owned()
}

/// Calls the downstream service through reqwest; the client's
/// `PropagateCorrelation` middleware forwards the ID.
#[correlated]
async fn checkout(State(state): State<AppState>) -> Result<String, StatusCode> {
    tracing::info!("checkout: asking inventory");
    let response = state
        .client
        .get(format!("{}/inventory", state.downstream))
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let body = response.text().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    tracing::info!("checkout: inventory answered");
    Ok(format!("checkout ok; {body}"))
}

/// The "downstream" service: it sees the caller's ID in its own logs.
#[correlated]
async fn inventory(headers: HeaderMap) -> String {
    let forwarded = headers.contains_key("x-correlation-id");
    tracing::info!(forwarded, "inventory: checked");
    "in stock\n".to_owned()
}

/// Spawns a background job that outlives the request and keeps its ID.
#[correlated]
async fn signup() -> StatusCode {
    tracing::info!("signup: queueing welcome email");
    correlated::spawn(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        tracing::info!("job: welcome email sent");
    });
    StatusCode::ACCEPTED
}

/// An error response still carries the ID.
#[correlated]
async fn fail() -> Result<String, StatusCode> {
    tracing::warn!("fail: giving up");
    Err(StatusCode::SERVICE_UNAVAILABLE)
}

/// A panic becomes a 500 inside the correlation layer, so it is echoed too.
#[correlated]
async fn panics() -> String {
    tracing::error!("panic: about to panic");
    panic!("handler bug")
}

/// The ID of the request, as text (`-` outside any).
fn current_id() -> String {
    correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string())
}

/// A chunked body made while it streams, after the handler has returned:
/// every chunk, and its log line, carries the request's ID.
#[correlated]
async fn stream() -> Body {
    tracing::info!("stream: starting");
    let chunks = futures::stream::unfold(0_u32, |n| async move {
        if n == 4 {
            return None;
        }
        tokio::task::yield_now().await;
        tracing::info!(n, "stream: chunk");
        let chunk = format!("chunk {n} {}\n", current_id());
        Some((Ok::<_, std::convert::Infallible>(chunk), n + 1))
    });
    Body::from_stream(chunks)
}

/// Server-sent events: each event's data is the request's ID, and each is
/// logged under it.
#[correlated]
async fn events() -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    tracing::info!("events: subscribed");
    let events = futures::stream::unfold(0_u32, |n| async move {
        if n == 3 {
            return None;
        }
        tokio::task::yield_now().await;
        tracing::info!(n, "events: sent");
        Some((Ok(Event::default().data(current_id())), n + 1))
    });
    Sse::new(events)
}

/// A websocket: axum runs the session in a task of its own after the
/// upgrade; `bind` gives it the upgrade request's context, so every reply
/// (the ID) and every log line of the session carries that ID.
#[correlated]
async fn websocket(upgrade: WebSocketUpgrade) -> axum::response::Response {
    tracing::info!("ws: upgrading");
    upgrade.on_upgrade(correlated::bind(session))
}

async fn session(mut socket: WebSocket) {
    while let Some(Ok(Message::Text(text))) = socket.recv().await {
        tracing::info!(%text, "ws: message");
        if socket
            .send(Message::Text(current_id().into()))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// What the example logs: INFO and up, plus correlated's DEBUG lines (a
/// rejected or untrusted incoming ID, logged without its value).
pub(crate) fn log_filter() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target("correlated", Level::DEBUG)
}
