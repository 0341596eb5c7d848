//! [`Profile`]: one resolved OCI identity (tenancy, user, key, region), read from a config
//! file's profile, given as explicit values ([`ProfileBuilder`]), or both, and checked before
//! the first call; a [`Signer`] is made from it.

use super::config::{default_config_path, ConfigFile, Environment, DEFAULT_PROFILE};
use super::error::Error;
use super::key::{is_fingerprint_shape, PrivateKey};
use super::ocid::Ocid;
use super::region::{Realm, Region};
use super::signer::{KeyId, Signer};
use crate::Secret;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where the private key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// A PEM file.
    File(PathBuf),
    /// PEM text in memory (e.g. from a Terraform variable).
    Pem(Secret),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => f.debug_tuple("File").field(path).finish(),
            KeySource::Pem(_) => f.write_str("Pem(***)"),
        }
    }
}

/// A resolved OCI identity: tenancy, user, key, fingerprint and region. Build one from a
/// config file ([`Profile::from_file`], [`ConfigFile::profile`]) or from explicit values
/// ([`ProfileBuilder`]); make the request [`Signer`] with [`Profile::signer`].
/// `Debug` never shows the key or passphrase.
#[derive(Clone)]
pub struct Profile {
    name: String,
    location: String,
    source: Option<PathBuf>,
    tenancy: String,
    user: Option<String>,
    fingerprint: Option<String>,
    region: Region,
    key: KeySource,
    passphrase: Option<Secret>,
    security_token_file: Option<PathBuf>,
}

impl Profile {
    /// Loads `profile` from a config file: `path`, or the default location when `None`.
    ///
    /// ```no_run
    /// let profile = k3s_sdk::oci::Profile::from_file(None, "DEFAULT")?;
    /// let signer = profile.signer()?;
    /// # Ok::<(), k3s_sdk::oci::Error>(())
    /// ```
    pub fn from_file(path: Option<&Path>, profile: &str) -> Result<Profile, Error> {
        let mut builder = ProfileBuilder::new().profile(profile);
        if let Some(path) = path {
            builder = builder.config_file(path);
        }
        builder.build()
    }

    /// Starts a profile from explicit values.
    pub fn builder() -> ProfileBuilder {
        ProfileBuilder::new()
    }

    /// The profile name (`DEFAULT`, `K3S`, …; `explicit` when no file was read).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config file the profile was read from, if any.
    pub fn source_file(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Where the values come from, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The tenancy OCID.
    pub fn tenancy(&self) -> &str {
        &self.tenancy
    }

    /// The user OCID (absent for session-token profiles).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The configured key fingerprint (lowercase).
    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Where the private key comes from.
    pub fn key_source(&self) -> &KeySource {
        &self.key
    }

    /// The session token file, for session-token profiles.
    pub fn security_token_file(&self) -> Option<&Path> {
        self.security_token_file.as_deref()
    }

    /// Loads the private key, checks it against the configured fingerprint, and makes the request
    /// signer (`keyId` `tenancy/user/fingerprint`, or `ST$<token>` for a session-token profile).
    pub fn signer(&self) -> Result<Signer, Error> {
        let passphrase = self.passphrase.as_ref().map(|p| p.expose());
        let key = match &self.key {
            KeySource::File(path) => PrivateKey::from_file(path, passphrase)?,
            KeySource::Pem(pem) => PrivateKey::from_pem_with_origin(
                pem.expose(),
                passphrase,
                "the private key given inline",
            )?,
        };
        let key_id = match (&self.security_token_file, &self.user, &self.fingerprint) {
            (Some(path), _, _) => {
                let token = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                    Error::ReadFile {
                        what: "security token file",
                        path: path.clone(),
                        source,
                    }
                })?);
                if token.trim().is_empty() {
                    return Err(Error::config(
                        self.location.clone(),
                        Some("security_token_file"),
                        format!(
                            "{} is empty; refresh the session with `oci session authenticate`",
                            path.display()
                        ),
                    ));
                }
                KeyId::security_token(token.as_str())
            }
            (None, Some(user), Some(fingerprint)) => {
                key.check_fingerprint_in(fingerprint, Some(&self.location))?;
                KeyId::api_key(&self.tenancy, user, fingerprint)
            }
            _ => unreachable!("build() requires user and fingerprint without a security token"),
        };
        Ok(Signer::new(key_id, key))
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("tenancy", &self.tenancy)
            .field("user", &self.user)
            .field("fingerprint", &self.fingerprint)
            .field("region", &self.region.name())
            .field("key", &self.key)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("security_token_file", &self.security_token_file)
            .finish()
    }
}

