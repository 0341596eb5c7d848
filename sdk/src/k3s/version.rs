//! K3s release versions (`vX.Y.Z+k3sN`): parsing, ordering, and reading `k3s --version`.

use std::fmt;
use std::str::FromStr;

/// A pinned K3s release, e.g. `v1.33.4+k3s1`. Ordered by Kubernetes version, then K3s revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct K3sVersion {
    /// Kubernetes major version.
    pub major: u32,
    /// Kubernetes minor version.
    pub minor: u32,
    /// Kubernetes patch version.
    pub patch: u32,
    /// The K3s revision of that Kubernetes release (`+k3sN`).
    pub revision: u32,
}

/// Why a version string is not a pinned K3s release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a pinned K3s release; use the exact form vX.Y.Z+k3sN, e.g. v1.33.4+k3s1")]
pub struct VersionError {
    /// What was given.
    pub given: String,
}

impl FromStr for K3sVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<K3sVersion, VersionError> {
        let err = || VersionError {
            given: s.to_owned(),
        };
        let rest = s.strip_prefix('v').ok_or_else(err)?;
        let (semver, revision) = rest.split_once("+k3s").ok_or_else(err)?;
        let number = |p: &str| -> Result<u32, VersionError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let parts: Vec<&str> = semver.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(err());
        };
        Ok(K3sVersion {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
            revision: number(revision)?,
        })
    }
}

impl fmt::Display for K3sVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v{}.{}.{}+k3s{}",
            self.major, self.minor, self.patch, self.revision
        )
    }
}

impl K3sVersion {
    /// Reads the version from `k3s --version` output: the third field of the line starting
    /// `k3s version`, e.g. `k3s version v1.27.10+k3s2 (5b2ac881)`.
    pub fn from_version_output(output: &str) -> Option<K3sVersion> {
        output
            .lines()
            .find(|l| l.starts_with("k3s version "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_releases() {
        let v: K3sVersion = "v1.33.4+k3s1".parse().unwrap();
        assert_eq!(
            v,
            K3sVersion {
                major: 1,
                minor: 33,
                patch: 4,
                revision: 1
            }
        );
        assert_eq!(v.to_string(), "v1.33.4+k3s1");
        let ordered: Vec<K3sVersion> = [
            "v1.33.4+k3s2",
            "v1.9.0+k3s1",
            "v1.33.10+k3s1",
            "v1.33.4+k3s1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut sorted = ordered.clone();
        sorted.sort();
        let shown: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "v1.9.0+k3s1",
                "v1.33.4+k3s1",
                "v1.33.4+k3s2",
                "v1.33.10+k3s1"
            ]
        );
        for bad in [
            "1.33.4+k3s1",
            "v1.33.4",
            "v1.33+k3s1",
            "stable",
            "v1.33.4+k3s",
            "v1.33.4+k3s1 ",
            "v1.-3.4+k3s1",
        ] {
            assert!(bad.parse::<K3sVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_k3s_version_output() {
        let out = "k3s version v1.27.10+k3s2 (5b2ac881)\ngo version go1.20.13\n";
        assert_eq!(
            K3sVersion::from_version_output(out).unwrap().to_string(),
            "v1.27.10+k3s2"
        );
        assert_eq!(K3sVersion::from_version_output("go version go1.20\n"), None);
    }
}
