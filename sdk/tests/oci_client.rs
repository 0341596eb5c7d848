//! The OCI client against a loopback HTTP server started by each test: retries (429 storms with
//! `Retry-After`, 5xx but not 501, 409 `IncorrectState` but not `Conflict`, dropped
//! connections), the attempt and time budgets, a constant `opc-retry-token` and a fresh,
//! re-signed `date` on every attempt, error messages (status, code, `opc-request-id`, the 401
//! hint), pagination, the typed calls (instances and addresses, NLB backends and work requests,
//! secret bundles) and the endpoint override. Only 127.0.0.1 is ever contacted.

use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use k3s_sdk::oci::{
    Client, CreateBackendDetails, Error, KeyId, PrivateKey, Region, RetryPolicy, SecretVersion,
    Signer,
};
use rsa::signature::Verifier as _;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

const SAMPLE_KEY: &str = include_str!("../src/oci/testdata/oci_sample_key.pem");
const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
const FINGERPRINT: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }

    fn query(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({"code": code, "message": message}),
        )
        .with("opc-request-id", &format!("REQ-{status}-{code}"))
    }

    /// Sets a header, replacing one of the same name.
    fn with(mut self, name: &str, value: &str) -> Reply {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct TestServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `handler`; the first `drop_connections` connections are closed unanswered.
    async fn start_with(handler: Handler, drop_connections: usize) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                if accepted.fetch_add(1, Ordering::SeqCst) < drop_connections {
                    drop(stream);
                    continue;
                }
                let (handler, log) = (handler.clone(), task_log.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let (handler, log) = (handler.clone(), log.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await.unwrap().to_bytes().to_vec();
                                let recorded = Recorded {
                                    method: parts.method.to_string(),
                                    target: parts.uri.path_and_query().unwrap().as_str().to_owned(),
                                    headers: parts.headers,
                                    body,
                                    at: Instant::now(),
                                };
                                let reply = handler(&recorded);
                                log.lock().unwrap().push(recorded);
                                let mut response = hyper::Response::builder().status(reply.status);
                                for (k, v) in &reply.headers {
                                    response = response.header(k, v);
                                }
                                Ok::<_, Infallible>(
                                    response.body(Full::new(Bytes::from(reply.body))).unwrap(),
                                )
                            }
                        });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        TestServer { addr, log, task }
    }

    async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> TestServer {
        TestServer::start_with(Arc::new(handler), 0).await
    }

    /// Answers with `replies` in order, then `then` forever.
    async fn scripted(replies: Vec<Reply>, then: Reply) -> TestServer {
        let queue = Mutex::new(std::collections::VecDeque::from(replies));
        TestServer::start(move |_| {
            queue
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| then.clone())
        })
        .await
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn signer() -> Signer {
    let key = PrivateKey::from_pem(SAMPLE_KEY, None).unwrap();
    Signer::new(KeyId::api_key(TENANCY, USER, FINGERPRINT), key)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(40))
        .jitter(Duration::from_millis(5))
        .max_retry_after(Duration::from_secs(2))
}

