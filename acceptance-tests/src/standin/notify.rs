//! systemd readiness notification (`Type=notify`): one datagram such as `READY=1` to the unix
//! socket named by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`).
//! Without `$NOTIFY_SOCKET` (run by hand) it does nothing.

use anyhow::{Context, Result};
use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `READY=1\nSTATUS=...`) to systemd, if systemd asked for it.
pub fn notify(state: &str) -> Result<()> {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = socket.to_string_lossy().into_owned();
    let sender = UnixDatagram::unbound().context("creating a datagram socket")?;
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sender
            .send_to_addr(state.as_bytes(), &address)
            .with_context(|| format!("notifying systemd at {socket}"))?;
    } else {
        sender
            .send_to(state.as_bytes(), &socket)
            .with_context(|| format!("notifying systemd at {socket}"))?;
    }
    Ok(())
}
