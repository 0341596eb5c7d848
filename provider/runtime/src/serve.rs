//! Running as a plugin: the handshake with Terraform, the unix socket, AutoMTLS, the gRPC
//! services go-plugin expects beside the provider (controller, stdio, broker, health), and the
//! `--debug` mode that serves without Terraform starting us.

use super::erased::{AnyProvider, Typed};
use super::handshake::{self, HandshakeError};
use super::resource::Provider;
use super::service::ProviderService;
use super::tls::AutoMtls;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tfplugin_proto::tfplugin6::provider_server::ProviderServer;
use tfplugin_proto::{plugin, BoxStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Largest message accepted or sent, as Terraform's own SDKs allow.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// How the plugin is run.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Serve without Terraform starting us: no cookie, no TLS, and print the
    /// `TF_REATTACH_PROVIDERS` value to attach Terraform with.
    pub debug: bool,
    /// The provider's source address, for the reattach value
    /// (`registry.terraform.io/<namespace>/<name>`).
    pub address: String,
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Not started by Terraform, or no common protocol version.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// Setting up TLS failed.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// Socket or stdout trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `provider` until Terraform says to shut down.
pub async fn serve<P: Provider>(provider: P, options: ServeOptions) -> Result<(), ServeError> {
    let provider: Arc<dyn AnyProvider> = Arc::new(Typed(provider));
    let env = |k: &str| std::env::var(k).ok();
    if !options.debug {
        handshake::negotiate(&format!("terraform-provider-{}", provider.name()), env)?;
    }
    let socket = handshake::socket_path(provider.name(), env);
    let listener = UnixListener::bind(&socket)?;
    let _cleanup = RemoveOnDrop(socket.clone());
    let tls = match env("PLUGIN_CLIENT_CERT").filter(|c| !c.trim().is_empty()) {
        Some(pem) if !options.debug => Some(AutoMtls::new(&pem, provider.name())?),
        _ => None,
    };
    let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::channel::<()>(1);
    let incoming = accept(
        listener,
        tls.as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone())),
    );

    if options.debug {
        print_reattach(&options.address, &socket)?;
    } else {
        // Terraform's Ctrl-C reaches the whole process group; it cancels us through
        // StopProvider instead, so the signal itself is ignored. The handler is in place
        // before the handshake line: from then on Terraform may be interrupted.
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        tokio::spawn(async move { while sigint.recv().await.is_some() {} });
        let line =
            handshake::handshake_line(&socket, tls.as_ref().map(|t| t.server_cert_der.as_slice()));
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(line.as_bytes())?;
        stdout.flush()?;
    }
    tracing::info!(socket = %socket.display(), tls = tls.is_some(), "serving the Terraform plugin \
        protocol 6");
    if !options.debug {
        exit_when_orphaned(socket.clone());
    }

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let provider = ProviderServer::new(ProviderService::new(provider))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let server = tonic::transport::Server::builder()
        .add_service(provider)
        .add_service(plugin::grpc_controller_server::GrpcControllerServer::new(
            Controller {
                shutdown: shutdown_tx,
                socket: socket.clone(),
            },
        ))
        .add_service(plugin::grpc_stdio_server::GrpcStdioServer::new(Stdio))
        .add_service(plugin::grpc_broker_server::GrpcBrokerServer::new(Broker))
        .add_service(health);
    let stop = async move {
        if options.debug {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            shutdown_rx.recv().await;
        }
    };
    server.serve_with_incoming_shutdown(incoming, stop).await?;
    Ok(())
}

/// Accepts connections, doing each TLS handshake on its own task so one slow client cannot
/// hold up the others.
fn accept(
    listener: UnixListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> ReceiverStream<Result<Connection, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let connection = match tls {
                    None => Connection::Plain(stream),
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls_stream) => Connection::Tls(Box::new(tls_stream)),
                        Err(e) => {
                            tracing::warn!(error = %e, "refused a connection: TLS handshake failed");
                            return;
                        }
                    },
                };
                let _ = tx.send(Ok(connection)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

/// One accepted connection, with or without TLS.
enum Connection {
    Plain(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// go-plugin's controller: `Shutdown` ends the process promptly.
struct Controller {
    shutdown: tokio::sync::mpsc::Sender<()>,
    socket: PathBuf,
}

#[tonic::async_trait]
impl plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<plugin::Empty>) -> Result<Response<plugin::Empty>, Status> {
        tracing::debug!("shutdown requested by Terraform");
        let _ = self.shutdown.try_send(());
        // Give the response a moment to leave, then go, whatever connections remain open:
        // Terraform kills a plugin that lingers, and waits for it until then.
        let socket = self.socket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            // exit() skips destructors: remove the socket here.
            let _ = std::fs::remove_file(&socket);
            std::process::exit(0);
        });
        Ok(Response::new(plugin::Empty {}))
    }
}

/// go-plugin's stdio stream: the provider writes its logs to stderr itself, so the stream
/// stays open and quiet.
struct Stdio;

#[tonic::async_trait]
impl plugin::grpc_stdio_server::GrpcStdio for Stdio {
    async fn stream_stdio(
        &self,
        _: Request<()>,
    ) -> Result<Response<BoxStream<plugin::StdioData>>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

/// go-plugin's broker: providers do not use it; the stream stays open and quiet.
struct Broker;

#[tonic::async_trait]
impl plugin::grpc_broker_server::GrpcBroker for Broker {
    async fn start_stream(
        &self,
        _: Request<tonic::Streaming<plugin::ConnInfo>>,
    ) -> Result<Response<BoxStream<plugin::ConnInfo>>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

fn print_reattach(address: &str, socket: &Path) -> std::io::Result<()> {
    let value = serde_json::json!({
        address: {
            "Protocol": "grpc",
            "ProtocolVersion": handshake::APP_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": socket.display().to_string() }
        }
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment \
            variable with the following:\n\n\tTF_REATTACH_PROVIDERS='{value}'\n"
    )?;
    stdout.flush()
}

/// How often the provider checks that the Terraform that started it is still there.
const PARENT_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Exits when the process that started the plugin is gone (killed, crashed) without saying
/// `Shutdown`: the plugin is then reparented, and nothing would ever stop it. Watching the
/// parent's pid works wherever the parent's thread that started us ends (a parent-death signal
/// would fire when that thread exits, which Go's runtime threads may do).
fn exit_when_orphaned(socket: PathBuf) {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PARENT_CHECK).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!(
                    parent,
                    "the process that started the plugin is gone; exiting"
                );
                let _ = std::fs::remove_file(&socket);
                std::process::exit(1);
            }
        }
    });
}

/// Removes the socket file when serving ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
