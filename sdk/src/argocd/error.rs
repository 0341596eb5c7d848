//! What can go wrong installing, seeding, reading or removing Argo CD.

use crate::kubernetes;

/// An error of the Argo CD layer. Messages name objects, never secret values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest could not be had or parsed.
    #[error("the Argo CD manifest: {0}")]
    Manifest(String),
    /// The API refused or did not answer.
    #[error(transparent)]
    Api(#[from] kubernetes::Error),
    /// A wait ran out of time; the report names what was not there yet and why.
    #[error("{what} within {seconds} s:\n{report}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The deadline.
        seconds: u64,
        /// What is not ready, and why.
        report: String,
    },
    /// The operation was cancelled (Ctrl-C in Terraform).
    #[error("cancelled while {0}")]
    Cancelled(String),
    /// The request cannot be carried out as given.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// Why a request cannot be carried out as given.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A repository Secret would take a name Argo CD uses itself.
    #[error("the repository Secret name {name:?} is one Argo CD uses itself; choose another")]
    ReservedSecretName {
        /// The name asked for.
        name: String,
    },
    /// The cluster serves no Argo CD Applications (discovery does not know the kind).
    #[error("the cluster serves no Argo CD Applications; is Argo CD installed in {namespace}?")]
    NotInstalled {
        /// Where Argo CD was looked for.
        namespace: String,
        /// The API's answer.
        #[source]
        source: kubernetes::Error,
    },
    /// There is no such root Application.
    #[error("there is no Application {root:?} in the namespace {namespace:?}")]
    NoRootApplication {
        /// Where it was looked for.
        namespace: String,
        /// Its name.
        root: String,
    },
}