fn client_for(server: &TestServer, retry: RetryPolicy) -> Client {
    Client::builder(signer(), Region::new("us-ashburn-1").unwrap())
        .endpoint_override(&server.url())
        .unwrap()
        .retry_policy(retry)
        .work_request_poll_interval(Duration::from_millis(20))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Checks a received request's signature with the sample public key, rebuilding the signing
/// string from what arrived (a minimal verifier; the acceptance tests use a complete one).
fn assert_signed(request: &Recorded) {
    let auth = request.header("authorization");
    let param = |name: &str| {
        let start = auth.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + auth[start..].find('"').unwrap();
        auth[start..end].to_owned()
    };
    assert_eq!(param("keyId"), format!("{TENANCY}/{USER}/{FINGERPRINT}"));
    let lines: Vec<String> = param("headers")
        .split(' ')
        .map(|name| match name {
            "(request-target)" => format!(
                "{name}: {} {}",
                request.method.to_lowercase(),
                request.target
            ),
            _ => format!("{name}: {}", request.header(name)),
        })
        .collect();
    if ["POST", "PUT", "PATCH"].contains(&request.method.as_str()) {
        assert_eq!(
            request.header("content-length"),
            request.body.len().to_string()
        );
        assert_eq!(
            request.header("x-content-sha256"),
            base64::engine::general_purpose::STANDARD
                .encode(<sha2::Sha256 as sha2::Digest>::digest(&request.body))
        );
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(param("signature"))
        .unwrap();
    let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(
        PrivateKey::from_pem(SAMPLE_KEY, None)
            .unwrap()
            .public_key()
            .clone(),
    );
    key.verify(
        lines.join("\n").as_bytes(),
        &rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap(),
    )
    .expect("the signature verifies");
}

fn date_of(request: &Recorded) -> SystemTime {
    httpdate::parse_http_date(request.header("date")).unwrap()
}

#[tokio::test]
async fn a_429_storm_is_retried_honouring_retry_after() {
    let server = TestServer::scripted(
        vec![
            Reply::error(429, "TooManyRequests", "Too many requests for the user")
                .with("retry-after", "1"),
            Reply::error(429, "TooManyRequests", "Too many requests for the user"),
            Reply::error(429, "TooManyRequests", "Too many requests for the user")
                .with("retry-after", "3600"),
        ],
        Reply::json(200, serde_json::json!([])),
    )
    .await;
    let client = client_for(&server, fast_retries());
    let started = Instant::now();
    let instances = client
        .compute()
        .list_instances("ocid1.compartment.oc1..c", None)
        .await
        .unwrap();
    assert!(instances.is_empty());
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    // Retry-After: 1 was waited for; Retry-After: 3600 was cut to the 2 s cap.
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(990), "waited only {gap:?}");
    let capped = requests[3].at - requests[2].at;
    assert!(
        capped >= Duration::from_millis(1990) && capped < Duration::from_secs(10),
        "{capped:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
    // Every attempt is re-signed with a fresh date.
    assert!(date_of(&requests[1]) > date_of(&requests[0]));
    assert_ne!(
        requests[0].header("authorization"),
        requests[1].header("authorization")
    );
    for request in &requests {
        assert_signed(request);
        assert_eq!(request.header("opc-client-retries"), "true");
    }
    // One logical call, one client request id.
    assert_eq!(
        requests[0].header("opc-request-id"),
        requests[3].header("opc-request-id")
    );
}

#[tokio::test]
async fn a_501_is_not_retried() {
    let server =
        TestServer::scripted(vec![], Reply::error(501, "MethodNotImplemented", "nope")).await;
    let client = client_for(&server, fast_retries());
    let err = client
        .compute()
        .get_instance("ocid1.instance.oc1.iad.x")
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(err.status(), Some(501));
    assert_eq!(err.code(), Some("MethodNotImplemented"));
}

#[tokio::test]
async fn a_409_incorrect_state_is_retried_but_not_a_409_conflict() {
    let server = TestServer::scripted(
        vec![
            Reply::error(409, "IncorrectState", "busy"),
            Reply::error(503, "ServiceUnavailable", "later"),
        ],
        Reply::json(
            200,
            serde_json::json!({"id": "ocid1.vnic.oc1.iad.v", "privateIp": "10.0.0.9"}),
        ),
    )
    .await;
    let vnic = client_for(&server, fast_retries())
        .virtual_network()
        .get_vnic("ocid1.vnic.oc1.iad.v")
        .await
        .unwrap();
    assert_eq!(vnic.private_ip.as_deref(), Some("10.0.0.9"));
    assert_eq!(server.requests().len(), 3);

    let server = TestServer::scripted(
        vec![],
        Reply::error(409, "Conflict", "Invalid State Transition"),
    )
    .await;
    let err = client_for(&server, fast_retries())
        .virtual_network()
        .get_vnic("ocid1.vnic.oc1.iad.v")
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(err.code(), Some("Conflict"));
}

#[tokio::test]
async fn post_retries_keep_the_retry_token_and_re_sign_with_a_fresh_date() {
    let server = TestServer::scripted(
        vec![
            Reply::error(503, "ServiceUnavailable", "later").with("retry-after", "1"),
            Reply::error(500, "InternalServerError", "oops"),
        ],
        Reply::json(202, serde_json::json!({}))
            .with("opc-work-request-id", "ocid1.nlbworkrequest.oc1.iad.w"),
    )
    .await;
    let client = client_for(&server, fast_retries());
    let work_request = client
        .network_load_balancer()
        .create_backend(
            "ocid1.nlb.oc1.iad.n",
            "k3s-https",
            &CreateBackendDetails::ip("10.0.0.3", 443),
        )
        .await
        .unwrap();
    assert_eq!(work_request, "ocid1.nlbworkrequest.oc1.iad.w");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let token = requests[0].header("opc-retry-token").to_owned();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.path(),
            "/20200501/networkLoadBalancers/ocid1.nlb.oc1.iad.n/backendSets/k3s-https/backends"
        );
        assert_eq!(request.header("opc-retry-token"), token);
        assert_eq!(request.body, br#"{"port":443,"ipAddress":"10.0.0.3"}"#);
        assert_eq!(request.header("content-type"), "application/json");
        assert_signed(request);
    }
    assert!(
        date_of(&requests[1]) > date_of(&requests[0]),
        "the date is fresh on the retry"
    );
    assert_ne!(
        requests[0].header("authorization"),
        requests[1].header("authorization")
    );

    // Another logical call gets another token.
    client
        .network_load_balancer()
        .create_backend(
            "ocid1.nlb.oc1.iad.n",
            "k3s-https",
            &CreateBackendDetails::ip("10.0.0.4", 443),
        )
        .await
        .unwrap();
    assert_ne!(server.requests()[3].header("opc-retry-token"), token);
}

#[tokio::test]
async fn dropped_connections_are_retried_and_refused_ones_reported() {
    let server = TestServer::start_with(
        Arc::new(|_| Reply::json(200, serde_json::json!({"id": "v", "privateIp": "10.0.0.7"}))),
        2,
    )
    .await;
    let vnic = client_for(&server, fast_retries())
        .virtual_network()
        .get_vnic("v")
        .await
        .unwrap();
    assert_eq!(vnic.private_ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(
        server.requests().len(),
        1,
        "two dropped connections, then one answer"
    );

    // Nothing listens: the error names the call, the URL, the attempts and what to check.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = Client::builder(signer(), Region::new("iad").unwrap())
        .endpoint_override(&url)
        .unwrap()
        .retry_policy(fast_retries().max_attempts(3))
        .build()
        .unwrap();
    let err = client
        .virtual_network()
        .get_vnic("v")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "OCI GetVnic (GET {url}/20160918/vnics/v) failed after 3 attempts"
        )),
        "{err}"
    );
    assert!(err.contains("check network access"), "{err}");
}

