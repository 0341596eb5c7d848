//! Vault secret retrieval (the Secrets service, API `20190301`): GetSecretBundle, with the
//! base64 content decoded into [`SecretBytes`], which never prints and is wiped when dropped.

use super::client::Client;
use super::error::Error;
use super::region::Service;
use super::request::{encode_path_segment, Request};
use crate::Secret;
use base64::Engine as _;
use http::Method;
use serde::Deserialize;
use std::fmt;
use zeroize::Zeroizing;

/// Secret content. `Debug` shows only its length; the memory is zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The content as a [`Secret`] string, if it is UTF-8.
    pub fn to_secret_string(&self) -> Option<Secret> {
        std::str::from_utf8(&self.0).ok().map(Secret::new)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(*** {} bytes)", self.0.len())
    }
}

/// Which version of a secret to fetch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretVersion {
    /// The `CURRENT` version.
    #[default]
    Current,
    /// The version in a stage: `CURRENT`, `PENDING`, `LATEST`, `PREVIOUS`, `DEPRECATED`.
    Stage(String),
    /// A version number.
    Number(u64),
    /// A version name.
    Name(String),
}

/// A secret bundle: the decoded content of one version of a secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SecretBundle {
    /// The secret OCID.
    pub secret_id: String,
    /// The version number.
    pub version_number: Option<u64>,
    /// The version name.
    pub version_name: Option<String>,
    /// The stages this version is in.
    pub stages: Vec<String>,
    /// The content, base64-decoded.
    pub content: SecretBytes,
}

/// Secrets calls. Get one with [`Client::secrets`].
#[derive(Clone, Copy, Debug)]
pub struct Secrets<'a> {
    client: &'a Client,
}

impl Secrets<'_> {
    /// GetSecretBundle: fetches and decodes one version of a secret.
    pub async fn get_secret_bundle(
        &self,
        secret_id: &str,
        version: &SecretVersion,
    ) -> Result<SecretBundle, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Content {
            content_type: String,
            #[serde(default)]
            content: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            secret_id: String,
            #[serde(default)]
            version_number: Option<u64>,
            #[serde(default)]
            version_name: Option<String>,
            #[serde(default)]
            stages: Vec<String>,
            secret_bundle_content: Content,
        }
        let path = format!("/secretbundles/{}", encode_path_segment(secret_id));
        let mut request = Request::new(Method::GET, Service::Secrets, "GetSecretBundle", path);
        request = match version {
            SecretVersion::Current => request,
            SecretVersion::Stage(stage) => request.query("stage", stage.as_str()),
            SecretVersion::Number(n) => request.query("versionNumber", n.to_string()),
            SecretVersion::Name(name) => request.query("secretVersionName", name.as_str()),
        };
        let response = self.client.execute(request).await?;
        let raw: Raw = response.json()?;
        let encoded = Zeroizing::new(raw.secret_bundle_content.content.unwrap_or_default());
        if raw.secret_bundle_content.content_type != "BASE64" {
            return Err(response.decode_error(format!(
                "the secret content type is '{}', expected BASE64",
                raw.secret_bundle_content.content_type
            )));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim().as_bytes())
            .map_err(|_| response.decode_error("the secret content is not valid base64"))?;
        Ok(SecretBundle {
            secret_id: raw.secret_id,
            version_number: raw.version_number,
            version_name: raw.version_name,
            stages: raw.stages,
            content: SecretBytes::new(decoded),
        })
    }
}

impl Client {
    /// Vault secret retrieval calls.
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets { client: self }
    }
}