/// Builds a [`Profile`] from explicit values, optionally on top of a config file profile
/// (explicit values win, key by key).
///
/// A config file is read when [`config_file`](ProfileBuilder::config_file) or
/// [`profile`](ProfileBuilder::profile) is set, or when an explicit value is missing and a
/// config file exists at the default location (its `DEFAULT` profile is used then).
///
/// ```
/// use k3s_sdk::oci::{Profile, Secret};
/// # let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/oci/testdata/oci_sample_key.pem"));
/// let profile = Profile::builder()
///     .tenancy("ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq")
///     .user("ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq")
///     .fingerprint("73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7")
///     .region("us-ashburn-1")
///     .private_key_pem(Secret::new(pem))
///     .build()?;
/// let signer = profile.signer()?;
/// # Ok::<(), k3s_sdk::oci::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ProfileBuilder {
    config_file: Option<PathBuf>,
    profile: Option<String>,
    tenancy: Option<String>,
    user: Option<String>,
    fingerprint: Option<String>,
    region: Option<String>,
    private_key_pem: Option<Secret>,
    private_key_path: Option<PathBuf>,
    passphrase: Option<Secret>,
    security_token_file: Option<PathBuf>,
    env: Option<Environment>,
}

impl ProfileBuilder {
    /// An empty builder.
    pub fn new() -> ProfileBuilder {
        ProfileBuilder::default()
    }

    /// Reads this config file (`~` is expanded).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Uses this profile of the config file (default `DEFAULT`).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// The tenancy OCID.
    pub fn tenancy(mut self, ocid: impl Into<String>) -> Self {
        self.tenancy = Some(ocid.into());
        self
    }

    /// The user OCID.
    pub fn user(mut self, ocid: impl Into<String>) -> Self {
        self.user = Some(ocid.into());
        self
    }

    /// The API key fingerprint.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// The region name or code.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The private key as PEM text (overrides any key file).
    pub fn private_key_pem(mut self, pem: impl Into<Secret>) -> Self {
        self.private_key_pem = Some(pem.into());
        self
    }

