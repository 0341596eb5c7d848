//! Errors of the `oci` module, written for the person at the terminal: what failed (which
//! file, profile, key or API call), what OCI answered (status, code, message,
//! `opc-request-id`), and what to try. No error ever carries a private key, passphrase,
//! security token, signature or secret content.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in the `oci` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or malformed.
    #[error("{location}{}: {reason}", key.as_deref().map(|k| format!(", key '{k}'")).unwrap_or_default())]
    Config {
        /// Where the value comes from: `OCI config file /root/.oci/config, profile [K3S]` or
        /// "explicit settings".
        location: String,
        /// The offending key (`fingerprint`, `key_file`, …), if one is to blame.
        key: Option<String>,
        /// What is wrong and what to do.
        reason: String,
    },

    /// A file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    ReadFile {
        /// What the file is ("OCI config file", "private key file", "security token file").
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A private key could not be loaded.
    #[error("cannot use the private key from {origin}: {reason}")]
    Key {
        /// Where the key came from ("key_file /root/.oci/key.pem", "the private key given inline").
        origin: String,
        /// Why, and what to do.
        reason: String,
    },

    /// The configured fingerprint is not the fingerprint of the private key's public key.
    #[error(
        "the fingerprint {configured} configured{} does not belong to the private key from \
         {origin}, whose fingerprint is {actual}; OCI would answer 401 NotAuthenticated. Use the \
         fingerprint the OCI console shows for the public key of this private key (`openssl rsa \
         -pubout -outform DER -in KEY.pem | openssl md5 -c`), or point key_file at the private \
         key whose public key was uploaded",
        location.as_deref().map(|l| format!(" in {l}")).unwrap_or_default()
    )]
    FingerprintMismatch {
        /// Where the fingerprint was configured.
        location: Option<String>,
        /// Where the key came from.
        origin: String,
        /// The configured fingerprint.
        configured: String,
        /// The key's actual fingerprint.
        actual: String,
    },

    /// A request could not be signed or built (a bad URL, a body on a GET, a non-ASCII header).
    #[error("invalid OCI request: {0}")]
    InvalidInput(String),

    /// OCI answered with an error status.
    #[error(transparent)]
    Service(Box<ServiceError>),

    /// The request did not get an answer (connection refused, TLS failure, timeout).
    #[error(
        "OCI {operation} ({method} {url}) failed after {attempts} attempt{s} over {elapsed:.1?}: \
         {reason}{hint}",
        s = if *attempts == 1 { "" } else { "s" },
        hint = transport_hint(reason)
    )]
    Transport {
        /// The API operation, e.g. `ListInstances`.
        operation: String,
        /// The HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent, retries included.
        elapsed: Duration,
        /// The last failure.
        reason: String,
    },

    /// OCI answered 2xx but the body is not what the API documents.
    #[error(
        "OCI {operation} ({url}) returned a response this SDK cannot read: {reason} \
         (opc-request-id: {})",
        opc_request_id.as_deref().unwrap_or("none")
    )]
    Decode {
        /// The API operation.
        operation: String,
        /// The URL.
        url: String,
        /// What did not parse.
        reason: String,
        /// The `opc-request-id` of the response.
        opc_request_id: Option<String>,
    },

    /// An asynchronous work request ended in `FAILED` or `CANCELED`.
    #[error(
        "OCI work request {id} ({operation_type}) ended {status}{}",
        if errors.is_empty() { String::new() } else { format!(": {}", errors.join("; ")) }
    )]
    WorkRequestFailed {
        /// The work request OCID.
        id: String,
        /// What it was doing (`CREATE_BACKEND`, …).
        operation_type: String,
        /// `FAILED` or `CANCELED`.
        status: String,
        /// The work request's error messages, if they could be fetched.
        errors: Vec<String>,
    },

    /// Something did not happen within its deadline.
    #[error("timed out after {after:.1?} waiting for {what}; {hint}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
        /// What to check.
        hint: String,
    },

    /// A lookup found nothing usable (an instance with no attached VNIC, …).
    #[error("{0}")]
    NotFound(String),
}

impl Error {
    /// The service error, when OCI answered with an error status.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status OCI answered with, if it answered with an error.
    pub fn status(&self) -> Option<u16> {
        self.service().map(|e| e.status)
    }

    /// The OCI error code (`NotAuthorizedOrNotFound`, …), if OCI answered with an error.
    pub fn code(&self) -> Option<&str> {
        self.service().map(|e| e.code.as_str())
    }

    pub(crate) fn config(
        location: impl Into<String>,
        key: Option<&str>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Config {
            location: location.into(),
            key: key.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

fn transport_hint(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("certificate") || r.contains("tls") || r.contains("unknown issuer") {
        "; the server's TLS certificate is not trusted: for a private endpoint or a proxy with \
         its own CA, add that CA certificate to the client"
    } else if r.contains("dns") || r.contains("resolve") || r.contains("lookup") {
        "; the host name does not resolve: check the region and the endpoint override, and \
         this machine's DNS"
    } else if r.contains("connect") || r.contains("refused") {
        "; check network access to the endpoint (proxy, firewall) and the endpoint override"
    } else if r.contains("timed out") || r.contains("timeout") {
        "; the endpoint did not answer in time: check network access, or raise the timeout"
    } else {
        ""
    }
}

/// OCI's answer to a failed call: HTTP status, OCI error code and message, `opc-request-id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    /// The API operation, e.g. `GetInstance`.
    pub operation: String,
    /// The HTTP method.
    pub method: String,
    /// The URL called.
    pub url: String,
    /// The HTTP status code.
    pub status: u16,
    /// The OCI error code (`NotAuthenticated`, `NotAuthorizedOrNotFound`, …), or
    /// `BadErrorResponse` when the body was not OCI's JSON error.
    pub code: String,
    /// OCI's message.
    pub message: String,
    /// The `opc-request-id` response header: quote it to Oracle support.
    pub opc_request_id: Option<String>,
    /// Attempts made (more than one when the error was retried).
    pub attempts: u32,
    /// What to try, when the status suggests something.
    pub hint: Option<String>,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OCI {} ({} {}) failed: HTTP {} {}: {} (opc-request-id: {}",
            self.operation,
            self.method,
            self.url,
            self.status,
            self.code,
            self.message,
            self.opc_request_id.as_deref().unwrap_or("none"),
        )?;
        if self.attempts > 1 {
            write!(f, "; after {} attempts", self.attempts)?;
        }
        f.write_str(")")?;
        if let Some(hint) = &self.hint {
            write!(f, ". {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}
