//! OCI request signing ("Signature Version 1": draft-cavage-http-signatures-08 with
//! `rsa-sha256`), byte-for-byte what Oracle's Go, Python and Java SDKs produce.
//!
//! - `GET`, `HEAD`, `DELETE`, `OPTIONS` sign `date (request-target) host`;
//! - `POST`, `PUT`, `PATCH` also sign `content-length content-type x-content-sha256`, empty
//!   bodies included (`content-length: 0`, the SHA-256 of nothing), except the few requests
//!   whose body is not signed (Object Storage `PutObject`/`UploadPart`, Streaming
//!   `PutMessages`): use [`Signer::sign_excluding_body`] for those;
//! - `(request-target)` is the lowercase method and the path and query exactly as the given
//!   [`Url`] puts them on the wire: sign the very `Url` that is sent, never a re-encoded copy;
//! - `Authorization: Signature
//!   version="1",headers="…",keyId="…",algorithm="rsa-sha256",signature="…"`
//!   with the parameters in the Go SDK's order.
//!
//! Pure: no I/O. The `Authorization` value is marked sensitive and never logged.

use super::error::Error;
use super::key::PrivateKey;
use crate::Secret;
use base64::Engine as _;
use http::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HOST,
};
use http::{HeaderMap, Method};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;
use url::Url;

/// The `x-content-sha256` of an empty body.
pub const EMPTY_BODY_SHA256: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/// The headers every request signs, in Oracle's SDKs' order.
pub const GENERIC_HEADERS: &[&str] = &["date", "(request-target)", "host"];

/// The headers `POST`, `PUT` and `PATCH` sign, in Oracle's SDKs' order.
pub const BODY_HEADERS: &[&str] = &[
    "date",
    "(request-target)",
    "host",
    "content-length",
    "content-type",
    "x-content-sha256",
];

const X_CONTENT_SHA256: &str = "x-content-sha256";

/// Who is signing: the `keyId` of the signature.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeyId {
    /// An API key of a user: `keyId` is `tenancy/user/fingerprint`.
    ApiKey {
        /// The tenancy OCID.
        tenancy: String,
        /// The user OCID.
        user: String,
        /// The key's fingerprint (lowercase colon hex).
        fingerprint: String,
    },
    /// A session token (`oci session authenticate`): `keyId` is `ST$<token>`.
    SecurityToken(Secret),
}

impl KeyId {
    /// An API key `keyId`.
    pub fn api_key(
        tenancy: impl Into<String>,
        user: impl Into<String>,
        fingerprint: impl Into<String>,
    ) -> KeyId {
        KeyId::ApiKey {
            tenancy: tenancy.into(),
            user: user.into(),
            fingerprint: fingerprint.into(),
        }
    }

    /// A session token `keyId`; surrounding whitespace and newlines are removed.
    pub fn security_token(token: impl Into<Secret>) -> KeyId {
        let token: Secret = token.into();
        KeyId::SecurityToken(Secret::new(token.expose().trim()))
    }

    /// The `keyId` value as sent. For a session token it contains the token: never log it.
    pub fn header_value(&self) -> String {
        match self {
            KeyId::ApiKey {
                tenancy,
                user,
                fingerprint,
            } => format!("{tenancy}/{user}/{fingerprint}"),
            KeyId::SecurityToken(token) => format!("ST${}", token.expose()),
        }
    }

    /// A description safe for messages ("API key 73:61:… of user ocid1.user… in tenancy
    /// ocid1.tenancy…" or "a session token").
    pub fn describe(&self) -> String {
        match self {
            KeyId::ApiKey {
                tenancy,
                user,
                fingerprint,
            } => format!("API key {fingerprint} of user {user} in tenancy {tenancy}"),
            KeyId::SecurityToken(_) => "a session token (security_token_file)".into(),
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyId::ApiKey {
                tenancy,
                user,
                fingerprint,
            } => f
                .debug_struct("ApiKey")
                .field("tenancy", tenancy)
                .field("user", user)
                .field("fingerprint", fingerprint)
                .finish(),
            KeyId::SecurityToken(_) => f.write_str("SecurityToken(***)"),
        }
    }
}