#[tokio::test]
async fn attempt_and_time_budgets_bound_the_retries() {
    let server =
        TestServer::scripted(vec![], Reply::error(503, "ServiceUnavailable", "down")).await;
    let err = client_for(&server, fast_retries().max_attempts(3))
        .compute()
        .get_instance("i")
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 3);
    let text = err.to_string();
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(
        text.contains("opc-request-id: REQ-503-ServiceUnavailable"),
        "{text}"
    );

    let server =
        TestServer::scripted(vec![], Reply::error(503, "ServiceUnavailable", "down")).await;
    let policy = fast_retries()
        .max_attempts(100)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(100))
        .jitter(Duration::ZERO)
        .max_elapsed(Duration::from_millis(350));
    let started = Instant::now();
    client_for(&server, policy)
        .compute()
        .get_instance("i")
        .await
        .unwrap_err();
    let attempts = server.requests().len();
    assert!((3..=4).contains(&attempts), "{attempts} attempts");
    assert!(started.elapsed() < Duration::from_secs(2));

    let server =
        TestServer::scripted(vec![], Reply::error(503, "ServiceUnavailable", "down")).await;
    client_for(&server, RetryPolicy::none())
        .compute()
        .get_instance("i")
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_401_explains_itself() {
    let skewed = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(900));
    let server = TestServer::scripted(
        vec![],
        Reply::error(401, "NotAuthenticated", "The required information to complete authentication was provided but the signature was invalid.")
            .with("opc-request-id", "ABC123/DEF456/GHI789")
            .with("date", &skewed),
    )
    .await;
    let err = client_for(&server, fast_retries())
        .compute()
        .get_instance("ocid1.instance.oc1.iad.x")
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1, "401 is not retried");
    let text = err.to_string();
    for expected in [
        "OCI GetInstance (GET http://",
        "/20160918/instances/ocid1.instance.oc1.iad.x) failed: HTTP 401 NotAuthenticated: The required information",
        "opc-request-id: ABC123/DEF456/GHI789",
        "clock skew",
        "s off from the service's",
        "fingerprint mismatch",
        FINGERPRINT,
        "wrong key or key not uploaded",
        USER,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }
    let service = err.service().unwrap();
    assert_eq!(
        service.opc_request_id.as_deref(),
        Some("ABC123/DEF456/GHI789")
    );
    // No signature, key or authorization value in the error.
    let signature = server.requests()[0]
        .header("authorization")
        .rsplit("signature=\"")
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let shown = format!("{text} {err:?}");
    assert!(!shown.contains(&signature));
    assert!(!shown.contains("MIIC"));

    // A body that is not OCI's JSON error.
    let server = TestServer::scripted(
        vec![],
        Reply {
            status: 404,
            headers: vec![],
            body: b"<html>nope</html>".to_vec(),
        },
    )
    .await;
    let text = client_for(&server, fast_retries())
        .compute()
        .get_instance("i")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("HTTP 404 BadErrorResponse: <html>nope</html> (opc-request-id: none)"),
        "{text}"
    );
    assert!(
        text.contains("Hint: the resource does not exist in region us-ashburn-1"),
        "{text}"
    );
}

