//! The tower layer's builder: the shared [`CorrelationBuilder`] with what
//! only tower has (where the peer address comes from) and its `build`; and
//! the layer's constructors that go through it.

use std::sync::Arc;

use super::layer::CorrelationLayer;
use super::peer::ExtensionPeer;
use crate::inbound::{CorrelationBuilder, Integration, sealed};

/// Configures a [`CorrelationLayer`]; made by [`CorrelationLayer::builder`].
/// The options are those of every server integration, on
/// [`CorrelationBuilder`]; `P` says where the peer address comes from (see
/// [`peer_addr`](CorrelationBuilder::peer_addr)).
///
/// # Examples
///
/// ```
/// use correlated::tower::{CorrelationLayer, CorrelationLayerBuilder, OnInvalid};
///
/// let builder: CorrelationLayerBuilder = CorrelationLayer::builder().on_invalid(OnInvalid::Reject);
/// let layer = builder.build();
/// # drop(layer);
/// ```
pub type CorrelationLayerBuilder<P = ExtensionPeer> = CorrelationBuilder<CorrelationLayer<P>>;

impl<P> Integration for CorrelationLayer<P> {
    type Parts = P;
}

impl<P> sealed::Sealed for CorrelationLayer<P> {}

// The constructors are here rather than in `layer`, beside the builder they
// go through, so that `layer` never names the builder (see `tower/mod.rs`).
impl CorrelationLayer {
    /// The layer with every default: header `x-correlation-id`, trust no one
    /// (so every request gets a new ID), echo on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # futures::executor::block_on(async {
    /// let service = correlated::tower::CorrelationLayer::new().layer(service_fn(
    ///     |_: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(String::new())) },
    /// ));
    /// let response = service.oneshot(http::Request::new(())).await.unwrap();
    /// assert!(response.headers().contains_key("x-correlation-id"));
    /// # });
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a layer; see [`CorrelationBuilder`] for the settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .trust("127.0.0.1")
    ///     .unwrap()
    ///     .uuid_only()
    ///     .build();
    /// # drop(layer);
    /// ```
    pub fn builder() -> CorrelationLayerBuilder {
        CorrelationBuilder::with_parts(ExtensionPeer)
    }
}

impl Default for CorrelationLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> CorrelationBuilder<CorrelationLayer<P>> {
    /// Finds the peer address with `peer` instead of [`ExtensionPeer`]; see
    /// [`PeerAddr`]. A closure needs its argument type written out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, SocketAddr};
    ///
    /// #[derive(Clone)]
    /// struct Accepted { remote: SocketAddr }
    ///
    /// let layer = correlated::tower::CorrelationLayer::builder()
    ///     .trust("10.0.0.0/8")
    ///     .unwrap()
    ///     .peer_addr(|request: &http::Request<String>| -> Option<IpAddr> {
    ///         Some(request.extensions().get::<Accepted>()?.remote.ip())
    ///     })
    ///     .build();
    /// # drop(layer);
    /// ```
    ///
    /// [`PeerAddr`]: super::PeerAddr
    pub fn peer_addr<Q>(self, peer: Q) -> CorrelationLayerBuilder<Q> {
        CorrelationBuilder {
            config: self.config,
            parts: peer,
        }
    }

    /// The layer, ready to wrap services.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = correlated::tower::CorrelationLayer::builder().build();
    /// # drop(layer);
    /// ```
    pub fn build(self) -> CorrelationLayer<P> {
        CorrelationLayer::from_parts(Arc::new(self.config), self.parts)
    }
}
