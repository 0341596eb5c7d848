//! Configuration of the K3s stand-in, read the way K3s reads its own: CLI flags, then
//! `/etc/rancher/k3s/config.yaml` and its `config.yaml.d/*.yaml` drop-ins, then `K3S_*`
//! environment variables. Keys are the flag names without `--`; repeatable flags are lists;
//! a drop-in key ending in `+` appends to the list instead of replacing it. Unknown keys are
//! kept and ignored, as K3s accepts far more flags than the stand-in acts on.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default config file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/rancher/k3s/config.yaml";

/// Environment variables K3s maps onto flags.
const ENV_FLAGS: &[(&str, &str)] = &[
    ("K3S_TOKEN", "token"),
    ("K3S_TOKEN_FILE", "token-file"),
    ("K3S_URL", "server"),
    ("K3S_NODE_NAME", "node-name"),
    ("K3S_AGENT_TOKEN", "agent-token"),
    ("K3S_AGENT_TOKEN_FILE", "agent-token-file"),
    ("K3S_CLUSTER_INIT", "cluster-init"),
    ("K3S_CLUSTER_RESET", "cluster-reset"),
    ("K3S_KUBECONFIG_OUTPUT", "write-kubeconfig"),
    ("K3S_KUBECONFIG_MODE", "write-kubeconfig-mode"),
    ("K3S_KUBECONFIG_GROUP", "write-kubeconfig-group"),
    ("K3S_DATA_DIR", "data-dir"),
    ("K3S_DEBUG", "debug"),
    ("K3S_DATASTORE_ENDPOINT", "datastore-endpoint"),
];

/// Flags that take no value on the command line.
const BOOL_FLAGS: &[&str] = &[
    "cluster-init",
    "cluster-reset",
    "debug",
    "secrets-encryption",
    "with-node-id",
    "disable-cloud-controller",
    "disable-helm-controller",
    "disable-network-policy",
    "disable-kube-proxy",
    "disable-scheduler",
    "disable-apiserver",
    "disable-controller-manager",
    "disable-etcd",
    "embedded-registry",
    "flannel-ipv6-masq",
    "flannel-external-ip",
    "prefer-bundled-bin",
    "protect-kernel-defaults",
    "rootless",
    "selinux",
    "docker",
    "disable-default-registry-endpoint",
    "egress-selector-mode-disabled",
];

/// A resolved configuration: every key with all its values (the last one wins for scalars).
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<String, Vec<String>>,
    /// The config file that was read (it may not exist).
    pub file: PathBuf,
}

impl Config {
    /// Resolves the configuration for `k3s <command> <args>` with the given environment.
    pub fn load(args: &[String], env: &BTreeMap<String, String>) -> Result<Config> {
        let cli = parse_args(args)?;
        let file = cli
            .get("config")
            .and_then(|v| v.last().cloned())
            .or_else(|| env.get("K3S_CONFIG_FILE").cloned())
            .unwrap_or_else(|| DEFAULT_CONFIG_FILE.to_owned());
        let file = PathBuf::from(file);
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (var, key) in ENV_FLAGS {
            if let Some(value) = env.get(*var).filter(|v| !v.is_empty()) {
                values.insert((*key).to_owned(), vec![value.clone()]);
            }
        }
        for (key, vals) in read_config_files(&file)? {
            if let Some(base) = key.strip_suffix('+') {
                values.entry(base.to_owned()).or_default().extend(vals);
            } else {
                values.insert(key, vals);
            }
        }
        for (key, vals) in cli {
            values.insert(key, vals);
        }
        Ok(Config { values, file })
    }

    /// Builds a configuration from explicit key/values (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Config {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            values
                .entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        Config {
            values,
            file: PathBuf::from(DEFAULT_CONFIG_FILE),
        }
    }

    /// The value of a scalar key (the last one given).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// All values of a repeatable key; comma-separated values are split, as K3s does.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.values
            .get(key)
            .map(|vals| {
                vals.iter()
                    .flat_map(|v| v.split(','))
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All values of a repeatable key, without splitting on commas (labels and taints).
    pub fn raw_list(&self, key: &str) -> Vec<String> {
        self.values.get(key).cloned().unwrap_or_default()
    }

    /// A boolean key: set and not `false`/`0`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if !matches!(v, "false" | "0" | "False" | "FALSE"))
    }

    /// The data directory (`data-dir`, default `/var/lib/rancher/k3s`).
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(self.get("data-dir").unwrap_or("/var/lib/rancher/k3s"))
    }

    /// The join or cluster token: `token`, else the contents of `token-file`.
    pub fn token(&self) -> Result<Option<String>> {
        self.secret("token", "token-file")
    }

    /// The agent token: `agent-token`, else the contents of `agent-token-file`.
    pub fn agent_token(&self) -> Result<Option<String>> {
        self.secret("agent-token", "agent-token-file")
    }

    fn secret(&self, key: &str, file_key: &str) -> Result<Option<String>> {
        if let Some(token) = self.get(key) {
            return Ok(Some(token.trim().to_owned()));
        }
        if let Some(path) = self.get(file_key) {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("reading {file_key} {path}"))?;
            let token = token.trim().to_owned();
            if token.is_empty() {
                bail!("{file_key} {path} is empty");
            }
            return Ok(Some(token));
        }
        Ok(None)
    }

    /// Every key that was set, for the `k3s.io/node-args` annotation (secrets redacted).
    pub fn redacted_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, vals) in &self.values {
            for v in vals {
                out.push(format!("--{key}"));
                let secret = key.contains("token") || key.contains("secret");
                out.push(if secret { "********".into() } else { v.clone() });
            }
        }
        out
    }
}

