//! OCI request signing throughput: the SDK's `Signer` next to `openssl speed rsa2048` (the raw
//! RSA-2048 signature, no HTTP work) and Oracle's Python SDK (`oci.signer.Signer`, whose RSA
//! runs in OpenSSL through `cryptography`), all measured in this run with one 2048-bit key
//! on the same requests. Prints signatures per second and ratios; asserts nothing about time.
//!
//! It also checks, outside any timing, that the Python SDK produces the same `Authorization`
//! headers as the SDK for those requests.
//!
//! The Python SDK is installed with `pip install --target <target dir>/oci-python oci` on
//! first use; without `python3`/`pip` (or `openssl`), that peer is reported as unavailable.
//!
//! Run: `cargo bench -p k3s-sdk --bench oci_sign` (`OCI_BENCH_SECONDS` sets the time per
//! measurement, default 3).

use http::{HeaderMap, HeaderValue, Method};
use k3s_sdk::oci::{KeyId, PrivateKey, Signer, Url};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
const GET_URL: &str = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
const POST_URL: &str = "https://network-load-balancer-api.us-phoenix-1.oci.oraclecloud.com/20200501/networkLoadBalancers/ocid1.nlb/backendSets/k3s-api/backends";
const POST_BODY: &str = r#"{"port":6443,"ipAddress":"10.0.0.3","weight":1}"#;

/// How many signatures per second `sign` manages over `seconds`.
fn rate(seconds: f64, mut sign: impl FnMut()) -> f64 {
    for _ in 0..20 {
        sign();
    }
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..10 {
            sign();
        }
        count += 10;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn sdk_authorization(signer: &Signer, method: &Method, url: &str, body: &[u8]) -> String {
    let url = Url::parse(url).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("date", HeaderValue::from_static(DATE));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    signer.sign(method, &url, &mut headers, body).unwrap();
    headers["authorization"].to_str().unwrap().to_owned()
}

/// `sign/s` from `openssl speed -seconds N rsa2048`.
fn openssl_rate(seconds: u64) -> Result<f64, String> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "rsa2048"])
        .output()
        .map_err(|e| format!("openssl not runnable: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let header = text
        .lines()
        .find(|l| l.contains("sign/s"))
        .ok_or("no 'sign/s' column in openssl speed output")?;
    let column = header
        .split_whitespace()
        .position(|c| c == "sign/s")
        .ok_or("no sign/s column")?;
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))
        .ok_or("no 'rsa 2048 bits' row in openssl speed output")?;
    let values: Vec<&str> = row.trim_start()["rsa 2048 bits".len()..]
        .split_whitespace()
        .collect();
    values
        .get(column)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("cannot read sign/s from '{row}'"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Installs Oracle's Python SDK under the target directory (once) and returns its path.
fn python_sdk() -> Result<PathBuf, String> {
    let dir = target_dir().join("oci-python");
    if dir.join("oci/__init__.py").is_file() {
        return Ok(dir);
    }
    eprintln!(
        "installing Oracle's Python SDK into {} (once)…",
        dir.display()
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&dir)
        .arg("oci")
        .status()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !status.success() {
        return Err(format!(
            "pip install --target {} oci failed ({status})",
            dir.display()
        ));
    }
    Ok(dir)
}

const PYTHON: &str = r#"
import sys, time
sdk_dir, key_file, tenancy, user, fingerprint, seconds = sys.argv[1:7]
seconds = float(seconds)
sys.path.insert(0, sdk_dir)
import oci
from oci._vendor import requests
signer = oci.signer.Signer(tenancy, user, fingerprint, key_file)
def prepared(method, url, body):
    kwargs = {"headers": {"content-type": "application/json"}}
    if body:
        kwargs["data"] = body
    request = requests.Request(method, url, **kwargs).prepare()
    request.headers["date"] = sys.argv[7]
    return request
for name, method, url, body in [("get", "GET", sys.argv[8], None), ("post", "POST", sys.argv[9], sys.argv[10].encode())]:
    request = prepared(method, url, body)
    signer(request)
    print("AUTH", name, request.headers["authorization"])
    for _ in range(20):
        signer(request)
    started = time.perf_counter()
    count = 0
    while time.perf_counter() - started < seconds:
        for _ in range(10):
            signer(request)
        count += 10
    print("RATE", name, count / (time.perf_counter() - started))
"#;

struct PythonResult {
    get_rate: f64,
    post_rate: f64,
    get_auth: String,
    post_auth: String,
}

fn python_rates(key_file: &Path, fingerprint: &str, seconds: u64) -> Result<PythonResult, String> {
    let sdk = python_sdk()?;
    let output = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(&sdk)
        .arg(key_file)
        .args([
            TENANCY,
            USER,
            fingerprint,
            &seconds.to_string(),
            DATE,
            GET_URL,
            POST_URL,
            POST_BODY,
        ])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the Python signer failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let find = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
            .ok_or_else(|| format!("no '{prefix}' line from the Python signer"))
    };
    let number = |prefix: &str| -> Result<f64, String> {
        find(prefix)?
            .trim()
            .parse()
            .map_err(|_| format!("bad '{prefix}' line"))
    };
    Ok(PythonResult {
        get_rate: number("RATE get ")?,
        post_rate: number("RATE post ")?,
        get_auth: find("AUTH get ")?,
        post_auth: find("AUTH post ")?,
    })
}

