//! A local HTTPS endpoint that plays the OCI services the provider calls: Compute and
//! VirtualNetwork (`/20160918`), Network Load Balancer (`/20200501`) and Vault Secrets
//! (`/20190301`), all on one base URL, bound to 127.0.0.1 only.
//!
//! Every request's signature is checked with [`verify`] against the API keys in the
//! [`Fixtures`] (5 minutes of allowed clock skew). A request that fails is answered `401
//! NotAuthenticated`; resources in a compartment of another tenancy than the caller's are `404
//! NotAuthorizedOrNotFound`, as OCI answers them. Every response carries an `opc-request-id`;
//! errors have OCI's `{"code","message"}` body.
//!
//! NLB backend changes are asynchronous as in OCI: `CreateBackend`/`DeleteBackend` answer
//! `202` with an `opc-work-request-id`, the work request goes `ACCEPTED` -> `IN_PROGRESS` ->
//! `SUCCEEDED` over successive polls (or after 10 s unpolled), the change becomes visible when
//! it succeeds, and another change to the same NLB meanwhile is `409 Conflict`. A repeated
//! `opc-retry-token` replays the same operation.
//!
//! Tests can inject faults ([`Fault`]), read what was requested ([`FakeOci::requests`]) and
//! change the state ([`FakeOci::set_instance_state`], ...). The server runs on its own thread
//! with its own Tokio runtime and stops when dropped.
//!
//! ```no_run
//! use acceptance_tests::oci::fake::FakeOci;
//! use acceptance_tests::oci::fixtures::Fixtures;
//! let (fixtures, [tenancy_a, _tenancy_b]) = Fixtures::reference_cluster()?;
//! let oci = FakeOci::start(fixtures)?;
//! println!("{} trusts {} bytes of CA", oci.url(), oci.ca_pem().len());
//! # anyhow::Ok(())
//! ```

use super::fixtures::{vnic_id_for, Backend, Fixtures, Instance, NetworkLoadBalancer, Secret};
use super::verify::{content_sha256, verify, Received, Verified, VerifyError};
use crate::standin::pki::{pem_certs, pem_key};
use crate::standin::util::{civil_from_days, random_hex, rfc3339, sha256_hex, unix_now};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use rsa::pkcs8::DecodePublicKey as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// The clock skew the fake allows, as OCI does.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// An unpolled work request succeeds on its own after this long.
const WORK_REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// `path?query` exactly as received.
    pub target: String,
    /// What signature verification found: the key id and signed headers, or why it failed.
    pub auth: Result<Verified, VerifyError>,
    /// The status sent.
    pub status: u16,
    /// The OCI error code sent, if the answer was an error.
    pub code: Option<String>,
    /// The `opc-request-id` sent.
    pub opc_request_id: String,
    /// The request's `opc-retry-token`, if any.
    pub retry_token: Option<String>,
}

