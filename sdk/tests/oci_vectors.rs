//! The OCI signer against Oracle's published test vectors (the GET and POST samples of the
//! signing documentation, as reproduced in the Go SDK's tests) and vectors derived with
//! Oracle's Python SDK and OpenSSL (empty-body POST, NLB DeleteBackend with `%3A`); the same
//! key in every PEM form signs identically; the fingerprint; error messages for unusable keys;
//! and that no secret reaches `Debug` or `Display`.

use http::{HeaderMap, HeaderValue, Method};
use k3s_sdk::oci::{
    encode_path_segment, signing_string, Client, KeyId, PrivateKey, Region, Service, Signer,
    BODY_HEADERS, GENERIC_HEADERS,
};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use url::Url;

const SAMPLE_KEY: &str = include_str!("../src/oci/testdata/oci_sample_key.pem");
const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
/// The fingerprint the published sample puts in its keyId (not the key's real one).
const SAMPLE_FINGERPRINT: &str = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
const REAL_FINGERPRINT: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";
const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";

const GET_URL: &str = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
const GET_SIGNATURE: &str = "GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=";

const POST_BODY: &str = "{\n    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n}";
const POST_SIGNATURE: &str = "Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=";

const EMPTY_POST_SIGNATURE: &str = "rkiMZLVQXaJbEAX1AD48Mb4xQeKggSPtHJ0iqnRqk2PM83Imzaa/CuAZW/iU16sHToNmoHvlXkseAG0iLb3PEhpIZ6M+TYMrmfIYOnW4am7T8V9Jg5XJaQmftdxE10RC+DMQty39izEwfXHgGu0b1Melnc5CqYIDAZppQEjSYu4=";
const NLB_DELETE_SIGNATURE: &str = "jS/ZeOpjZd15jlWSS0pOjkGW2FS1o9Pk8phlQD7wIN2kauE/JMqcTb6u3JJ8p+AaKT9fz6bEHTDbJE50bbaOwK6YXsKkrrpiVlkklzLZ0wlJTJwB7xIcZVv2of/T/W99vp5eVE7AQOtqY7KLG12ZuONcxJTxmOX2vWe9ra8dWIQ=";

fn sample_signer(pem: &str, passphrase: Option<&str>) -> Signer {
    let key = PrivateKey::from_pem(pem, passphrase).expect("the sample key loads");
    Signer::new(KeyId::api_key(TENANCY, USER, SAMPLE_FINGERPRINT), key)
}

fn dated() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("date", HeaderValue::from_static(DATE));
    headers
}

fn authorization(headers: &HeaderMap) -> &str {
    headers["authorization"].to_str().unwrap()
}

fn expected_authorization(signed: &[&str], signature: &str) -> String {
    format!(
        "Signature version=\"1\",headers=\"{}\",keyId=\"{TENANCY}/{USER}/{SAMPLE_FINGERPRINT}\",algorithm=\"rsa-sha256\",signature=\"{signature}\"",
        signed.join(" ")
    )
}

/// Signs the published GET with `signer` and returns the Authorization header.
fn sign_published_get(signer: &Signer) -> String {
    let url = Url::parse(GET_URL).unwrap();
    let mut headers = dated();
    signer.sign(&Method::GET, &url, &mut headers, b"").unwrap();
    authorization(&headers).to_owned()
}

#[test]
fn published_get_vector() {
    let signer = sample_signer(SAMPLE_KEY, None);
    let url = Url::parse(GET_URL).unwrap();
    let mut headers = dated();
    signer.sign(&Method::GET, &url, &mut headers, b"").unwrap();

    let string = signing_string(&Method::GET, &url, &headers, GENERIC_HEADERS).unwrap();
    let expected_string = format!(
        "date: {DATE}\n(request-target): get {}\nhost: iaas.us-phoenix-1.oraclecloud.com",
        &GET_URL["https://iaas.us-phoenix-1.oraclecloud.com".len()..]
    );
    assert_eq!(string, expected_string);
    assert_eq!(string.len(), 371);
    assert_eq!(
        authorization(&headers),
        expected_authorization(GENERIC_HEADERS, GET_SIGNATURE)
    );
    assert_eq!(headers["host"], "iaas.us-phoenix-1.oraclecloud.com");
    assert_eq!(headers["date"], DATE, "a date already present is kept");
    assert!(headers["authorization"].is_sensitive());
    assert!(!headers.contains_key("x-content-sha256"));
}

