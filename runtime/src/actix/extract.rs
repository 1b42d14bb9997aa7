//! `CorrelationId` as an extractor.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::context::current;
use crate::id::CorrelationId;

/// The request's correlation ID, as a handler argument (feature
/// `actix-web`).
///
/// It is the ID that [`Correlation`](super::Correlation) chose for the
/// request, the same that [`correlated::current()`](crate::current) returns
/// in the handler. Without the middleware, it is the ID of the context the
/// request runs in, if any; with neither, extraction fails with a `500`
/// (the app is missing its middleware; a client cannot cause this). Take an
/// `Option<CorrelationId>` to handle that case yourself.
///
/// # Examples
///
/// ```
/// use actix_web::{App, test, web};
/// use correlated::CorrelationId;
/// use correlated::actix::Correlation;
///
/// async fn handler(id: CorrelationId) -> String {
///     format!("hello from {id}")
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let app = test::init_service(
///     App::new().wrap(Correlation::new()).route("/", web::get().to(handler)),
/// )
/// .await;
/// let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
/// let id = response.headers().get("x-correlation-id").unwrap().to_str().unwrap().to_owned();
/// assert_eq!(test::read_body(response).await, format!("hello from {id}"));
///
/// // Without the middleware and outside any context: an internal error.
/// let bare = test::init_service(App::new().route("/", web::get().to(handler))).await;
/// let response = test::call_service(&bare, test::TestRequest::get().to_request()).await;
/// assert_eq!(response.status(), 500);
/// # });
/// ```
impl FromRequest for CorrelationId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = request.extensions().get::<CorrelationId>().cloned();
        ready(id.or_else(current).ok_or_else(|| {
            actix_web::error::ErrorInternalServerError(
                "no correlation ID for this request: wrap the app in correlated::actix::Correlation",
            )
        }))
    }
}
