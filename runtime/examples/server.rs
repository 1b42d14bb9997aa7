//! The example service: an axum app with `#[correlated]` handlers behind
//! correlated's tower layer, logging through tracing.
//!
//! ```sh
//! cargo run -p correlated --example server --features axum,tracing,tokio,reqwest-middleware -- --addr 127.0.0.1:8080
//! curl -i -H 'x-correlation-id: my-request-1' http://127.0.0.1:8080/hello
//! ```
//!
//! Options: `--addr IP:PORT` (default `127.0.0.1:8080`), `--trust IP|CIDR`
//! (repeatable; default: loopback only). Routes: `/hello`, `/profile` (send
//! `x-user`), `/checkout` (calls `/inventory` downstream), `POST /signup`
//! (spawns a background job), `/fail` (503), `/panic` (500).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use tracing_subscriber::prelude::*;

#[path = "support/app.rs"]
mod app;

struct Options {
    addr: SocketAddr,
    trusted: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
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
        // Loopback only, so `curl` on this machine can set the ID and
        // everyone else gets a generated one.
        trusted = vec![IpAddr::from([127, 0, 0, 1]).to_string(), "::1".to_owned()];
    }
    Ok(Options { addr, trusted })
}

#[tokio::main]
async fn main() -> ExitCode {
    let layer = tracing_subscriber::fmt::layer().map_event_format(|format| {
        correlated::tracing::CorrelatedFormat::text(format).with_slot(&app::USER_ID)
    });
    tracing_subscriber::registry()
        .with(layer.with_filter(app::log_filter()))
        .init();

    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("server: {message}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("server: cannot listen on {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let Ok(local) = listener.local_addr() else {
        return ExitCode::FAILURE;
    };
    let app = match app::app(&options.trusted, local) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("server: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%local, trusted = ?options.trusted, "listening");
    match app::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server: {error}");
            ExitCode::FAILURE
        }
    }
}