#[test]
fn published_post_vector() {
    assert_eq!(POST_BODY.len(), 316);
    let signer = sample_signer(SAMPLE_KEY, None);
    let url =
        Url::parse("https://iaas.us-phoenix-1.oraclecloud.com/20160918/volumeAttachments").unwrap();
    let mut headers = dated();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    signer
        .sign(&Method::POST, &url, &mut headers, POST_BODY.as_bytes())
        .unwrap();

    let string = signing_string(&Method::POST, &url, &headers, BODY_HEADERS).unwrap();
    assert_eq!(
        string,
        format!(
            "date: {DATE}\n(request-target): post /20160918/volumeAttachments\nhost: \
             iaas.us-phoenix-1.oraclecloud.com\ncontent-length: 316\ncontent-type: \
             application/json\nx-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
        )
    );
    assert_eq!(string.len(), 240);
    assert_eq!(
        authorization(&headers),
        expected_authorization(BODY_HEADERS, POST_SIGNATURE)
    );
    assert_eq!(headers["content-length"], "316");
    assert_eq!(
        headers["x-content-sha256"],
        "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
    );
}

#[test]
fn published_localhost_signing_string() {
    let signer = sample_signer(SAMPLE_KEY, None);
    let url = Url::parse("http://localhost:7000/api").unwrap();
    let mut headers = dated();
    signer.sign(&Method::GET, &url, &mut headers, b"").unwrap();
    assert_eq!(
        signing_string(&Method::GET, &url, &headers, GENERIC_HEADERS).unwrap(),
        format!("date: {DATE}\n(request-target): get /api\nhost: localhost:7000")
    );
    assert_eq!(headers["host"], "localhost:7000");
}

#[test]
fn derived_empty_body_post_vector() {
    let signer = sample_signer(SAMPLE_KEY, None);
    let url = Url::parse(
        "https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances/ocid1.instance.oc1.phx.x?action=STOP",
    )
    .unwrap();
    let mut headers = dated();
    signer.sign(&Method::POST, &url, &mut headers, b"").unwrap();
    assert_eq!(
        signing_string(&Method::POST, &url, &headers, BODY_HEADERS).unwrap(),
        format!(
            "date: {DATE}\n(request-target): post \
             /20160918/instances/ocid1.instance.oc1.phx.x?action=STOP\nhost: \
             iaas.us-phoenix-1.oraclecloud.com\ncontent-length: 0\ncontent-type: \
             application/json\nx-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        )
    );
    assert_eq!(
        authorization(&headers),
        expected_authorization(BODY_HEADERS, EMPTY_POST_SIGNATURE)
    );
}

#[test]
fn derived_nlb_delete_backend_vector_and_the_client_builds_that_url() {
    let signer = sample_signer(SAMPLE_KEY, None);
    let wire = "https://network-load-balancer-api.us-phoenix-1.oci.oraclecloud.com/20200501/networkLoadBalancers/ocid1.nlb/backendSets/k3s-api/backends/10.0.0.3%3A6443";

    // The client, given the raw backend name, builds exactly the URL of the vector.
    let client = Client::builder(signer.clone(), Region::new("us-phoenix-1").unwrap())
        .build()
        .unwrap();
    let path = format!(
        "/networkLoadBalancers/{}/backendSets/{}/backends/{}",
        encode_path_segment("ocid1.nlb"),
        encode_path_segment("k3s-api"),
        encode_path_segment("10.0.0.3:6443")
    );
    let url = client.url(Service::NetworkLoadBalancer, &path, &[]);
    assert_eq!(url.as_str(), wire);

    let mut headers = dated();
    signer
        .sign(&Method::DELETE, &url, &mut headers, b"")
        .unwrap();
    assert_eq!(
        signing_string(&Method::DELETE, &url, &headers, GENERIC_HEADERS).unwrap(),
        format!(
            "date: {DATE}\n(request-target): delete \
             /20200501/networkLoadBalancers/ocid1.nlb/backendSets/k3s-api/backends/10.0.0.3%3A6443\n\
             host: network-load-balancer-api.us-phoenix-1.oci.oraclecloud.com"
        )
    );
    assert_eq!(
        authorization(&headers),
        expected_authorization(GENERIC_HEADERS, NLB_DELETE_SIGNATURE)
    );
}

/// The sample key, re-encoded as PKCS#8.
fn pkcs8_pem() -> String {
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(SAMPLE_KEY).unwrap();
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// The sample key as encrypted PKCS#8 (PBES2: PBKDF2-SHA256 + AES-256-CBC, as OpenSSL 3 writes
/// it), passphrase `test123`.
fn encrypted_pkcs8_pem(passphrase: &str) -> String {
    use rsa::pkcs8::der::{Decode as _, EncodePem as _};
    use rsa::pkcs8::pkcs5::pbes2;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(SAMPLE_KEY).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).unwrap();
    let salt = [7u8; 16];
    let iv = [9u8; 16];
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
    let encrypted = info.encrypt_with_params(params, passphrase).unwrap();
    let parsed = rsa::pkcs8::EncryptedPrivateKeyInfo::from_der(encrypted.as_bytes()).unwrap();
    parsed.to_pem(LineEnding::LF).unwrap()
}

#[test]
fn every_key_form_signs_identically() {
    let reference = sign_published_get(&sample_signer(SAMPLE_KEY, None));
    assert_eq!(
        reference,
        expected_authorization(GENERIC_HEADERS, GET_SIGNATURE)
    );

    let pkcs8 = pkcs8_pem();
    assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let encrypted = encrypted_pkcs8_pem("test123");
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    let forms: Vec<(&str, String, Option<&str>)> = vec![
        ("PKCS#8", pkcs8.clone(), None),
        ("encrypted PKCS#8", encrypted.clone(), Some("test123")),
        (
            "PKCS#1 + OCI_API_KEY",
            format!("{SAMPLE_KEY}OCI_API_KEY\n"),
            None,
        ),
        ("PKCS#8 + OCI_API_KEY", format!("{pkcs8}OCI_API_KEY"), None),
        ("PKCS#1 CRLF", SAMPLE_KEY.replace('\n', "\r\n"), None),
        (
            "encrypted PKCS#8 CRLF + OCI_API_KEY",
            format!("{}OCI_API_KEY\r\n", encrypted.replace('\n', "\r\n")),
            Some("test123"),
        ),
        (
            "PKCS#1, passphrase ignored",
            SAMPLE_KEY.to_owned(),
            Some("inherited-from-DEFAULT"),
        ),
        (
            "text before the block",
            format!("# my OCI key\n\n{SAMPLE_KEY}"),
            None,
        ),
    ];
    for (name, pem, passphrase) in forms {
        let signer = sample_signer(&pem, passphrase);
        assert_eq!(signer.key().fingerprint(), REAL_FINGERPRINT, "{name}");
        assert_eq!(sign_published_get(&signer), reference, "{name}");
    }
}

#[test]
fn openssl_written_encrypted_key_loads_when_openssl_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pem");
    let encrypted = dir.path().join("enc.pem");
    std::fs::write(&plain, SAMPLE_KEY).unwrap();
    let status = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:test123",
            "-in",
        ])
        .arg(&plain)
        .arg("-out")
        .arg(&encrypted)
        .status();
    match status {
        Ok(s) if s.success() => {
            let key = PrivateKey::from_file(&encrypted, Some("test123")).unwrap();
            assert_eq!(key.fingerprint(), REAL_FINGERPRINT);
            assert!(key.origin().contains("enc.pem"));
        }
        _ => eprintln!("openssl is not available; the encrypted PKCS#8 forms are covered above"),
    }
}

