//! `registries.yaml`: registry mirrors (e.g. a Zot registry in front of docker.io) and registry
//! credentials and TLS settings, in the layout K3s reads.

use crate::Secret;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A mirror for one upstream registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The registry mirrored, e.g. `docker.io` (`*` for every registry).
    pub registry: String,
    /// Mirror endpoints, tried in order (the upstream is always tried last by containerd).
    pub endpoints: Vec<String>,
    /// Repository rewrites: regular expression to replacement.
    pub rewrites: BTreeMap<String, String>,
}

impl Mirror {
    /// A mirror of `registry` (e.g. `docker.io`) at `endpoints`, tried in order.
    ///
    /// ```
    /// use k3s_sdk::k3s::Mirror;
    ///
    /// let zot = Mirror::new("docker.io", ["https://zot.internal:5000"])
    ///     .rewrite("^library/(.*)", "mirror/library/$1");
    /// assert_eq!(zot.endpoints, vec!["https://zot.internal:5000"]);
    /// assert_eq!(zot.rewrites["^library/(.*)"], "mirror/library/$1");
    /// ```
    pub fn new(
        registry: impl Into<String>,
        endpoints: impl IntoIterator<Item = impl Into<String>>,
    ) -> Mirror {
        Mirror {
            registry: registry.into(),
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            rewrites: BTreeMap::new(),
        }
    }

    /// Adds a repository rewrite: a regular expression and its replacement.
    pub fn rewrite(mut self, pattern: impl Into<String>, replacement: impl Into<String>) -> Mirror {
        self.rewrites.insert(pattern.into(), replacement.into());
        self
    }
}

/// Credentials and TLS settings for one registry host.
#[derive(Debug, Clone)]
pub struct RegistryAuth {
    /// Registry host (and port), e.g. `zot.example.com:5000`.
    pub registry: String,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Skip TLS verification.
    pub insecure_skip_verify: bool,
    /// CA bundle on the node.
    pub ca_file: Option<String>,
}

/// The whole `registries.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    /// Mirrors, one per upstream registry.
    pub mirrors: Vec<Mirror>,
    /// Credentials and TLS settings, one per registry host.
    pub configs: Vec<RegistryAuth>,
}

impl Registries {
    /// Nothing configured: no file needs to exist.
    pub fn is_empty(&self) -> bool {
        self.mirrors.is_empty() && self.configs.is_empty()
    }

    /// The file's bytes (keys sorted, so equal settings give equal bytes).
    pub fn render(&self) -> Vec<u8> {
        let mut mirrors = Map::new();
        for m in &self.mirrors {
            let mut entry = Map::new();
            entry.insert("endpoint".into(), json!(m.endpoints));
            if !m.rewrites.is_empty() {
                entry.insert("rewrite".into(), json!(m.rewrites));
            }
            mirrors.insert(m.registry.clone(), Value::Object(entry));
        }
        let mut configs = Map::new();
        for c in &self.configs {
            let mut entry = Map::new();
            let mut auth = Map::new();
            if let Some(user) = &c.username {
                auth.insert("username".into(), json!(user));
            }
            if let Some(password) = &c.password {
                auth.insert("password".into(), json!(password.expose()));
            }
            if !auth.is_empty() {
                entry.insert("auth".into(), Value::Object(auth));
            }
            let mut tls = Map::new();
            if c.insecure_skip_verify {
                tls.insert("insecure_skip_verify".into(), json!(true));
            }
            if let Some(ca) = &c.ca_file {
                tls.insert("ca_file".into(), json!(ca));
            }
            if !tls.is_empty() {
                entry.insert("tls".into(), Value::Object(tls));
            }
            configs.insert(c.registry.clone(), Value::Object(entry));
        }
        let mut top = BTreeMap::new();
        if !mirrors.is_empty() {
            top.insert("mirrors", Value::Object(mirrors));
        }
        if !configs.is_empty() {
            top.insert("configs", Value::Object(configs));
        }
        let body = if top.is_empty() {
            String::new()
        } else {
            serde_yaml_ng::to_string(&top).expect("a map of JSON values serialises")
        };
        format!("# Written by k3s-sdk. Edits made here are reported as drift and replaced.\n{body}")
            .into_bytes()
    }
}

