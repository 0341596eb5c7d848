//! The SDK's OCI signer and client against the independent verifier
//! (`acceptance_tests::oci::verify`), which shares no code with them.
//!
//! - Thousands of random requests (every method; paths with unusual characters, encoded or
//!   left to the URL parser; queries with reserved characters; bodies from empty to 1 MiB)
//!   go out through the SDK's `Client` and, for raw URLs, through its `Signer` and a plain
//!   HTTP/1 connection, to a loopback server that verifies each one as received.
//! - Tampered requests (a changed body byte, query or path, a stale date, another key, no
//!   signature) are rejected, each for the right reason.
//! - Over HTTPS, the client trusts the fake OCI endpoint's CA only when told to, and the
//!   typed calls work against it for two tenancies.
//!
//! Only 127.0.0.1 is contacted. The random seed is printed; set `OCI_SIGNING_SEED` to replay a
//! run and `OCI_SIGNING_REQUESTS` to change the count (default 3000).

use acceptance_tests::oci::fake::FakeOci;
use acceptance_tests::oci::fixtures::{self, Fixtures};
use acceptance_tests::oci::verify::{verify, Received, Verified, VerifyError};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use k3s_sdk::oci::{
    encode_path_segment, Client, CreateBackendDetails, Environment, Error, KeyId, PrivateKey,
    Profile, Region, Request, RetryPolicy, Secret, SecretVersion, Service, Signer, Url,
};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const SAMPLE_KEY: &str = include_str!("../../sdk/src/oci/testdata/oci_sample_key.pem");
const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
const MAX_SKEW: Duration = Duration::from_secs(300);

/// What the verifying server saw.
#[derive(Clone, Debug)]
struct Verdict {
    method: String,
    target: String,
    body_len: usize,
    result: Result<Verified, VerifyError>,
}

/// A loopback HTTP/1 server that verifies every request with the independent verifier and
/// answers 200 (verified) or 401 (not).
struct VerifyingServer {
    addr: SocketAddr,
    verdicts: Arc<Mutex<Vec<Verdict>>>,
    task: tokio::task::JoinHandle<()>,
}

