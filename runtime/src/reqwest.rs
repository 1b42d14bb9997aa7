//! reqwest (features `reqwest` and `reqwest-middleware`): the current
//! correlation ID on outgoing requests.
//!
//! - **Clients built with reqwest-middleware** (feature
//!   `reqwest-middleware`): add [`PropagateCorrelation`] to the
//!   `ClientBuilder`, and every request sent from inside a correlated context
//!   carries the ID.
//! - **Plain reqwest** (feature `reqwest`): call
//!   [`.with_correlation_id()`](RequestBuilderExt::with_correlation_id) on a
//!   request, as its last step before `.send()`.
//!
//! Both follow the rule of [`http::inject_named`](crate::http::inject_named),
//! which they call: the header (`x-correlation-id` unless named) is added
//! when there is a current ID and the request does not carry that header
//! already; a header the caller set is never overwritten, and outside a
//! context nothing is added. Only the ID travels, as with the tower client
//! layer.
//!
//! # Examples
//!
//! ```
//! use correlated::reqwest::RequestBuilderExt as _;
//!
//! let client = reqwest::Client::new();
//! let _guard = correlated::scope("req-42".parse().unwrap());
//! let request = client
//!     .get("http://127.0.0.1:9/orders")
//!     .with_correlation_id()
//!     .build()
//!     .unwrap();
//! assert_eq!(request.headers()["x-correlation-id"], "req-42");
//! ```
// Without `reqwest-middleware` the middleware is not in this build; the
// docs still name it, and link to docs.rs.
#![cfg_attr(
    not(feature = "reqwest-middleware"),
    doc = "[`PropagateCorrelation`]: https://docs.rs/correlated/latest/correlated/reqwest/struct.PropagateCorrelation.html"
)]

use ::http::HeaderName;
use ::reqwest::RequestBuilder;

use crate::http::{X_CORRELATION_ID, inject_named};

/// Adds the current correlation ID to a plain [`reqwest::RequestBuilder`].
///
/// reqwest's builder cannot be read, so the extension takes the request out
/// of it to look at its headers and puts it back; that is why:
///
/// - call it **last**, just before `.send()`: a `.header(..)` added after it
///   is appended, and would make a second value next to the ID;
/// - a request whose body is a **stream** is left as it is: reqwest cannot
///   copy such a builder, nor tell it from one holding an error, which
///   taking it apart would lose; for those, use [`PropagateCorrelation`] (feature
///   `reqwest-middleware`, it sees the finished request) or add the header
///   yourself: `build_split`, then
///   [`http::inject`](crate::http::inject) on the request's headers;
/// - a builder that already holds an error keeps it, unchanged.
///
/// # Examples
///
/// ```
/// use correlated::reqwest::RequestBuilderExt as _;
///
/// let client = reqwest::Client::new();
/// let url = "http://127.0.0.1:9/orders";
///
/// // Outside any context: nothing to send.
/// let request = client.get(url).with_correlation_id().build().unwrap();
/// assert!(request.headers().get("x-correlation-id").is_none());
///
/// // Inside one: the current ID, unless the caller set the header.
/// let _guard = correlated::scope("req-7".parse().unwrap());
/// let request = client
///     .get(url)
///     .header("x-correlation-id", "set-by-caller")
///     .with_correlation_id()
///     .build()
///     .unwrap();
/// assert_eq!(request.headers()["x-correlation-id"], "set-by-caller");
/// ```
#[cfg_attr(
    not(feature = "reqwest-middleware"),
    doc = "[`PropagateCorrelation`]: https://docs.rs/correlated/latest/correlated/reqwest/struct.PropagateCorrelation.html"
)]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub trait RequestBuilderExt: sealed::Sealed + Sized {
    /// Adds the current ID as `x-correlation-id`, unless the request has
    /// that header already or there is no current ID.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::reqwest::RequestBuilderExt as _;
    ///
    /// let _guard = correlated::scope("req-1".parse().unwrap());
    /// let request = reqwest::Client::new()
    ///     .post("http://127.0.0.1:9/orders")
    ///     .body("{}")
    ///     .with_correlation_id()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(request.headers()["x-correlation-id"], "req-1");
    /// ```
    fn with_correlation_id(self) -> Self {
        self.with_correlation_id_named(&X_CORRELATION_ID)
    }

    /// Adds the current ID under `name`, unless the request has that header
    /// already or there is no current ID.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::reqwest::RequestBuilderExt as _;
    /// use http::HeaderName;
    ///
    /// const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    ///
    /// let _guard = correlated::scope("req-2".parse().unwrap());
    /// let request = reqwest::Client::new()
    ///     .get("http://127.0.0.1:9/orders")
    ///     .with_correlation_id_named(&X_REQUEST_ID)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(request.headers()[&X_REQUEST_ID], "req-2");
    /// assert!(request.headers().get("x-correlation-id").is_none());
    /// ```
    fn with_correlation_id_named(self, name: &HeaderName) -> Self;
}

