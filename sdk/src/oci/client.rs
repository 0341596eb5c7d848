//! The HTTP client: endpoints, signing, retries, errors and pagination for every OCI call.
//!
//! A [`Client`] holds one identity ([`Signer`]) and one region. Each call builds one URL (the
//! region's service endpoint, or the endpoint override, plus the API version and path), signs
//! it afresh for every attempt (new `date`), and sends exactly the signed bytes. `POST`
//! requests carry one `opc-retry-token` for all their attempts, so a retried create is not
//! done twice. Retries follow [`RetryPolicy`]. Errors carry the status, OCI's code and message,
//! the `opc-request-id`, and a hint when the status suggests one. Requests, responses and
//! errors are logged (at `debug`) without headers or bodies.

use super::error::{Error, ServiceError};
use super::profile::Profile;
use super::region::{Region, Service};
use super::request::{ItemsOf, ListShape, Request, Response};
use super::retry::{is_retryable_status, parse_retry_after, random_token, RetryPolicy};
use super::signer::Signer;
use http::header::{HeaderName, HeaderValue, ACCEPT};
use http::Method;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;
use zeroize::Zeroizing;

/// Most pages a listing follows before it gives up (a guard against a server that loops).
const MAX_PAGES: usize = 10_000;

/// Configures a [`Client`].
pub struct ClientBuilder {
    signer: Signer,
    region: Region,
    endpoint_override: Option<Url>,
    root_certificates: Vec<reqwest::Certificate>,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    poll_interval: Duration,
    user_agent: String,
}

impl ClientBuilder {
    /// Sends every call to `base_url` instead of the region's service hosts, keeping the API
    /// version and path (`https://127.0.0.1:8443` → `https://127.0.0.1:8443/20160918/instances`);
    /// a path in `base_url` is kept as a prefix. For tests and private endpoints.
    pub fn endpoint_override(mut self, base_url: &str) -> Result<Self, Error> {
        let url = Url::parse(base_url.trim()).map_err(|e| {
            Error::InvalidInput(format!(
                "the endpoint override '{base_url}' is not a URL ({e})"
            ))
        })?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(Error::InvalidInput(format!(
                "the endpoint override '{base_url}' must be an http:// or https:// URL with a host"
            )));
        }
        self.endpoint_override = Some(url);
        Ok(self)
    }

    /// Also trusts the CA certificate(s) in `pem` (one or more `BEGIN CERTIFICATE` blocks),
    /// besides the public web roots: for a private endpoint, a TLS-inspecting proxy, or a test
    /// server with a self-signed certificate.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            Error::InvalidInput(format!("the CA certificate PEM cannot be read ({e})"))
        })?;
        if certs.is_empty() || !String::from_utf8_lossy(pem).contains("BEGIN CERTIFICATE") {
            return Err(Error::InvalidInput(
                "the CA certificate PEM holds no '-----BEGIN CERTIFICATE-----' block".into(),
            ));
        }
        self.root_certificates.extend(certs);
        Ok(self)
    }

    /// How calls are retried (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The deadline of one attempt, from connecting to the end of the body (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline for establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often work requests are polled (default 2 s).
    pub fn work_request_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The `User-Agent` sent.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent);
        for cert in self.root_certificates {
            http = http.add_root_certificate(cert);
        }
        let http = http
            .build()
            .map_err(|e| Error::InvalidInput(format!("cannot set up the HTTP client ({e})")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                signer: self.signer,
                region: self.region,
                endpoint_override: self.endpoint_override,
                retry: self.retry,
                poll_interval: self.poll_interval,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("signer", &self.signer)
            .field("region", &self.region.name())
            .field(
                "endpoint_override",
                &self.endpoint_override.as_ref().map(Url::as_str),
            )
            .field("extra_root_certificates", &self.root_certificates.len())
            .field("retry", &self.retry)
            .finish()
    }
}

/// An OCI API client for one identity and region. Cheap to clone and share between tasks.
///
/// ```no_run
/// use k3s_sdk::oci::{Client, Profile};
/// # async fn demo() -> Result<(), k3s_sdk::oci::Error> {
/// let profile = Profile::from_file(None, "DEFAULT")?;
/// let client = Client::from_profile(&profile)?.build()?;
/// for instance in client.compute().list_instances("ocid1.compartment.oc1..aaaa", Some("RUNNING")).await? {
///     let addresses = client.resolve_instance_addresses(&instance.id).await?;
///     println!("{} {} {:?}", instance.display_name, addresses.private_ip, addresses.public_ip);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    signer: Signer,
    region: Region,
    endpoint_override: Option<Url>,
    retry: RetryPolicy,
    poll_interval: Duration,
}