impl RecordedRequest {
    /// The key id the request was verified with, if it was.
    pub fn key_id(&self) -> Option<&str> {
        self.auth.as_ref().ok().map(|v| v.key_id.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// An injected fault: the next `times` requests matching `method` and `path_prefix` (after
/// their signature was verified) are answered `status` with an OCI error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The method to match, or `None` for any.
    pub method: Option<String>,
    /// The path prefix to match, including the API version, e.g. `/20160918/instances`.
    pub path_prefix: String,
    /// How many matching requests get the fault.
    pub times: u32,
    /// The status to answer.
    pub status: u16,
    /// The OCI error code, e.g. `TooManyRequests`.
    pub code: String,
    /// The error message.
    pub message: String,
    /// A `Retry-After` header value in seconds, if any.
    pub retry_after: Option<u64>,
}

impl Fault {
    /// A fault answering `status`/`code` to the next `times` requests matching `method`
    /// (`"*"` for any) and `path_prefix`.
    pub fn new(method: &str, path_prefix: &str, times: u32, status: u16, code: &str) -> Fault {
        Fault {
            method: (method != "*").then(|| method.to_ascii_uppercase()),
            path_prefix: path_prefix.to_owned(),
            times,
            status,
            code: code.to_owned(),
            message: format!("Injected fault: {code}"),
            retry_after: None,
        }
    }

    /// `429 TooManyRequests` with `Retry-After: 1`.
    pub fn too_many_requests(method: &str, path_prefix: &str, times: u32) -> Fault {
        Fault {
            message: "User-rate limit exceeded.".to_owned(),
            ..Fault::new(method, path_prefix, times, 429, "TooManyRequests")
        }
        .with_retry_after(1)
    }

    /// `500 InternalServerError`.
    pub fn internal_error(method: &str, path_prefix: &str, times: u32) -> Fault {
        Fault::new(method, path_prefix, times, 500, "InternalServerError")
    }

    /// `409 IncorrectState`.
    pub fn incorrect_state(method: &str, path_prefix: &str, times: u32) -> Fault {
        Fault::new(method, path_prefix, times, 409, "IncorrectState")
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, seconds: u64) -> Fault {
        self.retry_after = Some(seconds);
        self
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: &str) -> Fault {
        self.message = message.to_owned();
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && path.starts_with(&self.path_prefix)
    }
}

/// A work request as the fake tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkRequest {
    /// The work request OCID.
    pub id: String,
    /// `CREATE_BACKEND` or `DELETE_BACKEND`.
    pub operation: String,
    /// `ACCEPTED`, `IN_PROGRESS` or `SUCCEEDED`.
    pub status: String,
    /// The NLB changed.
    pub nlb_id: String,
    /// The backend set changed.
    pub backend_set: String,
    /// The backend added or removed.
    pub backend_name: String,
    /// How many times it was polled.
    pub polls: u32,
}

#[derive(Debug, Clone)]
enum Change {
    Add(Backend),
    Remove(String),
}

#[derive(Debug, Clone)]
struct PendingWork {
    view: WorkRequest,
    compartment_id: String,
    change: Change,
    accepted: SystemTime,
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
}

struct Key {
    public: rsa::RsaPublicKey,
    tenancy: String,
}

struct State {
    keys: HashMap<String, Key>,
    /// Compartment (and tenancy) OCID -> tenancy OCID.
    compartments: HashMap<String, String>,
    instances: Vec<Instance>,
    nlbs: Vec<NetworkLoadBalancer>,
    secrets: Vec<Secret>,
    page_size: usize,
    work_request_polls: u32,
    work: BTreeMap<String, PendingWork>,
    /// Retry token -> (what the request was, the work request it started).
    retry_tokens: HashMap<String, (String, String)>,
    faults: Vec<Fault>,
    requests: Vec<RecordedRequest>,
    /// Seconds the clock signatures are checked against is ahead of the real one.
    clock_offset: i64,
}

/// A running fake OCI endpoint; stops when dropped.
pub struct FakeOci {
    address: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeOci {
    /// Starts serving `fixtures` on 127.0.0.1 at a free port.
    pub fn start(fixtures: Fixtures) -> Result<FakeOci> {
        let state = Arc::new(Mutex::new(State::new(fixtures)?));
        let (ca_pem, tls) = tls_config()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .context("binding the fake OCI endpoint to 127.0.0.1")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("fake-oci".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return eprintln!("fake OCI endpoint: {e}"),
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, acceptor, shared) => {}
                    }
                })
            })?;
        Ok(FakeOci {
            address,
            ca_pem,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The base URL of every service, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The address the endpoint listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The PEM of the CA that issued the endpoint's certificate (for 127.0.0.1 and localhost).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Adds a fault; faults are matched in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Sets how many seconds the clock that signed dates are checked against is ahead of real
    /// time (negative: behind), to make callers' dates look stale or from the future.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.lock().clock_offset = seconds;
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The instances as they are now.
    pub fn instances(&self) -> Vec<Instance> {
        self.lock().instances.clone()
    }

    /// Sets an instance's `lifecycleState` (e.g. `TERMINATED`).
    pub fn set_instance_state(&self, id: &str, lifecycle_state: &str) -> Result<()> {
        let mut state = self.lock();
        let instance = state
            .instances
            .iter_mut()
            .find(|i| i.id == id)
            .with_context(|| format!("no instance {id}"))?;
        instance.lifecycle_state = lifecycle_state.to_owned();
        Ok(())
    }

    /// Adds an instance (or replaces the one with the same id).
    pub fn add_instance(&self, mut instance: Instance) {
        if instance.vnic.id.is_empty() {
            instance.vnic.id = vnic_id_for(&instance.id);
        }
        let mut state = self.lock();
        state.instances.retain(|i| i.id != instance.id);
        state.instances.push(instance);
    }

    /// Removes an instance; whether it existed.
    pub fn remove_instance(&self, id: &str) -> bool {
        let mut state = self.lock();
        let before = state.instances.len();
        state.instances.retain(|i| i.id != id);
        state.instances.len() != before
    }

    /// The backends of an NLB backend set as `ListBackends` would return them now.
    pub fn backends(&self, nlb_id: &str, backend_set: &str) -> Result<Vec<Backend>> {
        let mut state = self.lock();
        state.settle(SystemTime::now());
        Ok(state.backend_set(nlb_id, backend_set)?.clone())
    }

    /// Replaces the backends of an NLB backend set.
    pub fn set_backends(
        &self,
        nlb_id: &str,
        backend_set: &str,
        backends: Vec<Backend>,
    ) -> Result<()> {
        *self.lock().backend_set(nlb_id, backend_set)? = backends;
        Ok(())
    }

    /// Every work request so far.
    pub fn work_requests(&self) -> Vec<WorkRequest> {
        let mut state = self.lock();
        state.settle(SystemTime::now());
        state.work.values().map(|w| w.view.clone()).collect()
    }

    /// Sets the current version of a secret to `plain` (creating the secret in `compartment_id`
    /// if it does not exist).
    pub fn set_secret(&self, id: &str, compartment_id: &str, plain: &[u8]) {
        let mut state = self.lock();
        state.secrets.retain(|s| s.id != id);
        state.secrets.push(Secret::new(id, compartment_id, plain));
    }
}

impl Drop for FakeOci {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A fresh in-memory CA and a serving certificate for 127.0.0.1 and localhost; returns the CA
/// PEM and the server configuration (ring provider, HTTP/1.1).
fn tls_config() -> Result<(String, rustls::ServerConfig)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let today = (unix_now() / 86_400) as i64;
    let date = |d: i64| {
        let (y, m, dd) = civil_from_days(d);
        rcgen::date_time_ymd(y as i32, m as u8, dd as u8)
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "fake OCI test CA");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = date(today - 1);
    ca.not_after = date(today + 30);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "fake-oci");
    leaf.distinguished_name = dn;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = date(today - 1);
    leaf.not_after = date(today + 30);
    let cert = leaf.signed_by(&key, &issuer)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(pem_certs(&cert.pem())?, pem_key(&key.serialize_pem())?)
        .context("loading the fake OCI serving certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((ca_cert.pem(), config))
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<Mutex<State>>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(serve(state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// An OCI error answer.
#[derive(Debug)]
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found() -> ApiError {
        ApiError::new(
            404,
            "NotAuthorizedOrNotFound",
            "Authorization failed or requested resource not found.",
        )
    }

    fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message)
    }
}

/// A successful answer.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

fn response(
    status: u16,
    body: Option<&Value>,
    headers: &[(&str, String)],
    request_id: &str,
) -> hyper::Response<Full<Bytes>> {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut builder = hyper::Response::builder()
        .status(status)
        .header("opc-request-id", request_id)
        .header("content-length", bytes.len());
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

async fn serve(
    state: Arc<Mutex<State>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let request_id = random_hex(16).to_ascii_uppercase();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let retry_token = parts
        .headers
        .get("opc-retry-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let error = ApiError::bad("CannotParseRequest", "The request body could not be read");
            let body = json!({"code": error.code, "message": error.message});
            return response(400, Some(&body), &[], &request_id);
        }
    };

    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = SystemTime::now();
    state.settle(now);
    let received = Received {
        method: &method,
        target: &target,
        headers: &parts.headers,
        body: &body,
    };
    let offset = Duration::from_secs(state.clock_offset.unsigned_abs());
    let clock = if state.clock_offset >= 0 {
        now + offset
    } else {
        now - offset
    };
    let auth = verify(
        &received,
        |key_id| state.keys.get(key_id).map(|k| k.public.clone()),
        clock,
        MAX_SKEW,
    );
    let outcome = match &auth {
        Err(error) => Err(ApiError::new(401, "NotAuthenticated", error.to_string())),
        Ok(verified) => {
            let tenancy = state.keys[&verified.key_id].tenancy.clone();
            let path = target.split('?').next().unwrap_or_default().to_owned();
            match state.take_fault(&method, &path) {
                Some(fault) => {
                    let headers: Vec<(&'static str, String)> = fault
                        .retry_after
                        .map(|s| ("retry-after", s.to_string()))
                        .into_iter()
                        .collect();
                    let body = json!({"code": fault.code, "message": fault.message});
                    state.requests.push(RecordedRequest {
                        method,
                        target,
                        auth,
                        status: fault.status,
                        code: Some(fault.code.clone()),
                        opc_request_id: request_id.clone(),
                        retry_token,
                    });
                    return response(fault.status, Some(&body), &headers, &request_id);
                }
                None => {
                    let context = Call {
                        tenancy: &tenancy,
                        method: &method,
                        target: &target,
                        body: &body,
                        retry_token: retry_token.as_deref(),
                        now,
                    };
                    state.route(&context)
                }
            }
        }
    };
    let (status, code, reply) = match outcome {
        Ok(reply) => (
            reply.status,
            None,
            response(
                reply.status,
                reply.body.as_ref(),
                &reply.headers,
                &request_id,
            ),
        ),
        Err(error) => {
            let body = json!({"code": error.code, "message": error.message});
            (
                error.status,
                Some(error.code.to_owned()),
                response(error.status, Some(&body), &[], &request_id),
            )
        }
    };
    state.requests.push(RecordedRequest {
        method,
        target,
        auth,
        status,
        code,
        opc_request_id: request_id,
        retry_token,
    });
    reply
}

/// A verified request being routed.
struct Call<'a> {
    tenancy: &'a str,
    method: &'a str,
    target: &'a str,
    body: &'a [u8],
    retry_token: Option<&'a str>,
    now: SystemTime,
}

/// Decodes `%XX` escapes (and `+` as a space when `form` is set).
fn percent_decode(text: &str, form: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if form => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded query parameters of `target`.
fn query_params(target: &str) -> HashMap<String, String> {
    let Some((_, query)) = target.split_once('?') else {
        return HashMap::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name, true), percent_decode(value, true))
        })
        .collect()
}

