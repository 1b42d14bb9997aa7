//! A load test on loopback: the example service's `/hello` handler behind
//! correlated's tower layer and annotated with `#[correlated]`, against the
//! same server with the layer alone (the plain handler behind it) and with
//! neither. Then an ID check: 10,000 requests started at
//! once, each on its own connection, half of them sending an ID; every ID
//! must come back distinct, echoed, and seen by the handler.
//!
//! ```sh
//! cargo run --release -p correlated --example load --features axum -- \
//!     --seconds 10 --connections 64 --max-requests 2000000 --ids 10000 --rounds 2
//! ```
//!
//! Each server runs in a child process (this binary with `--serve`), one at
//! a time, so that it has its own descriptor table for the ID check's
//! connections; the client and the server share the machine's cores. Every
//! phase is bounded in time and in requests.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::get;
use correlated::correlated;
use correlated::tower::CorrelationLayer;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[path = "support/child.rs"]
mod child;

use child::ServerChild;

const HEADER: &str = "x-correlation-id";

/// The example service's `/hello` without its logging and sleep: a few
/// yielding `.await`s, then the ID the handler sees, as the body.
#[correlated]
async fn hello_correlated() -> String {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    correlated::with_current(|id| id.map_or_else(String::new, |id| id.as_str().to_owned()))
}

/// The same handler, unannotated, with a body of the same length.
async fn hello_plain() -> String {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    "00000000-0000-0000-0000-000000000000".to_owned()
}

/// The three servers compared: they differ in one thing each.
#[derive(Clone, Copy, PartialEq)]
enum Server {
    /// No layer, the unannotated handler.
    Plain,
    /// The layer over the unannotated handler: the layer's own share.
    Layer,
    /// The layer over the `#[correlated]` handler, as the example serves it.
    Correlated,
}

impl Server {
    const ALL: [Server; 3] = [Server::Plain, Server::Layer, Server::Correlated];

    fn flag(self) -> &'static str {
        match self {
            Server::Plain => "plain",
            Server::Layer => "layer",
            Server::Correlated => "correlated",
        }
    }

    fn from_flag(flag: &str) -> Option<Server> {
        Server::ALL.into_iter().find(|server| server.flag() == flag)
    }

    fn name(self) -> &'static str {
        match self {
            Server::Plain => "plain",
            Server::Layer => "layer only",
            Server::Correlated => "layer + #[correlated]",
        }
    }
}

fn app(server: Server) -> Router {
    let router = match server {
        Server::Correlated => Router::new().route("/hello", get(hello_correlated)),
        Server::Plain | Server::Layer => Router::new().route("/hello", get(hello_plain)),
    };
    if server == Server::Plain {
        return router;
    }
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .expect("a valid address")
        .build();
    router.layer(layer)
}