/// Parses `--flag value`, `--flag=value`, `-c value` and boolean `--flag`.
fn parse_args(args: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // A repeatable flag on the CLI replaces the list from the config file as a whole, so
    // gather every occurrence first.
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let name = if let Some(n) = arg.strip_prefix("--") {
            n
        } else if let Some(n) = arg.strip_prefix('-') {
            match n {
                "c" => "config",
                "t" => "token",
                "s" => "server",
                "v" => "v",
                other => other,
            }
        } else {
            bail!("unexpected argument {arg:?}: the stand-in takes only flags after the command");
        };
        i += 1;
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => {
                let takes_value = !BOOL_FLAGS.contains(&name)
                    && args.get(i).is_some_and(|next| !next.starts_with('-'));
                if takes_value {
                    i += 1;
                    (name.to_owned(), args[i - 1].clone())
                } else {
                    (name.to_owned(), "true".to_owned())
                }
            }
        };
        out.entry(name).or_default().push(value);
    }
    Ok(out)
}

/// Reads the config file and its drop-ins (`<file>.d/*.yaml`, in name order).
fn read_config_files(file: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let mut files = Vec::new();
    if file.exists() {
        files.push(file.to_owned());
    }
    let dropins = PathBuf::from(format!("{}.d", file.display()));
    if let Ok(entries) = std::fs::read_dir(&dropins) {
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        names.sort();
        files.extend(names);
    }
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.extend(
            parse_yaml_config(&text).with_context(|| format!("parsing {}", path.display()))?,
        );
    }
    Ok(out)
}

/// Parses one config file: a YAML map of flag names to scalars or lists.
pub fn parse_yaml_config(text: &str) -> Result<Vec<(String, Vec<String>)>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
    let map = match doc {
        serde_yaml_ng::Value::Mapping(m) => m,
        serde_yaml_ng::Value::Null => return Ok(Vec::new()),
        _ => bail!("the config file must be a YAML map of flag names to values"),
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let key = scalar(&k).context("config keys must be strings")?;
        let key = key.trim_start_matches('-').to_owned();
        let vals = match v {
            serde_yaml_ng::Value::Sequence(items) => items
                .iter()
                .map(|i| scalar(i).with_context(|| format!("{key}: list items must be scalars")))
                .collect::<Result<Vec<_>>>()?,
            serde_yaml_ng::Value::Null => Vec::new(),
            other => vec![scalar(&other).with_context(|| format!("{key}: unsupported value"))?],
        };
        out.push((key, vals));
    }
    Ok(out)
}

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cli_beats_file_beats_env() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("config.yaml");
        std::fs::write(
            &file,
            "token: from-file\nnode-label:\n  - a=1\n  - b=2\ncluster-init: true\nunknown-flag: 7\n",
        )?;
        std::fs::create_dir(dir.path().join("config.yaml.d"))?;
        std::fs::write(
            dir.path().join("config.yaml.d/10-more.yaml"),
            "node-label+: [c=3]\n",
        )?;
        let mut env = BTreeMap::new();
        env.insert("K3S_TOKEN".to_owned(), "from-env".to_owned());
        env.insert("K3S_NODE_NAME".to_owned(), "env-name".to_owned());
        let c = Config::load(
            &args(&["--config", file.to_str().unwrap(), "--tls-san=x.example"]),
            &env,
        )?;
        assert_eq!(c.get("token"), Some("from-file"));
        assert_eq!(c.get("node-name"), Some("env-name"));
        assert_eq!(c.raw_list("node-label"), ["a=1", "b=2", "c=3"]);
        assert!(c.flag("cluster-init"));
        assert_eq!(c.list("tls-san"), ["x.example"]);
        let c = Config::load(
            &args(&[
                "-c",
                file.to_str().unwrap(),
                "--token",
                "cli",
                "--cluster-init",
            ]),
            &env,
        )?;
        assert_eq!(c.get("token"), Some("cli"));
        Ok(())
    }

    #[test]
    fn a_broken_config_file_is_an_error() {
        assert!(parse_yaml_config("- a\n- b\n").is_err());
        assert!(parse_yaml_config("token: [a: b]\n").is_err());
    }
}