#[tokio::test]
async fn listing_follows_every_page() {
    let server = TestServer::start(|request| {
        let page = request
            .query()
            .into_iter()
            .find(|(k, _)| k == "page")
            .map(|(_, v)| v);
        let instance = |n: u32| {
            serde_json::json!({
                "id": format!("ocid1.instance.oc1.iad.{n}"), "displayName": format!("node-{n}"),
                "compartmentId": "ocid1.compartment.oc1..c", "lifecycleState": "RUNNING",
                "availabilityDomain": "Uocm:US-ASHBURN-AD-1", "shape": "VM.Standard.A1.Flex",
                "freeformTags": {"role": "k3s-agent"},
                "definedTags": {"ops": {"cluster": "prod", "weight": 3}},
                "someFieldThisSdkIgnores": {"deep": [1, 2]}
            })
        };
        match page.as_deref() {
            None => Reply::json(200, serde_json::json!([instance(1), instance(2)]))
                .with("opc-next-page", "page two/+="),
            Some("page two/+=") => {
                Reply::json(200, serde_json::json!([instance(3)])).with("opc-next-page", "p3")
            }
            Some("p3") => Reply::json(200, serde_json::json!([instance(4)])),
            Some(other) => Reply::error(400, "InvalidParameter", &format!("bad page {other}")),
        }
    })
    .await;
    let client = client_for(&server, fast_retries());
    let instances = client
        .compute()
        .list_instances("ocid1.compartment.oc1..c", Some("RUNNING"))
        .await
        .unwrap();
    let names: Vec<&str> = instances.iter().map(|i| i.display_name.as_str()).collect();
    assert_eq!(names, ["node-1", "node-2", "node-3", "node-4"]);
    assert_eq!(instances[0].freeform_tags["role"], "k3s-agent");
    assert_eq!(
        instances[0].defined_tag("ops", "cluster"),
        Some(&serde_json::json!("prod"))
    );
    assert_eq!(
        instances[0].defined_tag("ops", "weight"),
        Some(&serde_json::json!(3))
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(request.path(), "/20160918/instances");
        let query = request.query();
        assert!(query.contains(&("compartmentId".into(), "ocid1.compartment.oc1..c".into())));
        assert!(query.contains(&("lifecycleState".into(), "RUNNING".into())));
        assert_signed(request);
    }
    assert!(
        requests[1].target.contains("page=page+two%2F%2B%3D"),
        "{}",
        requests[1].target
    );
}

