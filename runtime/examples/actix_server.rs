//! The actix-web example service: handlers behind correlated's `Correlation`
//! middleware, with actix-web's `Logger` inside it, logging through `log`
//! with `correlation_id` on every record.
//!
//! ```sh
//! cargo run -p correlated --example actix_server --features actix-web,log -- --addr 127.0.0.1:8080
//! curl -i -H 'x-correlation-id: my-request-1' http://127.0.0.1:8080/hello
//! ```
//!
//! Options: `--addr IP:PORT` (default `127.0.0.1:8080`), `--trust IP|CIDR`
//! (repeatable; default: loopback only). Routes: `/hello` (the ID as an
//! extractor, and a `#[correlated]` function), `/local` (a `!Send` handler),
//! `/stream` (a streamed body whose chunks carry the ID), `/fail` (a
//! handler's `Err`: 503, ID echoed), `POST /echo` (send a JSON list of
//! strings; anything else is an extractor rejection: 400, ID echoed).

use std::cell::Cell;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use actix_web::middleware::Logger;
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, dev::ServiceRequest, error, web};
use correlated::CorrelationId;
use correlated::actix::Correlation;
use futures::StreamExt as _;
use log::kv::{Error, Key, Value, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};

/// `LEVEL target: message key=value ...` on stderr; `CorrelatedLogger` adds
/// `correlation_id` to each record's key-values.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        struct Pairs(String);
        impl<'kvs> VisitSource<'kvs> for Pairs {
            fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
                self.0.push_str(&format!(" {key}={value}"));
                Ok(())
            }
        }
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = Pairs(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
        // A record's key-values are written as far as they go.
        let _ = record.key_values().visit(&mut line);
        let _ = writeln!(std::io::stderr(), "{}", line.0);
    }

    fn flush(&self) {}
}

/// The ID as an extractor; `#[correlated]` functions inherit it.
async fn hello(id: CorrelationId) -> String {
    log::info!("saying hello");
    greet().await;
    format!("hello, {id}\n")
}

#[correlated::correlated]
async fn greet() {
    log::info!("inside a #[correlated] function: the request's ID, inherited");
}

/// A `!Send` handler: an `Rc` held across `.await`, as actix-web allows.
async fn local() -> String {
    let visits = Rc::new(Cell::new(0));
    for _ in 0..3 {
        visits.set(visits.get() + 1);
        actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    }
    log::info!(visits = visits.get(); "local state kept across awaits");
    format!(
        "{} visits under {}\n",
        visits.get(),
        correlated::current().expect("set by the middleware")
    )
}

/// A body made chunk by chunk after the handler returned, in its context.
async fn stream() -> HttpResponse {
    let chunks = futures::stream::iter(1..=3).then(|n| async move {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        let id = correlated::current().expect("the body streams in the request's context");
        log::info!(chunk = n; "sending a chunk");
        Ok::<_, actix_web::Error>(web::Bytes::from(format!("chunk {n} of {id}\n")))
    });
    HttpResponse::Ok()
        .content_type("text/plain")
        .streaming(chunks)
}

/// A handler's `Err`: actix-web answers 503, and the ID is echoed.
async fn fail() -> Result<HttpResponse, actix_web::Error> {
    log::warn!("the downstream is unavailable");
    Err(error::ErrorServiceUnavailable("try again later"))
}

/// `web::Json` rejects a body that is not a JSON list of strings before the
/// handler runs: 400, ID echoed.
async fn echo(words: web::Json<Vec<String>>) -> HttpResponse {
    HttpResponse::Ok().json(words.into_inner())
}

/// `Logger`'s `%{correlation_id}xi`: the ID the middleware chose, from the
/// request's extensions (never the raw header).
fn correlation_id(request: &ServiceRequest) -> String {
    match request.extensions().get::<CorrelationId>() {
        Some(id) => id.to_string(),
        None => "-".to_owned(),
    }
}

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

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(error) = correlated::log::init(Stderr, LevelFilter::Info) {
        eprintln!("actix_server: {error}");
        return ExitCode::FAILURE;
    }
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("actix_server: {message}");
            return ExitCode::FAILURE;
        }
    };
    // A typo in the trust list stops the server here, with the entry named.
    let correlation = match Correlation::builder().trust_many(&options.trusted) {
        Ok(builder) => builder.build(),
        Err(error) => {
            eprintln!("actix_server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let server = HttpServer::new(move || {
        App::new()
            // Inside `Correlation` (wrapped before it): Logger runs in the
            // request's context and sees the chosen ID.
            .wrap(
                Logger::new("%r %s %b bytes in %D ms, id %{correlation_id}xi")
                    .custom_request_replace("correlation_id", correlation_id),
            )
            .wrap(correlation.clone())
            .route("/hello", web::get().to(hello))
            .route("/local", web::get().to(local))
            .route("/stream", web::get().to(stream))
            .route("/fail", web::get().to(fail))
            .route("/echo", web::post().to(echo))
    })
    .workers(2);
    let server = match server.bind(options.addr) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("actix_server: cannot listen on {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "listening on {}, trusting {:?}",
        options.addr,
        options.trusted
    );
    match server.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("actix_server: {error}");
            ExitCode::FAILURE
        }
    }
}