/// One page of `items` per the `limit` and `page` parameters.
fn paginate<T: Clone>(
    items: &[T],
    query: &HashMap<String, String>,
    default_size: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = match query.get("limit") {
        None => default_size,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::bad(
                    "InvalidParameter",
                    format!("Invalid limit '{text}'"),
                ))
            }
        },
    };
    let start = match query.get("page") {
        None => 0,
        Some(token) => token
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                ApiError::bad("InvalidParameter", format!("Invalid page token '{token}'"))
            })?,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    Ok((items[start..end].to_vec(), next))
}

fn system_time_rfc3339(time: SystemTime) -> String {
    rfc3339(
        time.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    )
}

fn instance_json(instance: &Instance) -> Value {
    json!({
        "id": instance.id,
        "compartmentId": instance.compartment_id,
        "displayName": instance.display_name,
        "lifecycleState": instance.lifecycle_state,
        "availabilityDomain": instance.availability_domain,
        "faultDomain": "FAULT-DOMAIN-1",
        "region": "phx",
        "shape": instance.shape,
        "freeformTags": instance.freeform_tags,
        "definedTags": instance.defined_tags,
        "timeCreated": instance.time_created,
        "metadata": {},
        "extendedMetadata": {},
    })
}

fn vnic_attachment_id(instance: &Instance) -> String {
    let tail = instance.id.rsplit('.').next().unwrap_or(&instance.id);
    format!("ocid1.vnicattachment.oc1.phx.{tail}")
}

