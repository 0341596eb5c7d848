//! An independent verifier of OCI request signatures ("Signature Version 1", a profile of
//! draft-cavage-http-signatures-08 with `rsa-sha256`).
//!
//! It rebuilds the signing string from the request *as received*: the method, the request
//! target exactly as it appeared on the wire, the header values and the body bytes. It shares no
//! code with the SDK's signer on purpose, so a test that passes here shows that what the SDK
//! sends is what an OCI service would accept.
//!
//! Rules enforced (see the project's OCI research note, §1):
//! - `Authorization: Signature version="1",headers="…",keyId="…",algorithm="rsa-sha256",signature="…"`
//!   (parameters in any order, each value double-quoted);
//! - every method must sign `date` (or `x-date`), `(request-target)` and `host`; `POST`, `PUT`
//!   and `PATCH` must also sign `content-length`, `content-type` and `x-content-sha256`, except
//!   for the documented requests whose body is not signed (Object Storage PutObject and
//!   UploadPart, Streaming PutMessages) and the X.509 federation call, which does not sign `host`;
//! - `x-content-sha256` must be the standard base64 of the body's SHA-256 and `content-length`
//!   its byte length;
//! - the signed date must be within `max_skew` of `now`;
//! - the signature is RSA PKCS#1 v1.5 over SHA-256 of the signing string, standard base64.
//!
//! ```
//! use acceptance_tests::oci::verify::{verify, Received, VerifyError};
//! let headers = http::HeaderMap::new();
//! let request = Received { method: "GET", target: "/20160918/instances", headers: &headers, body: b"" };
//! let result = verify(&request, |_| None, std::time::SystemTime::now(), std::time::Duration::from_secs(300));
//! assert_eq!(result.unwrap_err(), VerifyError::MissingAuthorization);
//! ```

use base64::Engine as _;
use rsa::signature::Verifier as _;
use sha2::Digest as _;
use std::fmt;
use std::time::{Duration, SystemTime};

/// A request as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The request method, e.g. `GET` (any case).
    pub method: &'a str,
    /// The request target, `path?query`, exactly as on the wire (still percent-encoded).
    pub target: &'a str,
    /// The request headers. `host` must be among them (HTTP/1.1 `Host`).
    pub headers: &'a http::HeaderMap,
    /// The body bytes exactly as received.
    pub body: &'a [u8],
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The `keyId` the request was signed with, e.g. `tenancy/user/fingerprint`.
    pub key_id: String,
    /// The signed header names, lowercase, in the order of the `headers` parameter.
    pub signed_headers: Vec<String>,
}

