//! Local port forwarding: a listener on 127.0.0.1 whose connections are carried to an address
//! as seen from the node (`direct-tcpip` channels), e.g. a K3s API bound to the server's
//! `127.0.0.1:6443`. Forwarding stops when the [`PortForward`] is dropped.

use super::connect::Session;
use super::error::Error;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// A running local port forward. Dropping it closes the listener and every forwarded
/// connection.
#[derive(Debug)]
pub struct PortForward {
    local: SocketAddr,
    remote: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl PortForward {
    /// The local address to connect to (127.0.0.1 and an ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address connections are forwarded to, as seen from the node.
    pub fn remote(&self) -> &str {
        &self.remote
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

impl Session {
    /// Listens on 127.0.0.1 (an ephemeral port) and forwards each connection to
    /// `remote_host:remote_port` as seen from the node. A connection the node cannot open is closed
    /// at once and logged as a warning. Each channel open has the connect timeout as its deadline.
    pub async fn forward_local(
        &self,
        remote_host: &str,
        remote_port: u16,
    ) -> Result<PortForward, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| Error::Io {
                what: "binding a local port for forwarding".into(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Io {
            what: "reading the forwarding port".into(),
            source,
        })?;
        let stop = CancellationToken::new();
        let remote = format!("{remote_host}:{remote_port}");
        tracing::debug!(host = %self.host(), %local, %remote, "forwarding a local port");
        let task = tokio::spawn(accept(
            listener,
            self.clone(),
            remote_host.to_owned(),
            remote_port,
            stop.clone(),
        ));
        Ok(PortForward {
            local,
            remote,
            stop,
            task,
        })
    }
}

async fn accept(
    listener: TcpListener,
    session: Session,
    host: String,
    port: u16,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    connections.spawn(relay(session.clone(), socket, peer, host.clone(), port));
                }
                Err(e) => {
                    tracing::warn!(host = %session.host(), "accepting a forwarded connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Dropping the set aborts the connections still open.
}

async fn relay(session: Session, mut socket: TcpStream, peer: SocketAddr, host: String, port: u16) {
    let _ = socket.set_nodelay(true);
    let opening = session.inner.handle.channel_open_direct_tcpip(
        host.as_str(),
        u32::from(port),
        peer.ip().to_string(),
        u32::from(peer.port()),
    );
    let channel = match tokio::time::timeout(session.inner.timeouts.connect, opening).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(e)) => {
            tracing::warn!(host = %session.host(), "forwarding a connection to {host}:{port} \
                failed: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(
                host = %session.host(),
                "forwarding a connection to {host}:{port}: no answer within {:?}",
                session.inner.timeouts.connect
            );
            return;
        }
    };
    let mut stream = channel.into_stream();
    if let Err(e) = tokio::io::copy_bidirectional(&mut socket, &mut stream).await {
        tracing::debug!(host = %session.host(), "forwarded connection to {host}:{port} ended: {e}");
    }
}
