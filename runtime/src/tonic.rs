//! tonic (feature `tonic`): gRPC services and clients.
//!
//! - **Servers**: [`CorrelationLayer`](crate::tower::CorrelationLayer) works
//!   on `tonic::transport::Server::layer` as it is. With this feature it
//!   finds the peer address in tonic's `TcpConnectInfo`, so `.trust(..)`
//!   applies to gRPC clients with nothing else to write; the ID is echoed
//!   in the response's initial metadata, also when the RPC fails with a
//!   `Status`; and streamed responses are produced in the request's context
//!   (the layer's [`ResponseBody`](crate::tower::ResponseBody)).
//! - **TLS**: tonic's own TLS (`Server::tls_config`) reports `TcpConnectInfo`
//!   too, so it needs nothing more. A server that accepts TLS with its own
//!   rustls acceptor gets only `TlsConnectInfo<TcpConnectInfo>`, which the
//!   layer reads with the feature `tonic-tls`.
//! - **Clients**: [`PropagateCorrelation`] is an interceptor for generated
//!   clients (`FooClient::with_interceptor(channel, ..)`) that puts the
//!   current ID into the request's metadata;
//!   [`PropagateCorrelationLayer`](crate::tower::PropagateCorrelationLayer)
//!   does the same around a `Channel`.
//!
//! `examples/grpc_server.rs` is a service with unary, server-streaming and
//! bidirectional RPCs behind the layer, logging JSON lines with the ID.
//!
//! # Examples
//!
//! ```
//! use correlated::tonic::PropagateCorrelation;
//! use tonic::service::Interceptor;
//!
//! let mut interceptor = PropagateCorrelation::new();
//! let _guard = correlated::scope("rpc-1".parse().unwrap());
//! let request = interceptor.call(tonic::Request::new(())).unwrap();
//! assert_eq!(request.metadata().get("x-correlation-id").unwrap(), "rpc-1");
//! ```

use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::baggage;
use crate::carrier::inject_unless_set;

/// An interceptor that adds the current correlation ID to every outgoing
/// request's metadata (`x-correlation-id` by default), unless the caller
/// set that key already; outside any context it adds nothing.
///
/// # Examples
///
/// With a generated client: `GreeterClient::with_interceptor(channel,
/// PropagateCorrelation::new())`. What the caller set wins:
///
/// ```
/// use correlated::tonic::PropagateCorrelation;
/// use tonic::metadata::AsciiMetadataKey;
/// use tonic::service::Interceptor;
///
/// let mut interceptor = PropagateCorrelation::with_key(AsciiMetadataKey::from_static("x-request-id"));
/// let _guard = correlated::scope("rpc-2".parse().unwrap());
///
/// let mut request = tonic::Request::new(());
/// request.metadata_mut().insert("x-request-id", "set-by-caller".parse().unwrap());
/// let request = interceptor.call(request).unwrap();
/// assert_eq!(request.metadata().get("x-request-id").unwrap(), "set-by-caller");
/// ```
#[derive(Clone, Debug)]
pub struct PropagateCorrelation {
    key: AsciiMetadataKey,
    baggage: bool,
}

impl PropagateCorrelation {
    /// Propagates under `x-correlation-id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tonic::service::Interceptor;
    ///
    /// let mut interceptor = correlated::tonic::PropagateCorrelation::new();
    /// // Outside any context there is no ID to send.
    /// let request = interceptor.call(tonic::Request::new(())).unwrap();
    /// assert!(request.metadata().get("x-correlation-id").is_none());
    /// ```
    pub fn new() -> Self {
        Self::with_key(AsciiMetadataKey::from_static("x-correlation-id"))
    }

    /// Propagates under `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tonic::PropagateCorrelation;
    /// use tonic::metadata::AsciiMetadataKey;
    ///
    /// let interceptor = PropagateCorrelation::with_key(AsciiMetadataKey::from_static("x-request-id"));
    /// # drop(interceptor);
    /// ```
    pub fn with_key(key: AsciiMetadataKey) -> Self {
        Self {
            key,
            baggage: false,
        }
    }

    /// Whether to also add the current ID to the W3C `baggage` metadata, as
    /// its `correlation_id` member (off by default), with the rules of
    /// [`PropagateCorrelationLayer::baggage`](crate::tower::PropagateCorrelationLayer::baggage):
    /// the members already there are kept, a `correlation_id` the caller
    /// set wins, and nothing is added past the specification's limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tonic::PropagateCorrelation;
    /// use tonic::service::Interceptor;
    ///
    /// let mut interceptor = PropagateCorrelation::new().baggage(true);
    /// let _guard = correlated::scope("rpc-3".parse().unwrap());
    ///
    /// let mut request = tonic::Request::new(());
    /// request.metadata_mut().insert("baggage", "tenant=acme".parse().unwrap());
    /// let request = interceptor.call(request).unwrap();
    /// assert_eq!(request.metadata().get("baggage").unwrap(), "tenant=acme,correlation_id=rpc-3");
    /// assert_eq!(request.metadata().get("x-correlation-id").unwrap(), "rpc-3");
    /// ```
    pub fn baggage(mut self, on: bool) -> Self {
        self.baggage = on;
        self
    }
}

impl Default for PropagateCorrelation {
    fn default() -> Self {
        Self::new()
    }
}

impl Interceptor for PropagateCorrelation {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        inject_unless_set(metadata.contains_key(&self.key), |id| {
            // An ID is 1 to 128 bytes of visible ASCII: always valid metadata.
            let value = AsciiMetadataValue::try_from(id.as_str())
                .expect("a correlation ID is valid ASCII metadata");
            metadata.insert(self.key.clone(), value);
        });
        if self.baggage {
            add_to_baggage(metadata);
        }
        Ok(request)
    }
}

/// The W3C Baggage key, as `baggage::BAGGAGE` is for headers.
const BAGGAGE: &str = "baggage";

/// `correlated::baggage::inject` for tonic's metadata, which holds the same
/// lines as a header map but is not one.
fn add_to_baggage(metadata: &mut MetadataMap) {
    let Some(id) = crate::current() else {
        return;
    };
    let lines: Vec<&[u8]> = metadata
        .get_all(BAGGAGE)
        .iter()
        .map(AsciiMetadataValue::as_encoded_bytes)
        .collect();
    let added =
        baggage::merged(&lines, baggage::CORRELATION_ID_KEY, id.as_str()).and_then(|line| {
            // The line holds baggage-octets, spaces and tabs only: valid ASCII
            // metadata; refusing rather than panicking keeps this total.
            AsciiMetadataValue::try_from(line).map_err(|_| baggage::MemberNotAdded::not_ascii())
        });
    match added {
        Ok(value) => {
            metadata.insert(BAGGAGE, value);
        }
        Err(err) => baggage::report::not_added(&err),
    }
}