impl VerifyingServer {
    async fn start(keys: Vec<(String, k3s_sdk::oci::RsaPublicKey)>) -> VerifyingServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let verdicts: Arc<Mutex<Vec<Verdict>>> = Arc::default();
        let keys = Arc::new(keys);
        let log = verdicts.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (keys, log) = (keys.clone(), log.clone());
                tokio::spawn(async move {
                    let service = service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (keys, log) = (keys.clone(), log.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let target = parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str())
                                    .unwrap_or("/");
                                let received = Received {
                                    method: parts.method.as_str(),
                                    target,
                                    headers: &parts.headers,
                                    body: &body,
                                };
                                let result = verify(
                                    &received,
                                    |key_id| {
                                        keys.iter()
                                            .find(|(id, _)| id == key_id)
                                            .map(|(_, k)| k.clone())
                                    },
                                    SystemTime::now(),
                                    MAX_SKEW,
                                );
                                let (status, reply) = match &result {
                                Ok(_) => (200, r#"{"verified":true}"#.to_owned()),
                                Err(e) => (401, serde_json::json!({"code": "NotAuthenticated", "message": e.to_string()}).to_string()),
                            };
                                log.lock().unwrap().push(Verdict {
                                    method: parts.method.to_string(),
                                    target: target.to_owned(),
                                    body_len: body.len(),
                                    result,
                                });
                                Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/json")
                                        .header("opc-request-id", "verifier")
                                        .body(Full::new(Bytes::from(reply)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        VerifyingServer {
            addr,
            verdicts,
            task,
        }
    }

    fn verdicts(&self) -> Vec<Verdict> {
        self.verdicts.lock().unwrap().clone()
    }
}

impl Drop for VerifyingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends exactly `target`, `headers` and `body` over a fresh HTTP/1 connection; returns the
/// status.
async fn send_raw(
    addr: SocketAddr,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method.clone())
        .uri(target)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    *request.headers_mut() = headers.clone();
    let response = sender.send_request(request).await.unwrap();
    response.status().as_u16()
}

/// The path and query of `url` as they go on the wire.
fn wire_target(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

const UNUSUAL: &[&str] = &[
    "a",
    "Z",
    "0",
    "9",
    "-",
    "_",
    ".",
    "~",
    " ",
    ":",
    "@",
    "!",
    "$",
    "&",
    "'",
    "(",
    ")",
    "*",
    "+",
    ",",
    ";",
    "=",
    "%",
    "%41",
    "%2F",
    "é",
    "世界",
    "|",
    "^",
    "`",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "<",
    ">",
    "#",
    "?",
    "/",
    "\\",
    "\t",
    "ocid1.instance.oc1.phx.",
    "10.0.0.3:6443",
];

fn random_text(rng: &mut StdRng, max_pieces: usize) -> String {
    let pieces = rng.random_range(1..=max_pieces);
    (0..pieces)
        .map(|_| UNUSUAL[rng.random_range(0..UNUSUAL.len())])
        .collect()
}

/// Small bodies mostly (a tenth empty), some up to 16 KiB; `large` gives 16 KiB to 1 MiB.
fn random_body(rng: &mut StdRng, large: bool) -> Vec<u8> {
    let roll = rng.random_range(0..100);
    let len = if large {
        rng.random_range(16 * 1024..=1 << 20)
    } else if roll < 10 {
        0
    } else if roll < 85 {
        rng.random_range(1..=512)
    } else {
        rng.random_range(513..=16 * 1024)
    };
    let mut body = vec![0u8; len];
    rng.fill(body.as_mut_slice());
    body
}

const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::DELETE,
    Method::POST,
    Method::PUT,
    Method::PATCH,
];

fn has_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// One random request, either through the SDK's `Client` (path segments and query pairs it
/// encodes itself) or through its `Signer` with a raw URL sent as-is.
enum Planned {
    ViaClient(Request),
    Raw {
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Vec<u8>,
    },
}

/// Request number `index`: every 250th has a large body (so a few in a run), the others are
/// random; the first few cover an empty query, a backend name with `:`, an empty POST body and
/// an exactly 1 MiB body.
fn plan(rng: &mut StdRng, base: &str, index: usize) -> Planned {
    let large = index % 250 == 7;
    let mut method = METHODS[rng.random_range(0..METHODS.len())].clone();
    if large || index == 2 || index == 4 {
        method = Method::POST;
    }
    let mut body = if has_body(&method) {
        random_body(rng, large)
    } else {
        Vec::new()
    };
    if index == 2 {
        body.clear();
    }
    if index == 4 {
        body = vec![b'x'; 1 << 20];
    }
    let content_type = match rng.random_range(0..4) {
        0 => Some("application/octet-stream"),
        1 => Some("text/plain; charset=utf-8"),
        _ => None,
    };
    let mut segments: Vec<String> = (0..rng.random_range(1..=4))
        .map(|_| random_text(rng, 6))
        .collect();
    if index == 1 {
        segments = vec!["backends".into(), "10.0.0.3:6443".into()];
    }
    if index != 0 && rng.random_range(0..3) < 2 {
        // Through the client: segments percent-encoded by the SDK, or handed to the URL
        // parser raw (it encodes only what it must), pairs form-encoded.
        let path: String = segments
            .iter()
            .map(|s| {
                if index == 1 || rng.random_bool(0.5) {
                    format!("/{}", encode_path_segment(s))
                } else {
                    format!("/{s}")
                }
            })
            .collect();
        let mut request = Request::new(method, Service::Iaas, "Random", path);
        for _ in 0..rng.random_range(0..=4) {
            request = request.query(&random_text(rng, 3), random_text(rng, 5));
        }
        if has_body(request.method()) {
            let ct = HeaderValue::from_static(content_type.unwrap_or("application/json"));
            request = request.body(body, ct);
        }
        Planned::ViaClient(request)
    } else {
        // Through the signer with a raw URL: a query string with reserved characters as they
        // are (`:@/?!$'()*+,;=`, empty pairs, bare keys, `%41`), sometimes an empty query.
        let path: String = segments
            .iter()
            .map(|s| format!("/{}", encode_path_segment(s)))
            .collect();
        const RAW_QUERY: &[&str] = &[
            "a=b",
            "x=1:2@3/4?5",
            "k=%41%2F",
            "&",
            "=v",
            "bare",
            "q=a+b",
            "s=!$'()*,;",
            "sort=name,-time",
            "page=AAAA%3D%3D",
            "compartmentId=ocid1.compartment.oc1..x",
            "e=",
            "t=~-._",
        ];
        let query = match if index == 0 {
            1
        } else {
            rng.random_range(0..5)
        } {
            0 => String::new(),
            1 => "?".to_owned(),
            _ => {
                let pairs: Vec<&str> = (0..rng.random_range(1..=5))
                    .map(|_| RAW_QUERY[rng.random_range(0..RAW_QUERY.len())])
                    .collect();
                format!("?{}", pairs.join("&"))
            }
        };
        let url = Url::parse(&format!("{base}{path}{query}")).unwrap();
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type.filter(|_| has_body(&method)) {
            headers.insert("content-type", HeaderValue::from_static(ct));
        }
        Planned::Raw {
            method,
            url,
            headers,
            body,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_random_requests_verify() {
    let count: usize = std::env::var("OCI_SIGNING_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("OCI_SIGNING_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("OCI_SIGNING_SEED={seed} OCI_SIGNING_REQUESTS={count}");

    // A fresh 2048-bit key (signed by ring) for most requests, and the published 1024-bit
    // sample key (signed by the rsa crate, slow in unoptimised builds) for every 25th.
    let key =
        PrivateKey::from_pem(&fixtures::generate_api_key().unwrap().private_key_pem, None).unwrap();
    assert_eq!(key.implementation(), "ring");
    let sample = PrivateKey::from_pem(SAMPLE_KEY, None).unwrap();
    assert_eq!(sample.implementation(), "rsa");
    let key_ids = [
        format!("{TENANCY}/{USER}/{}", key.fingerprint()),
        format!("{TENANCY}/{USER}/{}", sample.fingerprint()),
    ];
    let server = VerifyingServer::start(vec![
        (key_ids[0].clone(), key.public_key().clone()),
        (key_ids[1].clone(), sample.public_key().clone()),
    ])
    .await;
    let signers = [
        Signer::new(KeyId::api_key(TENANCY, USER, key.fingerprint()), key),
        Signer::new(KeyId::api_key(TENANCY, USER, sample.fingerprint()), sample),
    ];
    let base = format!("http://{}", server.addr);
    let clients = signers.clone().map(|signer| {
        Client::builder(signer, Region::new("us-phoenix-1").unwrap())
            .endpoint_override(&base)
            .unwrap()
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap()
    });

    let mut rng = StdRng::seed_from_u64(seed);
    let plans: Vec<Planned> = (0..count)
        .map(|index| plan(&mut rng, &base, index))
        .collect();
    let started = Instant::now();
    let plans = Arc::new(Mutex::new(
        plans.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (plans, clients, signers, addr) =
            (plans.clone(), clients.clone(), signers.clone(), server.addr);
        workers.spawn(async move {
            let mut failures = Vec::new();
            loop {
                let Some((index, planned)) = plans.lock().unwrap().pop() else {
                    break;
                };
                let which = usize::from(index % 25 == 24);
                let (client, signer) = (&clients[which], &signers[which]);
                match planned {
                    Planned::ViaClient(request) => {
                        let what = format!("#{index} {request:?}");
                        if let Err(e) = client.execute(request).await {
                            failures.push(format!("{what}: {e}"));
                        }
                    }
                    Planned::Raw {
                        method,
                        url,
                        mut headers,
                        body,
                    } => {
                        signer.sign(&method, &url, &mut headers, &body).unwrap();
                        let status =
                            send_raw(addr, &method, &wire_target(&url), &headers, body).await;
                        if status != 200 {
                            failures.push(format!("#{index} raw {method} {url}: HTTP {status}"));
                        }
                    }
                }
            }
            failures
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = workers.join_next().await {
        failures.extend(done.unwrap());
    }
    let elapsed = started.elapsed();

    let verdicts = server.verdicts();
    let rejected: Vec<&Verdict> = verdicts.iter().filter(|v| v.result.is_err()).collect();
    assert!(
        failures.is_empty() && rejected.is_empty(),
        "seed {seed}: {} client failures, {} rejected; first: {:?} {:?}",
        failures.len(),
        rejected.len(),
        failures.first(),
        rejected.first()
    );
    assert_eq!(
        verdicts.len(),
        count,
        "every request reached the server once"
    );
    let mut by_method = std::collections::BTreeMap::<String, usize>::new();
    let mut bytes = 0usize;
    for verdict in &verdicts {
        *by_method.entry(verdict.method.clone()).or_default() += 1;
        bytes += verdict.body_len;
        let verified = verdict.result.as_ref().unwrap();
        assert!(key_ids.contains(&verified.key_id), "{}", verified.key_id);
        let expected: &[&str] = if ["POST", "PUT", "PATCH"].contains(&verdict.method.as_str()) {
            &[
                "date",
                "(request-target)",
                "host",
                "content-length",
                "content-type",
                "x-content-sha256",
            ]
        } else {
            &["date", "(request-target)", "host"]
        };
        assert_eq!(
            verified.signed_headers, expected,
            "{} {}",
            verdict.method, verdict.target
        );
    }
    assert!(
        verdicts.iter().any(|v| v.target.contains("%3A")),
        "some targets carry %3A"
    );
    assert!(
        verdicts.iter().any(|v| v.target.ends_with('?')),
        "some targets have an empty query"
    );
    assert!(
        verdicts.iter().any(|v| v.body_len == 1 << 20),
        "a 1 MiB body"
    );
    assert!(
        verdicts
            .iter()
            .any(|v| v.body_len == 0 && v.method == "POST"),
        "some POST bodies are empty"
    );
    for key_id in &key_ids {
        assert!(
            verdicts
                .iter()
                .any(|v| v.result.as_ref().unwrap().key_id == *key_id),
            "both keys used"
        );
    }
    println!(
        "{count} requests verified in {elapsed:.1?} ({:.0}/s), {:.1} MiB of bodies, by method {by_method:?}",
        count as f64 / elapsed.as_secs_f64(),
        bytes as f64 / (1 << 20) as f64
    );
}

#[tokio::test]
async fn tampered_requests_are_rejected() {
    let key = PrivateKey::from_pem(SAMPLE_KEY, None).unwrap();
    let key_id = format!("{TENANCY}/{USER}/{}", key.fingerprint());
    let server = VerifyingServer::start(vec![(key_id, key.public_key().clone())]).await;
    let signer = Signer::new(KeyId::api_key(TENANCY, USER, key.fingerprint()), key);
    let base = format!("http://{}", server.addr);
    let url = Url::parse(&format!("{base}/20200501/networkLoadBalancers/ocid1.nlb/backendSets/k3s/backends?limit=10&page=x%3Ay")).unwrap();
    let body = br#"{"port":6443,"ipAddress":"10.0.0.3"}"#.to_vec();
    let sign = |headers: &mut HeaderMap| signer.sign(&Method::POST, &url, headers, &body).unwrap();

    let mut good = HeaderMap::new();
    sign(&mut good);
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &wire_target(&url),
            &good,
            body.clone()
        )
        .await,
        200
    );

    let mut flipped = body.clone();
    flipped[10] ^= 0x01;
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &wire_target(&url),
            &good,
            flipped
        )
        .await,
        401
    );

    let changed_query = wire_target(&url).replace("limit=10", "limit=11");
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &changed_query,
            &good,
            body.clone()
        )
        .await,
        401
    );

    let changed_path = wire_target(&url).replace("%3A", "%3a");
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &changed_path,
            &good,
            body.clone()
        )
        .await,
        401
    );

    let mut stale = HeaderMap::new();
    stale.insert(
        "date",
        HeaderValue::from_str(&httpdate::fmt_http_date(
            SystemTime::now() - Duration::from_secs(600),
        ))
        .unwrap(),
    );
    sign(&mut stale);
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &wire_target(&url),
            &stale,
            body.clone()
        )
        .await,
        401
    );

    let other_key =
        PrivateKey::from_pem(&fixtures::generate_api_key().unwrap().private_key_pem, None).unwrap();
    let impostor = Signer::new(signer.key_id().clone(), other_key);
    let mut forged = HeaderMap::new();
    impostor
        .sign(&Method::POST, &url, &mut forged, &body)
        .unwrap();
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &wire_target(&url),
            &forged,
            body.clone()
        )
        .await,
        401
    );

    let mut unsigned = good.clone();
    unsigned.remove("authorization");
    assert_eq!(
        send_raw(
            server.addr,
            &Method::POST,
            &wire_target(&url),
            &unsigned,
            body.clone()
        )
        .await,
        401
    );

    let results: Vec<Result<Verified, VerifyError>> =
        server.verdicts().into_iter().map(|v| v.result).collect();
    assert_eq!(results.len(), 7);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(VerifyError::BodyHashMismatch { .. })),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2], Err(VerifyError::BadSignature));
    assert_eq!(results[3], Err(VerifyError::BadSignature));
    assert!(
        matches!(results[4], Err(VerifyError::DateSkew { .. })),
        "{:?}",
        results[4]
    );
    assert_eq!(results[5], Err(VerifyError::BadSignature));
    assert_eq!(results[6], Err(VerifyError::MissingAuthorization));

    // Through the client, the 401 comes back as an error a person can act on.
    let client = Client::builder(impostor, Region::new("phx").unwrap())
        .endpoint_override(&base)
        .unwrap()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client
        .compute()
        .get_instance("ocid1.instance.oc1.phx.x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 401 NotAuthenticated"), "{err}");
    assert!(err.contains("opc-request-id: verifier"), "{err}");
    assert!(err.contains("wrong key or key not uploaded"), "{err}");
}

