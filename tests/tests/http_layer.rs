//! The tower layers as a service author uses them: `CorrelationLayer` in front
//! of handlers (plain `service_fn`s, an axum router, a real server on
//! loopback) and `PropagateCorrelationLayer` in front of clients.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::extract::connect_info::MockConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use correlated::CorrelationId;
use correlated::tower::{CorrelationLayer, OnInvalid, PropagateCorrelationLayer};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

const HEADER: &str = "x-correlation-id";

/// A request from `peer`, with the correlation header set to `value`.
fn request_from(peer: &str, value: Option<&[u8]>) -> Request<()> {
    let mut request = Request::new(());
    if let Some(value) = value {
        let value = HeaderValue::from_bytes(value).expect("a value http accepts");
        request.headers_mut().insert(HEADER, value);
    }
    let peer = SocketAddr::new(peer.parse().unwrap(), 50_000);
    request.extensions_mut().insert(peer);
    request
}

/// The layer that trusts loopback and 10.0.0.0/8, as a service behind a
/// local proxy would configure it.
fn trusting_layer() -> CorrelationLayer {
    CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .trust("10.0.0.0/8")
        .unwrap()
        .build()
}

/// A handler that answers with the ID it sees through `correlated::current()`.
async fn current_id(_request: Request<()>) -> Result<Response<String>, Infallible> {
    let id = correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string());
    Ok(Response::new(id))
}

fn echoed<B>(response: &Response<B>) -> &str {
    response
        .headers()
        .get(HEADER)
        .expect("the response echoes the ID")
        .to_str()
        .unwrap()
}

/// A canonical UUIDv7 (lowercase, hyphenated), as the layer generates.
fn assert_generated_v7(id: &str) {
    let canonical = CorrelationId::parse_uuid(id).unwrap_or_else(|_| panic!("{id:?} is no UUID"));
    assert_eq!(canonical.as_str(), id, "not canonical");
    assert_eq!(&id[14..15], "7", "{id} is not version 7");
}

#[tokio::test]
async fn no_header_gets_a_generated_v7_that_the_handler_sees_and_the_response_echoes() {
    let service = trusting_layer().layer(service_fn(current_id));
    let response = service
        .oneshot(request_from("127.0.0.1", None))
        .await
        .unwrap();
    let id = echoed(&response).to_owned();
    assert_generated_v7(&id);
    assert_eq!(response.into_body().into_inner().unwrap(), id);
}

#[tokio::test]
async fn a_valid_header_from_a_trusted_peer_is_kept_and_echoed() {
    let service = trusting_layer().layer(service_fn(current_id));
    for peer in ["127.0.0.1", "10.20.30.40"] {
        let request = request_from(peer, Some(b"edge-7f3a"));
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(echoed(&response), "edge-7f3a", "{peer}");
        assert_eq!(
            response.into_body().into_inner().unwrap(),
            "edge-7f3a",
            "{peer}"
        );
    }
}

#[tokio::test]
async fn the_same_header_from_an_untrusted_peer_is_replaced() {
    let service = trusting_layer().layer(service_fn(current_id));
    for peer in ["192.0.2.1", "11.0.0.1", "::2"] {
        let request = request_from(peer, Some(b"edge-7f3a"));
        let response = service.clone().oneshot(request).await.unwrap();
        let id = echoed(&response).to_owned();
        assert_ne!(id, "edge-7f3a", "{peer}");
        assert_generated_v7(&id);
        assert_eq!(response.into_body().into_inner().unwrap(), id, "{peer}");
    }
}

#[tokio::test]
async fn hostile_values_from_a_trusted_peer_are_never_echoed() {
    // CR, LF and NUL cannot even be put in an `http::HeaderValue`; these can.
    assert!(HeaderValue::from_bytes(b"a\r\nSet-Cookie: x").is_err());
    let too_long = vec![b'a'; 600];
    let hostile: [&[u8]; 7] = [
        b"",
        b"two words",
        b"tab\tinside",
        b" leading-space",
        "non-ascii-\u{e9}".as_bytes(),
        b"latin1-\xe9",
        &too_long,
    ];
    let service = trusting_layer().layer(service_fn(current_id));
    for value in hostile {
        let request = request_from("127.0.0.1", Some(value));
        let response = service.clone().oneshot(request).await.unwrap();
        let values: Vec<_> = response.headers().get_all(HEADER).iter().collect();
        assert_eq!(values.len(), 1);
        assert_ne!(values[0].as_bytes(), value);
        let id = echoed(&response).to_owned();
        assert_generated_v7(&id);
        assert_eq!(
            response.into_body().into_inner().unwrap(),
            id,
            "the handler saw another ID"
        );
    }
}