/// Signs OCI requests with one key. Cheap to clone; `Debug` never shows the key or token.
///
/// ```
/// use k3s_sdk::oci::{KeyId, PrivateKey, Signer};
/// # let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/oci/testdata/oci_sample_key.pem"));
/// let key = PrivateKey::from_pem(pem, None)?;
/// let signer = Signer::new(
///     KeyId::api_key("ocid1.tenancy.oc1..aaaa", "ocid1.user.oc1..bbbb", key.fingerprint()),
///     key,
/// );
/// let url = url::Url::parse("https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances?compartmentId=ocid1.compartment.oc1..cccc").unwrap();
/// let mut headers = http::HeaderMap::new();
/// signer.sign(&http::Method::GET, &url, &mut headers, b"")?;
/// assert!(headers["authorization"].to_str().unwrap().starts_with("Signature version=\"1\",headers=\"date (request-target) host\""));
/// # Ok::<(), k3s_sdk::oci::Error>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    key_id: KeyId,
    key: Arc<PrivateKey>,
}

impl Signer {
    /// A signer for `key_id` with `key`.
    pub fn new(key_id: KeyId, key: PrivateKey) -> Signer {
        Signer {
            key_id,
            key: Arc::new(key),
        }
    }

    /// The `keyId`.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Signs a request: adds `date` (now, unless `headers` already has one), `host` (from
    /// `url`), for `POST`/`PUT`/`PATCH` `content-length`, `content-type` (default
    /// `application/json`) and `x-content-sha256` of `body`, and `authorization`.
    ///
    /// `url` and `body` must be exactly what is sent. A body on `GET`, `HEAD`, `DELETE` or
    /// `OPTIONS` is refused, since OCI signatures cannot cover it.
    pub fn sign(
        &self,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<(), Error> {
        self.sign_inner(method, url, headers, body, false)
    }

    /// Like [`Signer::sign`] but signs only `date (request-target) host` whatever the method,
    /// leaving content headers alone: for the requests whose body OCI does not sign (Object
    /// Storage `PutObject`/`UploadPart`, Streaming `PutMessages`).
    pub fn sign_excluding_body(
        &self,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<(), Error> {
        self.sign_inner(method, url, headers, body, true)
    }

    fn sign_inner(
        &self,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
        body: &[u8],
        exclude_body: bool,
    ) -> Result<(), Error> {
        let names = signed_headers(method, exclude_body)?;
        if !exclude_body && names.len() == GENERIC_HEADERS.len() && !body.is_empty() {
            return Err(Error::InvalidInput(format!(
                "a {method} request cannot carry a body: OCI signatures do not cover bodies of \
                 {method} requests"
            )));
        }
        if !headers.contains_key(DATE) {
            headers.insert(DATE, http_date(SystemTime::now()));
        }
        headers.insert(HOST, header_value(&host_of(url)?)?);
        if names.len() == BODY_HEADERS.len() {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            let content_type = match headers.get(CONTENT_TYPE).map(|v| v.to_str()) {
                None => "application/json".to_owned(),
                Some(Ok(v)) => v.trim().to_owned(),
                Some(Err(_)) => {
                    return Err(Error::InvalidInput(
                        "the content-type header is not ASCII".into(),
                    ))
                }
            };
            headers.insert(CONTENT_TYPE, header_value(&content_type)?);
            headers.insert(
                HeaderName::from_static(X_CONTENT_SHA256),
                header_value(&content_sha256(body))?,
            );
        }
        let string = signing_string(method, url, headers, names)?;
        let signature =
            base64::engine::general_purpose::STANDARD.encode(self.key.sign(string.as_bytes())?);
        let mut authorization = HeaderValue::from_str(&format!(
            "Signature \
                version=\"1\",headers=\"{}\",keyId=\"{}\",algorithm=\"rsa-sha256\",signature=\"{}\"",
            names.join(" "),
            self.key_id.header_value(),
            signature
        ))
        .map_err(|_| {
            Error::InvalidInput(
                "the keyId contains characters not allowed in a header (a tenancy, user or \
                 fingerprint with a newline, or a damaged security token file?)"
                    .into(),
            )
        })?;
        authorization.set_sensitive(true);
        headers.insert(AUTHORIZATION, authorization);
        Ok(())
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .finish()
    }
}

/// The headers signed for `method`, in order. `exclude_body` gives the generic headers for
/// every method (the requests whose body OCI does not sign).
pub fn signed_headers(
    method: &Method,
    exclude_body: bool,
) -> Result<&'static [&'static str], Error> {
    match *method {
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS => Ok(GENERIC_HEADERS),
        Method::POST | Method::PUT | Method::PATCH if exclude_body => Ok(GENERIC_HEADERS),
        Method::POST | Method::PUT | Method::PATCH => Ok(BODY_HEADERS),
        _ => Err(Error::InvalidInput(format!(
            "OCI request signing does not support the {method} method"
        ))),
    }
}

/// The `(request-target)` value: the lowercase method, a space, and the path and query as
/// `url` sends them (`?` included whenever `url` has a query, even an empty one).
pub fn request_target(method: &Method, url: &Url) -> String {
    let mut target = format!("{} {}", method.as_str().to_ascii_lowercase(), url.path());
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    target
}

/// The signing string: one `name: value` line per name, joined by `\n`, no trailing newline.
/// Values come from `headers` (which must hold every named header once, in visible ASCII),
/// except `(request-target)`, computed from `method` and `url`.
pub fn signing_string(
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    names: &[&str],
) -> Result<String, Error> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let value = if *name == "(request-target)" {
            request_target(method, url)
        } else {
            let mut values = headers.get_all(*name).iter();
            let value = values.next().ok_or_else(|| {
                Error::InvalidInput(format!("the signed header '{name}' is missing"))
            })?;
            if values.next().is_some() {
                return Err(Error::InvalidInput(format!(
                    "the signed header '{name}' appears more than once"
                )));
            }
            value
                .to_str()
                .map_err(|_| {
                    Error::InvalidInput(format!(
                        "the signed header '{name}' is not ASCII, which OCI signatures cannot \
                         cover"
                    ))
                })?
                .trim()
                .to_owned()
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

/// The `x-content-sha256` value of a body: standard padded base64 of its SHA-256.
pub fn content_sha256(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
}

/// `time` as an IMF-fixdate (`Thu, 05 Jan 2014 21:31:40 GMT`).
pub fn http_date(time: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(time)).expect("an HTTP date is ASCII")
}

/// The `host` value for `url`: the host, plus `:port` when the URL has a non-default port.
pub fn host_of(url: &Url) -> Result<String, Error> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::InvalidInput(format!("the URL {url} has no host")))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

