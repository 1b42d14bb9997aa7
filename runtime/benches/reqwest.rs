//! The reqwest integration's cost per request (issue #14): one GET to a
//! local axum server on loopback, through plain reqwest, through a
//! reqwest-middleware client with no middleware, and through one with
//! `PropagateCorrelation`, in one run.
//!
//! ```sh
//! cargo bench -p correlated --features reqwest-middleware --bench reqwest
//! ```
//!
//! Each iteration sends the request, awaits the response and reads its
//! (empty) body, so the connection goes back to the pool and every request
//! reuses it. The server answers `200` with nothing else: what differs
//! between rows is the client side only. Every row runs with the same current
//! ID, so the propagating rows do their real work (look for the header, add
//! it) and the others ignore it.
//!
//! - `reqwest`: plain reqwest, the floor;
//! - `reqwest_with_correlation_id`: plain reqwest with
//!   `RequestBuilderExt::with_correlation_id` on each request;
//! - `reqwest_middleware_bare`: a `reqwest_middleware` client with no
//!   middleware (its own cost: boxing, the middleware chain);
//! - `reqwest_middleware_propagate`: the same client with
//!   `PropagateCorrelation`; its overhead is the difference from the row
//!   above.
//!
//! `reqwest_in_process` measures the same client-side work without sockets,
//! where a header's cost is not lost in a round trip's noise.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use correlated::CorrelationId;
use correlated::reqwest::{PropagateCorrelation, RequestBuilderExt as _};
use criterion::{Criterion, criterion_group, criterion_main};
use reqwest_middleware::ClientWithMiddleware;
use tokio::runtime::Runtime;

/// A runtime whose worker runs the server; the benchmark's requests run on
/// the calling thread, in `block_on`.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// An axum server on `127.0.0.1:0`: `/` answers `200` with an empty body,
/// `/seen` with the `x-correlation-id` it received (for the check that the
/// propagating rows do propagate).
fn serve(runtime: &Runtime) -> SocketAddr {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let router = Router::new().route("/", get(|| async {})).route(
            "/seen",
            get(|headers: HeaderMap| async move {
                let seen = headers.get("x-correlation-id");
                seen.and_then(|value| value.to_str().ok())
                    .unwrap_or("-")
                    .to_owned()
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    })
}

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain-HTTP client")
}

fn with_middleware(propagate: bool) -> ClientWithMiddleware {
    let builder = reqwest_middleware::ClientBuilder::new(plain());
    if propagate {
        builder.with(PropagateCorrelation::new()).build()
    } else {
        builder.build()
    }
}

async fn finish(response: reqwest::Response) {
    assert!(response.status().is_success());
    response.bytes().await.expect("the body");
}

/// The propagating rows would measure nothing if the ID did not get through.
fn check_propagation(runtime: &Runtime, url: &str, id: &CorrelationId) {
    let seen = format!("{url}seen");
    runtime.block_on(async {
        let plain = plain().get(&seen).with_correlation_id().send();
        let text = plain.await.expect("an answer").text().await;
        assert_eq!(text.expect("a body"), id.as_str());
        let middleware = with_middleware(true).get(&seen).send();
        let text = middleware.await.expect("an answer").text().await;
        assert_eq!(text.expect("a body"), id.as_str());
    });
}

fn reqwest_client(c: &mut Criterion) {
    let runtime = runtime();
    let url = format!("http://{}/", serve(&runtime));
    // Every row runs with a current ID; `block_on` polls on this thread.
    let id = CorrelationId::generate();
    let _guard = correlated::scope(id.clone());
    check_propagation(&runtime, &url, &id);
    let mut group = c.benchmark_group("reqwest_client");

    let client = plain();
    group.bench_function("reqwest", |b| {
        b.iter(|| {
            runtime.block_on(async {
                finish(client.get(&url).send().await.expect("an answer")).await;
            });
        });
    });
    group.bench_function("reqwest_with_correlation_id", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = client.get(&url).with_correlation_id();
                finish(request.send().await.expect("an answer")).await;
            });
        });
    });

    for (name, propagate) in [
        ("reqwest_middleware_bare", false),
        ("reqwest_middleware_propagate", true),
    ] {
        let client = with_middleware(propagate);
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    finish(client.get(&url).send().await.expect("an answer")).await;
                });
            });
        });
    }
    group.finish();
}

/// The end of an in-process chain: answers `200` with an empty body at once,
/// where reqwest would send the request. Written out as `#[async_trait]`
/// would write it, so no macro crate is needed for the bench.
struct Answer;

impl reqwest_middleware::Middleware for Answer {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        request: reqwest::Request,
        _: &'life1 mut http::Extensions,
        _: reqwest_middleware::Next<'life2>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = reqwest_middleware::Result<reqwest::Response>>
                + Send
                + 'async_trait,
        >,
    >
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        std::hint::black_box(request);
        Box::pin(async { Ok(reqwest::Response::from(http::Response::new(""))) })
    }
}

/// The client side alone, without sockets: the loopback rows above carry a
/// round trip's noise (tens of microseconds from run to run), far more than
/// a header costs. `build_*` build the request with and without
/// `with_correlation_id`; `middleware_*` send through a chain that ends in
/// `Answer`, with and without `PropagateCorrelation` in front of it.
fn reqwest_in_process(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let _guard = correlated::scope(id.clone());
    let url = "http://127.0.0.1:9/";
    let mut group = c.benchmark_group("reqwest_in_process");

    let client = plain();
    group.bench_function("build", |b| {
        b.iter(|| client.get(url).build().expect("a request"))
    });
    group.bench_function("build_with_correlation_id", |b| {
        b.iter(|| {
            client
                .get(url)
                .with_correlation_id()
                .build()
                .expect("a request")
        })
    });

    for (name, propagate) in [("middleware_bare", false), ("middleware_propagate", true)] {
        let builder = reqwest_middleware::ClientBuilder::new(plain());
        let client = if propagate {
            builder
                .with(PropagateCorrelation::new())
                .with(Answer)
                .build()
        } else {
            builder.with(Answer).build()
        };
        group.bench_function(name, |b| {
            b.iter(|| futures::executor::block_on(client.get(url).send()).expect("an answer"))
        });
    }
    group.finish();
}

criterion_group!(benches, reqwest_client, reqwest_in_process);
criterion_main!(benches);