#[tokio::test]
async fn instance_addresses_come_from_the_primary_attached_vnic() {
    let server = TestServer::start(|request| match request.path() {
        "/20160918/instances/ocid1.instance.oc1.iad.k3s" => Reply::json(200, serde_json::json!({
            "id": "ocid1.instance.oc1.iad.k3s", "displayName": "k3s-server", "lifecycleState": "RUNNING",
            "compartmentId": "ocid1.compartment.oc1..c"
        })),
        "/20160918/vnicAttachments" => Reply::json(200, serde_json::json!([
            {"id": "a0", "instanceId": "ocid1.instance.oc1.iad.k3s", "vnicId": "vnic-old", "lifecycleState": "DETACHED", "nicIndex": 0},
            {"id": "a2", "instanceId": "ocid1.instance.oc1.iad.k3s", "vnicId": "vnic-secondary", "lifecycleState": "ATTACHED", "nicIndex": 1},
            {"id": "a1", "instanceId": "ocid1.instance.oc1.iad.k3s", "vnicId": "vnic-primary", "lifecycleState": "ATTACHED", "nicIndex": 0},
            {"id": "a3", "instanceId": "ocid1.instance.oc1.iad.k3s", "lifecycleState": "ATTACHING"}
        ])),
        "/20160918/vnics/vnic-primary" => Reply::json(200, serde_json::json!({
            "id": "vnic-primary", "privateIp": "10.0.0.241", "publicIp": "203.0.113.10", "isPrimary": true, "hostnameLabel": "k3s-server"
        })),
        "/20160918/vnics/vnic-secondary" => Reply::json(200, serde_json::json!({
            "id": "vnic-secondary", "privateIp": "10.0.1.5", "isPrimary": false
        })),
        other => Reply::error(404, "NotAuthorizedOrNotFound", other),
    })
    .await;
    let client = client_for(&server, fast_retries());
    let addresses = client
        .resolve_instance_addresses("ocid1.instance.oc1.iad.k3s")
        .await
        .unwrap();
    assert_eq!(addresses.private_ip, "10.0.0.241");
    assert_eq!(addresses.public_ip.as_deref(), Some("203.0.113.10"));
    assert_eq!(addresses.hostname_label.as_deref(), Some("k3s-server"));
    assert_eq!(addresses.vnic_id, "vnic-primary");
    assert_eq!(addresses.vnics.len(), 2);
    assert_eq!(addresses.vnics[1].private_ip.as_deref(), Some("10.0.1.5"));
    let attachments = server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/20160918/vnicAttachments")
        .unwrap();
    assert_eq!(
        attachments.query(),
        vec![
            (
                "compartmentId".to_owned(),
                "ocid1.compartment.oc1..c".to_owned()
            ),
            (
                "instanceId".to_owned(),
                "ocid1.instance.oc1.iad.k3s".to_owned()
            )
        ]
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.path() != "/20160918/vnics/vnic-old"));
}

