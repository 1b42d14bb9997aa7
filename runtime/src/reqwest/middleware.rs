//! The reqwest-middleware middleware: the current ID on every request a
//! client sends.

use std::future::Future;
use std::pin::Pin;

use ::http::{Extensions, HeaderName};
use ::reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};

use crate::http::{X_CORRELATION_ID, inject_named};

/// A [`reqwest_middleware::Middleware`] that adds the current correlation ID
/// to every request the client sends (`x-correlation-id` unless configured),
/// unless the request carries that header already; outside any context it
/// adds nothing.
///
/// The ID is read when the request is sent, in the task that awaits
/// `.send()`: send from inside the correlated context (a `#[correlated]`
/// handler, a future made with `.in_current_context()`, a task started with
/// `correlated::spawn`).
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
///
/// use correlated::reqwest::PropagateCorrelation;
/// use reqwest_middleware::{ClientBuilder, Next, Result};
///
/// // Stands in for the server: answers with the ID it was sent.
/// fn server<'a>(
///     request: reqwest::Request,
///     _: &'a mut http::Extensions,
///     _: Next<'a>,
/// ) -> Pin<Box<dyn Future<Output = Result<reqwest::Response>> + Send + 'a>> {
///     let mut answer = http::Response::new("");
///     if let Some(sent) = request.headers().get("x-correlation-id") {
///         answer.headers_mut().insert("seen", sent.clone());
///     }
///     Box::pin(async move { Ok(answer.into()) })
/// }
///
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(PropagateCorrelation::new())
///     .with(server)
///     .build();
/// let url = "http://inventory.internal/stock";
///
/// futures::executor::block_on(async {
///     // Outside any context: nothing is sent.
///     let response = client.get(url).send().await.unwrap();
///     assert!(response.headers().get("seen").is_none());
///
///     // Inside one: the current ID, unless the caller chose a value.
///     let _guard = correlated::scope("req-42".parse().unwrap());
///     let response = client.get(url).send().await.unwrap();
///     assert_eq!(response.headers()["seen"], "req-42");
///     let response = client
///         .get(url)
///         .header("x-correlation-id", "chosen-by-caller")
///         .send()
///         .await
///         .unwrap();
///     assert_eq!(response.headers()["seen"], "chosen-by-caller");
/// });
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub struct PropagateCorrelation {
    header: HeaderName,
}

impl PropagateCorrelation {
    /// Propagates in the `x-correlation-id` header.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(correlated::reqwest::PropagateCorrelation::new())
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn new() -> Self {
        Self::with_header(X_CORRELATION_ID)
    }

    /// Propagates in the `header` header.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let propagate = correlated::reqwest::PropagateCorrelation::with_header(
    ///     HeaderName::from_static("x-request-id"),
    /// );
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(propagate)
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn with_header(header: HeaderName) -> Self {
        Self { header }
    }
}

impl Default for PropagateCorrelation {
    fn default() -> Self {
        Self::new()
    }
}

// `Middleware` is declared through `#[async_trait]`; this is the signature
// that macro gives `handle`, written out so that the header goes on as soon
// as `handle` is called and the rest of the chain's future is returned as it
// is, with no second box around it.
impl Middleware for PropagateCorrelation {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        mut request: Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Pin<Box<dyn Future<Output = Result<Response>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        inject_named(request.headers_mut(), &self.header);
        next.run(request, extensions)
    }
}
