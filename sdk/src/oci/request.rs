//! One OCI call and its answer: [`Request`] (operation, service, method, encoded path, query,
//! headers, body) and [`Response`] (status, headers, body, and the OCI headers callers read),
//! plus the path-segment encoding every URL uses.

use super::error::Error;
use super::region::Service;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use std::fmt;
use zeroize::Zeroizing;

/// Characters left as they are in a path segment: RFC 3986 unreserved. Everything else,
/// `:` and `/` included, is percent-encoded (an NLB backend `10.0.0.3:6443` becomes
/// `10.0.0.3%3A6443`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (an OCID, a backend set or backend name).
pub fn encode_path_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// How a list response carries its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListShape {
    /// A bare JSON array (Compute and VirtualNetwork lists).
    Array,
    /// `{"items": [...]}` (Network Load Balancer lists).
    Items,
}

#[derive(serde::Deserialize)]
pub(super) struct ItemsOf<T> {
    pub(super) items: Vec<T>,
}

/// One API call: operation name (for messages), service, method, encoded path after the API
/// version, query parameters, extra headers and body.
#[derive(Clone)]
pub struct Request {
    pub(super) operation: String,
    pub(super) service: Service,
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Request {
    /// A request. `path` follows the API version and must already be encoded (use
    /// [`encode_path_segment`] for values), e.g. `/instances/ocid1.instance…`.
    pub fn new(
        method: Method,
        service: Service,
        operation: &str,
        path: impl Into<String>,
    ) -> Request {
        Request {
            operation: operation.to_owned(),
            service,
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a query parameter when `value` is `Some`.
    pub fn query_opt(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.query(name, value),
            None => self,
        }
    }

    /// Sets a query parameter, replacing any with the same name.
    pub fn set_query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.retain(|(n, _)| n != name);
        self.query(name, value)
    }

    /// Adds a header (`if-match`, `opc-retry-token`, …).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets a JSON body (serialized once; those exact bytes are hashed, signed and sent).
    pub fn json<T: serde::Serialize>(mut self, body: &T) -> Result<Self, Error> {
        self.body = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("cannot serialize the request body ({e})")))?;
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self)
    }

    /// Sets a raw body with its content type.
    pub fn body(mut self, body: Vec<u8>, content_type: HeaderValue) -> Self {
        self.body = body;
        self.headers.insert(CONTENT_TYPE, content_type);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The operation name.
    pub fn operation(&self) -> &str {
        &self.operation
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A 2xx answer (or the answer behind a [`ServiceError`](super::ServiceError)). The body is wiped
/// when dropped;
/// `Debug` shows its length only.
pub struct Response {
    pub(super) operation: String,
    pub(super) url: String,
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Zeroizing<Vec<u8>>,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// `opc-request-id`.
    pub fn opc_request_id(&self) -> Option<&str> {
        self.header("opc-request-id")
    }

    /// `opc-next-page`.
    pub fn next_page(&self) -> Option<&str> {
        self.header("opc-next-page")
    }

    /// `opc-work-request-id`.
    pub fn work_request_id(&self) -> Option<&str> {
        self.header("opc-work-request-id")
    }

    /// `etag`.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            operation: self.operation.clone(),
            url: self.url.clone(),
            reason: format!("the JSON body does not match the API ({e})"),
            opc_request_id: self.opc_request_id().map(str::to_owned),
        })
    }

    pub(crate) fn decode_error(&self, reason: impl Into<String>) -> Error {
        Error::Decode {
            operation: self.operation.clone(),
            url: self.url.clone(),
            reason: reason.into(),
            opc_request_id: self.opc_request_id().map(str::to_owned),
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("opc_request_id", &self.opc_request_id())
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_encode_colons_and_slashes() {
        assert_eq!(encode_path_segment("10.0.0.3:6443"), "10.0.0.3%3A6443");
        assert_eq!(encode_path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(
            encode_path_segment("ocid1.instance.oc1.phx.abc-_~"),
            "ocid1.instance.oc1.phx.abc-_~"
        );
    }
}
