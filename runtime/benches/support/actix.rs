//! The in-process actix-web apps of `actix.rs` and of the actix instruction
//! counts (`instructions.rs`): the same trivial handler and the same request,
//! so only the middleware differ.

use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;

use actix_request_identifier::{IdReuse, RequestIdentifier};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::{App, HttpResponse, test, web};
use correlated::actix::Correlation;

use super::drive;

/// The header both middleware read and echo.
pub(crate) const HEADER: &str = "x-request-id";

/// What every app is: actix's test service over a request.
pub(crate) trait ActixApp:
    Service<actix_http::Request, Response = ServiceResponse<Self::Body>, Error = actix_web::Error>
{
    type Body: MessageBody;
}

impl<S, B: MessageBody> ActixApp for S
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Body = B;
}

/// The trivial handler: an empty `200`.
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// The handler alone.
pub(crate) fn bare() -> impl ActixApp {
    drive(test::init_service(
        App::new().route("/", web::get().to(handler)),
    ))
}

/// correlated's middleware, reading `HEADER` and trusting the loopback peer
/// that `request` claims.
pub(crate) fn correlated() -> impl ActixApp {
    let correlation = Correlation::builder()
        .header(actix_web::http::header::HeaderName::from_static(HEADER))
        .trust("127.0.0.1")
        .unwrap()
        .build();
    drive(test::init_service(
        App::new()
            .wrap(correlation)
            .route("/", web::get().to(handler)),
    ))
}

/// actix-request-identifier, reusing an incoming `HEADER` and echoing it.
pub(crate) fn identifier() -> impl ActixApp {
    let identifier = RequestIdentifier::with_header(HEADER).use_incoming_id(IdReuse::UseIncoming);
    drive(test::init_service(
        App::new()
            .wrap(identifier)
            .route("/", web::get().to(handler)),
    ))
}

/// A request from the loopback peer, with `incoming` as its ID if given.
pub(crate) fn request(incoming: Option<&HeaderValue>) -> actix_http::Request {
    let mut request =
        test::TestRequest::get().peer_addr(SocketAddr::from(([127, 0, 0, 1], 40_000)));
    if let Some(value) = incoming {
        request = request.insert_header((HEADER, value.clone()));
    }
    request.to_request()
}

/// One request through `app`, as a server would: call, body to its end, drop.
pub(crate) fn serve(app: &impl ActixApp, request: actix_http::Request) {
    let response = drive(app.call(request)).unwrap();
    let mut body = pin!(response.into_body());
    while let Some(chunk) = drive(std::future::poll_fn(|cx| body.as_mut().poll_next(cx))) {
        black_box(chunk.is_ok());
    }
}

/// Checks that `app` echoes the incoming ID, or a new one, so that the rows
/// compare the same work.
pub(crate) fn check_echo(app: &impl ActixApp, incoming: Option<&HeaderValue>) {
    let response = drive(app.call(request(incoming))).unwrap();
    let echoed = response.headers().get(HEADER).expect("the ID is echoed");
    if let Some(incoming) = incoming {
        assert_eq!(echoed, incoming);
    }
}
