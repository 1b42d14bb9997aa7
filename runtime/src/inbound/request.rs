//! What the decision reads from a request, whatever the framework: header
//! values (as bytes, in the order they came) and the peer address.

use std::net::IpAddr;

use ::http::HeaderName;

use crate::http::Found;
use crate::id::CorrelationId;

/// A framework's header value: the decision reads its bytes, and the echo
/// reuses an accepted one as it came or makes one from an ID.
pub(crate) trait HeaderBytes: Clone {
    fn bytes(&self) -> &[u8];

    /// An ID as a header value; it passed the floor, so it is always one.
    fn from_id(id: &CorrelationId) -> Self;
}

/// A request as the decision sees it. Each integration implements it over
/// its own request type; lookups must not allocate (they run per request).
pub(crate) trait RequestView {
    /// The framework's header value type.
    type Value: HeaderBytes;

    /// What the request holds under the correlation header `name`, the
    /// configured header at `index` in [`Config::headers`] (an integration
    /// whose header names are not `http`'s looks its own up by position).
    ///
    /// [`Config::headers`]: super::Config
    fn header(&self, index: usize, name: &HeaderName) -> Option<Found<'_, Self::Value>>;

    /// What the request holds under `traceparent`.
    fn traceparent(&self) -> Option<Found<'_, Self::Value>>;

    /// The bytes of every `baggage` line, in the order they came (several
    /// lines are one list, W3C Baggage). Only asked when reading baggage is
    /// on.
    fn baggage(&self) -> impl Iterator<Item = &[u8]>;

    /// The peer's address, `None` when unknown (and so never trusted). Only
    /// asked when a header would be believed from a trusted peer.
    fn peer(&self) -> Option<IpAddr>;
}

impl HeaderBytes for ::http::HeaderValue {
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }

    fn from_id(id: &CorrelationId) -> Self {
        ::http::HeaderValue::from(id)
    }
}
