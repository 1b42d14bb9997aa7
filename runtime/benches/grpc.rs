//! A unary gRPC call to the example echo service
//! (examples/support/echo_service.rs), bare and behind correlated's
//! `CorrelationLayer`, in one run.
//!
//! ```sh
//! cargo bench -p correlated --features tonic --bench grpc
//! ```
//!
//! - `grpc_unary_in_process`: the request as tonic's server hands it to its
//!   services (an HTTP/2 request carrying one length-prefixed protobuf
//!   message, a trusted `x-correlation-id` and the loopback peer's
//!   `TcpConnectInfo`), given to the service with tower's `oneshot`; the
//!   response body is read to its trailers (`grpc-status`). No sockets: the
//!   difference between the rows is the layer's cost on a real tonic
//!   service.
//! - `grpc_unary_loopback`: the generated tonic client (with the
//!   `PropagateCorrelation` interceptor in both rows) calls a tonic server on
//!   `127.0.0.1` over one HTTP/2 connection, client and server on one
//!   current-thread runtime: the layer's share of a whole call.
//!
//! No tracing subscriber is installed, as in a service that only logs at
//! INFO with nothing listening: the handler's log line costs its callsite
//! check only.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use correlated::CorrelationId;
use correlated::tonic::PropagateCorrelation;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use prost::Message;
use tokio::runtime::Runtime;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Server};
use tower::{Layer, ServiceExt};

#[path = "../examples/support/echo_service.rs"]
mod echo_service;

use echo_service::proto::EchoRequest;
use echo_service::proto::echo_client::EchoClient;

/// The server's address in the in-process requests' connection info.
const LOCAL: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50_051);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The correlation layer as the example server configures it, trusting
/// loopback.
fn layer() -> correlated::tower::CorrelationLayer {
    echo_service::layer(&["127.0.0.1".to_owned()]).expect("a valid trusted source")
}

/// One gRPC message: the uncompressed flag, the length, the protobuf bytes.
fn grpc_frame(message: &EchoRequest) -> Bytes {
    let encoded = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + encoded.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(encoded.len()).expect("a small message"));
    frame.put_slice(&encoded);
    frame.freeze()
}

/// `Echo` as tonic's server hands it on: from a trusted loopback peer, with
/// an ID.
fn echo_request(frame: &Bytes, id: &HeaderValue) -> Request<Full<Bytes>> {
    let mut request = Request::post("/correlated.echo.Echo/Echo")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-correlation-id", id.clone())
        .body(Full::new(frame.clone()))
        .expect("a well-formed request");
    request.extensions_mut().insert(TcpConnectInfo {
        local_addr: Some(LOCAL),
        remote_addr: Some(SocketAddr::from(([127, 0, 0, 1], 40_000))),
    });
    request
}

/// Calls `service` once and reads the response to its end; returns its
/// `grpc-status`.
async fn call<S, B>(service: &S, request: Request<Full<Bytes>>) -> Option<HeaderValue>
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service
        .clone()
        .oneshot(request)
        .await
        .expect("tonic answers every request");
    let collected = response.into_body().collect().await.expect("a whole body");
    collected
        .trailers()
        .and_then(|trailers| trailers.get("grpc-status").cloned())
}

fn grpc_unary_in_process(c: &mut Criterion) {
    let runtime = runtime();
    let frame = grpc_frame(&EchoRequest {
        text: "bench".to_owned(),
    });
    let id = HeaderValue::from(&CorrelationId::generate());
    let bare = echo_service::service();
    let layered = layer().layer(echo_service::service());
    // Both answer, and answer OK: the rows measure real calls.
    for status in [
        runtime.block_on(call(&bare, echo_request(&frame, &id))),
        runtime.block_on(call(&layered, echo_request(&frame, &id))),
    ] {
        assert_eq!(status.as_ref().map(HeaderValue::as_bytes), Some(&b"0"[..]));
    }

    let mut group = c.benchmark_group("grpc_unary_in_process");
    group.bench_function("no_layer", |b| {
        b.iter(|| black_box(runtime.block_on(call(&bare, echo_request(&frame, &id)))))
    });
    group.bench_function("correlate_layer", |b| {
        b.iter(|| black_box(runtime.block_on(call(&layered, echo_request(&frame, &id)))))
    });
    group.finish();
}

fn grpc_unary_loopback(c: &mut Criterion) {
    let runtime = runtime();
    let (bare_addr, layered_addr) = runtime.block_on(async {
        let bare = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let layered = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addrs = (
            bare.local_addr().expect("the bound address"),
            layered.local_addr().expect("the bound address"),
        );
        tokio::spawn(
            Server::builder()
                .add_service(echo_service::service())
                .serve_with_incoming(TcpIncoming::from(bare)),
        );
        tokio::spawn(echo_service::serve(layered, layer()));
        addrs
    });
    let client = |addr: SocketAddr| {
        runtime.block_on(async move {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .expect("a valid URI")
                .connect()
                .await
                .expect("connect to the server");
            EchoClient::with_interceptor(channel, PropagateCorrelation::new())
        })
    };
    let mut bare = client(bare_addr);
    let mut layered = client(layered_addr);
    let id = CorrelationId::generate();
    let _guard = correlated::scope(id.clone());
    let request = || EchoRequest {
        text: "bench".to_owned(),
    };
    // The layered server keeps the caller's ID (it trusts loopback).
    let reply = runtime
        .block_on(layered.echo(request()))
        .expect("an echo")
        .into_inner();
    assert_eq!(reply.correlation_id, id.as_str());

    let mut group = c.benchmark_group("grpc_unary_loopback");
    group.bench_function("no_layer", |b| {
        b.iter(|| black_box(runtime.block_on(bare.echo(request())).expect("an echo")))
    });
    group.bench_function("correlate_layer", |b| {
        b.iter(|| black_box(runtime.block_on(layered.echo(request())).expect("an echo")))
    });
    group.finish();
}

criterion_group!(benches, grpc_unary_in_process, grpc_unary_loopback);
criterion_main!(benches);
