//! The fake OCI endpoint, driven over real HTTPS (trusting only its CA) with requests signed
//! here by a deliberately tiny signer written from the research note's rules (§1): every
//! answer the fake gives depends on its signature check, its fixtures and its fault rules.

use acceptance_tests::oci::fake::{FakeOci, Fault};
use acceptance_tests::oci::fixtures::{
    Backend, Credentials, Fixtures, COMPARTMENT_A, COMPARTMENT_B, NLB_ID, SECRET_ID,
};
use acceptance_tests::oci::verify::VerifyError;
use acceptance_tests::standin::client::{Client, ServerUrl};
use anyhow::{Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde_json::{json, Value};
use sha2::Digest as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

const BACKENDS: &str = "/20200501/networkLoadBalancers/ocid1.networkloadbalancer.oc1.phx.ingress/backendSets/k3s-https/backends";

/// The reference fixtures, with keys generated once for all tests of this file.
fn reference() -> (Fixtures, [Credentials; 2]) {
    static CELL: OnceLock<(Fixtures, [Credentials; 2])> = OnceLock::new();
    CELL.get_or_init(|| Fixtures::reference_cluster().expect("reference fixtures"))
        .clone()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Signs a request per the note: `date (request-target) host`, plus `content-length
/// content-type x-content-sha256` for POST/PUT/PATCH; RSA PKCS#1 v1.5 SHA-256, base64; the
/// Authorization parameters in the Go SDK's order. Returns the headers to send.
fn sign(
    creds: &Credentials,
    key_id: &str,
    method: &str,
    host: &str,
    target: &str,
    body: &[u8],
    date: SystemTime,
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("date".to_owned(), httpdate::fmt_http_date(date)),
        (
            "(request-target)".to_owned(),
            format!("{} {target}", method.to_lowercase()),
        ),
        ("host".to_owned(), host.to_owned()),
    ];
    if matches!(method, "POST" | "PUT" | "PATCH") {
        headers.push(("content-length".to_owned(), body.len().to_string()));
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        headers.push((
            "x-content-sha256".to_owned(),
            b64(&sha2::Sha256::digest(body)),
        ));
    }
    let signing_string = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join("\n");
    let key = creds.private_key().expect("generated key");
    let signature = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
        .sign(signing_string.as_bytes())
        .to_bytes();
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let authorization = format!(
        "Signature version=\"1\",headers=\"{}\",keyId=\"{key_id}\",algorithm=\"rsa-sha256\",signature=\"{}\"",
        names.join(" "),
        b64(&signature)
    );
    headers.retain(|(name, _)| name != "(request-target)" && name != "host");
    headers.push(("authorization".to_owned(), authorization));
    headers
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// A test's view of the fake: an HTTPS client that trusts only the fake's CA.
struct Harness {
    oci: FakeOci,
    client: Client,
    host: String,
    a: Credentials,
    b: Credentials,
}

impl Harness {
    fn new() -> Result<Harness> {
        let (fixtures, [a, b]) = reference();
        let oci = FakeOci::start(fixtures)?;
        let tls = acceptance_tests::standin::tls::client_config(oci.ca_pem())?;
        let client = Client::new(ServerUrl::parse(&oci.url())?, tls);
        let host = oci.url().trim_start_matches("https://").to_owned();
        Ok(Harness {
            oci,
            client,
            host,
            a,
            b,
        })
    }

    /// Sends `headers` (already signed or not) and `body` as-is.
    async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer> {
        let mut request = hyper::Request::builder().method(method).uri(target);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Full::new(Bytes::copy_from_slice(body)))?;
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| format!("{method} {target}: body"))?
        };
        assert!(
            headers.contains_key("opc-request-id"),
            "{method} {target} answered without opc-request-id"
        );
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Signs with `creds` now and sends.
    async fn call(
        &self,
        creds: &Credentials,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Answer> {
        let headers = sign(
            creds,
            &creds.key_id(),
            method,
            &self.host,
            target,
            body,
            SystemTime::now(),
        );
        self.send(method, target, &headers, body).await
    }

    /// Polls a work request until it succeeds; returns the statuses seen.
    async fn poll(&self, creds: &Credentials, work_id: &str) -> Result<Vec<String>> {
        let mut seen = Vec::new();
        for _ in 0..10 {
            let answer = self
                .call(
                    creds,
                    "GET",
                    &format!("/20200501/workRequests/{work_id}"),
                    b"",
                )
                .await?;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let status = answer.body["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            seen.push(status.clone());
            if status == "SUCCEEDED" {
                return Ok(seen);
            }
        }
        anyhow::bail!("work request {work_id} never succeeded: {seen:?}")
    }
}

fn names(answer: &Answer) -> Vec<String> {
    answer
        .body
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|i| i["displayName"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn signed_get_lists_instances_across_pages() -> Result<()> {
    let h = Harness::new()?;
    let list = format!("/20160918/instances?compartmentId={COMPARTMENT_A}");
    let first = h.call(&h.a, "GET", &list, b"").await?;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(names(&first), ["k3s-server-1", "k3s-worker-1"]);
    let server = &first.body[0];
    assert_eq!(server["lifecycleState"], "RUNNING");
    assert_eq!(server["freeformTags"]["k3s-role"], "server");
    assert_eq!(server["definedTags"]["k3s"]["cluster"], "prod");
    let next = first.header("opc-next-page").context("a next page")?;
    let second = h
        .call(&h.a, "GET", &format!("{list}&page={next}"), b"")
        .await?;
    assert_eq!(names(&second), ["k3s-worker-0"]);
    assert_eq!(second.header("opc-next-page"), None);

    let running = h
        .call(
            &h.a,
            "GET",
            &format!("{list}&lifecycleState=running&limit=10"),
            b"",
        )
        .await?;
    assert_eq!(names(&running), ["k3s-server-1", "k3s-worker-1"]);
    assert_eq!(running.header("opc-next-page"), None);

    // The primary VNIC's addresses via VnicAttachments + GetVnic.
    let attachments = h
        .call(
            &h.a,
            "GET",
            &format!(
                "/20160918/vnicAttachments?compartmentId={COMPARTMENT_A}&instanceId=ocid1.instance.oc1.phx.server1"
            ),
            b"",
        )
        .await?;
    let vnic_id = attachments.body[0]["vnicId"].as_str().context("vnicId")?;
    let vnic = h
        .call(&h.a, "GET", &format!("/20160918/vnics/{vnic_id}"), b"")
        .await?;
    assert_eq!(vnic.body["privateIp"], "10.0.0.241");
    assert_eq!(vnic.body["publicIp"], "192.0.2.10");
    assert_eq!(vnic.body["hostnameLabel"], "k3s-server-1");
    assert_eq!(vnic.body["isPrimary"], true);

    // Tenancy B's instances need tenancy B's key.
    let list_b = format!("/20160918/instances?compartmentId={COMPARTMENT_B}&limit=10");
    let foreign = h.call(&h.a, "GET", &list_b, b"").await?;
    assert_eq!(
        (foreign.status, foreign.code()),
        (404, "NotAuthorizedOrNotFound")
    );
    let own = h.call(&h.b, "GET", &list_b, b"").await?;
    assert_eq!(names(&own), ["k3s-worker-2", "k3s-worker-3"]);
    let get_b = "/20160918/instances/ocid1.instance.oc1.phx.worker2";
    assert_eq!(h.call(&h.a, "GET", get_b, b"").await?.status, 404);
    let worker2 = h.call(&h.b, "GET", get_b, b"").await?;
    assert_eq!(worker2.body["displayName"], "k3s-worker-2");
    assert!(worker2.header("etag").is_some());

    // A state change made by the test is served.
    h.oci
        .set_instance_state("ocid1.instance.oc1.phx.worker1", "TERMINATED")?;
    let running = h
        .call(&h.a, "GET", &format!("{list}&lifecycleState=RUNNING"), b"")
        .await?;
    assert_eq!(names(&running), ["k3s-server-1"]);

    let requests = h.oci.requests();
    assert_eq!(requests.len(), 10);
    assert!(requests
        .iter()
        .filter(|r| r.status == 200)
        .all(|r| r.key_id().is_some()));
    assert_eq!(requests[0].key_id(), Some(h.a.key_id().as_str()));
    assert_eq!(requests[0].target, list);
    Ok(())
}

#[tokio::test]
async fn unsigned_or_badly_signed_requests_get_401() -> Result<()> {
    let h = Harness::new()?;
    let target = format!("/20160918/instances?compartmentId={COMPARTMENT_A}");

    let unsigned = h.send("GET", &target, &[], b"").await?;
    assert_eq!(
        (unsigned.status, unsigned.code()),
        (401, "NotAuthenticated")
    );
    assert!(unsigned.body["message"].as_str().is_some());

    // The keyId of user A, signed with user B's key.
    let forged = sign(
        &h.b,
        &h.a.key_id(),
        "GET",
        &h.host,
        &target,
        b"",
        SystemTime::now(),
    );
    let answer = h.send("GET", &target, &forged, b"").await?;
    assert_eq!((answer.status, answer.code()), (401, "NotAuthenticated"));

    // A keyId the fake does not know.
    let unknown_id = format!(
        "{}/ocid1.user.oc1..nobody/{}",
        h.a.tenancy, h.a.key.fingerprint
    );
    let unknown = sign(
        &h.a,
        &unknown_id,
        "GET",
        &h.host,
        &target,
        b"",
        SystemTime::now(),
    );
    assert_eq!(h.send("GET", &target, &unknown, b"").await?.status, 401);

    // Signed for one query, sent with another.
    let signed = sign(
        &h.a,
        &h.a.key_id(),
        "GET",
        &h.host,
        &target,
        b"",
        SystemTime::now(),
    );
    let other = format!("{target}&lifecycleState=RUNNING");
    assert_eq!(h.send("GET", &other, &signed, b"").await?.status, 401);

    // Signed for one body, sent with another of the same length.
    let body = br#"{"ipAddress":"10.0.0.11","port":443}"#;
    let tampered = br#"{"ipAddress":"10.0.0.66","port":443}"#;
    let headers = sign(
        &h.a,
        &h.a.key_id(),
        "POST",
        &h.host,
        BACKENDS,
        body,
        SystemTime::now(),
    );
    let answer = h.send("POST", BACKENDS, &headers, tampered).await?;
    assert_eq!((answer.status, answer.code()), (401, "NotAuthenticated"));

    // Signed ten minutes ago.
    let stale_date = SystemTime::now() - Duration::from_secs(600);
    let stale = sign(
        &h.a,
        &h.a.key_id(),
        "GET",
        &h.host,
        &target,
        b"",
        stale_date,
    );
    let answer = h.send("GET", &target, &stale, b"").await?;
    assert_eq!(answer.status, 401);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("clock skew"), "{message}");

    // A POST whose signature leaves out the body headers.
    let mut generic = sign(
        &h.a,
        &h.a.key_id(),
        "GET",
        &h.host,
        BACKENDS,
        b"",
        SystemTime::now(),
    );
    let auth = generic.pop().context("authorization")?;
    generic.push(("content-type".into(), "application/json".into()));
    generic.push(auth);
    assert_eq!(h.send("POST", BACKENDS, &generic, body).await?.status, 401);

    // The same request properly signed passes.
    let good = h.call(&h.a, "GET", &target, b"").await?;
    assert_eq!(good.status, 200);

    let errors: Vec<VerifyError> = h
        .oci
        .requests()
        .into_iter()
        .filter_map(|r| r.auth.err())
        .collect();
    assert_eq!(errors.len(), 7, "{errors:?}");
    assert_eq!(errors[0], VerifyError::MissingAuthorization);
    assert_eq!(errors[1], VerifyError::BadSignature);
    assert!(matches!(errors[2], VerifyError::UnknownKeyId(_)));
    assert_eq!(errors[3], VerifyError::BadSignature);
    assert!(matches!(errors[4], VerifyError::BodyHashMismatch { .. }));
    assert!(matches!(errors[5], VerifyError::DateSkew { .. }));
    assert!(matches!(errors[6], VerifyError::RequiredHeaderNotSigned(_)));
    assert!(
        h.oci.work_requests().is_empty(),
        "a rejected POST changed state"
    );
    Ok(())
}

#[tokio::test]
async fn injected_faults_answer_then_clear() -> Result<()> {
    let h = Harness::new()?;
    let target = format!("/20160918/instances?compartmentId={COMPARTMENT_A}");
    h.oci
        .inject(Fault::too_many_requests("GET", "/20160918/instances", 1));
    let throttled = h.call(&h.a, "GET", &target, b"").await?;
    assert_eq!(
        (throttled.status, throttled.code()),
        (429, "TooManyRequests")
    );
    assert_eq!(throttled.header("retry-after"), Some("1"));
    let retried = h.call(&h.a, "GET", &target, b"").await?;
    assert_eq!(retried.status, 200);

    // Faults match method and prefix, and unsigned requests are still refused first.
    h.oci.inject(Fault::internal_error("*", "/20190301/", 2));
    h.oci.inject(Fault::incorrect_state("POST", BACKENDS, 1));
    let secret = format!("/20190301/secretbundles/{SECRET_ID}");
    assert_eq!(h.send("GET", &secret, &[], b"").await?.status, 401);
    assert_eq!(h.call(&h.a, "GET", &secret, b"").await?.status, 500);
    assert_eq!(h.call(&h.a, "GET", BACKENDS, b"").await?.status, 200);
    let body = br#"{"ipAddress":"10.0.0.11","port":443}"#;
    let conflict = h.call(&h.a, "POST", BACKENDS, body).await?;
    assert_eq!((conflict.status, conflict.code()), (409, "IncorrectState"));
    h.oci.clear_faults();
    assert_eq!(h.call(&h.a, "GET", &secret, b"").await?.status, 200);
    assert!(h.oci.work_requests().is_empty());

    let statuses: Vec<u16> = h.oci.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200, 401, 500, 200, 409, 200]);
    Ok(())
}

#[tokio::test]
async fn nlb_backend_is_created_and_deleted_through_work_requests() -> Result<()> {
    let h = Harness::new()?;
    let body = br#"{"ipAddress":"10.0.0.11","port":443,"weight":1}"#;
    let with_token = |token: &str| {
        let mut headers = sign(
            &h.a,
            &h.a.key_id(),
            "POST",
            &h.host,
            BACKENDS,
            body,
            SystemTime::now(),
        );
        headers.push(("opc-retry-token".into(), token.into()));
        headers
    };
    let created = h
        .send("POST", BACKENDS, &with_token("token-1"), body)
        .await?;
    assert_eq!(created.status, 202, "{}", created.body);
    let work_id = created
        .header("opc-work-request-id")
        .context("a work request id")?
        .to_owned();
    // Not visible until the work request succeeds.
    let listed = h.call(&h.a, "GET", BACKENDS, b"").await?;
    assert_eq!(listed.body, json!({"items": []}));
    // A retry with the same token is the same operation.
    let replay = h
        .send("POST", BACKENDS, &with_token("token-1"), body)
        .await?;
    assert_eq!(replay.header("opc-work-request-id"), Some(work_id.as_str()));
    // Another change to the NLB meanwhile conflicts.
    let other = br#"{"ipAddress":"10.0.0.12","port":443}"#;
    let busy = h.call(&h.a, "POST", BACKENDS, other).await?;
    assert_eq!((busy.status, busy.code()), (409, "Conflict"));

    assert_eq!(
        h.poll(&h.a, &work_id).await?,
        ["ACCEPTED", "IN_PROGRESS", "SUCCEEDED"]
    );
    let listed = h.call(&h.a, "GET", BACKENDS, b"").await?;
    let items = listed.body["items"].as_array().context("items")?;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "10.0.0.11:443");
    assert_eq!(items[0]["ipAddress"], "10.0.0.11");
    assert_eq!(items[0]["port"], 443);
    assert_eq!(
        h.oci.backends(NLB_ID, "k3s-https")?,
        [Backend::new("10.0.0.11", 443)]
    );
    let duplicate = h
        .send("POST", BACKENDS, &with_token("token-2"), body)
        .await?;
    assert_eq!(
        (duplicate.status, duplicate.code()),
        (409, "NotAuthorizedOrResourceAlreadyExists")
    );
    // Tenancy B cannot see or change tenancy A's NLB.
    assert_eq!(h.call(&h.b, "GET", BACKENDS, b"").await?.status, 404);
    assert_eq!(
        h.call(
            &h.b,
            "GET",
            &format!("/20200501/workRequests/{work_id}"),
            b""
        )
        .await?
        .status,
        404
    );

    let backend = format!("{BACKENDS}/10.0.0.11%3A443");
    let deleted = h.call(&h.a, "DELETE", &backend, b"").await?;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    let delete_id = deleted
        .header("opc-work-request-id")
        .context("a work request id")?
        .to_owned();
    assert_eq!(h.oci.backends(NLB_ID, "k3s-https")?.len(), 1);
    assert_eq!(
        h.poll(&h.a, &delete_id).await?.last().map(String::as_str),
        Some("SUCCEEDED")
    );
    let listed = h.call(&h.a, "GET", BACKENDS, b"").await?;
    assert_eq!(listed.body, json!({"items": []}));
    assert_eq!(h.call(&h.a, "DELETE", &backend, b"").await?.status, 404);

    let work = h.oci.work_requests();
    let operations: Vec<(&str, &str)> = work
        .iter()
        .map(|w| (w.operation.as_str(), w.status.as_str()))
        .collect();
    assert_eq!(operations.len(), 2);
    assert!(operations.contains(&("CREATE_BACKEND", "SUCCEEDED")));
    assert!(operations.contains(&("DELETE_BACKEND", "SUCCEEDED")));
    let tokens: Vec<Option<String>> = h
        .oci
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.retry_token.clone())
        .collect();
    assert_eq!(tokens[0].as_deref(), Some("token-1"));
    Ok(())
}

