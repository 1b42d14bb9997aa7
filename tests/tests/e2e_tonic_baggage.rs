//! gRPC over loopback, W3C Baggage: a real tonic client with
//! `PropagateCorrelation::new().baggage(true)` (and the tower
//! `PropagateCorrelationLayer` around a `Channel`) calling tonic's health
//! service, which records the `baggage` metadata it receives.
//!
//! What it shows: the interceptor adds `correlation_id=<id>` to the baggage,
//! merging with members the caller put there and never rewriting them; a
//! `correlation_id` the caller set wins; without `.baggage(true)` no
//! baggage is sent; and what arrives is read by OpenTelemetry's
//! `BaggagePropagator`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use correlated::CorrelationId;
use correlated::tonic::PropagateCorrelation;
use correlated::tower::PropagateCorrelationLayer;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

const SERVICE: &str = "demo.Orders";
const PATIENCE: Duration = Duration::from_secs(10);

/// The `baggage` lines of each request the server received.
type Received = Arc<Mutex<Vec<Vec<String>>>>;

/// The health service on `127.0.0.1:0`, recording incoming baggage; stopped
/// when dropped.
struct Grpc {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    received: Received,
    _reporter: tonic_health::server::HealthReporter,
}

impl Drop for Grpc {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start() -> Grpc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(SERVICE, ServingStatus::Serving)
        .await;
    let received = Received::default();
    let record = {
        let received = Arc::clone(&received);
        move |request: http::Request<tonic::body::Body>| {
            let lines = request
                .headers()
                .get_all("baggage")
                .iter()
                .map(|value| value.to_str().expect("ASCII").to_owned())
                .collect();
            received.lock().unwrap().push(lines);
            request
        }
    };
    let server = tokio::spawn(
        Server::builder()
            .layer(ServiceBuilder::new().map_request(record))
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Grpc {
        addr,
        server,
        received,
        _reporter: reporter,
    }
}

impl Grpc {
    async fn channel(&self) -> Channel {
        bounded(
            Channel::from_shared(format!("http://{}", self.addr))
                .expect("a valid URI")
                .connect(),
        )
        .await
        .expect("connect to the server")
    }

    /// The baggage lines of the one request received so far.
    fn only_request(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        assert_eq!(received.len(), 1, "{received:?}");
        received[0].clone()
    }
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("no answer in time (hang guard)")
}

/// Runs `call` with `id` current, bounded in time; the guard is held in the
/// test's own task, which no other request shares.
async fn under<F: Future>(id: &str, call: F) -> F::Output {
    let _guard = correlated::scope(CorrelationId::parse(id).unwrap());
    bounded(call).await
}

/// A health check request carrying `baggage` lines set by the caller.
fn check(baggage: &[&str]) -> tonic::Request<HealthCheckRequest> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: SERVICE.to_owned(),
    });
    for line in baggage {
        request
            .metadata_mut()
            .append("baggage", line.parse().expect("ASCII metadata"));
    }
    request
}

/// What OpenTelemetry reads from a `baggage` line, sorted.
fn read_by_opentelemetry(line: &str) -> Vec<(String, String)> {
    let carrier = HashMap::from([("baggage".to_owned(), line.to_owned())]);
    let context = BaggagePropagator::new().extract(&carrier);
    let mut entries: Vec<(String, String)> = context
        .baggage()
        .iter()
        .map(|(key, (value, _))| (key.to_string(), value.to_string()))
        .collect();
    entries.sort();
    entries
}

fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interceptor_adds_the_id_to_the_baggage_and_opentelemetry_reads_it() {
    let grpc = start().await;
    let mut client = HealthClient::with_interceptor(
        grpc.channel().await,
        PropagateCorrelation::new().baggage(true),
    );
    under("grpc-bag-1", client.check(check(&[])))
        .await
        .expect("the service is serving");
    let received = grpc.only_request();
    assert_eq!(received, ["correlation_id=grpc-bag-1"]);
    assert_eq!(
        read_by_opentelemetry(&received[0]),
        pairs(&[("correlation_id", "grpc-bag-1")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interceptor_merges_with_the_callers_members_into_one_line() {
    let grpc = start().await;
    let mut client = HealthClient::with_interceptor(
        grpc.channel().await,
        PropagateCorrelation::new().baggage(true),
    );
    let request = check(&["userId = alice;p", "serverNode=DF%2028"]);
    under("grpc-bag-2", client.check(request)).await.unwrap();
    let received = grpc.only_request();
    assert_eq!(
        received,
        ["userId = alice;p,serverNode=DF%2028,correlation_id=grpc-bag-2"]
    );
    assert_eq!(
        read_by_opentelemetry(&received[0]),
        pairs(&[
            ("correlation_id", "grpc-bag-2"),
            ("serverNode", "DF 28"),
            ("userId", "alice"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correlation_id_member_the_caller_set_wins_and_malformed_baggage_is_left_alone() {
    let grpc = start().await;
    let mut client = HealthClient::with_interceptor(
        grpc.channel().await,
        PropagateCorrelation::new().baggage(true),
    );
    under(
        "from-context",
        client.check(check(&["correlation_id=set-by-caller"])),
    )
    .await
    .unwrap();
    under("from-context", client.check(check(&["a=1,,b=2"])))
        .await
        .unwrap();
    let received = grpc.received.lock().unwrap().clone();
    assert_eq!(
        received,
        [vec!["correlation_id=set-by-caller"], vec!["a=1,,b=2"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_interceptor_sends_no_baggage() {
    let grpc = start().await;
    let mut client =
        HealthClient::with_interceptor(grpc.channel().await, PropagateCorrelation::new());
    under("grpc-bag-3", client.check(check(&[]))).await.unwrap();
    assert_eq!(grpc.only_request(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_client_layer_over_a_channel_adds_the_id_to_the_baggage_too() {
    let grpc = start().await;
    let mut client = HealthClient::new(
        ServiceBuilder::new()
            .layer(PropagateCorrelationLayer::new().baggage(true))
            .service(grpc.channel().await),
    );
    under("grpc-bag-4", client.check(check(&["tenant=acme"])))
        .await
        .unwrap();
    assert_eq!(
        grpc.only_request(),
        ["tenant=acme,correlation_id=grpc-bag-4"]
    );
}