impl Client {
    /// Starts a client for `signer` in `region`.
    pub fn builder(signer: Signer, region: Region) -> ClientBuilder {
        ClientBuilder {
            signer,
            region,
            endpoint_override: None,
            root_certificates: Vec::new(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(2),
            user_agent: format!(
                "k3s-sdk/{} (terraform-provider-k3s)",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }

    /// Starts a client for a profile: loads its key (checking the fingerprint) and takes its
    /// region.
    pub fn from_profile(profile: &Profile) -> Result<ClientBuilder, Error> {
        Ok(Client::builder(profile.signer()?, profile.region().clone()))
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.inner.region
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    /// The URL a request goes to: the service endpoint (or the override), the API version, `path`
    /// (already encoded, see [`encode_path_segment`](super::encode_path_segment)) and `query`
    /// (form-encoded).
    pub fn url(&self, service: Service, path: &str, query: &[(String, String)]) -> Url {
        let mut url = match &self.inner.endpoint_override {
            Some(base) => base.clone(),
            None => self.inner.region.endpoint(service),
        };
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{}{path}", service.api_version()));
        url.set_query(None);
        url.set_fragment(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends a request: signs each attempt afresh, retries per the policy, and returns the
    /// 2xx response or the error OCI gave.
    pub async fn execute(&self, request: Request) -> Result<Response, Error> {
        let url = self.url(request.service, &request.path, &request.query);
        let policy = &self.inner.retry;
        let mut headers = request.headers.clone();
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        if request.method == Method::POST && !headers.contains_key("opc-retry-token") {
            headers.insert(
                HeaderName::from_static("opc-retry-token"),
                HeaderValue::from_str(&random_token(32)).expect("alphanumeric"),
            );
        }
        if !headers.contains_key("opc-request-id") {
            headers.insert(
                HeaderName::from_static("opc-request-id"),
                HeaderValue::from_str(&random_token(32).to_ascii_uppercase())
                    .expect("alphanumeric"),
            );
        }
        headers.insert(
            HeaderName::from_static("opc-client-retries"),
            HeaderValue::from_static(if policy.attempts() > 1 {
                "true"
            } else {
                "false"
            }),
        );
        headers.remove(http::header::DATE);

        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut attempt_headers = headers.clone();
            self.inner
                .signer
                .sign(&request.method, &url, &mut attempt_headers, &request.body)?;
            let sent = self
                .inner
                .http
                .request(request.method.clone(), url.clone())
                .headers(attempt_headers)
                .body(request.body.clone())
                .send()
                .await;
            let (failure, retry_after) = match sent {
                Ok(response) => {
                    let status = response.status();
                    let response_headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => {
                            let response = Response {
                                operation: request.operation.clone(),
                                url: url.to_string(),
                                status,
                                headers: response_headers,
                                body: Zeroizing::new(body.to_vec()),
                            };
                            tracing::debug!(
                                operation = %request.operation,
                                method = %request.method,
                                url = %url,
                                attempt,
                                status = status.as_u16(),
                                opc_request_id = response.opc_request_id().unwrap_or(""),
                                elapsed_ms = started.elapsed().as_millis() as u64,
                                "OCI call"
                            );
                            if status.is_success() {
                                return Ok(response);
                            }
                            let error = self.service_error(&request, &url, &response, attempt);
                            if !is_retryable_status(status.as_u16(), &error.code) {
                                return Err(Error::Service(Box::new(error)));
                            }
                            let retry_after = response
                                .header("retry-after")
                                .and_then(|v| parse_retry_after(v, SystemTime::now()));
                            (Failure::Service(Box::new(error)), retry_after)
                        }
                        Err(e) => (Failure::Transport(describe_reqwest(&e)), None),
                    }
                }
                Err(e) if e.is_builder() => {
                    return Err(Error::InvalidInput(format!(
                        "cannot build the request to {url} ({})",
                        describe_reqwest(&e)
                    )))
                }
                Err(e) => (Failure::Transport(describe_reqwest(&e)), None),
            };
            let delay = policy.delay(attempt, retry_after);
            let elapsed = started.elapsed();
            if attempt >= policy.attempts() || elapsed + delay > policy.elapsed_budget() {
                return Err(match failure {
                    Failure::Service(mut error) => {
                        error.attempts = attempt;
                        Error::Service(error)
                    }
                    Failure::Transport(reason) => Error::Transport {
                        operation: request.operation.clone(),
                        method: request.method.to_string(),
                        url: url.to_string(),
                        attempts: attempt,
                        elapsed,
                        reason,
                    },
                });
            }
            let why = match &failure {
                Failure::Service(e) => format!("HTTP {} {}", e.status, e.code),
                Failure::Transport(reason) => reason.clone(),
            };
            tracing::info!(
                operation = %request.operation,
                url = %url,
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason = %why,
                "OCI call failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Runs a list request through every page (`opc-next-page` → `page=`) and returns all
    /// items. `shape` says whether the body is a bare array or `{"items": [...]}`.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        request: Request,
        shape: ListShape,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut this = request.clone();
            if let Some(page) = &page {
                this = this.set_query("page", page);
            }
            let response = self.execute(this).await?;
            match shape {
                ListShape::Array => items.extend(response.json::<Vec<T>>()?),
                ListShape::Items => items.extend(response.json::<ItemsOf<T>>()?.items),
            }
            match response.next_page() {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.to_owned()) {
                        return Err(Error::Decode {
                            operation: request.operation.clone(),
                            url: response.url.clone(),
                            reason: format!("the service returned the page token '{next}' twice"),
                            opc_request_id: response.opc_request_id().map(str::to_owned),
                        });
                    }
                    page = Some(next.to_owned());
                }
                _ => return Ok(items),
            }
        }
        Err(Error::Decode {
            operation: request.operation.clone(),
            url: self
                .url(request.service, &request.path, &request.query)
                .to_string(),
            reason: format!("more than {MAX_PAGES} pages"),
            opc_request_id: None,
        })
    }

    fn service_error(
        &self,
        request: &Request,
        url: &Url,
        response: &Response,
        attempts: u32,
    ) -> ServiceError {
        #[derive(serde::Deserialize)]
        struct Body {
            code: Option<String>,
            message: Option<String>,
        }
        let parsed: Option<Body> = serde_json::from_slice(response.body()).ok();
        let (code, message) = match parsed {
            Some(Body {
                code: Some(code),
                message,
            }) => (code, message.unwrap_or_default()),
            _ => {
                let text = String::from_utf8_lossy(response.body());
                let text = text.trim();
                let message = if text.is_empty() {
                    "(no response body)".to_owned()
                } else {
                    text.chars().take(300).collect()
                };
                ("BadErrorResponse".to_owned(), message)
            }
        };
        let status = response.status.as_u16();
        let hint = self.hint(status, &code, response);
        ServiceError {
            operation: request.operation.clone(),
            method: request.method.to_string(),
            url: url.to_string(),
            status,
            code,
            message,
            opc_request_id: response.opc_request_id().map(str::to_owned),
            attempts,
            hint,
        }
    }

    fn hint(&self, status: u16, code: &str, response: &Response) -> Option<String> {
        let signer = &self.inner.signer;
        match (status, code) {
            (401, _) => {
                let skew = response
                    .header("date")
                    .and_then(|d| httpdate::parse_http_date(d).ok())
                    .map(|server| {
                        let now = SystemTime::now();
                        now.duration_since(server)
                            .or_else(|_| server.duration_since(now))
                            .unwrap_or_default()
                    });
                let clock = match skew {
                    Some(skew) if skew > Duration::from_secs(300) => format!(
                        "this machine's clock is {}s off from the service's: fix the clock \
                         (NTP); OCI rejects requests more than 5 minutes off",
                        skew.as_secs()
                    ),
                    _ => "this machine's clock must be within 5 minutes of real time (check NTP)"
                        .to_owned(),
                };
                Some(format!(
                    "Hint: OCI did not accept the request signature. Check (1) clock skew: \
                     {clock}; (2) fingerprint mismatch: the request was signed as {}, and the \
                     private key's own fingerprint is {}: the fingerprint must be the one the \
                     console lists for this user's uploaded API key; (3) wrong key or key not \
                     uploaded: the public key of this private key must be uploaded to that user \
                     in that tenancy (a deleted or never-uploaded key fails this way), and a \
                     session token must not have expired (`oci session refresh`)",
                    signer.key_id().describe(),
                    signer.key().fingerprint()
                ))
            }
            (404, _) => Some(format!(
                "Hint: the resource does not exist in region {}, or no IAM policy lets this user \
                 see it; check the OCID, the region and the compartment's policies",
                self.inner.region.name()
            )),
            (403, _) => Some(
                "Hint: the user is not allowed to do this; check the IAM policies (some \
                 operations, like IAM changes, must also target the home region)"
                    .to_owned(),
            ),
            (429, _) => Some(
                "Hint: OCI is throttling this user's requests; wait a little and try again with \
                 fewer calls in parallel (e.g. terraform -parallelism=2)"
                    .to_owned(),
            ),
            (409, "IncorrectState" | "LockConflict") => Some(
                "Hint: the resource is busy with another change; try again once it finishes"
                    .to_owned(),
            ),
            (500..=599, _) if status != 501 => Some(
                "Hint: the OCI service failed; try again later, and quote the opc-request-id to \
                 Oracle support if it persists"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("signer", &self.inner.signer)
            .field("region", &self.inner.region.name())
            .field(
                "endpoint_override",
                &self.inner.endpoint_override.as_ref().map(Url::as_str),
            )
            .field("retry", &self.inner.retry)
            .finish()
    }
}

enum Failure {
    Service(Box<ServiceError>),
    Transport(String),
}

/// The reqwest error with its causes, which carry the useful part ("connection refused",
/// "invalid peer certificate: UnknownIssuer").
fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
