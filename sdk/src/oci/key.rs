//! API signing keys: loading an RSA private key from PEM (PKCS#1, PKCS#8, encrypted PKCS#8),
//! its fingerprint (MD5 of the DER `SubjectPublicKeyInfo`, as the OCI console shows it), and
//! the raw RSA-SHA256 signature. Pure: the only I/O is reading a key file.
//!
//! Keys are parsed with the `rsa` crate. Keys of 2048 bits and more (all that OCI accepts)
//! are signed with `ring` (constant-time, about four times faster); smaller ones, like the
//! 1024-bit key of Oracle's published test vectors, with the `rsa` crate (blinded). PKCS#1
//! v1.5 signatures are deterministic, so both give the same bytes.
//!
//! Tolerated on input, as Oracle's SDKs tolerate them: text around the PEM block (the
//! `OCI_API_KEY` line the console recommends appending), CRLF line endings, a passphrase given
//! for an unencrypted key (ignored). Refused with advice: the legacy OpenSSL encryption
//! (`Proc-Type: 4,ENCRYPTED`), public keys, OpenSSH-format keys, non-RSA keys, and an encrypted
//! key without a passphrase.

use super::error::Error;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Which implementation signs.
#[derive(Clone)]
enum SigningKey {
    /// `ring`, for keys of 2048 bits and more.
    Ring(Arc<ring::signature::RsaKeyPair>),
    /// The `rsa` crate, for smaller keys (and any `ring` refuses).
    RustCrypto(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

/// An RSA private key used to sign OCI requests. Its `Debug` shows where it came from, its
/// size and fingerprint, never the key.
#[derive(Clone)]
pub struct PrivateKey {
    signing: SigningKey,
    public: RsaPublicKey,
    fingerprint: String,
    origin: String,
}

impl PrivateKey {
    /// Loads a key from PEM text (the contents of an OCI API key file). `passphrase` is needed
    /// for `BEGIN ENCRYPTED PRIVATE KEY` and ignored otherwise.
    ///
    /// ```
    /// # let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/oci/testdata/oci_sample_key.pem"));
    /// let key = k3s_sdk::oci::PrivateKey::from_pem(pem, None)?;
    /// assert_eq!(key.fingerprint(), "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7");
    /// # Ok::<(), k3s_sdk::oci::Error>(())
    /// ```
    pub fn from_pem(pem: &str, passphrase: Option<&str>) -> Result<PrivateKey, Error> {
        PrivateKey::from_pem_with_origin(pem, passphrase, "the private key given inline")
    }

    /// Loads a key from a PEM file (`key_file` in an OCI config profile).
    pub fn from_file(
        path: impl AsRef<Path>,
        passphrase: Option<&str>,
    ) -> Result<PrivateKey, Error> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| Error::ReadFile {
            what: "private key file",
            path: path.to_owned(),
            source,
        })?);
        let origin = format!("key_file {}", path.display());
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::Key {
            origin: origin.clone(),
            reason: "the file is not text; it must be a PEM file starting with '-----BEGIN \
                     PRIVATE KEY-----' or '-----BEGIN RSA PRIVATE KEY-----' (a DER or PuTTY \
                     key must be converted to PEM first)"
                .into(),
        })?;
        PrivateKey::from_pem_with_origin(text, passphrase, &origin)
    }

    /// Like [`PrivateKey::from_pem`], naming where the key came from in errors and `Debug`
    /// (e.g. `key_file /root/.oci/k3s.pem`).
    pub fn from_pem_with_origin(
        pem: &str,
        passphrase: Option<&str>,
        origin: &str,
    ) -> Result<PrivateKey, Error> {
        let fail = |reason: String| Error::Key {
            origin: origin.to_owned(),
            reason,
        };
        let blocks = pem_blocks(pem).map_err(fail)?;
        let Some(block) = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")) else {
            if blocks
                .iter()
                .any(|b| b.label.contains("PUBLIC KEY") || b.label.contains("CERTIFICATE"))
            {
                return Err(fail(
                    "it holds a public key or certificate, not the private key; key_file must \
                     name the private key file (the one you generated, not the public key you \
                     uploaded to the console)"
                        .into(),
                ));
            }
            return Err(fail(
                "no PEM private key found: expected a '-----BEGIN PRIVATE KEY-----' or \
                 '-----BEGIN RSA PRIVATE KEY-----' block"
                    .into(),
            ));
        };
        let key = match block.label.as_str() {
            "RSA PRIVATE KEY" => {
                if block.is_legacy_encrypted() {
                    return Err(fail(
                        "it is encrypted in the legacy OpenSSL format ('Proc-Type: 4,ENCRYPTED'), \
                         which this SDK does not read. Convert it to encrypted PKCS#8, keeping \
                         the passphrase: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD.pem -out \
                         NEW.pem`, then use NEW.pem"
                            .into(),
                    ));
                }
                let der = block.der().map_err(fail)?;
                RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|e| fail(format!("it is not a valid PKCS#1 RSA private key ({e})")))?
            }
            "PRIVATE KEY" => {
                let der = block.der().map_err(fail)?;
                pkcs8_rsa(&der).map_err(fail)?
            }
            "ENCRYPTED PRIVATE KEY" => {
                let Some(pass) = passphrase else {
                    return Err(fail(
                        "it is encrypted but no passphrase was given; set pass_phrase in the \
                         config profile or pass the passphrase explicitly"
                            .into(),
                    ));
                };
                let der = block.der().map_err(fail)?;
                let info = rsa::pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|e| fail(format!("it is not a valid encrypted PKCS#8 key ({e})")))?;
                let plain = info.decrypt(pass.as_bytes()).map_err(|_| {
                    fail(if pass.is_empty() {
                        "it is encrypted but the passphrase given is empty".into()
                    } else {
                        "cannot decrypt it: the passphrase is wrong (or the file is damaged)".into()
                    })
                })?;
                pkcs8_rsa(plain.as_bytes()).map_err(fail)?
            }
            "OPENSSH PRIVATE KEY" => {
                return Err(fail(
                    "it is in OpenSSH format; OCI API keys must be PEM. Convert a copy with \
                     `ssh-keygen -p -m PKCS8 -f COPY` (this rewrites COPY in place)"
                        .into(),
                ))
            }
            "EC PRIVATE KEY" | "DSA PRIVATE KEY" => {
                return Err(fail(format!(
                    "it is a {} key; OCI API signing keys are RSA (2048 bits or more)",
                    &block.label[..block.label.len() - " PRIVATE KEY".len()]
                )))
            }
            other => {
                return Err(fail(format!(
                    "unsupported PEM block '{other}'; expected PRIVATE KEY, RSA PRIVATE KEY or \
                     ENCRYPTED PRIVATE KEY"
                )))
            }
        };
        if passphrase.is_some() && block.label != "ENCRYPTED PRIVATE KEY" {
            tracing::debug!(
                origin,
                "a passphrase was given for an unencrypted key; ignoring it"
            );
        }
        Ok(PrivateKey::from_rsa(key, origin))
    }

    /// Wraps an RSA key already in memory (generated, or parsed elsewhere).
    pub fn from_rsa(key: RsaPrivateKey, origin: &str) -> PrivateKey {
        let public = key.to_public_key();
        let fingerprint = fingerprint_of(&public);
        let ring = (public.size() >= 256)
            .then(|| key.to_pkcs1_der().ok())
            .flatten()
            .and_then(|der| ring::signature::RsaKeyPair::from_der(der.as_bytes()).ok());
        let signing = match ring {
            Some(pair) => SigningKey::Ring(Arc::new(pair)),
            None => SigningKey::RustCrypto(Box::new(rsa::pkcs1v15::SigningKey::<Sha256>::new(key))),
        };
        PrivateKey {
            signing,
            public,
            fingerprint,
            origin: origin.to_owned(),
        }
    }

    /// The key's fingerprint as the OCI console shows it: MD5 of the DER
    /// `SubjectPublicKeyInfo`, lowercase hex pairs joined by `:`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The public half.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// The public half as `-----BEGIN PUBLIC KEY-----` PEM (what gets uploaded to OCI).
    pub fn public_key_pem(&self) -> String {
        self.public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("an RSA public key always encodes")
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.size() * 8
    }

    /// Where the key came from, e.g. `key_file /root/.oci/k3s.pem`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Checks that `configured` (a profile's `fingerprint`) is this key's fingerprint; the error
    /// shows both (fingerprints are not secret).
    pub fn check_fingerprint(&self, configured: &str) -> Result<(), Error> {
        self.check_fingerprint_in(configured, None)
    }

    pub(crate) fn check_fingerprint_in(
        &self,
        configured: &str,
        location: Option<&str>,
    ) -> Result<(), Error> {
        if configured.trim().eq_ignore_ascii_case(&self.fingerprint) {
            Ok(())
        } else {
            Err(Error::FingerprintMismatch {
                location: location.map(str::to_owned),
                origin: self.origin.clone(),
                configured: configured.trim().to_owned(),
                actual: self.fingerprint.clone(),
            })
        }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (blinded; the result is deterministic).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.signing {
            SigningKey::Ring(pair) => {
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| Error::Key {
                    origin: self.origin.clone(),
                    reason: "signing failed (the system random source is unavailable)".into(),
                })?;
                Ok(signature)
            }
            SigningKey::RustCrypto(key) => Ok(key
                .sign_with_rng(&mut rsa::rand_core::OsRng, message)
                .to_vec()),
        }
    }

    /// Which implementation signs with this key: `ring` (2048 bits and more) or `rsa`.
    pub fn implementation(&self) -> &'static str {
        match self.signing {
            SigningKey::Ring(_) => "ring",
            SigningKey::RustCrypto(_) => "rsa",
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("origin", &self.origin)
            .field("bits", &self.bits())
            .field("fingerprint", &self.fingerprint)
            .field("private", &"***")
            .finish()
    }
}

