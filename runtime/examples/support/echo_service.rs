//! The example gRPC service (proto/echo.proto), shared by `grpc_server.rs`,
//! the end-to-end tests (tests/tests/e2e_grpc_streams.rs) and the benchmark
//! (benches/grpc.rs): one RPC of each kind, every message stamped with the
//! correlation ID current when it was produced, and a log line for each.
//!
//! Nothing here sets an ID: `CorrelationLayer` runs the handlers in the
//! request's context, and its response body keeps that context while tonic
//! polls the returned streams for their messages.
#![allow(dead_code)]

use std::pin::Pin;
use std::time::Duration;

use correlated::tower::{CorrelationLayer, InvalidTrustedSource};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

// Generated code (see its header); it documents what the proto documents.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic
)]
#[path = "echo.rs"]
pub(crate) mod proto;

use proto::echo_server::{Echo, EchoServer};
use proto::{CountdownRequest, EchoReply, EchoRequest, Tick};

/// The longest countdown one request may ask for: a bound on the work a
/// single request makes the server do.
pub(crate) const MAX_COUNTDOWN: u32 = 1_000;

/// The pause before each tick, so a countdown's messages are produced long
/// after its handler returned, interleaved with other streams.
const TICK: Duration = Duration::from_millis(2);

/// Where the service logs (`target` of its events).
pub(crate) const LOG_TARGET: &str = "echo";

/// The service: stateless, every RPC works from its request alone.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EchoService;

/// The service, ready for `tonic::transport::Server::add_service`.
pub(crate) fn service() -> EchoServer<EchoService> {
    EchoServer::new(EchoService)
}

/// The correlation layer for the server: trusts the IDs of `trusted` peers
/// (IPs or CIDR ranges), generates one for everyone else.
///
/// # Errors
///
/// A malformed trusted-source entry.
pub(crate) fn layer(trusted: &[String]) -> Result<CorrelationLayer, InvalidTrustedSource> {
    Ok(CorrelationLayer::builder()
        .trust_many(trusted.iter().map(String::as_str))?
        .build())
}

/// Serves the service on `listener`, behind `layer`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    layer: CorrelationLayer,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .layer(layer)
        .add_service(service())
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await
}

/// The ID this message is produced under, as the replies carry it (`-`
/// when there is none, as in the logs).
fn current_id() -> String {
    correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string())
}

type Replies<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let text = request.into_inner().text;
        // The length, not the text: what a client sends is not logged.
        tracing::info!(target: LOG_TARGET, rpc = "Echo", len = text.len(), "reply");
        Ok(Response::new(EchoReply {
            text,
            correlation_id: current_id(),
        }))
    }

    type CountdownStream = Replies<Tick>;

    async fn countdown(
        &self,
        request: Request<CountdownRequest>,
    ) -> Result<Response<Self::CountdownStream>, Status> {
        let from = request.into_inner().from;
        if from > MAX_COUNTDOWN {
            return Err(Status::invalid_argument(format!(
                "`from` is at most {MAX_COUNTDOWN}"
            )));
        }
        tracing::info!(target: LOG_TARGET, rpc = "Countdown", from, "start");
        let ticks = futures::stream::unfold(Countdown { remaining: from }, |mut countdown| async {
            if countdown.remaining == 0 {
                return None;
            }
            tokio::time::sleep(TICK).await;
            let remaining = countdown.remaining;
            countdown.remaining -= 1;
            tracing::info!(target: LOG_TARGET, rpc = "Countdown", remaining, "tick");
            let tick = Tick {
                remaining,
                correlation_id: current_id(),
            };
            Some((Ok(tick), countdown))
        });
        Ok(Response::new(Box::pin(ticks)))
    }

    type ChatStream = Replies<EchoReply>;

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        tracing::info!(target: LOG_TARGET, rpc = "Chat", "open");
        // Each reply is made when tonic polls for the next message to send,
        // which reads the next message the client sent.
        let replies = request.into_inner().enumerate().map(|(seq, message)| {
            let text = message?.text;
            tracing::info!(target: LOG_TARGET, rpc = "Chat", seq, len = text.len(), "reply");
            Ok(EchoReply {
                text,
                correlation_id: current_id(),
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

/// A countdown's state. Dropped early when the client goes away mid-stream,
/// which it logs: the drop happens when the server drops the response body.
struct Countdown {
    remaining: u32,
}

impl Drop for Countdown {
    fn drop(&mut self) {
        if self.remaining > 0 {
            tracing::info!(
                target: LOG_TARGET,
                rpc = "Countdown",
                remaining = self.remaining,
                "stopped early"
            );
        }
    }
}