impl Registries {
    /// Reads a `registries.yaml` found on a node (for import). Mirrors and configs come out
    /// in registry-name order.
    pub fn parse(yaml: &str) -> Result<Registries, super::ConfigError> {
        let unreadable =
            |e: String| super::ConfigError::Unreadable(format!("registries.yaml: {e}"));
        let meaningful = yaml
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !meaningful {
            return Ok(Registries::default());
        }
        let doc: Value = serde_yaml_ng::from_str(yaml).map_err(|e| unreadable(e.to_string()))?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut registries = Registries::default();
        if let Some(Value::Object(mirrors)) = doc.get("mirrors") {
            for (registry, entry) in mirrors {
                let endpoints = entry
                    .get("endpoint")
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let rewrites = entry
                    .get("rewrite")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                registries.mirrors.push(Mirror {
                    registry: registry.clone(),
                    endpoints,
                    rewrites,
                });
            }
        }
        if let Some(Value::Object(configs)) = doc.get("configs") {
            for (registry, entry) in configs {
                let auth = entry.get("auth").cloned().unwrap_or(Value::Null);
                let tls = entry.get("tls").cloned().unwrap_or(Value::Null);
                registries.configs.push(RegistryAuth {
                    registry: registry.clone(),
                    username: text(&auth, "username"),
                    password: text(&auth, "password").map(Secret::new),
                    insecure_skip_verify: tls
                        .get("insecure_skip_verify")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    ca_file: text(&tls, "ca_file"),
                });
            }
        }
        Ok(registries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_mirrors_and_configs_as_k3s_reads_them() {
        let registries = Registries {
            mirrors: vec![Mirror {
                registry: "docker.io".into(),
                endpoints: vec!["https://zot.example.com:5000/v2/docker.io".into()],
                rewrites: BTreeMap::from([("^library/(.*)".to_string(), "mirror/$1".to_string())]),
            }],
            configs: vec![RegistryAuth {
                registry: "zot.example.com:5000".into(),
                username: Some("puller".into()),
                password: Some(Secret::new("pull-secret")),
                insecure_skip_verify: false,
                ca_file: Some("/etc/ssl/zot-ca.pem".into()),
            }],
        };
        let yaml = String::from_utf8(registries.render()).unwrap();
        let parsed: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(
            parsed["mirrors"]["docker.io"]["endpoint"][0],
            "https://zot.example.com:5000/v2/docker.io"
        );
        assert_eq!(
            parsed["mirrors"]["docker.io"]["rewrite"]["^library/(.*)"],
            "mirror/$1"
        );
        assert_eq!(
            parsed["configs"]["zot.example.com:5000"]["auth"]["password"],
            "pull-secret"
        );
        assert_eq!(
            parsed["configs"]["zot.example.com:5000"]["tls"]["ca_file"],
            "/etc/ssl/zot-ca.pem"
        );
        assert!(!format!("{registries:?}").contains("pull-secret"));
        assert!(Registries::default().is_empty());
    }

    #[test]
    fn the_wildcard_registry_is_quoted() {
        let registries = Registries {
            mirrors: vec![Mirror {
                registry: "*".into(),
                endpoints: vec!["https://m".into()],
                rewrites: BTreeMap::new(),
            }],
            configs: vec![],
        };
        let yaml = String::from_utf8(registries.render()).unwrap();
        assert!(yaml.contains("'*'") || yaml.contains("\"*\""), "{yaml}");
    }

    #[test]
    fn a_rendered_file_parses_back_to_the_same_bytes() {
        let registries = Registries {
            mirrors: vec![Mirror {
                registry: "docker.io".into(),
                endpoints: vec!["https://zot.example.com:5000".into()],
                rewrites: [("^library/(.*)".to_owned(), "mirror/$1".to_owned())].into(),
            }],
            configs: vec![RegistryAuth {
                registry: "zot.example.com:5000".into(),
                username: Some("pull".into()),
                password: Some(Secret::new("pw")),
                insecure_skip_verify: true,
                ca_file: Some("/etc/ssl/zot.pem".into()),
            }],
        };
        let text = String::from_utf8(registries.render()).unwrap();
        let parsed = Registries::parse(&text).unwrap();
        assert_eq!(parsed.render(), registries.render());
        assert_eq!(parsed.configs[0].password.as_ref().unwrap().expose(), "pw");
        assert!(Registries::parse("# nothing\n").unwrap().is_empty());
        assert!(Registries::parse("mirrors: [").is_err());
    }
}