/// The OCI fingerprint of a public key: MD5 of its DER `SubjectPublicKeyInfo`, lowercase hex
/// pairs joined by `:`.
pub fn fingerprint_of(public: &RsaPublicKey) -> String {
    let der = public
        .to_public_key_der()
        .expect("an RSA public key always encodes");
    let digest = Md5::digest(der.as_bytes());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

/// Whether `s` has the shape of an OCI fingerprint (16 hex pairs joined by `:`, any case).
pub(crate) fn is_fingerprint_shape(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 16
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn pkcs8_rsa(der: &[u8]) -> Result<RsaPrivateKey, String> {
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|e| format!("it is not a valid PKCS#8 private key ({e})"))?;
    if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return Err(format!(
            "it is not an RSA key (algorithm {}); OCI API signing keys are RSA (2048 bits or more)",
            info.algorithm.oid
        ));
    }
    RsaPrivateKey::from_pkcs8_der(der)
        .map_err(|e| format!("it is not a valid PKCS#8 RSA private key ({e})"))
}

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct PemBlock {
    label: String,
    headers: Vec<(String, String)>,
    base64: Zeroizing<String>,
}

impl PemBlock {
    fn is_legacy_encrypted(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"))
    }

    fn der(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        base64::engine::general_purpose::STANDARD
            .decode(self.base64.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| {
                format!(
                    "the '{}' block is not valid base64 (is the file damaged or truncated?)",
                    self.label
                )
            })
    }
}