fn header_value(value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value)
        .map_err(|_| Error::InvalidInput(format!("'{value}' is not a valid header value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_target_keeps_the_wire_encoding() {
        let url = Url::parse("https://h.example/a%3Ab/c?x=1%2B1&y=a+b").unwrap();
        assert_eq!(
            request_target(&Method::DELETE, &url),
            "delete /a%3Ab/c?x=1%2B1&y=a+b"
        );
        let url = Url::parse("https://h.example/p?").unwrap();
        assert_eq!(request_target(&Method::GET, &url), "get /p?");
        let url = Url::parse("https://h.example/p#frag").unwrap();
        assert_eq!(request_target(&Method::GET, &url), "get /p");
    }

    #[test]
    fn host_has_port_only_when_not_default() {
        assert_eq!(
            host_of(&Url::parse("https://h:443/").unwrap()).unwrap(),
            "h"
        );
        assert_eq!(
            host_of(&Url::parse("http://localhost:7000/api").unwrap()).unwrap(),
            "localhost:7000"
        );
        assert_eq!(
            host_of(&Url::parse("http://[::1]:80/").unwrap()).unwrap(),
            "[::1]"
        );
    }

    #[test]
    fn empty_body_hash() {
        assert_eq!(content_sha256(b""), EMPTY_BODY_SHA256);
    }

    #[test]
    fn methods() {
        assert_eq!(
            signed_headers(&Method::OPTIONS, false).unwrap(),
            GENERIC_HEADERS
        );
        assert_eq!(signed_headers(&Method::PATCH, false).unwrap(), BODY_HEADERS);
        assert_eq!(signed_headers(&Method::PUT, true).unwrap(), GENERIC_HEADERS);
        assert!(signed_headers(&Method::TRACE, false).is_err());
    }

    #[test]
    fn security_token_is_trimmed_and_hidden() {
        let id = KeyId::security_token("  eyJhbGciOi.payload.sig\n");
        assert_eq!(id.header_value(), "ST$eyJhbGciOi.payload.sig");
        assert_eq!(format!("{id:?}"), "SecurityToken(***)");
        assert!(!id.describe().contains("eyJ"));
    }
}