#[tokio::test]
async fn nlb_backends_and_work_requests() {
    let polls = Arc::new(AtomicUsize::new(0));
    let backends = Arc::new(Mutex::new(vec![
        serde_json::json!({"name": "10.0.0.2:6443", "ipAddress": "10.0.0.2", "port": 6443, "weight": 1}),
    ]));
    let (p, b) = (polls.clone(), backends.clone());
    let server = TestServer::start(move |request| {
        let base = "/20200501/networkLoadBalancers/ocid1.nlb.oc1.iad.n/backendSets/k3s-api/backends";
        match (request.method.as_str(), request.path()) {
            ("GET", path) if path == base => Reply::json(200, serde_json::json!({"items": b.lock().unwrap().clone()})),
            ("POST", path) if path == base => {
                let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
                let name = format!("{}:{}", body["ipAddress"].as_str().unwrap(), body["port"]);
                b.lock().unwrap().push(serde_json::json!({"name": name, "ipAddress": body["ipAddress"], "port": body["port"]}));
                Reply::json(202, serde_json::json!({})).with("opc-work-request-id", "wr-create")
            }
            ("DELETE", path)
                if path == format!("{base}/10.0.0.2%3A6443")
                    && b.lock().unwrap().iter().any(|x| x["name"] == "10.0.0.2:6443") =>
            {
                b.lock().unwrap().retain(|x| x["name"] != "10.0.0.2:6443");
                Reply::json(202, serde_json::json!({})).with("opc-work-request-id", "wr-delete")
            }
            ("DELETE", _) => Reply::error(404, "NotAuthorizedOrNotFound", "no such backend"),
            ("GET", "/20200501/workRequests/wr-create") | ("GET", "/20200501/workRequests/wr-delete") => {
                let status = if p.fetch_add(1, Ordering::SeqCst) % 3 == 2 { "SUCCEEDED" } else { "IN_PROGRESS" };
                Reply::json(200, serde_json::json!({"id": request.path().rsplit('/').next().unwrap(), "operationType": "CREATE_BACKEND", "status": status}))
            }
            ("GET", "/20200501/workRequests/wr-failed") => Reply::json(200, serde_json::json!({"id": "wr-failed", "operationType": "CREATE_BACKEND", "status": "FAILED"})),
            ("GET", "/20200501/workRequests/wr-failed/errors") => Reply::json(200, serde_json::json!({"items": [{"code": "InternalError", "message": "backend port unreachable"}]})),
            ("GET", "/20200501/workRequests/wr-stuck") => Reply::json(200, serde_json::json!({"id": "wr-stuck", "operationType": "DELETE_BACKEND", "status": "IN_PROGRESS"})),
            (_, other) => Reply::error(404, "NotAuthorizedOrNotFound", other),
        }
    })
    .await;
    let client = client_for(&server, fast_retries());
    let nlb = client.network_load_balancer();
    let timeout = Duration::from_secs(5);

    let listed = nlb
        .list_backends("ocid1.nlb.oc1.iad.n", "k3s-api")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "10.0.0.2:6443");

    // Present already: nothing is created.
    let same = nlb
        .ensure_backend(
            "ocid1.nlb.oc1.iad.n",
            "k3s-api",
            &CreateBackendDetails::ip("10.0.0.2", 6443),
            timeout,
        )
        .await
        .unwrap();
    assert_eq!(same.port, 6443);
    assert!(server.requests().iter().all(|r| r.method != "POST"));

    // Absent: created, and the work request is polled to SUCCEEDED.
    let created = nlb
        .ensure_backend(
            "ocid1.nlb.oc1.iad.n",
            "k3s-api",
            &CreateBackendDetails::ip("10.0.0.3", 6443),
            timeout,
        )
        .await
        .unwrap();
    assert_eq!(created.name, "10.0.0.3:6443");
    assert_eq!(polls.load(Ordering::SeqCst), 3);

    // Removal encodes ':' as %3A, and a second removal finds nothing to do.
    assert!(nlb
        .remove_backend("ocid1.nlb.oc1.iad.n", "k3s-api", "10.0.0.2:6443", timeout)
        .await
        .unwrap());
    assert!(!nlb
        .remove_backend("ocid1.nlb.oc1.iad.n", "k3s-api", "10.0.0.2:6443", timeout)
        .await
        .unwrap());
    let delete = server
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .unwrap();
    assert_eq!(delete.target, "/20200501/networkLoadBalancers/ocid1.nlb.oc1.iad.n/backendSets/k3s-api/backends/10.0.0.2%3A6443");
    for request in server.requests() {
        assert_signed(&request);
    }

    let err = nlb
        .wait_for_work_request("wr-failed", timeout)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "OCI work request wr-failed (CREATE_BACKEND) ended FAILED: InternalError: backend port unreachable");
    let err = nlb
        .wait_for_work_request("wr-stuck", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("NLB work request wr-stuck (DELETE_BACKEND) to finish; it is IN_PROGRESS"),
        "{err}"
    );
}