impl RequestBuilderExt for RequestBuilder {
    fn with_correlation_id_named(self, name: &HeaderName) -> Self {
        if crate::current().is_none() {
            // Nothing to add: skip the copy below.
            return self;
        }
        // `try_clone` gives a copy only of a builder that holds a request
        // with a copyable body, and the copy comes apart without loss. The
        // original is taken apart only through it: `build_split` on a
        // builder holding an error would consume that error, and reqwest
        // cannot make a builder hold it again.
        match self.try_clone().map(RequestBuilder::build_split) {
            Some((client, Ok(mut request))) => {
                inject_named(request.headers_mut(), name);
                RequestBuilder::from_parts(client, request)
            }
            _ => self,
        }
    }
}

mod sealed {
    /// Only reqwest's builder has the extension, so that it can grow methods
    /// without breaking anyone.
    pub trait Sealed {}

    impl Sealed for reqwest::RequestBuilder {}
}

#[cfg(feature = "reqwest-middleware")]
mod middleware;

#[cfg(feature = "reqwest-middleware")]
pub use middleware::PropagateCorrelation;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CorrelationId;

    const URL: &str = "http://127.0.0.1:9/";

    fn scope(id: &str) -> crate::ScopeGuard {
        crate::scope(CorrelationId::parse(id).unwrap())
    }

    #[test]
    fn a_builder_error_is_kept() {
        let client = ::reqwest::Client::new();
        let _guard = scope("ours");
        let error = client
            .get(URL)
            .header("bad header name", "v")
            .with_correlation_id()
            .build()
            .unwrap_err();
        assert!(error.is_builder());
        // Still the caller's error (an invalid header name), not one made up.
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains("header name"), "{source}");
    }

    #[test]
    fn a_streamed_body_is_left_as_it_is() {
        let streamed = || ::reqwest::Body::wrap(http_body_util::Empty::<bytes::Bytes>::new());
        let client = ::reqwest::Client::new();
        let _guard = scope("ours");

        let request = client.post(URL).body(streamed()).with_correlation_id();
        let request = request.build().unwrap();
        assert!(request.headers().get(X_CORRELATION_ID).is_none());

        let request = client
            .post(URL)
            .header(X_CORRELATION_ID, "set-by-caller")
            .body(streamed())
            .with_correlation_id();
        let request = request.build().unwrap();
        let values: Vec<_> = request.headers().get_all(X_CORRELATION_ID).iter().collect();
        assert_eq!(values, ["set-by-caller"]);
    }

    #[test]
    fn the_request_keeps_everything_else() {
        let _guard = scope("ours");
        let request = ::reqwest::Client::new()
            .put(URL)
            .header("x-other", "1")
            .timeout(std::time::Duration::from_secs(3))
            .body("payload")
            .with_correlation_id()
            .build()
            .unwrap();
        assert_eq!(request.method(), ::http::Method::PUT);
        assert_eq!(request.headers()["x-other"], "1");
        assert_eq!(request.headers()[X_CORRELATION_ID], "ours");
        assert_eq!(request.timeout(), Some(&std::time::Duration::from_secs(3)));
        assert_eq!(request.body().unwrap().as_bytes(), Some(&b"payload"[..]));
    }
}
