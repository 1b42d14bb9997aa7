//! The middleware's builder: the shared [`CorrelationBuilder`] and its
//! `build`; and the middleware's constructors that go through it.

use actix_web::http::header::HeaderName;

use super::middleware::Correlation;
use crate::inbound::{CorrelationBuilder, Integration, IntoHeaderName, sealed};

impl Integration for Correlation {
    // The peer is always the socket's: nothing to configure beside the
    // shared settings.
    type Parts = ();
}

impl sealed::Sealed for Correlation {}

// The constructors are here rather than in `middleware`, beside the builder
// they go through, so that `middleware` never names the builder.
impl Correlation {
    /// The middleware with every default: header `x-correlation-id`, trust
    /// no one (so every request gets a new ID), echo on.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{App, HttpResponse, test, web};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(correlated::actix::Correlation::new())
    ///         .route("/", web::get().to(HttpResponse::Ok)),
    /// )
    /// .await;
    /// let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    /// assert!(response.headers().contains_key("x-correlation-id"));
    /// # });
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a middleware; see [`CorrelationBuilder`] for the settings,
    /// the same as the tower layer's.
    ///
    /// # Examples
    ///
    /// ```
    /// let correlation = correlated::actix::Correlation::builder()
    ///     .trust("127.0.0.1")
    ///     .unwrap()
    ///     .uuid_only()
    ///     .build();
    /// # drop(correlation);
    /// ```
    pub fn builder() -> CorrelationBuilder<Correlation> {
        CorrelationBuilder::with_parts(())
    }
}

impl Default for Correlation {
    fn default() -> Self {
        Self::new()
    }
}

impl CorrelationBuilder<Correlation> {
    /// The middleware, ready for `App::wrap` (or a scope's or resource's
    /// `wrap`). It is `Clone` and `Send`: build it once, outside
    /// `HttpServer::new`, and clone it into each worker's app.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{App, HttpResponse, HttpServer, web};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let correlation = correlated::actix::Correlation::builder()
    ///     .trust("10.0.0.0/8")
    ///     .unwrap()
    ///     .build();
    /// let server = HttpServer::new(move || {
    ///     App::new()
    ///         .wrap(correlation.clone())
    ///         .route("/", web::get().to(HttpResponse::Ok))
    /// });
    /// # drop(server);
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self) -> Correlation {
        Correlation::from_config(self.config)
    }
}

/// actix-web's header names are `http` 0.2's; they convert to the `http` 1
/// names the settings keep without loss (both are lowercase tokens).
///
/// # Examples
///
/// ```
/// use actix_web::http::header::HeaderName;
///
/// let correlation = correlated::actix::Correlation::builder()
///     .header(HeaderName::from_static("x-request-id"))
///     .build();
/// # drop(correlation);
/// ```
impl IntoHeaderName for HeaderName {
    fn into_header_name(self) -> ::http::HeaderName {
        ::http::HeaderName::from_bytes(self.as_str().as_bytes())
            .expect("both `http` versions accept the same lowercase header names")
    }
}

impl sealed::Sealed for HeaderName {}