#[tokio::test]
async fn secret_bundles_are_decoded_and_never_shown() {
    let server = TestServer::start(|request| {
        assert_eq!(request.path(), "/20190301/secretbundles/ocid1.vaultsecret.oc1.iad.s");
        let stage = request.query().into_iter().find(|(k, _)| k == "stage").map(|(_, v)| v);
        Reply::json(200, serde_json::json!({
            "secretId": "ocid1.vaultsecret.oc1.iad.s", "versionNumber": 4, "stages": ["CURRENT", "LATEST"],
            "secretBundleContent": {"contentType": "BASE64", "content": base64::engine::general_purpose::STANDARD.encode(format!("k3s-join-token-{}", stage.unwrap_or_default()))}
        }))
    })
    .await;
    let client = client_for(&server, fast_retries());
    let bundle = client
        .secrets()
        .get_secret_bundle("ocid1.vaultsecret.oc1.iad.s", &SecretVersion::Current)
        .await
        .unwrap();
    assert_eq!(bundle.content.expose(), b"k3s-join-token-");
    assert_eq!(bundle.version_number, Some(4));
    assert_eq!(bundle.stages, ["CURRENT", "LATEST"]);
    let shown = format!("{bundle:?}");
    assert!(!shown.contains("k3s-join-token"), "{shown}");
    assert!(shown.contains("SecretBytes(*** 15 bytes)"), "{shown}");
    let latest = client
        .secrets()
        .get_secret_bundle(
            "ocid1.vaultsecret.oc1.iad.s",
            &SecretVersion::Stage("LATEST".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        latest.content.to_secret_string().unwrap().expose(),
        "k3s-join-token-LATEST"
    );
}

#[tokio::test]
async fn the_endpoint_override_keeps_its_path_prefix() {
    let server =
        TestServer::scripted(vec![], Reply::json(200, serde_json::json!({"id": "v"}))).await;
    let client = Client::builder(signer(), Region::new("us-ashburn-1").unwrap())
        .endpoint_override(&format!("{}/oci-proxy/", server.url()))
        .unwrap()
        .build()
        .unwrap();
    client
        .virtual_network()
        .get_vnic("ocid1.vnic.oc1.iad.a:b")
        .await
        .unwrap();
    let request = &server.requests()[0];
    assert_eq!(
        request.target,
        "/oci-proxy/20160918/vnics/ocid1.vnic.oc1.iad.a%3Ab"
    );
    assert_eq!(request.header("host"), server.addr.to_string());
    assert_signed(request);

    assert!(Client::builder(signer(), Region::new("iad").unwrap())
        .endpoint_override("ftp://x")
        .is_err());
    let err = Client::builder(signer(), Region::new("iad").unwrap())
        .add_root_certificate_pem(b"not a certificate")
        .unwrap_err()
        .to_string();
    assert!(err.contains("CA certificate"), "{err}");
}
