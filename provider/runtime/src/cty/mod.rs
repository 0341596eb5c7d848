//! cty, Terraform's type system, as the plugin protocol carries it: types, values (null,
//! unknown with refinements, known), attribute paths, and the msgpack and JSON encodings.
//!
//! Knows nothing about resources or providers; the runtime uses it to decode what Terraform sends
//! and
//! to encode what the provider answers.

mod json;
mod msgpack;
mod number;
mod path;
mod support;
pub mod testing;
mod types;
mod value;

pub use json::{from_json, to_json};
pub use msgpack::{canonicalize, from_msgpack, to_msgpack, MAX_DEPTH};
pub use number::Number;
pub use path::{AttributePath, PathStep};
pub use types::Type;
pub use value::{Refinements, Value};

/// An error decoding or encoding a cty value or type, at a path inside the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct CtyError {
    /// Where in the value the problem is (empty for the value itself).
    pub path: AttributePath,
    /// What is wrong.
    pub message: String,
}

impl CtyError {
    /// An error at the root of the value.
    pub fn new(message: impl Into<String>) -> CtyError {
        CtyError {
            path: AttributePath::root(),
            message: message.into(),
        }
    }

    /// The same error, one step deeper: `step` is prepended to the path.
    pub fn within(mut self, step: PathStep) -> CtyError {
        self.path.steps.insert(0, step);
        self
    }
}