/// Why a request's signature was rejected. An OCI service answers all of these with
/// `401 NotAuthenticated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The request has no `Authorization` header.
    MissingAuthorization,
    /// The `Authorization` header is not a well-formed `Signature` credential.
    MalformedAuthorization(String),
    /// The `algorithm` parameter is missing or not `rsa-sha256`.
    UnsupportedAlgorithm(String),
    /// The `version` parameter is missing or not `1`.
    UnsupportedVersion(String),
    /// No public key is known for this `keyId` (shown redacted for session tokens).
    UnknownKeyId(String),
    /// A header this method must sign is not in the `headers` parameter.
    RequiredHeaderNotSigned(String),
    /// A header listed in the `headers` parameter is not present in the request.
    SignedHeaderMissing(String),
    /// `x-content-sha256` does not match the body received.
    BodyHashMismatch {
        /// The value the request carried.
        header: String,
        /// The hash of the body actually received.
        actual: String,
    },
    /// `content-length` does not match the number of body bytes received.
    ContentLengthMismatch {
        /// The value the request carried.
        header: String,
        /// The number of bytes actually received.
        actual: usize,
    },
    /// The signed `date`/`x-date` is not an RFC 7231 date.
    InvalidDate(String),
    /// The signed date is further than the allowed skew from the server's clock.
    DateSkew {
        /// The date the request carried.
        date: String,
        /// The server's clock, formatted the same way.
        now: String,
        /// The allowed skew.
        max_skew: Duration,
    },
    /// The signature does not verify with the key registered for `keyId`.
    BadSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingAuthorization => {
                write!(
                    f,
                    "The required information to complete authentication was not provided"
                )
            }
            VerifyError::MalformedAuthorization(why) => {
                write!(f, "Malformed Authorization header: {why}")
            }
            VerifyError::UnsupportedAlgorithm(alg) => {
                write!(
                    f,
                    "Unsupported signature algorithm '{alg}'; expected 'rsa-sha256'"
                )
            }
            VerifyError::UnsupportedVersion(version) => {
                write!(f, "Unsupported signature version '{version}'; expected '1'")
            }
            VerifyError::UnknownKeyId(key_id) => {
                write!(f, "No API key is registered for keyId '{key_id}'")
            }
            VerifyError::RequiredHeaderNotSigned(name) => {
                write!(f, "Required header '{name}' is not part of the signature")
            }
            VerifyError::SignedHeaderMissing(name) => {
                write!(f, "Signed header '{name}' is missing from the request")
            }
            VerifyError::BodyHashMismatch { header, actual } => write!(
                f,
                "x-content-sha256 '{header}' does not match the body received (sha256 {actual})"
            ),
            VerifyError::ContentLengthMismatch { header, actual } => write!(
                f,
                "content-length '{header}' does not match the {actual} body bytes received"
            ),
            VerifyError::InvalidDate(date) => write!(f, "Date '{date}' is not an RFC 7231 date"),
            VerifyError::DateSkew {
                date,
                now,
                max_skew,
            } => write!(
                f,
                "Date '{date}' is not within allowed clock skew of {}s. Current '{now}'",
                max_skew.as_secs()
            ),
            VerifyError::BadSignature => write!(
                f,
                "The required information to complete authentication was provided but the \
                 signature was invalid"
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The parameters of a `Signature` credential.
#[derive(Debug, Default)]
struct Params {
    version: Option<String>,
    headers: Option<String>,
    key_id: Option<String>,
    algorithm: Option<String>,
    signature: Option<String>,
}

/// Parses `Signature name="value",name="value",...`. Values may not contain `"`.
fn parse_authorization(value: &str) -> Result<Params, VerifyError> {
    let malformed = |why: &str| VerifyError::MalformedAuthorization(why.to_owned());
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or_else(|| malformed("expected 'Signature <parameters>'"))?;
    if !scheme.eq_ignore_ascii_case("Signature") {
        return Err(malformed("the authentication scheme is not 'Signature'"));
    }
    let mut params = Params::default();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("a parameter has no '='"))?;
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| malformed("a parameter value is not double-quoted"))?;
        let (val, after) = after
            .split_once('"')
            .ok_or_else(|| malformed("a parameter value has no closing quote"))?;
        let slot = match name.trim() {
            "version" => &mut params.version,
            "headers" => &mut params.headers,
            "keyId" => &mut params.key_id,
            "algorithm" => &mut params.algorithm,
            "signature" => &mut params.signature,
            _ => return Err(malformed("unknown parameter")),
        };
        if slot.replace(val.to_owned()).is_some() {
            return Err(malformed("a parameter appears twice"));
        }
        rest = after.trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
            if rest.is_empty() {
                return Err(malformed("trailing comma"));
            }
        } else if !rest.is_empty() {
            return Err(malformed("parameters must be separated by ','"));
        }
    }
    Ok(params)
}

/// Hides session-token key ids (`ST$<token>`), which are bearer credentials.
fn redact_key_id(key_id: &str) -> String {
    if key_id.starts_with("ST$") {
        "ST$<redacted>".to_owned()
    } else {
        key_id.to_owned()
    }
}

/// The headers `method` must sign for the request to `path`, besides the date.
fn required_headers(method: &str, path: &str) -> Vec<&'static str> {
    let federation = method == "post" && path == "/v1/x509";
    let mut required = vec!["(request-target)"];
    if !federation {
        required.push("host");
    }
    if matches!(method, "post" | "put" | "patch") && !body_excluded(method, path) {
        required.extend(["content-length", "content-type", "x-content-sha256"]);
    }
    required
}

/// The documented requests whose body is not signed (research note §1.4).
fn body_excluded(method: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        // Object Storage PutObject (/n/{ns}/b/{bucket}/o/{object}) and
        // UploadPart (/n/{ns}/b/{bucket}/u/{object}).
        ("put", ["n", _, "b", _, "o" | "u", object @ ..]) => !object.is_empty(),
        // Streaming PutMessages.
        ("post", ["20180418", "streams", _, "messages"]) => true,
        _ => false,
    }
}

