//! OCI configuration: the `~/.oci/config` file (INI profiles that inherit from `[DEFAULT]`, as
//! Python's `configparser` reads it), explicit values (what the Terraform provider gets from
//! HCL), and the [`Profile`] that results, from which a [`Signer`] is made.
//!
//! Which file: `~/.oci/config` if it exists, else the file named by `OCI_CONFIG_FILE`, else
//! the legacy `~/.oraclebmc/config` (the order of Oracle's SDKs). `region` falls back to
//! `OCI_REGION`, and regions unknown to this SDK are placed in the realm named by
//! `OCI_DEFAULT_REALM` (else `oc1`). `~` in paths is the home directory. Pure apart from
//! reading files and environment variables (through an [`Environment`] that tests replace).

use super::error::Error;
use super::profile::{Profile, ProfileBuilder};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where environment variables come from: the process by default, a closure in tests.
#[derive(Clone)]
pub struct Environment {
    lookup: Arc<Lookup>,
}

impl Environment {
    /// The process environment.
    pub fn process() -> Environment {
        Environment::from_fn(|name| std::env::var(name).ok())
    }

    /// Variables from a closure.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Environment {
        Environment {
            lookup: Arc::new(lookup),
        }
    }

    /// Exactly these variables and no others.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        let vars: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Environment::from_fn(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    /// A variable, when set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// Expands a leading `~` to this environment's `HOME` (see [`crate::home`]).
    pub fn expand_home(&self, path: &str) -> Result<PathBuf, String> {
        crate::home::expand_home_in(path, self.get("HOME").as_deref()).map_err(|e| e.to_string())
    }
}

impl Default for Environment {
    fn default() -> Environment {
        Environment::process()
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Environment")
    }
}

/// The config file Oracle's SDKs would read: `~/.oci/config` if it exists, else
/// `$OCI_CONFIG_FILE`, else `~/.oraclebmc/config`.
pub fn default_config_path(env: &Environment) -> Result<PathBuf, Error> {
    let mut tried = Vec::new();
    let home = env.get("HOME");
    if let Some(home) = &home {
        let path = Path::new(home).join(".oci/config");
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path.display().to_string());
    } else {
        tried.push("~/.oci/config (HOME is not set)".into());
    }
    match env.get("OCI_CONFIG_FILE") {
        Some(value) => {
            let path = env
                .expand_home(&value)
                .map_err(|reason| Error::config("OCI_CONFIG_FILE", None, reason))?;
            if path.is_file() {
                return Ok(path);
            }
            tried.push(format!("{} (from OCI_CONFIG_FILE)", path.display()));
        }
        None => tried.push("$OCI_CONFIG_FILE (not set)".into()),
    }
    if let Some(home) = &home {
        let path = Path::new(home).join(".oraclebmc/config");
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path.display().to_string());
    }
    Err(Error::config(
        "OCI configuration",
        None,
        format!(
            "no OCI config file found (looked at {}); create one with `oci setup config`, name \
             one explicitly, or give tenancy, user, fingerprint, private key and region directly",
            tried.join(", ")
        ),
    ))
}

/// The profile name Oracle's tools use when none is given.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

type Section = Vec<(String, Zeroizing<String>)>;

/// A parsed OCI config file: named profiles, each inheriting the keys of `[DEFAULT]`.
/// `Debug` shows the path and profile names, never values.
#[derive(Clone)]
pub struct ConfigFile {
    path: PathBuf,
    defaults: Section,
    profiles: Vec<(String, Section)>,
}