    /// The private key file (overrides the profile's `key_file`; `~` is expanded).
    pub fn private_key_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.private_key_path = Some(path.into());
        self
    }

    /// The private key's passphrase (overrides the profile's `pass_phrase`).
    pub fn passphrase(mut self, passphrase: impl Into<Secret>) -> Self {
        self.passphrase = Some(passphrase.into());
        self
    }

    /// A session token file: sign as `ST$<token>` instead of with a user's API key.
    pub fn security_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.security_token_file = Some(path.into());
        self
    }

    /// Reads environment variables (`HOME`, `OCI_CONFIG_FILE`, `OCI_REGION`,
    /// `OCI_DEFAULT_REALM`) from `env` instead of the process.
    pub fn env(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// Resolves and validates the profile.
    pub fn build(&self) -> Result<Profile, Error> {
        let env = self.env.clone().unwrap_or_default();
        let explicit_complete = self.tenancy.is_some()
            && self.fingerprint.is_some()
            && (self.private_key_pem.is_some() || self.private_key_path.is_some())
            && (self.user.is_some() || self.security_token_file.is_some())
            && (self.region.is_some() || env.get("OCI_REGION").is_some());
        let path = match &self.config_file {
            Some(path) => {
                let text = path.to_string_lossy();
                Some(
                    env.expand_home(&text)
                        .map_err(|r| Error::config("config_file", None, r))?,
                )
            }
            None if self.profile.is_some() => Some(default_config_path(&env)?),
            None if !explicit_complete => default_config_path(&env).ok(),
            None => None,
        };
        let file = path.map(ConfigFile::load).transpose()?;
        let name = self.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
        self.build_from(file.as_ref(), name, &env)
    }

    pub(super) fn build_from(
        &self,
        file: Option<&ConfigFile>,
        name: &str,
        env: &Environment,
    ) -> Result<Profile, Error> {
        let location = match file {
            Some(file) => format!(
                "OCI config file {}, profile [{name}]",
                file.path().display()
            ),
            None => "the explicit OCI settings".to_owned(),
        };
        if let Some(file) = file {
            if !file.has_profile(name) {
                return Err(Error::config(
                    format!("OCI config file {}", file.path().display()),
                    None,
                    format!(
                        "there is no profile [{name}]; the profiles there are: {}",
                        listed(&file.profile_names())
                    ),
                ));
            }
            if file.value(name, "key_content").is_some() {
                return Err(Error::config(
                    location.clone(),
                    Some("key_content"),
                    "key_content is not allowed in a config file; put the key in a file and \
                     name it with key_file",
                ));
            }
            if let Some(kind) = file.value(name, "authentication_type") {
                if !matches!(kind.trim(), "api_key" | "security_token") {
                    return Err(Error::config(
                        location.clone(),
                        Some("authentication_type"),
                        format!(
                            "'{}' is not supported by this SDK; use an API key (key_file, \
                             fingerprint, user) or a session token (security_token_file)",
                            kind.trim()
                        ),
                    ));
                }
            }
        }
        let from_file = |key: &str| {
            file.and_then(|f| f.value(name, key))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let pick = |explicit: &Option<String>, key: &str| -> Option<String> {
            explicit
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .or_else(|| from_file(key).map(str::to_owned))
        };
        let bad = |key: &str, reason: String| Error::config(location.clone(), Some(key), reason);

        let tenancy = pick(&self.tenancy, "tenancy");
        let user = pick(&self.user, "user");
        let fingerprint = pick(&self.fingerprint, "fingerprint");
        let region = pick(&self.region, "region").or_else(|| env.get("OCI_REGION"));
        let token_file = match &self.security_token_file {
            Some(p) => Some(p.to_string_lossy().into_owned()),
            None => from_file("security_token_file").map(str::to_owned),
        };
        let key = match (&self.private_key_pem, &self.private_key_path) {
            (Some(pem), _) => Some(KeySource::Pem(pem.clone())),
            (None, Some(path)) => Some(KeySource::File(
                env.expand_home(&path.to_string_lossy())
                    .map_err(|r| bad("key_file", r))?,
            )),
            (None, None) => match from_file("key_file") {
                Some(path) => Some(KeySource::File(
                    env.expand_home(path).map_err(|r| bad("key_file", r))?,
                )),
                None => None,
            },
        };
        let passphrase = self.passphrase.clone().or_else(|| {
            from_file("pass_phrase")
                .or_else(|| from_file("passphrase"))
                .map(Secret::new)
        });

        let mut missing = Vec::new();
        if tenancy.is_none() {
            missing.push("tenancy");
        }
        if user.is_none() && token_file.is_none() {
            missing.push("user");
        }
        if fingerprint.is_none() && token_file.is_none() {
            missing.push("fingerprint");
        }
        if key.is_none() {
            missing.push("key_file");
        }
        if region.is_none() {
            missing.push("region (or the OCI_REGION environment variable)");
        }
        if !missing.is_empty() {
            let advice = match file {
                Some(_) if name != DEFAULT_PROFILE => {
                    format!("add them to [{name}] or to [DEFAULT], which every profile inherits")
                }
                Some(_) => "add them to the profile".to_owned(),
                None => "give them explicitly or name an OCI config file and profile".to_owned(),
            };
            return Err(Error::config(
                location.clone(),
                None,
                format!("missing {}; {advice}", missing.join(", ")),
            ));
        }

        let tenancy = tenancy.unwrap_or_default();
        Ocid::of_kind(&tenancy, &["tenancy"]).map_err(|r| bad("tenancy", r.to_string()))?;
        if let Some(user) = &user {
            Ocid::of_kind(user, &["user"]).map_err(|r| bad("user", r.to_string()))?;
        }
        let fingerprint = match fingerprint {
            Some(fp) if is_fingerprint_shape(&fp) => Some(fp.to_ascii_lowercase()),
            Some(fp) => {
                return Err(bad(
                    "fingerprint",
                    format!(
                        "'{fp}' is not a key fingerprint; expected 16 hex pairs joined by ':' \
                         (like 12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0), as the OCI \
                         console shows it under the user's API keys"
                    ),
                ))
            }
            None => None,
        };
        let default_realm = match env.get("OCI_DEFAULT_REALM") {
            Some(key) => Realm::by_key(&key).ok_or_else(|| {
                Error::config(
                    "OCI_DEFAULT_REALM",
                    None,
                    format!("'{key}' is not a realm this SDK knows (oc1, oc2, …)"),
                )
            })?,
            None => Realm::oc1(),
        };
        let region = Region::resolve(&region.unwrap_or_default(), default_realm)
            .map_err(|reason| bad("region", reason))?;
        let security_token_file = token_file
            .map(|p| {
                env.expand_home(&p)
                    .map_err(|r| bad("security_token_file", r))
            })
            .transpose()?;
        Ok(Profile {
            name: if file.is_some() {
                name.to_owned()
            } else {
                "explicit".to_owned()
            },
            location,
            source: file.map(|f| f.path().to_path_buf()),
            tenancy,
            user,
            fingerprint,
            region,
            key: key.expect("checked above"),
            passphrase,
            security_token_file,
        })
    }
}

impl fmt::Debug for ProfileBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileBuilder")
            .field("config_file", &self.config_file)
            .field("profile", &self.profile)
            .field("tenancy", &self.tenancy)
            .field("user", &self.user)
            .field("fingerprint", &self.fingerprint)
            .field("region", &self.region)
            .field(
                "private_key_pem",
                &self.private_key_pem.as_ref().map(|_| "***"),
            )
            .field("private_key_path", &self.private_key_path)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("security_token_file", &self.security_token_file)
            .finish()
    }
}

fn listed(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names
            .iter()
            .map(|n| format!("[{n}]"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
