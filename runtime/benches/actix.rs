//! actix-web in-process (`actix_web::test`): one app around a trivial
//! handler, bare, behind correlated's `Correlation`, and behind
//! actix-request-identifier's `RequestIdentifier`, in one run (issue #14,
//! docs/performance.md).
//!
//! ```sh
//! cargo bench -p correlated --features actix-web --bench actix
//! ```
//!
//! Each iteration builds a request (header `x-request-id`, both middleware
//! are configured to use it, and the loopback peer address), calls the app,
//! polls the response body to its end and drops the response, as a server
//! would. Every app gets the same request, so only the middleware differ.
//!
//! - `actix_new_id`: no incoming ID; each middleware makes one (correlated:
//!   UUIDv7; actix-request-identifier: a v4 UUID formatted to a header
//!   value).
//! - `actix_incoming_id`: a trusted peer sends an ID; correlated checks the
//!   trust and the floor, keeps it, passes it to the handler's context and
//!   echoes it; actix-request-identifier (`IdReuse::UseIncoming`) keeps it
//!   unchecked and echoes it.

use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use actix_request_identifier::{IdReuse, RequestIdentifier};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::{App, HttpResponse, test, web};
use correlated::CorrelationId;
use correlated::actix::Correlation;
use criterion::{Criterion, criterion_group, criterion_main};

/// The header both middleware read and echo.
const HEADER: &str = "x-request-id";

/// Polls `future` to completion; everything here is ready at once (no I/O).
fn drive<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// The trivial handler: an empty `200`.
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// A request from the loopback peer, with `incoming` as its ID if given.
fn request(incoming: Option<&HeaderValue>) -> actix_http::Request {
    let mut request =
        test::TestRequest::get().peer_addr(SocketAddr::from(([127, 0, 0, 1], 40_000)));
    if let Some(value) = incoming {
        request = request.insert_header((HEADER, value.clone()));
    }
    request.to_request()
}

/// One request through `app`, as a server would: call, body to its end, drop.
fn serve<S, B>(app: &S, request: actix_http::Request)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = drive(app.call(request)).unwrap();
    let mut body = pin!(response.into_body());
    while let Some(chunk) = drive(std::future::poll_fn(|cx| body.as_mut().poll_next(cx))) {
        black_box(chunk.is_ok());
    }
}

/// Both middleware echo the incoming ID, or a new one: checked once before
/// timing, so the rows compare the same work.
fn check_echo<S, B>(app: &S, incoming: Option<&HeaderValue>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let response = drive(app.call(request(incoming))).unwrap();
    let echoed = response.headers().get(HEADER).expect("the ID is echoed");
    if let Some(incoming) = incoming {
        assert_eq!(echoed, incoming);
    }
}

fn group(c: &mut Criterion, name: &str, incoming: Option<HeaderValue>) {
    let incoming = incoming.as_ref();
    let mut group = c.benchmark_group(name);

    let bare = drive(test::init_service(
        App::new().route("/", web::get().to(handler)),
    ));
    group.bench_function("no_middleware", |b| {
        b.iter(|| serve(&bare, request(incoming)))
    });

    let correlation = Correlation::builder()
        .header(actix_web::http::header::HeaderName::from_static(HEADER))
        .trust("127.0.0.1")
        .unwrap()
        .build();
    let correlated = drive(test::init_service(
        App::new()
            .wrap(correlation)
            .route("/", web::get().to(handler)),
    ));
    check_echo(&correlated, incoming);
    group.bench_function("correlated", |b| {
        b.iter(|| serve(&correlated, request(incoming)))
    });

    let identifier = RequestIdentifier::with_header(HEADER).use_incoming_id(IdReuse::UseIncoming);
    let identified = drive(test::init_service(
        App::new()
            .wrap(identifier)
            .route("/", web::get().to(handler)),
    ));
    check_echo(&identified, incoming);
    group.bench_function("actix_request_identifier", |b| {
        b.iter(|| serve(&identified, request(incoming)))
    });
    group.finish();
}

fn actix_new_id(c: &mut Criterion) {
    group(c, "actix_new_id", None);
}

fn actix_incoming_id(c: &mut Criterion) {
    let id = CorrelationId::generate();
    let value = HeaderValue::from_str(id.as_str()).expect("an ID is a valid header value");
    group(c, "actix_incoming_id", Some(value));
}

criterion_group!(benches, actix_new_id, actix_incoming_id);
criterion_main!(benches);
