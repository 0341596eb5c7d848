//! A local HTTP server for the files nodes download during tests and the demo: installers,
//! binaries, checksums and manifests. Files are published from memory or served from where they
//! lie on disk (never copied), and every request is recorded so tests can check what was fetched.
//!
//! The server runs on its own thread with its own Tokio runtime, so it works the same from
//! synchronous tests, async tests and binaries.
//!
//! ```no_run
//! use acceptance_tests::artifacts::ArtifactServer;
//! let server = ArtifactServer::start("127.0.0.1".parse()?)?;
//! let url = server.publish("k3s/checksums.txt", b"abc  k3s\n".to_vec());
//! assert!(url.ends_with("/k3s/checksums.txt"));
//! # anyhow::Ok(())
//! ```

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where the bytes of a published path come from.
#[derive(Clone)]
enum Content {
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `HEAD` (anything else is answered 405).
    pub method: String,
    /// The request path, without the query string.
    pub path: String,
    /// The status code sent.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    files: Mutex<HashMap<String, Content>>,
    requests: Mutex<Vec<Request>>,
}

/// A running artifact server; stops when dropped.
pub struct ArtifactServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ArtifactServer {
    /// Starts serving on `ip` at a free port. Use a test bed's host address so nodes can reach it.
    pub fn start(ip: IpAddr) -> Result<ArtifactServer> {
        let shared = Arc::new(Shared::default());
        let listener = std::net::TcpListener::bind((ip, 0))
            .with_context(|| format!("binding the artifact server to {ip}"))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("artifact-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let app = axum::Router::new().fallback(serve).with_state(state);
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return eprintln!("artifact server: {e}"),
                    };
                    let stop = async {
                        let _ = stopped.await;
                    };
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(stop)
                        .await
                    {
                        eprintln!("artifact server: {e}");
                    }
                })
            })?;
        Ok(ArtifactServer {
            address,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The base URL, `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `bytes` at `/path` and returns its URL.
    pub fn publish(&self, path: &str, bytes: Vec<u8>) -> String {
        self.insert(path, Content::Bytes(Arc::new(bytes)))
    }

    /// Serves the file at `source` (read on each request, never copied) at `/path` and returns
    /// its URL.
    pub fn publish_file(&self, path: &str, source: &Path) -> Result<String> {
        let source = source
            .canonicalize()
            .with_context(|| format!("publishing {}", source.display()))?;
        Ok(self.insert(path, Content::File(source)))
    }

    fn insert(&self, path: &str, content: Content) -> String {
        let path = format!("/{}", path.trim_start_matches('/'));
        let url = format!("{}{path}", self.url());
        self.shared
            .files
            .lock()
            .expect("artifact table")
            .insert(path, content);
        url
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().expect("request log").clone()
    }
}

impl Drop for ArtifactServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    let content = shared
        .files
        .lock()
        .expect("artifact table")
        .get(&path)
        .cloned();
    let (status, body) = if method != Method::GET && method != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, Vec::new())
    } else {
        match content {
            None => (StatusCode::NOT_FOUND, b"not found\n".to_vec()),
            Some(Content::Bytes(bytes)) => (StatusCode::OK, bytes.as_ref().clone()),
            Some(Content::File(file)) => match tokio::fs::read(&file).await {
                Ok(bytes) => (StatusCode::OK, bytes),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, b"unreadable\n".to_vec()),
            },
        }
    };
    shared.requests.lock().expect("request log").push(Request {
        method: method.to_string(),
        path,
        status: status.as_u16(),
    });
    let length = body.len();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/octet-stream")
        .header("content-length", length)
        .body(body)
        .expect("a valid response")
}
