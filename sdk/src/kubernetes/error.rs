//! What can go wrong talking to a Kubernetes API, each with its typed cause. No message
//! carries a credential.

use std::time::Duration;

/// An error from the Kubernetes API layer. Non-exhaustive: a variant exists only with the `ssh`
/// feature, and features add, so a match needs an arm for the others.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kubeconfig cannot be used.
    #[error("the kubeconfig cannot be used: {0}")]
    Kubeconfig(String),
    /// The API did not answer (connection, TLS, timeout).
    #[error("the Kubernetes API at {server} did not answer: {cause}")]
    Unreachable {
        /// The API server URL.
        server: String,
        /// Why.
        #[source]
        cause: Unanswered,
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
    #[cfg(feature = "ssh")]
    #[error("reaching the API through {host}: {step}{}", cause.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    ThroughNode {
        /// The node.
        host: String,
        /// What failed, e.g. `reading /etc/rancher/k3s/k3s.yaml`.
        step: String,
        /// The SSH error, when the step was one over SSH.
        #[source]
        cause: Option<Box<crate::ssh::Error>>,
    },
}

/// Why the API did not answer.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered {
    /// The client failed (connecting, TLS, reading the answer), in its own words.
    #[error(transparent)]
    Client(Box<kube::Error>),
    /// No answer within the request's deadline.
    #[error("{what} took longer than {after:?}")]
    TimedOut {
        /// The request, e.g. `list the control-plane Nodes`.
        what: String,
        /// Its deadline.
        after: Duration,
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
                cause: Unanswered::Client(Box::new(other)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_unanswered_request_reads_as_before_and_keeps_its_cause() {
        let e = Error::Unreachable {
            server: "https://10.0.0.1:6443".into(),
            cause: Unanswered::TimedOut {
                what: "list the control-plane Nodes".into(),
                after: Duration::from_secs(30),
            },
        };
        assert_eq!(
            e.to_string(),
            "the Kubernetes API at https://10.0.0.1:6443 did not answer: list the control-plane Nodes took longer than 30s"
        );
        let cause = e.source().expect("a typed cause");
        assert!(matches!(
            cause.downcast_ref::<Unanswered>(),
            Some(Unanswered::TimedOut { .. })
        ));
    }
}
