//! The example gRPC service: tonic behind correlated's `CorrelationLayer`,
//! with a unary, a server-streaming and a bidirectional-streaming RPC
//! (proto/echo.proto), logging one JSON line per message with its
//! `correlation_id`.
//!
//! ```sh
//! cargo run -p correlated --example grpc_server --features tonic,tracing-json,tokio -- --addr 127.0.0.1:50051
//! grpcurl -plaintext -import-path runtime/examples/proto -proto echo.proto \
//!     -H 'x-correlation-id: my-rpc-1' -d '{"from": 3}' 127.0.0.1:50051 correlated.echo.Echo/Countdown
//! ```
//!
//! Every tick of the countdown carries `"correlationId": "my-rpc-1"`, and so
//! does every log line written while producing it. Options: `--addr
//! IP:PORT` (default `127.0.0.1:50051`), `--trust IP|CIDR` (repeatable;
//! default: loopback only). The code generated from the proto is checked in
//! (examples/support/echo.rs): building needs no `protoc`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[path = "support/echo_service.rs"]
mod echo_service;

struct Options {
    addr: SocketAddr,
    trusted: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 50051));
    let mut trusted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => {
                let text = value()?;
                addr = text
                    .parse()
                    .map_err(|_| format!("--addr: `{text}` is not IP:PORT"))?;
            }
            "--trust" => trusted.push(value()?),
            other => {
                return Err(format!(
                    "unknown option `{other}`; expected --addr or --trust"
                ));
            }
        }
    }
    if trusted.is_empty() {
        // Loopback only, so a client on this machine can set the ID and
        // everyone else gets a generated one.
        trusted = vec![IpAddr::from([127, 0, 0, 1]).to_string(), "::1".to_owned()];
    }
    Ok(Options { addr, trusted })
}

#[tokio::main]
async fn main() -> ExitCode {
    // {"timestamp":"..","level":"INFO","message":"tick","rpc":"Countdown",
    //  "remaining":3,"target":"echo","correlation_id":"my-rpc-1"}
    // INFO, and the layer's own DEBUG lines (a rejected or untrusted ID,
    // logged without its value). Not h2's TRACE: it dumps header frames.
    let filter = Targets::new()
        .with_default(Level::INFO)
        .with_target("correlated", Level::DEBUG);
    tracing_subscriber::registry()
        .with(correlated::tracing::json_layer().with_filter(filter))
        .init();
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let layer = match echo_service::layer(&options.trusted) {
        Ok(layer) => layer,
        Err(error) => {
            eprintln!("--trust: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %options.addr, trusted = ?options.trusted, "serving gRPC");
    match echo_service::serve(listener, layer).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server error: {error}");
            ExitCode::FAILURE
        }
    }
}
