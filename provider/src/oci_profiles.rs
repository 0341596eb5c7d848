//! The provider's OCI profiles: each `oci_profile` block (model and schema), and the signed API
//! client built from it on first use (when the key is loaded and checked against its
//! fingerprint) and kept for the provider's life.

use crate::validators;
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::schema::ModelSchema;
use tfplugin_runtime::Diagnostics;

/// An OCI tenancy the provider can call: a profile of an OCI config file, explicit API-key values,
/// or both (explicit values override the file's).
// `Debug` shows no secrets: they are `Secret`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct OciProfileBlock {
    /// Name resources and data sources refer to in `oci_profile`/`profiles`.
    pub name: String,
    /// OCI config file. Defaults to `OCI_CONFIG_FILE`, else `~/.oci/config` (read only when
    /// `profile` is set or the explicit values are incomplete).
    pub config_file: Option<String>,
    /// Profile in the config file. Defaults to `DEFAULT`.
    pub profile: Option<String>,
    /// Tenancy OCID, overriding the profile's.
    #[tf(validate = validators::ocid(&["tenancy"]))]
    pub tenancy: Option<String>,
    /// User OCID of the API key, overriding the profile's.
    #[tf(validate = validators::ocid(&["user"]))]
    pub user: Option<String>,
    /// Fingerprint of the API key (`aa:bb:...`), overriding the profile's. Checked against the
    /// private key before the first call.
    pub fingerprint: Option<String>,
    /// Region, overriding the profile's.
    pub region: Option<String>,
    /// The API private key (PEM), instead of a key file.
    #[tf(sensitive)]
    pub private_key: Option<Secret>,
    /// Path of the API private key (PEM), overriding the profile's `key_file`.
    pub private_key_file: Option<String>,
    /// Passphrase of an encrypted private key.
    #[tf(sensitive)]
    pub passphrase: Option<Secret>,
    /// One base URL for every OCI service instead of the region's (private endpoints, tests).
    #[tf(validate = validators::http_url())]
    pub endpoint: Option<String>,
    /// A PEM file of extra CA certificates to trust for the OCI endpoints (a private endpoint or a
    /// TLS-inspecting proxy).
    pub ca_certificate_file: Option<String>,
}

impl OciProfileBlock {
    fn client(&self) -> Result<k3s_sdk::oci::Client, k3s_sdk::oci::Error> {
        use k3s_sdk::oci::{Client, Profile};
        let mut builder = Profile::builder();
        if let Some(file) = &self.config_file {
            builder = builder.config_file(file);
        }
        if let Some(profile) = &self.profile {
            builder = builder.profile(profile);
        }
        if let Some(v) = &self.tenancy {
            builder = builder.tenancy(v);
        }
        if let Some(v) = &self.user {
            builder = builder.user(v);
        }
        if let Some(v) = &self.fingerprint {
            builder = builder.fingerprint(v);
        }
        if let Some(v) = &self.region {
            builder = builder.region(v);
        }
        if let Some(v) = &self.private_key {
            builder = builder.private_key_pem(v.clone());
        }
        if let Some(v) = &self.private_key_file {
            builder = builder.private_key_path(v);
        }
        if let Some(v) = &self.passphrase {
            builder = builder.passphrase(v.clone());
        }
        let profile = builder.build()?;
        let mut client = Client::from_profile(&profile)?;
        if let Some(endpoint) = &self.endpoint {
            client = client.endpoint_override(endpoint)?;
        }
        if let Some(file) = &self.ca_certificate_file {
            let file =
                k3s_sdk::home::expand_home(file).map_err(|e| k3s_sdk::oci::Error::Config {
                    location: format!("oci_profile {:?}", self.name),
                    key: Some(
                        tfplugin_runtime::field_name!(OciProfileBlock, ca_certificate_file).into(),
                    ),
                    reason: e.to_string(),
                })?;
            let pem = std::fs::read(&file).map_err(|source| k3s_sdk::oci::Error::ReadFile {
                what: "CA certificate file",
                path: file.clone(),
                source,
            })?;
            client = client.add_root_certificate_pem(&pem)?;
        }
        client.build()
    }
}

/// The provider's OCI profiles, in configuration order; each one's [`k3s_sdk::oci::Client`] is
/// built on first use (loading and checking the key then) and kept for the provider's life.
#[derive(Debug, Default)]
pub struct OciProfiles {
    profiles: Vec<OciProfileBlock>,
    clients: std::sync::Mutex<std::collections::HashMap<String, k3s_sdk::oci::Client>>,
}

impl OciProfiles {
    /// Profiles from their settings, in order.
    pub fn new(profiles: Vec<OciProfileBlock>) -> OciProfiles {
        OciProfiles {
            profiles,
            clients: Default::default(),
        }
    }

    /// The profile names, in configuration order.
    pub fn names(&self) -> Vec<String> {
        self.profiles.iter().map(|p| p.name.clone()).collect()
    }

    /// The client of profile `name`, or of the first profile when `None`, with its name.
    pub fn client(
        &self,
        name: Option<&str>,
    ) -> Result<(String, k3s_sdk::oci::Client), Diagnostics> {
        let settings = match name {
            Some(name) => self
                .profiles
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| {
                    Diagnostics::from_error(
                        format!("Unknown OCI profile {name:?}"),
                        format!(
                        "The provider has no `oci_profile` block named {name:?}; its profiles are: \
                            {}.",
                        self.listed()
                    ),
                    )
                })?,
            None => self.profiles.first().ok_or_else(|| {
                Diagnostics::from_error(
                    "No OCI profile configured",
                    "Looking up OCI instances needs an `oci_profile` block in the provider \
                        configuration.",
                )
            })?,
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&settings.name) {
            return Ok((settings.name.clone(), client.clone()));
        }
        let client = settings.client().map_err(|e| {
            Diagnostics::from_error(
                format!("OCI profile {:?} cannot be used", settings.name),
                e.to_string(),
            )
        })?;
        clients.insert(settings.name.clone(), client.clone());
        Ok((settings.name.clone(), client))
    }

    fn listed(&self) -> String {
        if self.profiles.is_empty() {
            "none".into()
        } else {
            self.names().join(", ")
        }
    }
}