#[test]
fn fingerprint_of_the_sample_key_and_the_mismatch_error() {
    let key = PrivateKey::from_pem(SAMPLE_KEY, None).unwrap();
    assert_eq!(key.fingerprint(), REAL_FINGERPRINT);
    key.check_fingerprint(REAL_FINGERPRINT).unwrap();
    key.check_fingerprint(&REAL_FINGERPRINT.to_uppercase())
        .unwrap();
    let err = key
        .check_fingerprint(SAMPLE_FINGERPRINT)
        .unwrap_err()
        .to_string();
    assert!(err.contains(SAMPLE_FINGERPRINT), "{err}");
    assert!(err.contains(REAL_FINGERPRINT), "{err}");
    assert!(err.contains("the private key given inline"), "{err}");
}

#[test]
fn unusable_keys_are_explained() {
    let encrypted = encrypted_pkcs8_pem("test123");
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        ("no passphrase", encrypted.clone(), None, "encrypted but no passphrase was given"),
        ("wrong passphrase", encrypted.clone(), Some("nope"), "the passphrase is wrong"),
        (
            "public key",
            PrivateKey::from_pem(SAMPLE_KEY, None).unwrap().public_key_pem(),
            None,
            "holds a public key or certificate, not the private key",
        ),
        (
            "legacy encryption",
            SAMPLE_KEY.replace(
                "-----BEGIN RSA PRIVATE KEY-----\n",
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n",
            ),
            Some("test123"),
            "openssl pkcs8 -topk8",
        ),
        (
            "OpenSSH",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n".into(),
            None,
            "ssh-keygen -p -m PKCS8",
        ),
        ("not PEM", "just some text\n".into(), None, "no PEM private key found"),
        (
            "damaged base64",
            SAMPLE_KEY.replace("MIICXgIBAAKBgQDCFENGw33y", "MIICXgIBAAKBgQDCFENGw33*"),
            None,
            "not valid base64",
        ),
    ];
    for (name, pem, passphrase, expected) in cases {
        let err = PrivateKey::from_pem(&pem, passphrase)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.starts_with("cannot use the private key from the private key given inline"),
            "{name}: {err}"
        );
        // No key material or passphrase in the message.
        assert!(!err.contains("MIIC"), "{name}: {err}");
        assert!(!err.contains("test123"), "{name}: {err}");
    }
    let missing = PrivateKey::from_file("/nonexistent/oci/key.pem", None)
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("cannot read private key file /nonexistent/oci/key.pem"),
        "{missing}"
    );
}

