//! [`Secret`]: the string type every layer holds secrets in (private keys, passphrases,
//! passwords, tokens). It never prints, and its memory is zeroed when dropped.
//!
//! ```
//! use k3s_sdk::Secret;
//!
//! let token = Secret::new("K10abc::server:def");
//! assert_eq!(format!("{token:?}"), "***");
//! assert_eq!(token.expose(), "K10abc::server:def");
//! ```

use std::fmt;
use zeroize::Zeroizing;

/// A secret string (password, passphrase, private key, token). Its `Debug` prints `***`, it
/// has no `Display`, and its memory is zeroed when it is dropped.
///
/// It serializes as the plain string (for storing it where it belongs, such as Terraform's
/// state, which treats it as sensitive): never serialize one into a log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself. Never log it or put it on a command line.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}
