//! Where the peer address comes from.

use std::net::{IpAddr, SocketAddr};

use ::http::Request;

/// Finds the address of the peer that sent a request: the address checked
/// against the trusted sources.
///
/// Any `Fn(&http::Request<B>) -> Option<IpAddr>` is one, so a server that
/// records the peer some other way supplies a closure. `None` means "unknown",
/// and an unknown peer is never trusted.
///
/// Behind a load balancer the TCP peer is the balancer; trust it, not the
/// client. `X-Forwarded-For` is never consulted unless your own extractor
/// does so, since any client can send it.
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use correlated::tower::{CorrelationLayer, PeerAddr};
///
/// /// The address a custom acceptor stored in the request.
/// #[derive(Clone)]
/// struct RemoteIp(IpAddr);
///
/// let from_extension = |request: &http::Request<()>| {
///     request.extensions().get::<RemoteIp>().map(|remote| remote.0)
/// };
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(RemoteIp("10.0.0.5".parse().unwrap()));
/// assert_eq!(from_extension.peer_addr(&request), Some("10.0.0.5".parse().unwrap()));
///
/// let layer = CorrelationLayer::builder()
///     .trust("10.0.0.0/8")
///     .unwrap()
///     .peer_addr(from_extension)
///     .build();
/// # drop(layer);
/// ```
pub trait PeerAddr<B> {
    /// The peer's IP address, or `None` if it is unknown.
    fn peer_addr(&self, request: &Request<B>) -> Option<IpAddr>;
}

impl<B, F> PeerAddr<B> for F
where
    F: Fn(&Request<B>) -> Option<IpAddr>,
{
    fn peer_addr(&self, request: &Request<B>) -> Option<IpAddr> {
        self(request)
    }
}

/// The default [`PeerAddr`]: the socket address the server put in the
/// request's extensions.
///
/// It reads, in order:
///
/// - axum's `ConnectInfo<SocketAddr>` (feature `axum`), present when the app
///   is served with `into_make_service_with_connect_info::<SocketAddr>()`,
///   then axum's `MockConnectInfo<SocketAddr>` used in tests, in the same
///   order as axum's `ConnectInfo` extractor;
/// - tonic's `TcpConnectInfo` (feature `tonic`), which
///   `tonic::transport::Server` puts on every request it serves over TCP,
///   also over the TLS it terminates itself (`Server::tls_config`);
/// - tonic's `TlsConnectInfo<TcpConnectInfo>` (feature `tonic-tls`), the
///   only connection info when the server is handed TLS streams accepted
///   elsewhere (`serve_with_incoming` of `tokio_rustls` streams);
/// - a plain `std::net::SocketAddr` extension, for servers that insert one
///   themselves (for example in a hyper `service_fn` per connection).
///
/// Without any of them, the peer is unknown and not trusted.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use correlated::tower::{ExtensionPeer, PeerAddr};
///
/// let mut request = http::Request::new(());
/// assert_eq!(ExtensionPeer.peer_addr(&request), None);
///
/// let addr: SocketAddr = "127.0.0.1:4321".parse().unwrap();
/// request.extensions_mut().insert(addr);
/// assert_eq!(ExtensionPeer.peer_addr(&request), Some(addr.ip()));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtensionPeer;

impl<B> PeerAddr<B> for ExtensionPeer {
    fn peer_addr(&self, request: &Request<B>) -> Option<IpAddr> {
        let extensions = request.extensions();
        #[cfg(feature = "axum")]
        {
            use ::axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
            // The same precedence as axum's own `ConnectInfo` extractor.
            if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
                return Some(addr.ip());
            }
            if let Some(MockConnectInfo(addr)) = extensions.get::<MockConnectInfo<SocketAddr>>() {
                return Some(addr.ip());
            }
        }
        #[cfg(feature = "tonic")]
        if let Some(addr) = extensions
            .get::<::tonic::transport::server::TcpConnectInfo>()
            .and_then(::tonic::transport::server::TcpConnectInfo::remote_addr)
        {
            return Some(addr.ip());
        }
        #[cfg(feature = "tonic-tls")]
        {
            use ::tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
            if let Some(addr) = extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|tls| tls.get_ref().remote_addr())
            {
                return Some(addr.ip());
            }
        }
        extensions.get::<SocketAddr>().map(SocketAddr::ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_extension_means_an_unknown_peer() {
        assert_eq!(ExtensionPeer.peer_addr(&Request::new(())), None);
    }

    #[test]
    fn a_socket_addr_extension_is_read() {
        let mut request = Request::new(());
        let addr: SocketAddr = "[2001:db8::9]:80".parse().unwrap();
        request.extensions_mut().insert(addr);
        assert_eq!(ExtensionPeer.peer_addr(&request), Some(addr.ip()));
    }

    #[cfg(feature = "tonic")]
    #[test]
    fn tonic_tcp_connect_info_is_read() {
        let mut request = Request::new(());
        let remote: SocketAddr = "10.0.0.4:50051".parse().unwrap();
        request
            .extensions_mut()
            .insert(::tonic::transport::server::TcpConnectInfo {
                local_addr: None,
                remote_addr: Some(remote),
            });
        assert_eq!(ExtensionPeer.peer_addr(&request), Some(remote.ip()));
    }

    // `TlsConnectInfo` has no public constructor: a real TLS server makes
    // one in tests/tests/e2e_grpc_tls.rs.

    #[cfg(feature = "axum")]
    #[test]
    fn axum_connect_info_is_read_first() {
        let mut request = Request::new(());
        let connect: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let other: SocketAddr = "192.0.2.1:1".parse().unwrap();
        request
            .extensions_mut()
            .insert(::axum::extract::ConnectInfo(connect));
        request.extensions_mut().insert(other);
        assert_eq!(ExtensionPeer.peer_addr(&request), Some(connect.ip()));
    }

    #[cfg(feature = "axum")]
    #[test]
    fn axum_mock_connect_info_is_read_after_connect_info() {
        use ::axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
        let mut request = Request::new(());
        let mock: SocketAddr = "10.0.0.2:1".parse().unwrap();
        request.extensions_mut().insert(MockConnectInfo(mock));
        assert_eq!(ExtensionPeer.peer_addr(&request), Some(mock.ip()));
        let real: SocketAddr = "10.0.0.3:1".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(real));
        assert_eq!(ExtensionPeer.peer_addr(&request), Some(real.ip()));
    }
}