/// The signature value of an Authorization header (parameter order differs between SDKs).
fn signature_of(authorization: &str) -> &str {
    authorization
        .split("signature=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

fn main() {
    let seconds: u64 = std::env::var("OCI_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!("generating a 2048-bit RSA key…");
    let rsa_key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("key generation");
    let pem = rsa_key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 encoding");
    let key = PrivateKey::from_pem(&pem, None).expect("the generated key loads");
    let fingerprint = key.fingerprint().to_owned();
    let signer = Signer::new(KeyId::api_key(TENANCY, USER, &fingerprint), key);
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let key_file = scratch.path().join("bench_key.pem");
    std::fs::write(&key_file, pem.as_bytes()).expect("writing the key for the Python SDK");

    let get_url = Url::parse(GET_URL).unwrap();
    let post_url = Url::parse(POST_URL).unwrap();
    let secs = seconds as f64;
    let sdk_get = rate(secs, || {
        let mut headers = HeaderMap::new();
        signer
            .sign(&Method::GET, &get_url, &mut headers, b"")
            .unwrap();
        std::hint::black_box(&headers);
    });
    let sdk_post = rate(secs, || {
        let mut headers = HeaderMap::new();
        signer
            .sign(&Method::POST, &post_url, &mut headers, POST_BODY.as_bytes())
            .unwrap();
        std::hint::black_box(&headers);
    });
    let openssl = openssl_rate(seconds);
    let python = python_rates(&key_file, &fingerprint, seconds);

    println!();
    println!("OCI request signing, RSA-2048, {seconds} s per measurement, same machine and run");
    println!("{:<46} {:>12}", "signer", "signatures/s");
    println!(
        "{:<46} {:>12.0}",
        "k3s-sdk Signer::sign, GET (ListInstances)", sdk_get
    );
    println!(
        "{:<46} {:>12.0}",
        "k3s-sdk Signer::sign, POST (CreateBackend)", sdk_post
    );
    match &openssl {
        Ok(r) => println!("{:<46} {:>12.0}", "openssl speed rsa2048 (raw RSA sign)", r),
        Err(e) => println!(
            "{:<46} {:>12}  ({e})",
            "openssl speed rsa2048", "unavailable"
        ),
    }
    match &python {
        Ok(p) => {
            println!(
                "{:<46} {:>12.0}",
                "Oracle Python SDK oci.signer.Signer, GET", p.get_rate
            );
            println!(
                "{:<46} {:>12.0}",
                "Oracle Python SDK oci.signer.Signer, POST", p.post_rate
            );
        }
        Err(e) => println!("{:<46} {:>12}  ({e})", "Oracle Python SDK", "unavailable"),
    }
    println!();
    if let Ok(r) = openssl {
        println!(
            "k3s-sdk / openssl speed:   GET {:.2}x   POST {:.2}x",
            sdk_get / r,
            sdk_post / r
        );
    }
    if let Ok(p) = &python {
        println!(
            "k3s-sdk / Python SDK:      GET {:.2}x   POST {:.2}x",
            sdk_get / p.get_rate,
            sdk_post / p.post_rate
        );
        let ours_get = sdk_authorization(&signer, &Method::GET, GET_URL, b"");
        let ours_post = sdk_authorization(&signer, &Method::POST, POST_URL, POST_BODY.as_bytes());
        let same = signature_of(&ours_get) == signature_of(&p.get_auth)
            && signature_of(&ours_post) == signature_of(&p.post_auth)
            && !signature_of(&ours_get).is_empty();
        println!(
            "Python SDK parity on these requests: {}",
            if same {
                "identical signatures"
            } else {
                "DIFFERENT signatures"
            }
        );
    }
}
