//! `~/` in paths users type: expanded to the home directory, or a clear error when there is
//! none to expand to (never a path that still starts with `~`).
//!
//! ```
//! use k3s_sdk::home::{expand_home_in, HomeError};
//! use std::path::PathBuf;
//!
//! assert_eq!(expand_home_in("~/.ssh/id_ed25519", Some("/home/k")), Ok(PathBuf::from("/home/k/.ssh/id_ed25519")));
//! assert_eq!(expand_home_in("/etc/k3s.pem", None), Ok(PathBuf::from("/etc/k3s.pem")));
//! assert!(matches!(expand_home_in("~/.ssh/id_ed25519", None), Err(HomeError::NoHome { .. })));
//! ```

use std::path::{Path, PathBuf};

/// Why a path cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HomeError {
    /// The path starts with `~` but there is no home directory to put there.
    #[error("{path:?} starts with '~' but HOME is not set; write the full path")]
    NoHome {
        /// The path as given.
        path: String,
    },
    /// `~user/…`: another user's home is not looked up.
    #[error("{path:?}: only '~/' (your own home directory) is expanded; write the full path")]
    OtherUser {
        /// The path as given.
        path: String,
    },
}

/// Expands a leading `~` (alone or as `~/…`) to `$HOME`.
pub fn expand_home(path: &str) -> Result<PathBuf, HomeError> {
    let home = std::env::var("HOME").ok();
    expand_home_in(path, home.as_deref())
}

/// Expands a leading `~` to `home` (`None` or empty: there is no home directory).
pub fn expand_home_in(path: &str, home: Option<&str>) -> Result<PathBuf, HomeError> {
    let path = path.trim();
    let rest = if path == "~" {
        ""
    } else if let Some(rest) = path.strip_prefix("~/") {
        rest
    } else if path.starts_with('~') {
        return Err(HomeError::OtherUser {
            path: path.to_owned(),
        });
    } else {
        return Ok(PathBuf::from(path));
    };
    match home.map(str::trim).filter(|h| !h.is_empty()) {
        Some(home) => Ok(Path::new(home).join(rest)),
        None => Err(HomeError::NoHome {
            path: path.to_owned(),
        }),
    }
}