#[test]
fn nothing_secret_in_debug_or_display() {
    let encrypted = encrypted_pkcs8_pem("test123");
    let key = PrivateKey::from_pem(&encrypted, Some("test123")).unwrap();
    let signer = Signer::new(KeyId::api_key(TENANCY, USER, REAL_FINGERPRINT), key.clone());
    let token_signer = Signer::new(
        KeyId::security_token("eyJ0b2tlbi1zZWNyZXQ.payload.sig"),
        key.clone(),
    );
    let mut headers = dated();
    signer
        .sign(
            &Method::GET,
            &Url::parse(GET_URL).unwrap(),
            &mut headers,
            b"",
        )
        .unwrap();
    let signature = authorization(&headers)
        .rsplit("signature=\"")
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let shown = format!("{key:?} {signer:?} {token_signer:?} {headers:?}");
    for secret in [
        "MIIC",
        "AoGBAJR8ZkCUvx5kzv",
        "test123",
        "eyJ0b2tlbi1zZWNyZXQ",
        signature.as_str(),
    ] {
        assert!(!shown.contains(secret), "{secret} leaked into {shown}");
    }
    assert!(shown.contains(REAL_FINGERPRINT));
    assert!(
        shown.contains("Sensitive"),
        "the authorization header is marked sensitive: {shown}"
    );
}

#[test]
fn bodies_are_refused_where_oci_cannot_sign_them() {
    let signer = sample_signer(SAMPLE_KEY, None);
    let url = Url::parse("https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances").unwrap();
    for method in [Method::GET, Method::DELETE, Method::HEAD] {
        let err = signer
            .sign(&method, &url, &mut HeaderMap::new(), b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot carry a body"), "{method}: {err}");
    }
    let err = signer
        .sign(&Method::TRACE, &url, &mut HeaderMap::new(), b"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not support the TRACE method"), "{err}");

    // Object Storage PutObject: the body is not signed.
    let mut headers = dated();
    signer
        .sign_excluding_body(&Method::PUT, &url, &mut headers, b"object bytes")
        .unwrap();
    assert!(authorization(&headers).contains("headers=\"date (request-target) host\""));
    assert!(!headers.contains_key("x-content-sha256"));
}

#[test]
fn content_type_defaults_and_is_kept() {
    let signer = sample_signer(SAMPLE_KEY, None);
    let url = Url::parse("https://iaas.us-phoenix-1.oraclecloud.com/x").unwrap();
    let mut headers = dated();
    signer
        .sign(&Method::PUT, &url, &mut headers, b"abc")
        .unwrap();
    assert_eq!(headers["content-type"], "application/json");
    let mut headers = dated();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    signer
        .sign(&Method::PATCH, &url, &mut headers, b"abc")
        .unwrap();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["content-length"], "3");
}

/// A throwaway 2048-bit key: from `openssl genpkey` when it is installed (fast), else from the
/// `rsa` crate (slow in unoptimised builds).
fn throwaway_2048() -> rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey as _;
    let openssl = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stderr(std::process::Stdio::null())
        .output();
    match openssl {
        Ok(out) if out.status.success() => {
            rsa::RsaPrivateKey::from_pkcs8_pem(std::str::from_utf8(&out.stdout).unwrap()).unwrap()
        }
        _ => rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap(),
    }
}

#[test]
fn ring_and_the_rsa_crate_sign_identically() {
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let rsa_key = throwaway_2048();
    let reference = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key.clone());
    let key = PrivateKey::from_rsa(rsa_key, "a throwaway key");
    assert_eq!(
        key.implementation(),
        "ring",
        "2048-bit keys are signed by ring"
    );
    assert_eq!(
        PrivateKey::from_pem(SAMPLE_KEY, None)
            .unwrap()
            .implementation(),
        "rsa"
    );
    let signer = Signer::new(
        KeyId::api_key(TENANCY, USER, key.fingerprint()),
        key.clone(),
    );
    let url = Url::parse(GET_URL).unwrap();
    for body_len in [0usize, 1, 316, 70_000] {
        let mut headers = dated();
        let method = if body_len == 0 {
            Method::GET
        } else {
            Method::PUT
        };
        let body = vec![b'k'; body_len];
        signer.sign(&method, &url, &mut headers, &body).unwrap();
        let names = if body_len == 0 {
            GENERIC_HEADERS
        } else {
            BODY_HEADERS
        };
        let string = signing_string(&method, &url, &headers, names).unwrap();
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            reference.sign(string.as_bytes()).to_bytes(),
        );
        assert!(authorization(&headers).ends_with(&format!("signature=\"{expected}\"")));
    }
}
