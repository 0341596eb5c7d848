//! Stand-ins for K3s, which cannot be downloaded here: a `k3s` binary that behaves like K3s
//! from the outside, and the glue that publishes it, release by release, together with the
//! stand-in installer (`acceptance-tests/standin/install.sh`) on an [`ArtifactServer`].
//!
//! Owns `src/standin/`, `src/bin/k3s-standin.rs` and `standin/install.sh`.
//!
//! - The binary (`k3s-standin`, installed on nodes as `/usr/local/bin/k3s`): `k3s --version`
//!   prints K3s's two lines; `k3s server` writes certificates, tokens and `k3s.yaml` where K3s
//!   does, serves a Kubernetes API subset over TLS on :6443 that the real kubectl accepts, and
//!   notifies systemd when ready; `k3s agent` joins with the token and keeps its Node Ready.
//! - A release is the built binary with a version trailer appended
//!   ([`binary_for_version`]): the binary reads its version from its own file, so every
//!   release has its own bytes and sha256, as real releases do.
//! - [`K3sReleases`] serves `/install.sh` and `…/releases/download/<version>/{k3s,
//!   sha256sum-amd64.txt}` in the layout the installer's `GITHUB_URL` expects.
//!
//! ```no_run
//! use acceptance_tests::artifacts::ArtifactServer;
//! use acceptance_tests::standin::K3sReleases;
//! # fn standin_binary() -> std::path::PathBuf { unimplemented!() }
//! let server = ArtifactServer::start("127.0.0.1".parse()?)?;
//! let releases = K3sReleases::publish(&server, &standin_binary(), &["v1.33.4+k3s1"])?;
//! println!("curl -sfL {} | INSTALL_K3S_VERSION=v1.33.4+k3s1 GITHUB_URL={} sh -s - server",
//!          releases.install_url, releases.github_url);
//! # anyhow::Ok(())
//! ```

pub mod agent;
pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod controllers;
pub mod disruption;
pub mod harness;
pub mod nodes;
pub mod notify;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod proxy;
pub mod resources;
pub mod selector;
pub mod server;
pub mod ssa;
pub mod store;
pub mod table;
pub mod tls;
pub mod token;
pub mod util;

use crate::artifacts::ArtifactServer;
use anyhow::{bail, Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The version a stand-in binary without a trailer reports.
pub const DEFAULT_VERSION: &str = "v1.33.4+k3s1";
/// The Go version `k3s --version` reports.
pub const GO_VERSION: &str = "go1.24.5";
/// Marks the version trailer appended to a release's binary.
const TRAILER_MARKER: &str = "\n#K3S-STANDIN-VERSION:";

/// The stand-in binary's bytes with a trailer naming `version` appended (ELF ignores
/// trailing bytes). Each version gets different bytes, hence a different sha256.
pub fn binary_for_version_bytes(binary: &[u8], version: &str) -> Result<Vec<u8>> {
    check_version(version)?;
    let mut out = strip_trailer(binary).to_vec();
    out.extend_from_slice(TRAILER_MARKER.as_bytes());
    out.extend_from_slice(version.as_bytes());
    out.push(b'\n');
    Ok(out)
}

/// Reads the stand-in binary at `standin_binary` (tests pass
/// `env!("CARGO_BIN_EXE_k3s-standin")`) and appends the trailer for `version`.
pub fn binary_for_version(standin_binary: &Path, version: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(standin_binary)
        .with_context(|| format!("reading {}", standin_binary.display()))?;
    binary_for_version_bytes(&bytes, version)
}

fn check_version(version: &str) -> Result<()> {
    let ok = version.starts_with('v')
        && version.len() < 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b));
    if !ok {
        bail!("{version:?} is not a K3s release tag such as v1.33.4+k3s1");
    }
    Ok(())
}

fn strip_trailer(binary: &[u8]) -> &[u8] {
    match trailer_position(binary) {
        Some(p) => &binary[..p],
        None => binary,
    }
}

fn trailer_position(bytes: &[u8]) -> Option<usize> {
    let marker = TRAILER_MARKER.as_bytes();
    let window = bytes.len().saturating_sub(128);
    bytes[window..]
        .windows(marker.len())
        .rposition(|w| w == marker)
        .map(|p| window + p)
}

/// The version in the trailer at the end of `tail` (the last bytes of a binary), if any.
pub fn version_from_trailer(tail: &[u8]) -> Option<String> {
    let p = trailer_position(tail)?;
    let rest = &tail[p + TRAILER_MARKER.len()..];
    let version = std::str::from_utf8(rest).ok()?.trim_end_matches('\n');
    (!version.is_empty() && !version.contains('\n')).then(|| version.to_owned())
}