#[tokio::test]
async fn https_with_the_endpoint_ca_and_two_tenancies() {
    let (fixtures, [a, b]) = Fixtures::reference_cluster().unwrap();
    let oci = FakeOci::start(fixtures).unwrap();
    let home = tempfile::tempdir().unwrap();
    let env = Environment::from_pairs([("HOME", home.path().display().to_string())]);
    let profile_for = |c: &fixtures::Credentials| {
        Profile::builder()
            .tenancy(&c.tenancy)
            .user(&c.user)
            .fingerprint(&c.key.fingerprint)
            .region("us-phoenix-1")
            .private_key_pem(Secret::new(c.key.private_key_pem.clone()))
            .env(env.clone())
            .build()
            .unwrap()
    };
    let client_for = |profile: &Profile| {
        Client::from_profile(profile)
            .unwrap()
            .endpoint_override(&oci.url())
            .unwrap()
            .add_root_certificate_pem(oci.ca_pem().as_bytes())
            .unwrap()
            .work_request_poll_interval(Duration::from_millis(50))
            .build()
            .unwrap()
    };
    let (first, second) = (client_for(&profile_for(&a)), client_for(&profile_for(&b)));

    let running = first
        .compute()
        .list_instances(fixtures::COMPARTMENT_A, Some("RUNNING"))
        .await
        .unwrap();
    let mut names: Vec<&str> = running.iter().map(|i| i.display_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["k3s-server-1", "k3s-worker-1"]);
    let server = running
        .iter()
        .find(|i| i.display_name == "k3s-server-1")
        .unwrap();
    assert_eq!(server.freeform_tags["k3s-role"], "server");
    assert_eq!(
        server.defined_tag("k3s", "cluster"),
        Some(&serde_json::json!("prod"))
    );
    let addresses = first.resolve_instance_addresses(&server.id).await.unwrap();
    assert_eq!(addresses.private_ip, "10.0.0.241");
    assert_eq!(addresses.public_ip.as_deref(), Some("192.0.2.10"));

    let secret = first
        .secrets()
        .get_secret_bundle(fixtures::SECRET_ID, &SecretVersion::Current)
        .await
        .unwrap();
    assert_eq!(secret.content.expose(), b"bootstrap-secret");

    let nlb = first.network_load_balancer();
    let backend = nlb
        .ensure_backend(
            fixtures::NLB_ID,
            "k3s-https",
            &CreateBackendDetails::ip("10.0.0.11", 443),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(backend.name, "10.0.0.11:443");
    assert_eq!(
        nlb.list_backends(fixtures::NLB_ID, "k3s-https")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(nlb
        .remove_backend(
            fixtures::NLB_ID,
            "k3s-https",
            "10.0.0.11:443",
            Duration::from_secs(30)
        )
        .await
        .unwrap());
    assert!(nlb
        .list_backends(fixtures::NLB_ID, "k3s-https")
        .await
        .unwrap()
        .is_empty());

    // The second tenancy sees its own compartment, and not the first one's.
    let theirs = second
        .compute()
        .list_instances(fixtures::COMPARTMENT_B, None)
        .await
        .unwrap();
    assert_eq!(theirs.len(), 2);
    let err = second.compute().get_instance(&server.id).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");

    // Every request the endpoint answered carried a valid signature.
    let requests = oci.requests();
    assert!(requests.len() >= 10);
    for request in &requests {
        assert!(
            request.auth.is_ok(),
            "{} {}: {:?}",
            request.method,
            request.target,
            request.auth
        );
    }
    assert!(requests
        .iter()
        .any(|r| r.target.contains("/backends/10.0.0.11%3A443")));

    // Without the CA the endpoint is not trusted, and the error says what to do.
    let untrusting = Client::from_profile(&profile_for(&a))
        .unwrap()
        .endpoint_override(&oci.url())
        .unwrap()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = untrusting
        .compute()
        .get_instance(&server.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(
        text.contains("add that CA certificate to the client"),
        "{text}"
    );
}
