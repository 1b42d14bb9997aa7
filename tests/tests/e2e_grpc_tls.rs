//! gRPC over TLS on loopback: a real tonic server behind
//! `CorrelationLayer` with a self-signed certificate made here by rcgen,
//! and real tonic clients connecting from a trusted (`127.0.0.1`) and an
//! untrusted (`127.0.0.2`) address.
//!
//! Two ways to terminate TLS, two extensions for the peer address:
//!
//! - tonic's own (`Server::tls_config`) puts both `TcpConnectInfo` and
//!   `TlsConnectInfo<TcpConnectInfo>` on each request;
//! - a server that accepts TLS itself (its own rustls acceptor, yielding
//!   `tokio_rustls::server::TlsStream`s to `serve_with_incoming`) gets only
//!   `TlsConnectInfo<TcpConnectInfo>`, which the layer's default peer reads
//!   with the feature `tonic-tls`.
//!
//! Either way `.trust(..)` decides by the client's address.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use correlated::CorrelationId;
use correlated::tonic::PropagateCorrelation;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig};

#[path = "../../runtime/examples/support/echo_service.rs"]
mod echo_service;

use echo_service::proto::EchoRequest;
use echo_service::proto::echo_client::EchoClient;

const TRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const UNTRUSTED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const PATIENCE: Duration = Duration::from_secs(20);

/// The name in the server's certificate, which the clients check.
const SERVER_NAME: &str = "grpc.correlated.test";

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("no answer in time (hang guard)")
}

/// Who terminates TLS.
#[derive(Clone, Copy, Debug)]
enum Termination {
    /// tonic, configured with `Server::tls_config`.
    Tonic,
    /// The service's own rustls acceptor, handing TLS streams to tonic.
    OwnAcceptor,
}

/// The example echo service over TLS on `127.0.0.1:0`, trusting only
/// `127.0.0.1`; stopped when dropped.
struct TlsServer {
    addr: SocketAddr,
    /// The server's certificate (PEM), which clients trust as their root.
    certificate: String,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(termination: Termination) -> TlsServer {
    let issued = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
        .expect("a self-signed certificate");
    let certificate = issued.cert.pem();
    let listener = TcpListener::bind((TRUSTED, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let layer = echo_service::layer(&[TRUSTED.to_string()]).expect("a valid trusted source");
    let server = match termination {
        Termination::Tonic => {
            let identity = Identity::from_pem(&certificate, issued.signing_key.serialize_pem());
            let server = Server::builder()
                .tls_config(ServerTlsConfig::new().identity(identity))
                .expect("a valid TLS configuration")
                .layer(layer)
                .add_service(echo_service::service())
                .serve_with_incoming(TcpIncoming::from(listener));
            tokio::spawn(server)
        }
        Termination::OwnAcceptor => {
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.signing_key.serialize_der()));
            let config = rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(vec![CertificateDer::from(issued.cert.der().to_vec())], key)
                .map(|mut config| {
                    config.alpn_protocols = vec![b"h2".to_vec()];
                    config
                })
                .expect("a valid TLS configuration");
            let server = Server::builder()
                .layer(layer)
                .add_service(echo_service::service())
                .serve_with_incoming(tls_incoming(listener, TlsAcceptor::from(Arc::new(config))));
            tokio::spawn(server)
        }
    };
    TlsServer {
        addr,
        certificate,
        server,
    }
}

/// The connections `listener` accepts, after their TLS handshake.
fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> impl futures::Stream<Item = std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>
{
    futures::stream::unfold((listener, acceptor), |(listener, acceptor)| async move {
        let accepted = match listener.accept().await {
            Ok((tcp, _)) => acceptor.accept(tcp).await,
            Err(error) => Err(error),
        };
        Some((accepted, (listener, acceptor)))
    })
}

impl TlsServer {
    /// A client connecting over TLS from `local`, with the propagation
    /// interceptor.
    async fn client_from(
        &self,
        local: IpAddr,
    ) -> EchoClient<InterceptedService<Channel, PropagateCorrelation>> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.certificate))
            .domain_name(SERVER_NAME);
        let endpoint = Channel::from_shared(format!("https://{}", self.addr))
            .expect("a valid URI")
            .tls_config(tls)
            .expect("a valid TLS configuration")
            .local_address(Some(local));
        let channel = bounded(endpoint.connect()).await.expect("a TLS connection");
        EchoClient::with_interceptor(channel, PropagateCorrelation::new())
    }
}

/// Calls `Echo` with `id` current; returns the ID the reply was made under
/// and the one echoed in the response's metadata.
async fn echo_under(
    client: &mut EchoClient<InterceptedService<Channel, PropagateCorrelation>>,
    id: &str,
) -> (String, String) {
    let _guard = correlated::scope(CorrelationId::parse(id).unwrap());
    let request = EchoRequest {
        text: "over tls".to_owned(),
    };
    let response = bounded(client.echo(request)).await.expect("an echo");
    let echoed = response
        .metadata()
        .get("x-correlation-id")
        .expect("the ID is echoed")
        .to_str()
        .expect("visible ASCII")
        .to_owned();
    let reply = response.into_inner();
    assert_eq!(reply.text, "over tls", "a real answer");
    (reply.correlation_id, echoed)
}

async fn trusted_id_is_kept(termination: Termination) {
    let server = start(termination).await;
    let mut client = server.client_from(TRUSTED).await;
    let (made_under, echoed) = echo_under(&mut client, "tls-trusted-1").await;
    assert_eq!(
        made_under, "tls-trusted-1",
        "the handler ran under the caller's ID"
    );
    assert_eq!(echoed, "tls-trusted-1");
}

async fn untrusted_id_is_replaced(termination: Termination) {
    let server = start(termination).await;
    let mut client = server.client_from(UNTRUSTED).await;
    let (made_under, echoed) = echo_under(&mut client, "tls-untrusted-1").await;
    assert_ne!(
        echoed, "tls-untrusted-1",
        "an untrusted peer's ID is never kept"
    );
    CorrelationId::parse_uuid(&echoed).expect("a generated UUID instead");
    assert_eq!(made_under, echoed, "the handler ran under the generated ID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_tls_a_trusted_clients_id_is_kept() {
    trusted_id_is_kept(Termination::Tonic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_tls_an_untrusted_clients_id_is_replaced() {
    untrusted_id_is_replaced(Termination::Tonic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_tls_acceptor_a_trusted_clients_id_is_kept() {
    trusted_id_is_kept(Termination::OwnAcceptor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_tls_acceptor_an_untrusted_clients_id_is_replaced() {
    untrusted_id_is_replaced(Termination::OwnAcceptor).await;
}