/// Finds the PEM blocks in `text`, ignoring anything outside them and CR characters.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut lines = text
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace()));
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut base64 = Zeroizing::new(String::new());
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.starts_with("-----") {
                return Err(format!(
                    "the '-----BEGIN {label}-----' block ends with '{line}' instead of '{end}'"
                ));
            }
            if base64.is_empty() {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    continue;
                }
            }
            base64.push_str(line);
        }
        if !closed {
            return Err(format!(
                "the '-----BEGIN {label}-----' block has no '{end}' line (is the file truncated?)"
            ));
        }
        blocks.push(PemBlock {
            label: label.to_owned(),
            headers,
            base64,
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("testdata/oci_sample_key.pem");

    #[test]
    fn sample_key_fingerprint() {
        let key = PrivateKey::from_pem(SAMPLE, None).unwrap();
        assert_eq!(
            key.fingerprint(),
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
        );
        assert_eq!(key.bits(), 1024);
        assert!(key.public_key_pem().starts_with(
            "-----BEGIN PUBLIC \
            KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3\n"
        ));
    }

    #[test]
    fn fingerprint_shapes() {
        assert!(is_fingerprint_shape(
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
        ));
        assert!(is_fingerprint_shape(
            "73:61:A2:21:67:E0:DF:BE:7E:4B:93:1E:15:98:A5:B7"
        ));
        assert!(!is_fingerprint_shape(
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5"
        ));
        assert!(!is_fingerprint_shape("7361a22167e0dfbe7e4b931e1598a5b7"));
        assert!(!is_fingerprint_shape(
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:bz"
        ));
    }

    #[test]
    fn unterminated_block_is_reported() {
        let cut = &SAMPLE[..SAMPLE.len() - 40];
        let err = PrivateKey::from_pem(cut, None).unwrap_err().to_string();
        assert!(
            err.contains("has no '-----END RSA PRIVATE KEY-----' line"),
            "{err}"
        );
    }
}