/// The value a signed header contributes to the signing string.
fn header_value(headers: &http::HeaderMap, name: &str) -> Result<String, VerifyError> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().map_err(|_| {
            VerifyError::MalformedAuthorization(format!(
                "signed header '{name}' is not printable ASCII"
            ))
        })?;
        values.push(text.trim());
    }
    if values.is_empty() {
        return Err(VerifyError::SignedHeaderMissing(name.to_owned()));
    }
    Ok(values.join(", "))
}

/// Parses an RFC 7231 date. The IMF-fixdate form (`Thu, 05 Jan 2014 21:31:40 GMT`) is read
/// without checking the day name against the date: Oracle's published sample request carries
/// exactly that date, and 5 January 2014 was a Sunday. The obsolete forms go through `httpdate`.
pub fn parse_date(text: &str) -> Option<SystemTime> {
    fn number(s: &str, width: usize) -> Option<u64> {
        (s.len() == width && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    let fixdate = || -> Option<SystemTime> {
        let (day_name, rest) = text.split_once(", ")?;
        if day_name.len() != 3 || !day_name.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let parts: Vec<&str> = rest.split(' ').collect();
        let [day, month, year, time, "GMT"] = parts.as_slice() else {
            return None;
        };
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
        let (day, year) = (number(day, 2)?, number(year, 4)?);
        let clock: Vec<u64> = time
            .split(':')
            .map(|n| number(n, 2))
            .collect::<Option<_>>()?;
        let [hour, minute, second] = clock.as_slice() else {
            return None;
        };
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if year < 1970
            || day == 0
            || day > month_days[month as usize - 1]
            || *hour > 23
            || *minute > 59
            || *second > 60
        {
            return None;
        }
        let days_before_year: u64 = (1970..year)
            .map(|y| {
                if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                    366
                } else {
                    365
                }
            })
            .sum();
        let days =
            days_before_year + month_days[..month as usize - 1].iter().sum::<u64>() + day - 1;
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    };
    fixdate().or_else(|| httpdate::parse_http_date(text).ok())
}

/// The standard base64 of the SHA-256 of `body`, as `x-content-sha256` carries it.
pub fn content_sha256(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
}

/// Verifies the OCI signature of `req`. `public_key` maps a `keyId` to the registered key
/// (it does not need to check fingerprints); `now` and `max_skew` bound the signed date.
pub fn verify(
    req: &Received<'_>,
    public_key: impl Fn(&str) -> Option<rsa::RsaPublicKey>,
    now: SystemTime,
    max_skew: Duration,
) -> Result<Verified, VerifyError> {
    let authorization = req
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(VerifyError::MissingAuthorization)?
        .to_str()
        .map_err(|_| {
            VerifyError::MalformedAuthorization("the header is not printable ASCII".into())
        })?;
    let params = parse_authorization(authorization)?;
    match params.version.as_deref() {
        Some("1") => {}
        other => {
            return Err(VerifyError::UnsupportedVersion(
                other.unwrap_or("(missing)").to_owned(),
            ))
        }
    }
    match params.algorithm.as_deref() {
        Some("rsa-sha256") => {}
        other => {
            return Err(VerifyError::UnsupportedAlgorithm(
                other.unwrap_or("(missing)").to_owned(),
            ))
        }
    }
    let key_id = params
        .key_id
        .filter(|k| !k.is_empty())
        .ok_or_else(|| VerifyError::MalformedAuthorization("keyId is missing".into()))?;
    let signature = params
        .signature
        .ok_or_else(|| VerifyError::MalformedAuthorization("signature is missing".into()))?;
    // draft-cavage: when `headers` is absent only `date` is signed.
    let header_list = params.headers.unwrap_or_else(|| "date".to_owned());
    let signed: Vec<String> = header_list.split(' ').map(str::to_owned).collect();
    for (i, name) in signed.iter().enumerate() {
        if name.is_empty() {
            return Err(VerifyError::MalformedAuthorization(
                "the headers parameter has an empty name".into(),
            ));
        }
        if name.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(VerifyError::MalformedAuthorization(format!(
                "header name '{name}' in the headers parameter is not lowercase"
            )));
        }
        if signed[..i].contains(name) {
            return Err(VerifyError::MalformedAuthorization(format!(
                "header '{name}' is listed twice"
            )));
        }
    }

    let method = req.method.to_ascii_lowercase();
    let path = req.target.split('?').next().unwrap_or_default();
    let is_signed = |name: &str| signed.iter().any(|s| s == name);
    if !is_signed("date") && !is_signed("x-date") {
        return Err(VerifyError::RequiredHeaderNotSigned("date".into()));
    }
    for name in required_headers(&method, path) {
        if !is_signed(name) {
            return Err(VerifyError::RequiredHeaderNotSigned(name.to_owned()));
        }
    }

    let mut lines = Vec::with_capacity(signed.len());
    for name in &signed {
        let value = if name == "(request-target)" {
            format!("{method} {}", req.target)
        } else {
            header_value(req.headers, name)?
        };
        lines.push(format!("{name}: {value}"));
    }
    let signing_string = lines.join("\n");

    let date_name = if is_signed("x-date") {
        "x-date"
    } else {
        "date"
    };
    let date_text = header_value(req.headers, date_name)?;
    let date = parse_date(&date_text).ok_or_else(|| VerifyError::InvalidDate(date_text.clone()))?;
    let skew = match now.duration_since(date) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > max_skew {
        return Err(VerifyError::DateSkew {
            date: date_text,
            now: httpdate::fmt_http_date(now),
            max_skew,
        });
    }

    if let Some(value) = req.headers.get("x-content-sha256") {
        let header = value.to_str().unwrap_or_default().trim().to_owned();
        let actual = content_sha256(req.body);
        if header != actual {
            return Err(VerifyError::BodyHashMismatch { header, actual });
        }
    }
    if let Some(value) = req.headers.get(http::header::CONTENT_LENGTH) {
        let header = value.to_str().unwrap_or_default().trim().to_owned();
        if header.parse::<usize>().ok() != Some(req.body.len()) {
            return Err(VerifyError::ContentLengthMismatch {
                header,
                actual: req.body.len(),
            });
        }
    }

    let key =
        public_key(&key_id).ok_or_else(|| VerifyError::UnknownKeyId(redact_key_id(&key_id)))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(signature.as_bytes())
        .map_err(|_| VerifyError::MalformedAuthorization("signature is not base64".into()))?;
    let signature = rsa::pkcs1v15::Signature::try_from(raw.as_slice())
        .map_err(|_| VerifyError::BadSignature)?;
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
        .verify(signing_string.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified {
        key_id,
        signed_headers: signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey as _;

    /// The published sample key (draft-cavage Appendix C), research note §2.1.
    const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----
";
    const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
";
    const KEY_ID: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
    const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
    const IAAS: &str = "iaas.us-phoenix-1.oraclecloud.com";
    const NLB: &str = "network-load-balancer-api.us-phoenix-1.oci.oraclecloud.com";
    const GET_TARGET: &str = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
    const GET_SIGNATURE: &str = "GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=";
    const POST_SIGNATURE: &str = "Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=";
    const EMPTY_POST_SIGNATURE: &str = "rkiMZLVQXaJbEAX1AD48Mb4xQeKggSPtHJ0iqnRqk2PM83Imzaa/CuAZW/iU16sHToNmoHvlXkseAG0iLb3PEhpIZ6M+TYMrmfIYOnW4am7T8V9Jg5XJaQmftdxE10RC+DMQty39izEwfXHgGu0b1Melnc5CqYIDAZppQEjSYu4=";
    const DELETE_SIGNATURE: &str = "jS/ZeOpjZd15jlWSS0pOjkGW2FS1o9Pk8phlQD7wIN2kauE/JMqcTb6u3JJ8p+AaKT9fz6bEHTDbJE50bbaOwK6YXsKkrrpiVlkklzLZ0wlJTJwB7xIcZVv2of/T/W99vp5eVE7AQOtqY7KLG12ZuONcxJTxmOX2vWe9ra8dWIQ=";
    const GENERIC: &str = "date (request-target) host";
    const BODY: &str = "date (request-target) host content-length content-type x-content-sha256";

    fn post_body() -> String {
        [
            "{",
            "    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",",
            "    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",",
            "    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"",
            "}",
        ]
        .join("\n")
    }

    fn public_key() -> rsa::RsaPublicKey {
        rsa::RsaPublicKey::from_public_key_pem(PUBLIC_KEY).expect("sample public key")
    }

    fn keys(key_id: &str) -> Option<rsa::RsaPublicKey> {
        (key_id == KEY_ID).then(public_key)
    }

    fn vector_time() -> SystemTime {
        parse_date(DATE).expect("vector date")
    }

    fn five_minutes() -> Duration {
        Duration::from_secs(300)
    }

    fn authorization(headers: &str, key_id: &str, signature: &str) -> String {
        format!(
            "Signature version=\"1\",headers=\"{headers}\",keyId=\"{key_id}\",\
             algorithm=\"rsa-sha256\",signature=\"{signature}\""
        )
    }

    fn header_map(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(value).expect("header value"),
            );
        }
        map
    }

    fn get_headers(auth: &str) -> http::HeaderMap {
        header_map(&[("date", DATE), ("host", IAAS), ("authorization", auth)])
    }

    fn post_headers(auth: &str, body: &[u8]) -> http::HeaderMap {
        header_map(&[
            ("date", DATE),
            ("host", IAAS),
            ("content-type", "application/json"),
            ("content-length", &body.len().to_string()),
            ("x-content-sha256", &content_sha256(body)),
            ("authorization", auth),
        ])
    }

    /// Signs `signing_string` with the sample key (for the negative cases only; the positive
    /// cases use the published signatures).
    fn sign(signing_string: &str) -> String {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(PRIVATE_KEY).expect("sample private key");
        let signature =
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key).sign(signing_string.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }

    fn check(
        method: &str,
        target: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let received = Received {
            method,
            target,
            headers,
            body,
        };
        verify(&received, keys, vector_time(), five_minutes())
    }

    #[test]
    fn dates_parse_without_checking_the_day_name() {
        let vector = parse_date(DATE).expect("vector date");
        let since_epoch = vector
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970");
        assert_eq!(since_epoch.as_secs(), 1_388_957_500);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_date(&httpdate::fmt_http_date(now)), Some(now));
        let leap = parse_date("Tue, 29 Feb 2000 00:00:00 GMT").expect("leap day");
        assert_eq!(
            leap,
            SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)
        );
        for bad in [
            "Thu, 5 Jan 2014 21:31:40 GMT",
            "Thu, 05 Jan 2014 21:31:40 UTC",
            "Thu, 30 Feb 2014 21:31:40 GMT",
            "Thu, 05 Jan 2014 24:31:40 GMT",
            "Thu, 05 Jan 2014 21:31 GMT",
            "2014-01-05T21:31:40Z",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn published_get_vector_verifies() {
        let headers = get_headers(&authorization(GENERIC, KEY_ID, GET_SIGNATURE));
        let verified = check("GET", GET_TARGET, &headers, b"").expect("published GET vector");
        assert_eq!(verified.key_id, KEY_ID);
        assert_eq!(
            verified.signed_headers,
            ["date", "(request-target)", "host"]
        );
    }

    #[test]
    fn python_parameter_order_verifies() {
        let auth = format!(
            "Signature algorithm=\"rsa-sha256\",headers=\"{GENERIC}\",keyId=\"{KEY_ID}\",\
             signature=\"{GET_SIGNATURE}\",version=\"1\""
        );
        check("GET", GET_TARGET, &get_headers(&auth), b"").expect("PY parameter order");
    }

    #[test]
    fn published_post_vector_verifies() {
        let body = post_body();
        assert_eq!(body.len(), 316);
        let headers = post_headers(
            &authorization(BODY, KEY_ID, POST_SIGNATURE),
            body.as_bytes(),
        );
        assert_eq!(
            headers["x-content-sha256"],
            "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
        );
        let verified = check(
            "POST",
            "/20160918/volumeAttachments",
            &headers,
            body.as_bytes(),
        )
        .expect("published POST vector");
        assert_eq!(verified.signed_headers.len(), 6);
    }

    #[test]
    fn empty_body_post_vector_verifies() {
        let headers = post_headers(&authorization(BODY, KEY_ID, EMPTY_POST_SIGNATURE), b"");
        assert_eq!(
            headers["x-content-sha256"],
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        check(
            "POST",
            "/20160918/instances/ocid1.instance.oc1.phx.x?action=STOP",
            &headers,
            b"",
        )
        .expect("derived empty-body POST vector");
    }

    #[test]
    fn nlb_delete_backend_vector_verifies_only_as_sent() {
        let headers = header_map(&[
            ("date", DATE),
            ("host", NLB),
            (
                "authorization",
                &authorization(GENERIC, KEY_ID, DELETE_SIGNATURE),
            ),
        ]);
        let target =
            "/20200501/networkLoadBalancers/ocid1.nlb/backendSets/k3s-api/backends/10.0.0.3%3A6443";
        check("DELETE", target, &headers, b"").expect("derived DeleteBackend vector");
        // The same request with `:` unencoded is a different request target.
        let decoded = target.replace("%3A", ":");
        assert_eq!(
            check("DELETE", &decoded, &headers, b""),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_body_is_rejected() {
        let body = post_body();
        let headers = post_headers(
            &authorization(BODY, KEY_ID, POST_SIGNATURE),
            body.as_bytes(),
        );
        let tampered = body.replace("phx", "iad");
        assert_eq!(tampered.len(), body.len());
        assert!(matches!(
            check(
                "POST",
                "/20160918/volumeAttachments",
                &headers,
                tampered.as_bytes()
            ),
            Err(VerifyError::BodyHashMismatch { .. })
        ));
        // A tamperer who also rewrites the hash header breaks the signature instead.
        let rehashed = post_headers(
            &authorization(BODY, KEY_ID, POST_SIGNATURE),
            tampered.as_bytes(),
        );
        assert_eq!(
            check(
                "POST",
                "/20160918/volumeAttachments",
                &rehashed,
                tampered.as_bytes()
            ),
            Err(VerifyError::BadSignature)
        );
        // A body of another length.
        let longer = format!("{body} ");
        let err = check(
            "POST",
            "/20160918/volumeAttachments",
            &headers,
            longer.as_bytes(),
        )
        .expect_err("longer body");
        assert!(matches!(err, VerifyError::BodyHashMismatch { .. }), "{err}");
    }

    #[test]
    fn content_length_must_match_the_body() {
        let body = post_body();
        let mut headers = post_headers(
            &authorization(BODY, KEY_ID, POST_SIGNATURE),
            body.as_bytes(),
        );
        headers.insert("content-length", http::HeaderValue::from_static("317"));
        assert_eq!(
            check(
                "POST",
                "/20160918/volumeAttachments",
                &headers,
                body.as_bytes()
            ),
            Err(VerifyError::ContentLengthMismatch {
                header: "317".into(),
                actual: 316
            })
        );
    }

    #[test]
    fn tampered_query_or_host_is_rejected() {
        let headers = get_headers(&authorization(GENERIC, KEY_ID, GET_SIGNATURE));
        let tampered = GET_TARGET.replace("TeamXInstances", "TeamYInstances");
        assert_eq!(
            check("GET", &tampered, &headers, b""),
            Err(VerifyError::BadSignature)
        );
        let reordered = "/20160918/instances?compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&availabilityDomain=Pjwf%3A%20PHX-AD-1&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
        assert_eq!(
            check("GET", reordered, &headers, b""),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check("HEAD", GET_TARGET, &headers, b""),
            Err(VerifyError::BadSignature)
        );
        let mut other_host = headers.clone();
        other_host.insert("host", http::HeaderValue::from_static("127.0.0.1:8443"));
        assert_eq!(
            check("GET", GET_TARGET, &other_host, b""),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn stale_or_future_date_is_rejected() {
        let headers = get_headers(&authorization(GENERIC, KEY_ID, GET_SIGNATURE));
        let received = Received {
            method: "GET",
            target: GET_TARGET,
            headers: &headers,
            body: b"",
        };
        for offset in [Duration::from_secs(301), Duration::from_secs(3600)] {
            for now in [vector_time() + offset, vector_time() - offset] {
                let err = verify(&received, keys, now, five_minutes()).expect_err("skewed");
                assert!(matches!(err, VerifyError::DateSkew { .. }), "{err}");
                assert!(err.to_string().contains("not within allowed clock skew"));
            }
        }
        // Within the window either way.
        for now in [
            vector_time() + five_minutes(),
            vector_time() - five_minutes(),
        ] {
            verify(&received, keys, now, five_minutes()).expect("within skew");
        }
        let mut bad_date = headers.clone();
        bad_date.insert("date", http::HeaderValue::from_static("yesterday"));
        assert!(matches!(
            check("GET", GET_TARGET, &bad_date, b""),
            Err(VerifyError::InvalidDate(_))
        ));
    }

    #[test]
    fn unsigned_required_headers_are_rejected() {
        let cases: [(&str, &str, &str); 6] = [
            ("GET", "(request-target) host", "date"),
            ("GET", "date (request-target)", "host"),
            ("DELETE", "date host", "(request-target)"),
            ("POST", GENERIC, "content-length"),
            (
                "PUT",
                "date (request-target) host content-length content-type",
                "x-content-sha256",
            ),
            (
                "PATCH",
                "date (request-target) host content-length x-content-sha256",
                "content-type",
            ),
        ];
        for (method, signed, missing) in cases {
            let body: &[u8] = if method == "GET" || method == "DELETE" {
                b""
            } else {
                b"{}"
            };
            let mut headers = post_headers("", body);
            let lines: Vec<String> = signed
                .split(' ')
                .map(|name| match name {
                    "(request-target)" => format!("{name}: {} /x", method.to_lowercase()),
                    _ => format!("{name}: {}", headers[name].to_str().expect("ascii")),
                })
                .collect();
            let auth = authorization(signed, KEY_ID, &sign(&lines.join("\n")));
            headers.insert("authorization", auth.parse().expect("header"));
            assert_eq!(
                check(method, "/x", &headers, body),
                Err(VerifyError::RequiredHeaderNotSigned(missing.into())),
                "{method} signing '{signed}'"
            );
        }
    }

    #[test]
    fn x_date_and_other_orders_are_accepted() {
        // The TypeScript SDK's choice: x-date, content-type before content-length.
        let body = b"{\"a\":1}";
        let mut headers = post_headers("", body);
        headers.remove("date");
        headers.insert("x-date", DATE.parse().expect("date"));
        let signed = "x-date (request-target) host content-type content-length x-content-sha256";
        let lines: Vec<String> = signed
            .split(' ')
            .map(|name| match name {
                "(request-target)" => format!("{name}: put /a%20b?c=d+e"),
                _ => format!("{name}: {}", headers[name].to_str().expect("ascii")),
            })
            .collect();
        headers.insert(
            "authorization",
            authorization(signed, KEY_ID, &sign(&lines.join("\n")))
                .parse()
                .expect("header"),
        );
        let verified = check("PUT", "/a%20b?c=d+e", &headers, body).expect("x-date variant");
        assert_eq!(verified.signed_headers[0], "x-date");
    }

    #[test]
    fn body_excluded_requests_need_only_generic_headers() {
        let lines = [
            format!("date: {DATE}"),
            "(request-target): put /n/ns/b/bucket/o/dir/file.bin".to_owned(),
            format!("host: {IAAS}"),
        ];
        let mut headers = get_headers(&authorization(GENERIC, KEY_ID, &sign(&lines.join("\n"))));
        headers.insert("content-length", "5".parse().expect("length"));
        check("PUT", "/n/ns/b/bucket/o/dir/file.bin", &headers, b"bytes").expect("PutObject");
        assert_eq!(
            check("PUT", "/n/ns/b/bucket", &headers, b"bytes"),
            Err(VerifyError::RequiredHeaderNotSigned(
                "content-length".into()
            ))
        );
        // The federation call signs no host.
        let lines = [
            format!("date: {DATE}"),
            "(request-target): post /v1/x509".to_owned(),
            "content-length: 2".to_owned(),
            "content-type: application/json".to_owned(),
            format!("x-content-sha256: {}", content_sha256(b"{}")),
        ];
        let signed = "date (request-target) content-length content-type x-content-sha256";
        let mut headers = post_headers(
            &authorization(signed, KEY_ID, &sign(&lines.join("\n"))),
            b"{}",
        );
        headers.remove("host");
        check("POST", "/v1/x509", &headers, b"{}").expect("federation call");
    }

    #[test]
    fn signed_header_missing_from_request_is_rejected() {
        let mut headers = get_headers(&authorization(GENERIC, KEY_ID, GET_SIGNATURE));
        headers.remove("host");
        assert_eq!(
            check("GET", GET_TARGET, &headers, b""),
            Err(VerifyError::SignedHeaderMissing("host".into()))
        );
        let mut headers = get_headers(&authorization(
            "date (request-target) host opc-obo-token",
            KEY_ID,
            GET_SIGNATURE,
        ));
        headers.remove("opc-obo-token");
        assert_eq!(
            check("GET", GET_TARGET, &headers, b""),
            Err(VerifyError::SignedHeaderMissing("opc-obo-token".into()))
        );
    }

    #[test]
    fn wrong_or_unknown_key_is_rejected() {
        let headers = get_headers(&authorization(GENERIC, KEY_ID, GET_SIGNATURE));
        let received = Received {
            method: "GET",
            target: GET_TARGET,
            headers: &headers,
            body: b"",
        };
        let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("key");
        let wrong = |_: &str| Some(other.to_public_key());
        assert_eq!(
            verify(&received, wrong, vector_time(), five_minutes()),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(&received, |_| None, vector_time(), five_minutes()),
            Err(VerifyError::UnknownKeyId(KEY_ID.into()))
        );
        // Session-token key ids are not echoed.
        let headers = get_headers(&authorization(
            GENERIC,
            "ST$eyJhbGciOi.secret",
            GET_SIGNATURE,
        ));
        let err = check("GET", GET_TARGET, &headers, b"").expect_err("unknown token");
        assert_eq!(err, VerifyError::UnknownKeyId("ST$<redacted>".into()));
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn malformed_credentials_are_rejected() {
        let check_auth = |auth: Option<&str>| {
            let mut headers = header_map(&[("date", DATE), ("host", IAAS)]);
            if let Some(auth) = auth {
                headers.insert("authorization", auth.parse().expect("header"));
            }
            check("GET", GET_TARGET, &headers, b"")
        };
        assert_eq!(check_auth(None), Err(VerifyError::MissingAuthorization));
        for auth in [
            "Bearer abc",
            "Signature",
            "Signature keyId=abc",
            "Signature keyId=\"abc",
            "Signature version=\"1\" keyId=\"a\"",
            "Signature version=\"1\",version=\"1\"",
            "Signature version=\"1\",",
        ] {
            assert!(
                matches!(
                    check_auth(Some(auth)),
                    Err(VerifyError::MalformedAuthorization(_))
                ),
                "{auth}"
            );
        }
        let no_signature = format!(
            "Signature version=\"1\",headers=\"{GENERIC}\",keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\""
        );
        assert!(matches!(
            check_auth(Some(&no_signature)),
            Err(VerifyError::MalformedAuthorization(_))
        ));
        let not_base64 = authorization(GENERIC, KEY_ID, "!!!");
        assert!(matches!(
            check_auth(Some(&not_base64)),
            Err(VerifyError::MalformedAuthorization(_))
        ));
        let upper = authorization("Date (request-target) host", KEY_ID, GET_SIGNATURE);
        assert!(matches!(
            check_auth(Some(&upper)),
            Err(VerifyError::MalformedAuthorization(_))
        ));
        let good = authorization(GENERIC, KEY_ID, GET_SIGNATURE);
        assert_eq!(
            check_auth(Some(&good.replace("rsa-sha256", "hmac-sha256"))),
            Err(VerifyError::UnsupportedAlgorithm("hmac-sha256".into()))
        );
        assert_eq!(
            check_auth(Some(&good.replace("version=\"1\"", "version=\"2\""))),
            Err(VerifyError::UnsupportedVersion("2".into()))
        );
        assert_eq!(
            check_auth(Some(&good.replace("version=\"1\",", ""))),
            Err(VerifyError::UnsupportedVersion("(missing)".into()))
        );
        // A truncated signature.
        let short = authorization(GENERIC, KEY_ID, &GET_SIGNATURE[..40]);
        assert_eq!(check_auth(Some(&short)), Err(VerifyError::BadSignature));
    }
}
