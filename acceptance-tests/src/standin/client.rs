//! A minimal HTTPS client for the stand-in agent: one HTTP/1.1 request per connection over
//! rustls, to the server named by `--server` / `K3S_URL` (`https://host:port`).

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// A server URL's parts.
#[derive(Debug, Clone)]
pub struct ServerUrl {
    /// Host name or address.
    pub host: String,
    /// Port (default 6443).
    pub port: u16,
}

impl ServerUrl {
    /// Parses `https://host[:port][/...]`.
    pub fn parse(url: &str) -> Result<ServerUrl> {
        let Some(rest) = url.strip_prefix("https://") else {
            bail!("the server URL {url:?} must start with https://");
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6.split_once(']').context("bad IPv6 address")?;
            (h.to_owned(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p),
                None => (authority.to_owned(), ""),
            }
        };
        if host.is_empty() {
            bail!("the server URL {url:?} has no host");
        }
        let port = if port.is_empty() {
            6443
        } else {
            port.parse()
                .with_context(|| format!("bad port in {url:?}"))?
        };
        Ok(ServerUrl { host, port })
    }

    /// The first address the host resolves to.
    pub fn socket_addr(&self) -> Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", self.host))?
            .next()
            .with_context(|| format!("{} has no address", self.host))
    }
}

/// An HTTPS client bound to one server and one TLS configuration.
#[derive(Clone)]
pub struct Client {
    url: ServerUrl,
    tls: Arc<ClientConfig>,
}

impl Client {
    /// A client for `url` using `tls`.
    pub fn new(url: ServerUrl, tls: ClientConfig) -> Client {
        Client {
            url,
            tls: Arc::new(tls),
        }
    }

    /// Sends one request and returns the status code and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        tokio::time::timeout(
            Duration::from_secs(15),
            self.request_inner(method, path, headers, body),
        )
        .await
        .with_context(|| format!("{method} {path}: timed out"))?
    }

    async fn request_inner(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", "k3s-standin-agent");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = self.send(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends `request` on a new connection and returns the response once its head arrived;
    /// the body streams (watches stay open as long as the server sends).
    pub async fn send(
        &self,
        mut request: hyper::Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let address = self.url.socket_addr()?;
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(address)
                .await
                .with_context(|| format!("connecting to {address}"))?;
            let name = ServerName::try_from(self.url.host.clone())
                .with_context(|| format!("{} is not a valid server name", self.url.host))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {address}"))?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .context("HTTP handshake")?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            anyhow::Ok(sender)
        };
        let mut sender = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .with_context(|| format!("connecting to {address}: timed out"))??;
        let host = format!("{}:{}", self.url.host, self.url.port);
        request.headers_mut().insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_str(&host)?,
        );
        tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
            .await
            .context("waiting for the response: timed out")?
            .context("sending the request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_parse() {
        let u = ServerUrl::parse("https://10.0.0.1:6443").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.1", 6443));
        let u = ServerUrl::parse("https://cp.example/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("cp.example", 6443));
        let u = ServerUrl::parse("https://[fd00::1]:7443").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("fd00::1", 7443));
        assert!(ServerUrl::parse("http://x:6443").is_err());
    }
}
