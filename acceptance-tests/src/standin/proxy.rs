//! The API of a server that joined another one: `/cacerts` and `/ping` are answered
//! locally, every other request is authenticated locally (a client certificate signed by the
//! cluster's client CA, or a bearer token passed on for the joined server to check) and
//! forwarded to the joined server, whose answer streams back (watches included). The joined
//! server holds the only datastore, so when it is down this one answers 502.

use super::agent::Upstream;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Forwards requests to the joined server.
pub struct Proxy {
    upstream: Upstream,
    server_auth: String,
}

impl Proxy {
    /// A proxy to `upstream`; requests that authenticated with a client certificate are
    /// forwarded with `server_token`.
    pub fn new(upstream: Upstream, server_token: String) -> Proxy {
        Proxy {
            upstream,
            server_auth: format!("Bearer {server_token}"),
        }
    }
}

fn local(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<ProxyBody> {
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a valid response")
}

fn status(code: u16, reason: &str, message: &str) -> Response<ProxyBody> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    local(code, "application/json", body.to_string())
}

async fn handle(
    proxy: Arc<Proxy>,
    client_cert: bool,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    match req.uri().path() {
        "/cacerts" => return local(200, "text/plain", proxy.upstream.ca_pem.clone()),
        "/ping" => return local(200, "text/plain", "pong"),
        _ => {}
    }
    let auth = if client_cert {
        proxy.server_auth.clone()
    } else {
        match req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            Some(a) => a.to_owned(),
            None => return status(401, "Unauthorized", "Unauthorized"),
        }
    };
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return status(400, "BadRequest", &format!("reading the body: {e}")),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let mut forward = Request::builder().method(parts.method).uri(path);
    for (name, value) in &parts.headers {
        let skip = [
            hyper::header::HOST,
            hyper::header::AUTHORIZATION,
            hyper::header::CONNECTION,
            hyper::header::TRANSFER_ENCODING,
            hyper::header::CONTENT_LENGTH,
        ]
        .contains(name);
        if !skip {
            forward = forward.header(name, value);
        }
    }
    let forward = match forward
        .header(hyper::header::AUTHORIZATION, auth)
        .body(Full::new(body))
    {
        Ok(f) => f,
        Err(e) => return status(400, "BadRequest", &e.to_string()),
    };
    match proxy.upstream.client.send(forward).await {
        Ok(response) => response.map(|b| b.boxed()),
        Err(e) => status(
            502,
            "ServiceUnavailable",
            &format!(
                "the joined server {} is unreachable: {e:#}",
                proxy.upstream.url
            ),
        ),
    }
}

/// Serves TLS connections on `listener` through the proxy.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    proxy: Arc<Proxy>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let client_cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(handle(proxy, client_cert, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