impl ConfigFile {
    /// Reads and parses a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<ConfigFile, Error> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| Error::ReadFile {
            what: "OCI config file",
            path: path.to_owned(),
            source,
        })?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Error::config(
                format!("OCI config file {}", path.display()),
                None,
                "the file is not UTF-8 text",
            )
        })?;
        ConfigFile::parse(text, path)
    }

    /// Parses config file text; `path` is used in messages and to resolve nothing else.
    ///
    /// The syntax is Python `configparser`'s (which Oracle's Python SDK and CLI use):
    /// `[profile]` headers, `key = value` or `key: value` lines (keys case-insensitive), full-
    /// line comments starting with `#` or `;`, indented lines continuing the previous value;
    /// a repeated profile or key, or a key outside a profile, is an error.
    pub fn parse(text: &str, path: impl Into<PathBuf>) -> Result<ConfigFile, Error> {
        let path = path.into();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut defaults: Option<Section> = None;
        let mut profiles: Vec<(String, Section)> = Vec::new();
        let mut current: Option<(String, Section)> = None;
        let mut last_key: Option<String> = None;
        let at = |line: usize| format!("OCI config file {}, line {line}", path.display());

        let finish = |current: Option<(String, Section)>,
                      defaults: &mut Option<Section>,
                      profiles: &mut Vec<(String, Section)>| {
            if let Some((name, section)) = current {
                if name == DEFAULT_PROFILE {
                    *defaults = Some(section);
                } else {
                    profiles.push((name, section));
                }
            }
        };

        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                last_key = None;
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let indented = raw.starts_with(|c: char| c.is_whitespace());
            if indented {
                if let (Some(key), Some((_, section))) = (&last_key, current.as_mut()) {
                    if let Some((_, value)) = section.iter_mut().find(|(k, _)| k == key) {
                        value.push('\n');
                        value.push_str(trimmed);
                        continue;
                    }
                }
            }
            if let Some(inner) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let name = inner.trim().to_owned();
                if name.is_empty() {
                    return Err(Error::config(at(number), None, "empty profile name '[]'"));
                }
                let seen = (name == DEFAULT_PROFILE && defaults.is_some())
                    || profiles.iter().any(|(n, _)| *n == name)
                    || current.as_ref().is_some_and(|(n, _)| *n == name);
                if seen {
                    return Err(Error::config(
                        at(number),
                        None,
                        format!("profile [{name}] appears twice; merge the two sections"),
                    ));
                }
                finish(current.take(), &mut defaults, &mut profiles);
                current = Some((name, Vec::new()));
                last_key = None;
                continue;
            }
            let Some(split) = trimmed.find(['=', ':']) else {
                return Err(Error::config(
                    at(number),
                    None,
                    "expected 'key = value' or a '[profile]' header",
                ));
            };
            let key = trimmed[..split].trim().to_ascii_lowercase();
            let value = trimmed[split + 1..].trim();
            if key.is_empty() {
                return Err(Error::config(
                    at(number),
                    None,
                    "a line has a value but no key",
                ));
            }
            let Some((profile, section)) = current.as_mut() else {
                return Err(Error::config(
                    at(number),
                    Some(&key),
                    "the key comes before any '[profile]' header; start the file with [DEFAULT]",
                ));
            };
            if section.iter().any(|(k, _)| *k == key) {
                return Err(Error::config(
                    at(number),
                    Some(&key),
                    format!("the key appears twice in profile [{profile}]"),
                ));
            }
            section.push((key.clone(), Zeroizing::new(value.to_owned())));
            last_key = Some(key);
        }
        finish(current, &mut defaults, &mut profiles);
        Ok(ConfigFile {
            path,
            defaults: defaults.unwrap_or_default(),
            profiles,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The profile names, `DEFAULT` first when present.
    pub fn profile_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if !self.defaults.is_empty() {
            names.push(DEFAULT_PROFILE);
        }
        names.extend(self.profiles.iter().map(|(n, _)| n.as_str()));
        names
    }

    /// A profile's raw value after inheritance from `[DEFAULT]`; `None` if the profile or key
    /// is absent. Keys are lowercase.
    pub fn value(&self, profile: &str, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        let own = if profile == DEFAULT_PROFILE {
            None
        } else {
            self.profiles
                .iter()
                .find(|(n, _)| n == profile)
                .and_then(|(_, s)| s.iter().find(|(k, _)| *k == key))
        };
        own.or_else(|| self.defaults.iter().find(|(k, _)| *k == key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the profile exists (`DEFAULT` always does, possibly empty).
    pub fn has_profile(&self, profile: &str) -> bool {
        profile == DEFAULT_PROFILE || self.profiles.iter().any(|(n, _)| n == profile)
    }

    /// The resolved, validated profile, with `OCI_REGION`/`OCI_DEFAULT_REALM`/`HOME` from the
    /// process environment.
    pub fn profile(&self, name: &str) -> Result<Profile, Error> {
        ProfileBuilder::new().build_from(Some(self), name, &Environment::process())
    }

    /// Like [`ConfigFile::profile`] with another environment.
    pub fn profile_with_env(&self, name: &str, env: &Environment) -> Result<Profile, Error> {
        ProfileBuilder::new().build_from(Some(self), name, env)
    }
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("path", &self.path)
            .field("profiles", &self.profile_names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_expansion() {
        let env = Environment::from_pairs([("HOME", "/home/k")]);
        assert_eq!(
            env.expand_home("~/.oci/key.pem").unwrap(),
            PathBuf::from("/home/k/.oci/key.pem")
        );
        assert_eq!(env.expand_home("/abs").unwrap(), PathBuf::from("/abs"));
        assert!(env.expand_home("~bob/x").is_err());
        assert!(Environment::from_pairs::<&str, &str>([])
            .expand_home("~/x")
            .is_err());
    }
}
