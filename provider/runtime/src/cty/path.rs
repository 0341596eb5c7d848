//! Attribute paths: where inside a value something is, as diagnostics and `requires_replace`
//! name it.

use std::fmt;

/// One step into a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An object attribute (or a nested block) by name.
    Attribute(String),
    /// A map element by key.
    Key(String),
    /// A list or tuple element by index.
    Index(i64),
}

/// A path from the root of a value; empty means the value itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributePath {
    /// The steps, outermost first.
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path.
    pub fn root() -> AttributePath {
        AttributePath::default()
    }

    /// A path to a top-level attribute.
    pub fn attribute(name: &str) -> AttributePath {
        AttributePath {
            steps: vec![PathStep::Attribute(name.to_owned())],
        }
    }

    /// This path extended by an attribute step.
    pub fn attr(&self, name: &str) -> AttributePath {
        self.with(PathStep::Attribute(name.to_owned()))
    }

    /// This path extended by a map-key step.
    pub fn key(&self, key: &str) -> AttributePath {
        self.with(PathStep::Key(key.to_owned()))
    }

    /// This path extended by an index step.
    pub fn index(&self, index: i64) -> AttributePath {
        self.with(PathStep::Index(index))
    }

    /// This path extended by `step`.
    pub fn with(&self, step: PathStep) -> AttributePath {
        let mut steps = self.steps.clone();
        steps.push(step);
        AttributePath { steps }
    }

    /// Is this the empty path?
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl fmt::Display for AttributePath {
    /// Terraform's own notation: `ssh.port`, `labels["role"]`, `nodes[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => write!(f, "{name}")?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