#[tokio::test]
async fn secret_bundle_returns_base64_content() -> Result<()> {
    let h = Harness::new()?;
    let target = format!("/20190301/secretbundles/{SECRET_ID}");
    let bundle = h.call(&h.a, "GET", &target, b"").await?;
    assert_eq!(bundle.status, 200, "{}", bundle.body);
    assert_eq!(bundle.body["secretId"], SECRET_ID);
    assert_eq!(bundle.body["secretBundleContent"]["contentType"], "BASE64");
    let content = bundle.body["secretBundleContent"]["content"]
        .as_str()
        .context("content")?;
    let plain = base64::engine::general_purpose::STANDARD.decode(content)?;
    assert_eq!(plain, b"bootstrap-secret");
    let stage = h
        .call(&h.a, "GET", &format!("{target}?stage=CURRENT"), b"")
        .await?;
    assert_eq!(stage.status, 200);

    assert_eq!(h.call(&h.b, "GET", &target, b"").await?.status, 404);
    h.oci.set_secret(SECRET_ID, COMPARTMENT_A, b"rotated");
    let rotated = h.call(&h.a, "GET", &target, b"").await?;
    assert_eq!(
        rotated.body["secretBundleContent"]["content"],
        b64(b"rotated")
    );
    let missing = h
        .call(
            &h.a,
            "GET",
            "/20190301/secretbundles/ocid1.vaultsecret.oc1.phx.none",
            b"",
        )
        .await?;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "NotAuthorizedOrNotFound")
    );
    Ok(())
}