fn vnic_attachment_json(instance: &Instance) -> Value {
    let terminated = instance.lifecycle_state == "TERMINATED";
    json!({
        "id": vnic_attachment_id(instance),
        "instanceId": instance.id,
        "vnicId": instance.vnic.id,
        "compartmentId": instance.compartment_id,
        "availabilityDomain": instance.availability_domain,
        "lifecycleState": if terminated { "DETACHED" } else { "ATTACHED" },
        "nicIndex": 0,
        "subnetId": instance.vnic.subnet_id,
        "displayName": format!("{}-vnic", instance.display_name),
        "timeCreated": instance.time_created,
    })
}

fn vnic_json(instance: &Instance) -> Value {
    let mut vnic = json!({
        "id": instance.vnic.id,
        "compartmentId": instance.compartment_id,
        "availabilityDomain": instance.availability_domain,
        "displayName": format!("{}-vnic", instance.display_name),
        "privateIp": instance.vnic.private_ip,
        "isPrimary": true,
        "lifecycleState": if instance.lifecycle_state == "TERMINATED" { "TERMINATED" } else { "AVAILABLE" },
        "macAddress": "02:00:17:00:00:01",
        "subnetId": instance.vnic.subnet_id,
        "nsgIds": [],
        "skipSourceDestCheck": false,
        "timeCreated": instance.time_created,
    });
    if let Some(ip) = &instance.vnic.public_ip {
        vnic["publicIp"] = json!(ip);
    }
    if let Some(label) = &instance.vnic.hostname_label {
        vnic["hostnameLabel"] = json!(label);
    }
    vnic
}

fn backend_json(backend: &Backend) -> Value {
    json!({
        "name": backend.name,
        "ipAddress": backend.ip_address,
        "port": backend.port,
        "weight": backend.weight,
        "isDrain": backend.is_drain,
        "isBackup": backend.is_backup,
        "isOffline": backend.is_offline,
    })
}

impl State {
    fn new(fixtures: Fixtures) -> Result<State> {
        let mut keys = HashMap::new();
        let mut compartments = HashMap::new();
        for tenancy in &fixtures.tenancies {
            compartments.insert(tenancy.id.clone(), tenancy.id.clone());
            for compartment in &tenancy.compartments {
                if let Some(other) = compartments.insert(compartment.clone(), tenancy.id.clone()) {
                    if other != tenancy.id {
                        bail!("compartment {compartment} is in two tenancies");
                    }
                }
            }
            for user in &tenancy.users {
                let public = rsa::RsaPublicKey::from_public_key_pem(&user.public_key_pem)
                    .with_context(|| format!("parsing the public key of {}", user.id))?;
                keys.insert(
                    format!("{}/{}/{}", tenancy.id, user.id, user.fingerprint),
                    Key {
                        public,
                        tenancy: tenancy.id.clone(),
                    },
                );
            }
        }
        let mut instances = fixtures.instances;
        for instance in &mut instances {
            if instance.vnic.id.is_empty() {
                instance.vnic.id = vnic_id_for(&instance.id);
            }
        }
        Ok(State {
            keys,
            compartments,
            instances,
            nlbs: fixtures.network_load_balancers,
            secrets: fixtures.secrets,
            page_size: if fixtures.page_size == 0 {
                2
            } else {
                fixtures.page_size
            },
            work_request_polls: if fixtures.work_request_polls == 0 {
                2
            } else {
                fixtures.work_request_polls
            },
            work: BTreeMap::new(),
            retry_tokens: HashMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            clock_offset: 0,
        })
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let fault = self.faults.iter_mut().find(|f| f.matches(method, path))?;
        fault.times -= 1;
        Some(fault.clone())
    }