/// `--serve plain|layer|correlated`: prints the address, serves until killed.
async fn serve(server: Server) -> std::io::Result<()> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    // A deep backlog: the ID check connects 10,000 clients at once.
    let listener = socket.listen(16_384)?;
    println!("{}", listener.local_addr()?);
    axum::serve(
        listener,
        app(server).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

struct Options {
    seconds: u64,
    connections: usize,
    max_requests: u64,
    ids: usize,
    rounds: usize,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: 10,
        connections: 64,
        max_requests: 2_000_000,
        ids: 10_000,
        rounds: 2,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let bad = |_| format!("{arg}: `{value}` is not a number");
        match arg.as_str() {
            "--seconds" => options.seconds = value.parse().map_err(bad)?,
            "--connections" => options.connections = value.parse().map_err(bad)?,
            "--max-requests" => options.max_requests = value.parse().map_err(bad)?,
            "--ids" => options.ids = value.parse().map_err(bad)?,
            "--rounds" => options.rounds = value.parse().map_err(bad)?,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(options)
}

type HttpClient = Client<HttpConnector, Body>;

async fn get_hello(
    client: &HttpClient,
    addr: SocketAddr,
    id: Option<&str>,
) -> Result<(Option<HeaderValue>, String), String> {
    let mut request = Request::get(format!("http://{addr}/hello"));
    if let Some(id) = id {
        request = request.header(HEADER, id);
    }
    let request = request.body(Body::empty()).map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    let echoed = response.headers().get(HEADER).cloned();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((echoed, String::from_utf8_lossy(&body).into_owned()))
}

struct Load {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// `connections` clients in a loop until `seconds` pass or `max_requests`
/// are sent; no ID is sent, so the correlated server generates one each time.
async fn load(addr: SocketAddr, connections: usize, seconds: u64, max_requests: u64) -> Load {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http();
    let left = Arc::new(AtomicU64::new(max_requests));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, left) = (client.clone(), Arc::clone(&left));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline
                    && left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let sent = Instant::now();
                    get_hello(&client, addr, None)
                        .await
                        .expect("request failed");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task panicked"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Load {
        requests: latencies.len(),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

/// Each server's median over the rounds: one round's p99 on a shared 2-core
/// machine moves by a third from round to round, so only the medians of
/// several rounds are compared.
fn print_medians(rounds: &[(Server, Load)]) {
    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        if values.len().is_multiple_of(2) {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        }
    }
    println!(
        "\n| server (median of {} rounds) | requests/s | p50 µs | p99 µs |\n|---|---|---|---|",
        rounds.len() / Server::ALL.len()
    );
    for server in Server::ALL {
        let of = |measure: fn(&Load) -> f64| {
            median(
                rounds
                    .iter()
                    .filter(|(ran, _)| *ran == server)
                    .map(|(_, load)| measure(load))
                    .collect(),
            )
        };
        println!(
            "| {} | {:.0} | {:.0} | {:.0} |",
            server.name(),
            of(|load| load.requests as f64 / load.elapsed.as_secs_f64()),
            of(|load| load.p50.as_secs_f64() * 1e6),
            of(|load| load.p99.as_secs_f64() * 1e6),
        );
    }
}

/// `ids` requests at once, each on a connection of its own (no pooling);
/// even ones send `load-<n>`. Returns the number of distinct echoed IDs.
async fn check_ids(addr: SocketAddr, ids: usize) -> Result<usize, String> {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let tasks: Vec<_> = (0..ids)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let sent = (n % 2 == 0).then(|| format!("load-{n}"));
                let (echoed, seen) = get_hello(&client, addr, sent.as_deref()).await?;
                let echoed = echoed.ok_or("no ID echoed")?;
                let echoed = echoed.to_str().map_err(|e| e.to_string())?.to_owned();
                if let Some(sent) = sent
                    && echoed != sent
                {
                    return Err(format!("sent {sent}, echoed {echoed}"));
                }
                if seen != echoed {
                    return Err(format!("handler saw {seen}, echoed {echoed}"));
                }
                Ok(echoed)
            })
        })
        .collect();
    let mut distinct = HashSet::new();
    for task in tasks {
        let echoed = task.await.map_err(|e| e.to_string())??;
        if !distinct.insert(echoed.clone()) {
            return Err(format!("{echoed} was echoed twice"));
        }
    }
    Ok(distinct.len())
}

async fn run(options: Options) -> Result<(), String> {
    println!(
        "| server | requests | seconds | requests/s | p50 µs | p99 µs | max µs |\n|---|---|---|---|---|---|---|"
    );
    let mut checked = None;
    let mut rounds: Vec<(Server, Load)> = Vec::new();
    // Rounds rotate which server goes first, so none always gets the warmer
    // or the quieter slot.
    for round in 0..options.rounds {
        let mut order = Server::ALL;
        order.rotate_left(round % Server::ALL.len());
        for server in order {
            let child = ServerChild::spawn(&["--serve", server.flag()])?;
            let addr = child.addr();
            // Warm-up: connections, allocator, caches.
            load(addr, options.connections, 1, options.max_requests).await;
            let result = load(
                addr,
                options.connections,
                options.seconds,
                options.max_requests,
            )
            .await;
            println!(
                "| {} (round {}) | {} | {:.1} | {:.0} | {} | {} | {} |",
                server.name(),
                round + 1,
                result.requests,
                result.elapsed.as_secs_f64(),
                result.requests as f64 / result.elapsed.as_secs_f64(),
                result.p50.as_micros(),
                result.p99.as_micros(),
                result.max.as_micros(),
            );
            if server == Server::Correlated && checked.is_none() {
                let within = Duration::from_secs(120);
                checked = Some(
                    tokio::time::timeout(within, check_ids(addr, options.ids))
                        .await
                        .map_err(|_| "the ID check timed out".to_owned()),
                );
            }
            child.stop()?;
            rounds.push((server, result));
        }
    }
    print_medians(&rounds);
    match checked {
        Some(Ok(Ok(distinct))) => {
            println!(
                "\nID check: {} concurrent requests, {distinct} distinct IDs, all echoed and seen by the handler",
                options.ids
            );
            Ok(())
        }
        Some(Ok(Err(error)) | Err(error)) => Err(format!("ID check failed: {error}")),
        None => Err("the ID check did not run".to_owned()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    if let [flag, mode] = args.as_slice()
        && flag == "--serve"
    {
        let Some(server) = Server::from_flag(mode) else {
            eprintln!("load --serve: `{mode}` is none of plain, layer, correlated");
            return ExitCode::FAILURE;
        };
        return match runtime.block_on(serve(server)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("load --serve: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let result = options(&args).and_then(|options| runtime.block_on(run(options)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::FAILURE
        }
    }
}