/// The version of the running binary: its trailer, else [`DEFAULT_VERSION`].
pub fn own_version() -> String {
    let read_tail = || -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open("/proc/self/exe")?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(128)))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        Ok(tail)
    };
    read_tail()
        .ok()
        .and_then(|t| version_from_trailer(&t))
        .unwrap_or_else(|| DEFAULT_VERSION.to_owned())
}

/// An 8-hex-digit commit id derived from the version (stable per release).
pub fn commit_of(version: &str) -> String {
    util::sha256_hex(version.as_bytes())[..8].to_owned()
}

/// What `k3s --version` prints.
pub fn version_output(version: &str) -> String {
    format!(
        "k3s version {version} ({})\ngo version {GO_VERSION}\n",
        commit_of(version)
    )
}

/// The stand-in installer in this repository.
pub fn installer_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("standin/install.sh")
}

/// One published release.
#[derive(Debug, Clone)]
pub struct Release {
    /// The tag, e.g. `v1.33.4+k3s1`.
    pub version: String,
    /// sha256 of the release's `k3s` binary.
    pub sha256: String,
    /// The binary's URL.
    pub binary_url: String,
}

/// Stand-in K3s releases and the installer, published on an artifact server.
#[derive(Debug, Clone)]
pub struct K3sReleases {
    /// URL of the installer (`<server>/install.sh`), the `get.k3s.io` stand-in.
    pub install_url: String,
    /// The installer's `GITHUB_URL`: `<server>/k3s-io/k3s/releases`.
    pub github_url: String,
    /// The releases, in the order given.
    pub releases: Vec<Release>,
}

impl K3sReleases {
    /// Publishes the installer and, for each version, `<github_url>/download/<version>/k3s`
    /// and `sha256sum-amd64.txt`. Paths are served with the `+` of the tag as is (what the
    /// installer's curl sends) and percent-encoded as `%2B`.
    pub fn publish(
        server: &ArtifactServer,
        standin_binary: &Path,
        versions: &[&str],
    ) -> Result<K3sReleases> {
        let install_url = server.publish_file("install.sh", &installer_path())?;
        let binary = std::fs::read(standin_binary)
            .with_context(|| format!("reading {}", standin_binary.display()))?;
        let base = "k3s-io/k3s/releases";
        let mut releases = Vec::new();
        for version in versions {
            let bytes = binary_for_version_bytes(&binary, version)?;
            let sha256 = util::sha256_hex(&bytes);
            let sums = format!(
                "{sha256}  k3s\n{}  k3s-airgap-images-amd64.tar.zst\n{}  k3s-images.txt\n",
                util::sha256_hex(format!("images {version}").as_bytes()),
                util::sha256_hex(format!("list {version}").as_bytes()),
            );
            let mut binary_url = String::new();
            for tag in [version.to_string(), version.replace('+', "%2B")] {
                let dir = format!("{base}/download/{tag}");
                let url = server.publish(&format!("{dir}/k3s"), bytes.clone());
                server.publish(
                    &format!("{dir}/sha256sum-amd64.txt"),
                    sums.clone().into_bytes(),
                );
                if binary_url.is_empty() {
                    binary_url = url;
                }
            }
            releases.push(Release {
                version: version.to_string(),
                sha256,
                binary_url,
            });
        }
        Ok(K3sReleases {
            install_url,
            github_url: format!("{}/{base}", server.url()),
            releases,
        })
    }

    /// The release with this version.
    pub fn release(&self, version: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_name_the_version_and_change_the_hash() -> Result<()> {
        let binary = b"\x7fELF pretend binary".repeat(20);
        let a = binary_for_version_bytes(&binary, "v1.33.4+k3s1")?;
        let b = binary_for_version_bytes(&a, "v1.34.1+k3s1")?;
        assert_eq!(version_from_trailer(&a).as_deref(), Some("v1.33.4+k3s1"));
        assert_eq!(version_from_trailer(&b).as_deref(), Some("v1.34.1+k3s1"));
        assert_eq!(b.len(), a.len(), "re-versioning replaces the trailer");
        assert_ne!(util::sha256_hex(&a), util::sha256_hex(&b));
        assert_eq!(version_from_trailer(&binary), None);
        assert!(binary_for_version_bytes(&binary, "1.33; rm -rf /").is_err());
        Ok(())
    }

    #[test]
    fn version_output_has_k3s_shape() {
        let out = version_output("v1.33.4+k3s1");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("k3s version v1.33.4+k3s1 ("));
        assert_eq!(lines[0].split(' ').nth(2), Some("v1.33.4+k3s1"));
        assert_eq!(lines[1], "go version go1.24.5");
    }
}
