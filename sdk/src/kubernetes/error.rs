//! What can go wrong talking to a Kubernetes API. No message carries a credential.

/// An error from the Kubernetes API layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig cannot be used.
    #[error("the kubeconfig cannot be used: {0}")]
    Kubeconfig(String),
    /// The API did not answer (connection, TLS, timeout).
    #[error("the Kubernetes API at {server} did not answer: {reason}")]
    Unreachable {
        /// The API server URL.
        server: String,
        /// Why, as the client reports it.
        reason: String,
    },
    /// The API answered with an error Status.
    #[error("{what}: the API answered {code} {reason}: {message}")]
    Refused {
        /// The request, e.g. `apply apps/Deployment/argocd/argocd-server`.
        what: String,
        /// HTTP status code.
        code: u16,
        /// The Status reason (`NotFound`, `Conflict`, `TooManyRequests`, …).
        reason: String,
        /// The Status message.
        message: String,
    },
    /// The API serves no such kind (yet).
    #[error("the API serves no kind {kind} in {api_version}")]
    UnknownKind {
        /// `group/version`.
        api_version: String,
        /// The kind.
        kind: String,
    },
    /// An object lacks what every object needs.
    #[error("not an object this client can send: {0}")]
    Malformed(String),
    /// Reaching the API through a node failed.
    #[error("reaching the API through {host}: {reason}")]
    ThroughNode {
        /// The node.
        host: String,
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// The HTTP status code of an error Status, if the API answered one.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the API answered 404.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    pub(crate) fn from_kube(server: &str, what: impl FnOnce() -> String, e: kube::Error) -> Error {
        match e {
            kube::Error::Api(status) => Error::Refused {
                what: what(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => Error::Unreachable {
                server: server.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}
