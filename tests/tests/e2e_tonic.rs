//! gRPC end to end over loopback: a real tonic server (tonic's own health
//! service, whose code ships generated in `tonic-health`) behind
//! `CorrelationLayer`, and a real tonic client with the
//! `correlated::tonic::PropagateCorrelation` interceptor.
//!
//! What it shows: the layer trusts the peer address tonic reports
//! (`TcpConnectInfo`), the ID comes back in the response's initial metadata,
//! also on a failing `Status`, and the client's interceptor carries the
//! caller's ID without overwriting one the caller set.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use correlated::CorrelationId;
use correlated::tonic::PropagateCorrelation;
use correlated::tower::CorrelationLayer;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;

const SERVICE: &str = "demo.Orders";
const PATIENCE: Duration = Duration::from_secs(10);

/// The server, stopped when dropped.
struct Grpc {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    /// Sets the health service's status (and keeps it alive).
    reporter: HealthReporter,
    /// The ID current at each poll of a response body (see `Probe`).
    polled_under: Polled,
}

impl Drop for Grpc {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The health service on `127.0.0.1:0`, behind a layer that trusts
/// loopback peers (`trusted`) or no one.
async fn start(trusted: bool) -> Grpc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(SERVICE, ServingStatus::Serving)
        .await;
    let layer = if trusted {
        CorrelationLayer::builder()
            .trust("127.0.0.1")
            .expect("a valid address")
            .build()
    } else {
        CorrelationLayer::new()
    };
    let polled_under = Polled::default();
    let probe = {
        let polled_under = polled_under.clone();
        move |response: http::Response<tonic::body::Body>| {
            let polled_under = polled_under.clone();
            response.map(|inner| Probe {
                inner,
                polled_under,
            })
        }
    };
    let server = tokio::spawn(
        Server::builder()
            .layer(ServiceBuilder::new().layer(layer).map_response(probe))
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Grpc {
        addr,
        server,
        reporter,
        polled_under,
    }
}

type Polled = Arc<Mutex<Vec<Option<String>>>>;

/// The health service's response body, inside the correlation layer:
/// records the ID current whenever tonic's server polls it for a message.
struct Probe {
    inner: tonic::body::Body,
    polled_under: Polled,
}

impl http_body::Body for Probe {
    type Data = <tonic::body::Body as http_body::Body>::Data;
    type Error = <tonic::body::Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let id = correlated::current().map(|id| id.to_string());
        self.polled_under.lock().unwrap().push(id);
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("no answer in time (hang guard)")
}

impl Grpc {
    /// A connected channel to the server.
    async fn channel(&self) -> Channel {
        bounded(
            Channel::from_shared(format!("http://{}", self.addr))
                .expect("a valid URI")
                .connect(),
        )
        .await
        .expect("connect to the server")
    }

    /// A health client with the propagation interceptor.
    async fn client(&self) -> HealthClient<InterceptedService<Channel, PropagateCorrelation>> {
        HealthClient::with_interceptor(self.channel().await, PropagateCorrelation::new())
    }
}

/// Runs `call` with `id` as the current correlation ID, bounded in time. The
/// guard is held across `call`'s awaits, which is fine in the test's own
/// task (plain code, not a task another request shares).
async fn under<F: Future>(id: &str, call: F) -> F::Output {
    let _guard = correlated::scope(CorrelationId::parse(id).unwrap());
    bounded(call).await
}

fn echoed(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get("x-correlation-id")
        .expect("the ID is echoed")
        .to_str()
        .expect("visible ASCII")
        .to_owned()
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_id_travels_through_the_interceptor_and_is_echoed_by_a_trusting_server() {
    let grpc = start(true).await;
    let mut client = grpc.client().await;
    let response = under("grpc-call-1", client.check(check(SERVICE)))
        .await
        .expect("the service is serving");
    assert_eq!(
        response.get_ref().status,
        ServingStatus::Serving as i32,
        "a real answer"
    );
    // Kept: the peer (127.0.0.1, from tonic's `TcpConnectInfo`) is trusted.
    assert_eq!(echoed(response.metadata()), "grpc-call-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_status_carries_the_echoed_id_too() {
    let grpc = start(true).await;
    let mut client = grpc.client().await;
    let status = under("grpc-call-2", client.check(check("no.such.Service")))
        .await
        .expect_err("an unknown service is an error");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(echoed(status.metadata()), "grpc-call-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_a_context_the_client_sends_nothing_and_the_server_generates_an_id() {
    let grpc = start(true).await;
    let mut client = grpc.client().await;
    let response = bounded(client.check(check(SERVICE))).await.unwrap();
    let generated = echoed(response.metadata());
    let uuid = CorrelationId::parse_uuid(&generated).expect("a generated UUID");
    assert_eq!(uuid.as_str(), generated, "canonical UUIDv7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusting_server_replaces_the_clients_id() {
    let grpc = start(false).await;
    let mut client = grpc.client().await;
    let response = under("grpc-call-3", client.check(check(SERVICE)))
        .await
        .unwrap();
    let echoed = echoed(response.metadata());
    assert_ne!(
        echoed, "grpc-call-3",
        "an untrusted peer's ID is never kept"
    );
    CorrelationId::parse_uuid(&echoed).expect("a generated UUID instead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interceptor_never_overwrites_metadata_the_caller_set() {
    let grpc = start(true).await;
    let mut client = grpc.client().await;
    let mut request = tonic::Request::new(check(SERVICE));
    request
        .metadata_mut()
        .insert("x-correlation-id", "set-by-caller".parse().unwrap());
    let response = under("from-context", client.check(request)).await.unwrap();
    assert_eq!(echoed(response.metadata()), "set-by-caller");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_of_a_server_stream_is_produced_in_the_requests_context() {
    let grpc = start(true).await;
    let mut client = grpc.client().await;
    let mut stream = under("grpc-watch-1", client.watch(check(SERVICE)))
        .await
        .expect("a watch stream")
        .into_inner();
    assert_eq!(
        echoed_statuses(&mut stream, 1).await,
        [ServingStatus::Serving as i32]
    );
    // Long after the handler returned, the stream yields again.
    grpc.reporter
        .set_service_status(SERVICE, ServingStatus::NotServing)
        .await;
    assert_eq!(
        echoed_statuses(&mut stream, 1).await,
        [ServingStatus::NotServing as i32]
    );
    drop(stream);

    let polled_under = grpc.polled_under.lock().unwrap().clone();
    assert!(
        polled_under.len() >= 2,
        "the body was polled per message: {polled_under:?}"
    );
    assert!(
        polled_under
            .iter()
            .all(|id| id.as_deref() == Some("grpc-watch-1")),
        "every poll of the streamed body ran in the request's context: {polled_under:?}"
    );
}

/// The next `n` statuses of a watch stream.
async fn echoed_statuses(
    stream: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
    n: usize,
) -> Vec<i32> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let message = bounded(stream.message())
            .await
            .expect("a message")
            .expect("the stream is open");
        statuses.push(message.status);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_client_layer_over_a_channel_propagates_the_id_too() {
    use correlated::tower::PropagateCorrelationLayer;

    let grpc = start(true).await;
    let mut client = HealthClient::new(
        ServiceBuilder::new()
            .layer(PropagateCorrelationLayer::new())
            .service(grpc.channel().await),
    );
    let response = under("grpc-layer-1", client.check(check(SERVICE)))
        .await
        .unwrap();
    assert_eq!(echoed(response.metadata()), "grpc-layer-1");
}
