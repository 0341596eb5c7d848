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
    #[error("{0}")]
    Invalid(String),
}
