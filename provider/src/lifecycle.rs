//! What the lifecycle of every resource shares, written once: which of the two apply paths runs
//! ([`Operation`]: its deadline in the `timeouts` block, and a create's partial state), the private
//! state kept with a resource ([`PrivateState`]), and the error a failed step reports ([`failed`]).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use tfplugin_runtime::timeouts::Timeouts;
use tfplugin_runtime::{field_name, Context, Diagnostics};

/// An error diagnostic for a failed step: what failed, and the error.
pub fn failed(summary: &str, error: impl std::fmt::Display) -> Diagnostics {
    Diagnostics::from_error(summary, error.to_string())
}

/// Which of the two apply paths runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new resource.
    Create,
    /// A resource in state.
    Update,
}

impl Operation {
    /// The verb, for messages (`Cannot create …`).
    pub fn verb(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
        }
    }

    /// Its deadline in the `timeouts` block, and the block's attribute for messages.
    pub fn deadline(self, timeouts: &Timeouts) -> (Duration, &'static str) {
        match self {
            Operation::Create => (timeouts.create.get(), field_name!(Timeouts, create)),
            Operation::Update => (timeouts.update.get(), field_name!(Timeouts, update)),
        }
    }

    /// Called once what the resource manages is reached, before the first write: a create
    /// records `state` (what exists so far) as its partial state, so that a failure or Ctrl-C
    /// from then on leaves the resource in state, tainted (the next apply replaces it and a
    /// destroy cleans it up); an update's prior state stays as it is.
    pub fn touching(self, ctx: &Context, state: &impl Serialize) {
        if self == Operation::Create {
            ctx.keep_partial_state(state);
        }
    }
}

/// What a resource keeps in private state (opaque to users, never shown), as JSON.
pub trait PrivateState: Serialize + DeserializeOwned + Default {
    /// What is forgotten when a stored private state cannot be read, for the warning.
    const FORGOTTEN: &'static str;

    /// The private state of this call's resource; none yet is the default. One this version
    /// cannot read (another version wrote it) is the default too, with a warning saying what
    /// is forgotten; its content is never shown (it may hold a token).
    fn of(ctx: &Context) -> Self {
        let bytes = ctx.private();
        if bytes.is_empty() {
            return Self::default();
        }
        match serde_json::from_slice(&bytes) {
            Ok(private) => private,
            Err(_) => {
                // Warned once: what cannot be read is dropped.
                ctx.set_private(Vec::new());
                ctx.warn(
                    "The resource's private state cannot be read; it is replaced",
                    format!(
                        "Another version of the provider wrote it in a form this one does not \
                        read. Forgotten: {}.",
                        Self::FORGOTTEN
                    ),
                );
                Self::default()
            }
        }
    }

    /// Stores it with this call's result.
    fn save(&self, ctx: &Context) {
        match serde_json::to_vec(self) {
            Ok(bytes) => ctx.set_private(bytes),
            Err(e) => ctx.warn(
                "The resource's private state cannot be stored",
                format!(
                    "{e}. Forgotten: {}. This is a bug in the provider; please report it.",
                    Self::FORGOTTEN
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Kept {
        #[serde(default)]
        names: Vec<String>,
    }

    impl PrivateState for Kept {
        const FORGOTTEN: &'static str = "the names";
    }

    fn with_private(bytes: &[u8]) -> Context {
        Context::new(None, Default::default(), bytes.to_vec())
    }

    #[test]
    fn private_state_that_cannot_be_read_is_a_warning_not_a_silent_reset() {
        let fresh = with_private(b"");
        assert_eq!(Kept::of(&fresh), Kept::default());
        assert!(fresh.take_warnings().is_empty());

        let kept = Kept {
            names: vec!["a".into()],
        };
        kept.save(&fresh);
        assert_eq!(Kept::of(&fresh), kept);
        assert!(fresh.take_warnings().is_empty());

        let garbled = with_private(br#"{"names": "K10secret::server:abc"}"#);
        assert_eq!(Kept::of(&garbled), Kept::default());
        let warnings = garbled.take_warnings();
        assert_eq!(warnings.0.len(), 1, "{warnings:?}");
        let shown = format!("{warnings:?}");
        assert!(shown.contains("Forgotten: the names"), "{shown}");
        assert!(!shown.contains("K10secret"), "{shown}");
        // Said once, however often it is read in the call.
        assert_eq!(Kept::of(&garbled), Kept::default());
        assert!(garbled.take_warnings().is_empty());
    }

    #[test]
    fn only_a_create_records_partial_state() {
        let ctx = with_private(b"");
        Operation::Update.touching(&ctx, &Kept::default());
        assert!(ctx.take_partial_state().is_none());
        // A partial state is a model (an object); this one is a test's stand-in.
        Operation::Create.touching(&ctx, &Kept::default());
        assert!(ctx.take_partial_state().is_some());
    }
}