    fn backend_set(&mut self, nlb_id: &str, name: &str) -> Result<&mut Vec<Backend>> {
        let nlb = self
            .nlbs
            .iter_mut()
            .find(|n| n.id == nlb_id)
            .with_context(|| format!("no network load balancer {nlb_id}"))?;
        let set = nlb
            .backend_sets
            .iter_mut()
            .find(|s| s.name == name)
            .with_context(|| format!("no backend set {name} in {nlb_id}"))?;
        Ok(&mut set.backends)
    }

    /// Whether `compartment` belongs to `tenancy`.
    fn visible(&self, tenancy: &str, compartment: &str) -> bool {
        self.compartments
            .get(compartment)
            .is_some_and(|t| t == tenancy)
    }

    /// Completes work requests left unpolled for too long.
    fn settle(&mut self, now: SystemTime) {
        let overdue: Vec<String> = self
            .work
            .values()
            .filter(|w| w.finished.is_none())
            .filter(|w| now.duration_since(w.accepted).unwrap_or_default() >= WORK_REQUEST_DEADLINE)
            .map(|w| w.view.id.clone())
            .collect();
        for id in overdue {
            self.finish(&id, now);
        }
    }

    fn finish(&mut self, id: &str, now: SystemTime) {
        let Some(work) = self.work.get_mut(id) else {
            return;
        };
        if work.finished.is_some() {
            return;
        }
        work.view.status = "SUCCEEDED".to_owned();
        work.started.get_or_insert(now);
        work.finished = Some(now);
        let (nlb, set, change) = (
            work.view.nlb_id.clone(),
            work.view.backend_set.clone(),
            work.change.clone(),
        );
        if let Ok(backends) = self.backend_set(&nlb, &set) {
            match change {
                Change::Add(backend) => {
                    if !backends.iter().any(|b| b.name == backend.name) {
                        backends.push(backend);
                    }
                }
                Change::Remove(name) => backends.retain(|b| b.name != name),
            }
        }
    }