#[tokio::test]
async fn an_inner_error_passes_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct DatabaseDown {
        code: u16,
    }
    let service = trusting_layer().layer(service_fn(|_: Request<()>| async {
        Err::<Response<String>, _>(DatabaseDown { code: 503 })
    }));
    let error = service
        .oneshot(request_from("127.0.0.1", Some(b"req-1")))
        .await
        .unwrap_err();
    assert_eq!(error, DatabaseDown { code: 503 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_sees_its_id_after_every_await_while_requests_interleave() {
    async fn handler(request: Request<()>) -> Result<Response<String>, Infallible> {
        let expected = request.extensions().get::<CorrelationId>().cloned();
        for round in 0..5u64 {
            assert_eq!(correlated::current(), expected, "before await {round}");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(round % 3)).await;
            assert_eq!(correlated::current(), expected, "after await {round}");
        }
        Ok(Response::new(expected.unwrap().to_string()))
    }
    let service = trusting_layer().layer(service_fn(handler));
    let requests = (0..200).map(|n| {
        let service = service.clone();
        tokio::spawn(async move {
            let value = format!("req-{n}");
            let request = request_from("10.0.0.1", Some(value.as_bytes()));
            let response = service.oneshot(request).await.unwrap();
            assert_eq!(echoed(&response), value);
            assert_eq!(response.into_body().into_inner().unwrap(), value);
        })
    });
    for request in requests.collect::<Vec<_>>() {
        request.await.unwrap();
    }
    assert_eq!(
        correlated::current(),
        None,
        "nothing leaks to the test task"
    );
}

#[tokio::test]
async fn the_request_extension_holds_the_chosen_id() {
    let service = trusting_layer().layer(service_fn(|request: Request<()>| async move {
        let id = request
            .extensions()
            .get::<CorrelationId>()
            .expect("the layer stores the ID in the extensions");
        Ok::<_, Infallible>(Response::new(id.to_string()))
    }));
    let response = service
        .clone()
        .oneshot(request_from("127.0.0.1", Some(b"req-ext")))
        .await
        .unwrap();
    assert_eq!(response.into_body().into_inner().unwrap(), "req-ext");

    let response = service
        .oneshot(request_from("127.0.0.1", None))
        .await
        .unwrap();
    let echoed = echoed(&response).to_owned();
    assert_eq!(response.into_body().into_inner().unwrap(), echoed);
}

#[correlated::correlated]
async fn load_order() -> Option<CorrelationId> {
    tokio::task::yield_now().await;
    correlated::current()
}

#[tokio::test]
async fn correlated_functions_called_by_the_handler_inherit_the_id() {
    let service = trusting_layer().layer(service_fn(|_: Request<()>| async {
        let seen = load_order().await.expect("inherited");
        Ok::<_, Infallible>(Response::new(seen.to_string()))
    }));
    let response = service
        .oneshot(request_from("127.0.0.1", Some(b"req-macro")))
        .await
        .unwrap();
    assert_eq!(response.into_body().into_inner().unwrap(), "req-macro");
}

#[tokio::test]
async fn reject_answers_400_to_an_invalid_value_from_a_trusted_peer() {
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .on_invalid(OnInvalid::Reject)
        .build();
    let service = layer.layer(service_fn(|_: Request<()>| async {
        panic!("the handler must not run for a rejected request");
        #[allow(unreachable_code)]
        Ok::<Response<String>, Infallible>(Response::new(String::new()))
    }));
    let response = service
        .oneshot(request_from("127.0.0.1", Some(b"not valid")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_generated_v7(echoed(&response));
}

#[tokio::test]
async fn reject_still_serves_untrusted_peers_with_a_new_id() {
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .on_invalid(OnInvalid::Reject)
        .build();
    let service = layer.layer(service_fn(current_id));
    let response = service
        .oneshot(request_from("192.0.2.1", Some(b"not valid")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_generated_v7(echoed(&response));
}

#[tokio::test]
async fn catch_panic_inside_the_layer_gives_a_500_that_carries_the_echo() {
    let service = ServiceBuilder::new()
        .layer(trusting_layer())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .service(service_fn(|_: Request<()>| async {
            if correlated::current().is_some() {
                panic!("handler bug");
            }
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let response = service
        .oneshot(request_from("127.0.0.1", Some(b"req-panic")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(echoed(&response), "req-panic");
}

/// Stands in for an HTTP client transport: answers with the header it got.
async fn downstream(request: Request<()>) -> Result<Response<Option<HeaderValue>>, Infallible> {
    Ok(Response::new(request.headers().get(HEADER).cloned()))
}

#[tokio::test]
async fn the_client_layer_injects_the_current_id() {
    let client = PropagateCorrelationLayer::new().layer(service_fn(downstream));
    let sent = async { client.oneshot(Request::new(())).await.unwrap().into_body() }
        .in_id("req-out")
        .await;
    assert_eq!(sent.unwrap(), "req-out");
}

#[tokio::test]
async fn the_client_layer_never_overwrites_a_header_the_caller_set() {
    let client = PropagateCorrelationLayer::new().layer(service_fn(downstream));
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(HEADER, HeaderValue::from_static("chosen-by-caller"));
    let sent = async { client.oneshot(request).await.unwrap().into_body() }
        .in_id("req-out")
        .await;
    assert_eq!(sent.unwrap(), "chosen-by-caller");
}

#[tokio::test]
async fn the_client_layer_adds_nothing_outside_a_correlated_context() {
    let client = PropagateCorrelationLayer::new().layer(service_fn(downstream));
    let sent = client.oneshot(Request::new(())).await.unwrap().into_body();
    assert_eq!(sent, None);
}

/// `fut.in_id("...")`: runs a future with a fixed correlation ID.
trait InId: std::future::Future + Sized {
    fn in_id(self, id: &str) -> correlated::Correlated<Self> {
        use correlated::Correlate;
        self.correlated(CorrelationId::parse(id).unwrap())
    }
}

impl<F: std::future::Future> InId for F {}

async fn read_body(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn axum_handler(Extension(id): Extension<CorrelationId>) -> String {
    tokio::task::yield_now().await;
    assert_eq!(correlated::current().as_ref(), Some(&id));
    id.to_string()
}

#[tokio::test]
async fn an_axum_router_trusts_the_connect_info_peer() {
    let app = |peer: [u8; 4]| {
        Router::new()
            .route("/", get(axum_handler))
            .layer(trusting_layer())
            .layer(MockConnectInfo(SocketAddr::from((peer, 4000))))
    };
    let request = || {
        Request::get("/")
            .header(HEADER, "req-axum")
            .body(Body::empty())
            .unwrap()
    };

    let response = app([10, 1, 1, 1]).oneshot(request()).await.unwrap();
    assert_eq!(echoed(&response), "req-axum");
    assert_eq!(read_body(response).await, "req-axum");

    let response = app([192, 0, 2, 1]).oneshot(request()).await.unwrap();
    let id = echoed(&response).to_owned();
    assert_generated_v7(&id);
    assert_eq!(read_body(response).await, id);
}

type HttpClient = correlated::tower::PropagateCorrelationService<
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
>;

#[derive(Clone)]
struct Upstream {
    client: HttpClient,
    base: String,
}

/// Calls `/downstream` on the same server: the client layer forwards the ID.
async fn call_downstream(State(upstream): State<Upstream>) -> String {
    let request = Request::get(format!("{}/downstream", upstream.base))
        .body(Body::empty())
        .unwrap();
    let response = upstream.client.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let seen_downstream = String::from_utf8(body.to_vec()).unwrap();
    let here = correlated::current().unwrap();
    format!("{here} {seen_downstream}")
}

async fn report_downstream() -> String {
    correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_loopback_the_id_is_kept_echoed_and_propagated() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let connector =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Body>();
    let client = PropagateCorrelationLayer::new().layer(connector.clone());
    let app = Router::new()
        .route("/upstream", get(call_downstream))
        .route("/downstream", get(report_downstream))
        .with_state(Upstream {
            client,
            base: base.clone(),
        })
        .layer(
            CorrelationLayer::builder()
                .trust("127.0.0.1")
                .unwrap()
                .build(),
        );
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });

    // From loopback (trusted): kept, seen by the handler, forwarded downstream.
    let request = Request::get(format!("{base}/upstream"))
        .header(HEADER, "e2e-4711")
        .body(Body::empty())
        .unwrap();
    let response = connector.request(request).await.unwrap();
    assert_eq!(echoed(&response), "e2e-4711");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "e2e-4711 e2e-4711");

    // No header: a new ID, the same one everywhere.
    let request = Request::get(format!("{base}/upstream"))
        .body(Body::empty())
        .unwrap();
    let response = connector.request(request).await.unwrap();
    let id = echoed(&response).to_owned();
    assert_generated_v7(&id);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("{id} {id}").as_str());

    server.abort();
}
