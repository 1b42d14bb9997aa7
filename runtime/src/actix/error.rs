//! An error from the services inside the middleware, answered with the ID
//! echoed.

use std::fmt;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

/// An error that a service inside [`Correlation`](super::Correlation)
/// returned (a middleware's `Err`, not a handler's: actix-web turns those
/// into responses itself), carrying the echo of the request's ID.
///
/// actix-web builds the response of such an error after every middleware has
/// returned, from the error alone, so the echo travels with it: the response
/// is the inner error's, with the ID header added. Its status and message are
/// the inner error's too. An outer middleware that looks for a specific
/// error type finds this one instead; [`inner`](Self::inner) is the error as
/// it was returned.
///
/// # Examples
///
/// ```
/// use actix_web::dev::{Service, ServiceResponse};
/// use actix_web::{App, HttpResponse, error, test, web};
/// use correlated::actix::{Correlation, EchoedError};
///
/// # actix_web::rt::System::new().block_on(async {
/// let app = test::init_service(
///     App::new()
///         // A middleware inside ours that refuses every request with an `Err`.
///         .wrap_fn(|_request, _service| async {
///             Err::<ServiceResponse, _>(error::ErrorForbidden("no entry"))
///         })
///         .wrap(Correlation::new())
///         .route("/", web::get().to(HttpResponse::Ok)),
/// )
/// .await;
/// let error = app.call(test::TestRequest::get().to_request()).await.unwrap_err();
///
/// let echoed = error.as_error::<EchoedError>().unwrap();
/// assert_eq!(echoed.inner().to_string(), "no entry");
/// let response = error.error_response();
/// assert_eq!(response.status(), 403);
/// assert!(response.headers().contains_key("x-correlation-id"));
/// # });
/// ```
pub struct EchoedError {
    inner: actix_web::Error,
    name: HeaderName,
    value: HeaderValue,
}

impl EchoedError {
    pub(crate) fn new(inner: actix_web::Error, name: HeaderName, value: HeaderValue) -> Self {
        Self { inner, name, value }
    }

    /// The error as the inner service returned it.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::dev::{Service, ServiceResponse};
    /// use actix_web::{App, HttpResponse, error, test, web};
    /// use correlated::actix::{Correlation, EchoedError};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap_fn(|_request, _service| async {
    ///             Err::<ServiceResponse, _>(error::ErrorForbidden("no entry"))
    ///         })
    ///         .wrap(Correlation::new())
    ///         .route("/", web::get().to(HttpResponse::Ok)),
    /// )
    /// .await;
    /// let error = app.call(test::TestRequest::get().to_request()).await.unwrap_err();
    /// let inner = error.as_error::<EchoedError>().unwrap().inner();
    /// assert_eq!(inner.error_response().status(), 403);
    /// assert!(!inner.error_response().headers().contains_key("x-correlation-id"));
    /// # });
    /// ```
    pub fn inner(&self) -> &actix_web::Error {
        &self.inner
    }
}

impl ResponseError for EchoedError {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = self.inner.error_response();
        response
            .headers_mut()
            .insert(self.name.clone(), self.value.clone());
        response
    }
}

impl fmt::Display for EchoedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for EchoedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoedError")
            .field("inner", &self.inner)
            .field("header", &self.name)
            .finish_non_exhaustive()
    }
}