    fn route(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let path = call.target.split('?').next().unwrap_or_default();
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_decode(s, false))
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let query = query_params(call.target);
        let method = call.method;
        let allowed = |methods: &[&str]| -> Result<(), ApiError> {
            if methods.contains(&method) {
                Ok(())
            } else {
                Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    format!("{method} is not allowed on {path}"),
                ))
            }
        };
        match segments.as_slice() {
            ["20160918", "instances"] => {
                allowed(&["GET"])?;
                self.list_instances(call.tenancy, &query)
            }
            ["20160918", "instances", id] => {
                allowed(&["GET"])?;
                self.get_instance(call.tenancy, id)
            }
            ["20160918", "vnicAttachments"] => {
                allowed(&["GET"])?;
                self.list_vnic_attachments(call.tenancy, &query)
            }
            ["20160918", "vnics", id] => {
                allowed(&["GET"])?;
                self.get_vnic(call.tenancy, id)
            }
            ["20200501", "networkLoadBalancers", id] => {
                allowed(&["GET"])?;
                self.get_nlb(call.tenancy, id)
            }
            ["20200501", "networkLoadBalancers", nlb, "backendSets", set, "backends"] => {
                allowed(&["GET", "POST"])?;
                if method == "GET" {
                    self.list_backends(call.tenancy, nlb, set, &query)
                } else {
                    self.create_backend(call, nlb, set)
                }
            }
            ["20200501", "networkLoadBalancers", nlb, "backendSets", set, "backends", name] => {
                allowed(&["GET", "DELETE"])?;
                if method == "GET" {
                    self.get_backend(call.tenancy, nlb, set, name)
                } else {
                    self.delete_backend(call, nlb, set, name)
                }
            }
            ["20200501", "workRequests", id] => {
                allowed(&["GET"])?;
                self.get_work_request(call.tenancy, id, call.now)
            }
            ["20190301", "secretbundles", id] => {
                allowed(&["GET"])?;
                self.get_secret_bundle(call.tenancy, id, &query)
            }
            _ => Err(ApiError::new(
                404,
                "NotFound",
                format!("No such resource path {path}"),
            )),
        }
    }

    fn require_compartment<'q>(
        &self,
        tenancy: &str,
        query: &'q HashMap<String, String>,
    ) -> Result<&'q str, ApiError> {
        let compartment = query
            .get("compartmentId")
            .ok_or_else(|| ApiError::bad("MissingParameter", "Missing compartmentId"))?;
        if !self.visible(tenancy, compartment) {
            return Err(ApiError::not_found());
        }
        Ok(compartment)
    }

    fn list_instances(
        &self,
        tenancy: &str,
        query: &HashMap<String, String>,
    ) -> Result<Reply, ApiError> {
        let compartment = self.require_compartment(tenancy, query)?;
        let state = query.get("lifecycleState");
        let matching: Vec<&Instance> = self
            .instances
            .iter()
            .filter(|i| i.compartment_id == compartment)
            .filter(|i| state.is_none_or(|s| i.lifecycle_state.eq_ignore_ascii_case(s)))
            .filter(|i| {
                query
                    .get("displayName")
                    .is_none_or(|n| &i.display_name == n)
            })
            .filter(|i| {
                query
                    .get("availabilityDomain")
                    .is_none_or(|ad| &i.availability_domain == ad)
            })
            .collect();
        let (page, next) = paginate(&matching, query, self.page_size)?;
        let items: Vec<Value> = page.into_iter().map(instance_json).collect();
        let mut reply = Reply::json(Value::Array(items));
        if let Some(next) = next {
            reply = reply.header("opc-next-page", next);
        }
        Ok(reply)
    }

    fn instance(&self, tenancy: &str, id: &str) -> Result<&Instance, ApiError> {
        self.instances
            .iter()
            .find(|i| i.id == id)
            .filter(|i| self.visible(tenancy, &i.compartment_id))
            .ok_or_else(ApiError::not_found)
    }

    fn get_instance(&self, tenancy: &str, id: &str) -> Result<Reply, ApiError> {
        let body = instance_json(self.instance(tenancy, id)?);
        let etag = sha256_hex(body.to_string().as_bytes());
        Ok(Reply::json(body).header("etag", etag))
    }

    fn list_vnic_attachments(
        &self,
        tenancy: &str,
        query: &HashMap<String, String>,
    ) -> Result<Reply, ApiError> {
        let compartment = self.require_compartment(tenancy, query)?;
        let matching: Vec<&Instance> = self
            .instances
            .iter()
            .filter(|i| i.compartment_id == compartment)
            .filter(|i| query.get("instanceId").is_none_or(|id| &i.id == id))
            .filter(|i| query.get("vnicId").is_none_or(|id| &i.vnic.id == id))
            .collect();
        let (page, next) = paginate(&matching, query, self.page_size)?;
        let items: Vec<Value> = page.into_iter().map(vnic_attachment_json).collect();
        let mut reply = Reply::json(Value::Array(items));
        if let Some(next) = next {
            reply = reply.header("opc-next-page", next);
        }
        Ok(reply)
    }

    fn get_vnic(&self, tenancy: &str, id: &str) -> Result<Reply, ApiError> {
        let instance = self
            .instances
            .iter()
            .find(|i| i.vnic.id == id)
            .filter(|i| self.visible(tenancy, &i.compartment_id))
            .ok_or_else(ApiError::not_found)?;
        Ok(Reply::json(vnic_json(instance)))
    }

    fn nlb(&self, tenancy: &str, id: &str) -> Result<&NetworkLoadBalancer, ApiError> {
        self.nlbs
            .iter()
            .find(|n| n.id == id)
            .filter(|n| self.visible(tenancy, &n.compartment_id))
            .ok_or_else(ApiError::not_found)
    }

    fn updating(&self, nlb_id: &str) -> bool {
        self.work
            .values()
            .any(|w| w.view.nlb_id == nlb_id && w.finished.is_none())
    }

    fn get_nlb(&self, tenancy: &str, id: &str) -> Result<Reply, ApiError> {
        let nlb = self.nlb(tenancy, id)?;
        let sets: serde_json::Map<String, Value> = nlb
            .backend_sets
            .iter()
            .map(|s| {
                let backends: Vec<Value> = s.backends.iter().map(backend_json).collect();
                (
                    s.name.clone(),
                    json!({"name": s.name, "backends": backends}),
                )
            })
            .collect();
        Ok(Reply::json(json!({
            "id": nlb.id,
            "compartmentId": nlb.compartment_id,
            "displayName": nlb.display_name,
            "lifecycleState": if self.updating(id) { "UPDATING" } else { "ACTIVE" },
            "backendSets": sets,
        })))
    }

    fn backends_of(&self, tenancy: &str, nlb: &str, set: &str) -> Result<&Vec<Backend>, ApiError> {
        self.nlb(tenancy, nlb)?
            .backend_sets
            .iter()
            .find(|s| s.name == set)
            .map(|s| &s.backends)
            .ok_or_else(ApiError::not_found)
    }

    fn list_backends(
        &self,
        tenancy: &str,
        nlb: &str,
        set: &str,
        query: &HashMap<String, String>,
    ) -> Result<Reply, ApiError> {
        let backends = self.backends_of(tenancy, nlb, set)?;
        let (page, next) = paginate(backends, query, 1000)?;
        let items: Vec<Value> = page.iter().map(backend_json).collect();
        let mut reply = Reply::json(json!({ "items": items }));
        if let Some(next) = next {
            reply = reply.header("opc-next-page", next);
        }
        Ok(reply)
    }

    fn get_backend(
        &self,
        tenancy: &str,
        nlb: &str,
        set: &str,
        name: &str,
    ) -> Result<Reply, ApiError> {
        let backend = self
            .backends_of(tenancy, nlb, set)?
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(ApiError::not_found)?;
        let body = backend_json(backend);
        let etag = sha256_hex(body.to_string().as_bytes());
        Ok(Reply::json(body).header("etag", etag))
    }

    fn conflict_if_updating(&self, nlb: &str) -> Result<(), ApiError> {
        if self.updating(nlb) {
            return Err(ApiError::new(
                409,
                "Conflict",
                "Invalid State Transition of NLB lifeCycle state from Updating to Updating",
            ));
        }
        Ok(())
    }

    fn start_work(
        &mut self,
        call: &Call<'_>,
        operation: &str,
        nlb: &str,
        set: &str,
        change: Change,
    ) -> Reply {
        let compartment_id = self
            .nlbs
            .iter()
            .find(|n| n.id == nlb)
            .map(|n| n.compartment_id.clone())
            .unwrap_or_default();
        let id = format!("ocid1.nlbworkrequest.oc1.phx.{}", random_hex(12));
        let backend_name = match &change {
            Change::Add(b) => b.name.clone(),
            Change::Remove(name) => name.clone(),
        };
        self.work.insert(
            id.clone(),
            PendingWork {
                view: WorkRequest {
                    id: id.clone(),
                    operation: operation.to_owned(),
                    status: "ACCEPTED".to_owned(),
                    nlb_id: nlb.to_owned(),
                    backend_set: set.to_owned(),
                    backend_name,
                    polls: 0,
                },
                compartment_id,
                change,
                accepted: call.now,
                started: None,
                finished: None,
            },
        );
        accepted(&id)
    }

    fn create_backend(&mut self, call: &Call<'_>, nlb: &str, set: &str) -> Result<Reply, ApiError> {
        let existing = self.backends_of(call.tenancy, nlb, set)?.clone();
        let fingerprint = format!("POST {} {}", call.target, content_sha256(call.body));
        if let Some(token) = call.retry_token {
            if let Some((seen, work_id)) = self.retry_tokens.get(token) {
                if *seen == fingerprint {
                    return Ok(accepted(work_id));
                }
                return Err(ApiError::new(
                    409,
                    "InvalidatedRetryToken",
                    "The retry token was already used for a different request",
                ));
            }
        }
        self.conflict_if_updating(nlb)?;
        let details: Value = serde_json::from_slice(call.body)
            .map_err(|e| ApiError::bad("CannotParseRequest", format!("Invalid JSON body: {e}")))?;
        let port = details["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                ApiError::bad(
                    "InvalidParameter",
                    "port is required and must be a port number",
                )
            })?;
        let (ip, target_name) = match (details["ipAddress"].as_str(), details["targetId"].as_str())
        {
            (Some(ip), None) => (ip.to_owned(), ip.to_owned()),
            (None, Some(target)) => {
                let instance = self.instance(call.tenancy, target).map_err(|_| {
                    ApiError::new(
                        400,
                        "RelatedResourceNotAuthorizedOrNotFound",
                        format!("targetId {target} not found"),
                    )
                })?;
                (instance.vnic.private_ip.clone(), target.to_owned())
            }
            _ => {
                return Err(ApiError::bad(
                    "InvalidParameter",
                    "Exactly one of ipAddress and targetId is required",
                ))
            }
        };
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(ApiError::bad(
                "InvalidParameter",
                format!("Invalid ipAddress '{ip}'"),
            ));
        }
        let backend = Backend {
            name: details["name"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{target_name}:{port}")),
            ip_address: ip.clone(),
            port,
            weight: details["weight"].as_u64().map(|w| w as u32).unwrap_or(1),
            is_drain: details["isDrain"].as_bool().unwrap_or(false),
            is_backup: details["isBackup"].as_bool().unwrap_or(false),
            is_offline: details["isOffline"].as_bool().unwrap_or(false),
        };
        if existing
            .iter()
            .any(|b| (b.ip_address == ip && b.port == port) || b.name == backend.name)
        {
            return Err(ApiError::new(
                409,
                "NotAuthorizedOrResourceAlreadyExists",
                "Duplicate backend IP/id + port combinations not allowed",
            ));
        }
        let reply = self.start_work(call, "CREATE_BACKEND", nlb, set, Change::Add(backend));
        if let Some(token) = call.retry_token {
            let work_id = reply
                .headers
                .iter()
                .find(|(n, _)| *n == "opc-work-request-id")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            self.retry_tokens
                .insert(token.to_owned(), (fingerprint, work_id));
        }
        Ok(reply)
    }

    fn delete_backend(
        &mut self,
        call: &Call<'_>,
        nlb: &str,
        set: &str,
        name: &str,
    ) -> Result<Reply, ApiError> {
        let exists = self
            .backends_of(call.tenancy, nlb, set)?
            .iter()
            .any(|b| b.name == name);
        self.conflict_if_updating(nlb)?;
        if !exists {
            return Err(ApiError::not_found());
        }
        Ok(self.start_work(
            call,
            "DELETE_BACKEND",
            nlb,
            set,
            Change::Remove(name.to_owned()),
        ))
    }

    fn get_work_request(
        &mut self,
        tenancy: &str,
        id: &str,
        now: SystemTime,
    ) -> Result<Reply, ApiError> {
        let visible = self
            .work
            .get(id)
            .is_some_and(|w| self.visible(tenancy, &w.compartment_id));
        if !visible {
            return Err(ApiError::not_found());
        }
        let pending_polls = self.work_request_polls;
        let work = self.work.get_mut(id).ok_or_else(ApiError::not_found)?;
        work.view.polls += 1;
        let polls = work.view.polls;
        if work.finished.is_none() {
            if polls > pending_polls {
                self.finish(id, now);
            } else if polls > 1 {
                work.view.status = "IN_PROGRESS".to_owned();
                work.started.get_or_insert(now);
            }
        }
        let work = &self.work[id];
        let percent = match work.view.status.as_str() {
            "SUCCEEDED" => 100.0,
            "IN_PROGRESS" => 50.0,
            _ => 0.0,
        };
        let mut body = json!({
            "id": work.view.id,
            "operationType": work.view.operation,
            "status": work.view.status,
            "compartmentId": work.compartment_id,
            "percentComplete": percent,
            "resources": [{
                "entityType": "NetworkLoadBalancer",
                "actionType": if work.finished.is_some() { "UPDATED" } else { "IN_PROGRESS" },
                "identifier": work.view.nlb_id,
                "entityUri": format!("/20200501/networkLoadBalancers/{}", work.view.nlb_id),
            }],
            "timeAccepted": system_time_rfc3339(work.accepted),
        });
        if let Some(started) = work.started {
            body["timeStarted"] = json!(system_time_rfc3339(started));
        }
        if let Some(finished) = work.finished {
            body["timeFinished"] = json!(system_time_rfc3339(finished));
        }
        Ok(Reply::json(body))
    }

    fn get_secret_bundle(
        &self,
        tenancy: &str,
        id: &str,
        query: &HashMap<String, String>,
    ) -> Result<Reply, ApiError> {
        let secret = self
            .secrets
            .iter()
            .find(|s| s.id == id)
            .filter(|s| self.visible(tenancy, &s.compartment_id))
            .ok_or_else(ApiError::not_found)?;
        let current_version = query.get("versionNumber").is_none_or(|v| v == "1");
        let current_stage = query
            .get("stage")
            .is_none_or(|s| s == "CURRENT" || s == "LATEST");
        if !current_version || !current_stage || query.contains_key("secretVersionName") {
            return Err(ApiError::not_found());
        }
        Ok(Reply::json(json!({
            "secretId": secret.id,
            "versionNumber": 1,
            "stages": ["CURRENT", "LATEST"],
            "secretBundleContent": {"contentType": "BASE64", "content": secret.content},
            "timeCreated": "2024-05-01T10:00:00.000Z",
        })))
    }
}

fn accepted(work_id: &str) -> Reply {
    Reply {
        status: 202,
        body: None,
        headers: vec![("opc-work-request-id", work_id.to_owned())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("10.0.0.3%3A6443", false), "10.0.0.3:6443");
        assert_eq!(percent_decode("a+b%20c", true), "a b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
    }

    #[test]
    fn pagination_walks_every_item_once() {
        let items: Vec<u32> = (0..5).collect();
        let mut query = HashMap::new();
        let mut seen = Vec::new();
        loop {
            let (page, next) = paginate(&items, &query, 2).expect("page");
            assert!(page.len() <= 2);
            seen.extend(page);
            match next {
                Some(token) => query.insert("page".to_owned(), token),
                None => break,
            };
        }
        assert_eq!(seen, items);
        query.insert("page".to_owned(), "bogus".to_owned());
        assert!(paginate(&items, &query, 2).is_err());
        let limit: HashMap<String, String> = [("limit".to_owned(), "0".to_owned())].into();
        assert!(paginate(&items, &limit, 2).is_err());
    }
}
