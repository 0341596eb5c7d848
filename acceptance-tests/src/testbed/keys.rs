//! SSH keys made fresh for each run: one host key per node and one client key per run, so a
//! test always knows exactly which host key it must pin.

use anyhow::{Context, Result};
use ssh_key::{rand_core::OsRng, Algorithm, HashAlg, LineEnding, PrivateKey};

/// An Ed25519 key pair in OpenSSH formats.
#[derive(Clone)]
pub struct KeyPair {
    private_openssh: String,
    public_openssh: String,
    fingerprint: String,
}

impl KeyPair {
    /// Generates a new Ed25519 key pair with the given comment.
    pub fn generate(comment: &str) -> Result<KeyPair> {
        let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
            .context("generating an Ed25519 key")?;
        key.set_comment(comment);
        let private_openssh = key
            .to_openssh(LineEnding::LF)
            .context("encoding a private key")?
            .to_string();
        let public = key.public_key();
        Ok(KeyPair {
            public_openssh: public.to_openssh().context("encoding a public key")?,
            fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
            private_openssh,
        })
    }

    /// The private key in OpenSSH PEM format (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub fn private_openssh(&self) -> &str {
        &self.private_openssh
    }

    /// The public key as one `ssh-ed25519 AAAA… comment` line.
    pub fn public_openssh(&self) -> &str {
        &self.public_openssh
    }

    /// The SHA-256 fingerprint as OpenSSH prints it (`SHA256:…`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}
