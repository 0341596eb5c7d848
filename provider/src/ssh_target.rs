//! How the provider reaches a host over SSH: the `ssh` block of a resource and the provider's
//! `ssh` defaults (models and schemas), the rules that pick the credentials and the host-key
//! policy from the two, and the [`Target`] they make. Any resource that logs in to a host
//! uses this module; it knows nothing of K3s.
//!
//! Credentials, first match wins: the block's `private_key`, its `private_key_file`, its `use_agent
//! = true`; then the provider's `private_key`, `private_key_file`, `use_agent = true`; otherwise
//! the ssh-agent, unless either level says `use_agent = false` (then there are no credentials,
//! which is an error). `use_agent = true` beside a key at the same level is refused at validate. A
//! bastion logs in with its own key, else with the provider's credentials.
//!
//! Host keys: the block's `host_key` (pinned), its `known_hosts_file`, the provider's
//! `known_hosts_file`, `insecure_ignore_host_key = true`, else `~/.ssh/known_hosts`.

use crate::validators;
use k3s_sdk::home::expand_home;
use k3s_sdk::ssh::{Bastion, Credentials, HostKeyPolicy, Sudo, Target, Timeouts};
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::field_name;
use tfplugin_runtime::schema::{int_between, ModelSchema};
use tfplugin_runtime::{Diagnostics, Duration};

/// The login user when neither the block nor the provider names one.
pub const DEFAULT_USER: &str = "root";

/// How to reach the host over SSH. Host keys are verified unless `insecure_ignore_host_key` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct SshBlock {
    /// Who logs in, and the host key expected.
    #[serde(rename = "$login")]
    pub login: LoginSettings,
    /// Authenticate with the running ssh-agent (`SSH_AUTH_SOCK`). `false` never uses the agent, not
    /// even as the last resort; `true` cannot be combined with `private_key` or `private_key_file`.
    pub use_agent: Option<bool>,
    /// A known_hosts file to verify the host key against.
    pub known_hosts_file: Option<String>,
    /// Skip host key verification. Logged as a warning; for throw-away hosts only.
    pub insecure_ignore_host_key: Option<bool>,
    /// Run privileged commands through sudo (for a non-root `user`).
    pub sudo: Option<bool>,
    /// Password for sudo, sent on stdin, never in a command line.
    #[tf(sensitive)]
    pub sudo_password: Option<Secret>,
    /// How long to keep trying to connect.
    #[tf(
        validate = validators::duration(),
        description = format!(
            "How long create, update and destroy keep trying to connect while the host boots \
             (each attempt gives up after {}, or after this setting when it is shorter). \
             Defaults to `{}`. A refresh tries once: a host that does not answer keeps its \
             state, with a warning, so a short setting (`\"5s\"`) keeps plans fast while a host \
             is down.",
            Duration::from_std(Timeouts::default().connect),
            Duration::from_std(Timeouts::default().retry_for)
        ),
    )]
    pub connect_timeout: Option<Duration>,
    /// A jump host.
    #[tf(block)]
    pub bastion: Option<BastionBlock>,
}

/// The login settings of both levels of an `ssh` block: the host's and its bastion's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct LoginSettings {
    /// Login user. Defaults to the provider's `ssh.user`, else `root`.
    pub user: Option<String>,
    /// SSH port. Defaults to 22.
    #[tf(validate = int_between(1, 65535))]
    pub port: Option<u16>,
    /// Private key (OpenSSH or PEM) for login.
    #[tf(sensitive)]
    pub private_key: Option<Secret>,
    /// Path of a private key file for login.
    pub private_key_file: Option<String>,
    /// The host's public key, pinned. The connection is refused when the host presents another.
    #[tf(validate = validators::ssh_public_key())]
    pub host_key: Option<String>,
}

/// A jump host the node is reached through. It logs in with its own key, else with the
/// provider's `ssh` credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct BastionBlock {
    /// Address of the jump host.
    #[tf(validate = validators::host())]
    pub host: String,
    /// Who logs in, and the host key expected.
    #[serde(rename = "$login")]
    pub login: LoginSettings,
}

/// Defaults for every node's `ssh` block, and the credentials `terraform import` uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct SshDefaults {
    /// Login user. Defaults to `root`.
    pub user: Option<String>,
    /// Private key for login.
    #[tf(sensitive)]
    pub private_key: Option<Secret>,
    /// Path of a private key file for login.
    pub private_key_file: Option<String>,
    /// Authenticate with the running ssh-agent. `false` never uses the agent; `true` cannot be
    /// combined with `private_key` or `private_key_file`.
    pub use_agent: Option<bool>,
    /// A known_hosts file to verify host keys against.
    pub known_hosts_file: Option<String>,
}

/// One level's credential settings.
struct Login<'a> {
    private_key: Option<&'a Secret>,
    private_key_file: Option<&'a str>,
    use_agent: Option<bool>,
}

impl<'a> Login<'a> {
    fn of_block(b: &'a SshBlock) -> Login<'a> {
        Login {
            private_key: b.login.private_key.as_ref(),
            private_key_file: b.login.private_key_file.as_deref(),
            use_agent: b.use_agent,
        }
    }

    fn of_defaults(d: &'a SshDefaults) -> Login<'a> {
        Login {
            private_key: d.private_key.as_ref(),
            private_key_file: d.private_key_file.as_deref(),
            use_agent: d.use_agent,
        }
    }

    fn of_bastion(b: &'a BastionBlock) -> Login<'a> {
        Login {
            private_key: b.login.private_key.as_ref(),
            private_key_file: b.login.private_key_file.as_deref(),
            use_agent: None,
        }
    }

    /// The credentials this level picks, if any. A contradiction validation could not see
    /// (a key known only at apply beside `use_agent = true`) is refused here.
    fn pick(&self) -> Result<Option<Credentials>, Diagnostics> {
        if let Some(key) = self.conflict() {
            return Err(Diagnostics::from_error(
                "Conflicting SSH credentials",
                format!(
                    "`use_agent = true` and `{key}` are both set; one of them would be \
                    ignored. Keep the one to log in with and remove the other."
                ),
            ));
        }
        if let Some(key) = self.private_key {
            return Ok(Some(Credentials::key(key.clone())));
        }
        if let Some(file) = self.private_key_file {
            return Ok(Some(Credentials::key_file(path(file)?)));
        }
        Ok((self.use_agent == Some(true)).then(Credentials::agent))
    }

    /// The conflict validation refuses: `use_agent = true` beside a key.
    fn conflict(&self) -> Option<&'static str> {
        match (self.use_agent, self.private_key, self.private_key_file) {
            (Some(true), Some(_), _) => Some(field_name!(LoginSettings, private_key)),
            (Some(true), None, Some(_)) => Some(field_name!(LoginSettings, private_key_file)),
            _ => None,
        }
    }
}

/// Expands `~/` in a path the user gave.
pub fn path(given: &str) -> Result<std::path::PathBuf, Diagnostics> {
    expand_home(given).map_err(|e| Diagnostics::from_error("Invalid path", e.to_string()))
}

/// Picks the credentials of `levels`, most specific first; the agent is the last resort
/// unless a level refused it.
fn credentials(levels: &[Login<'_>]) -> Result<Credentials, Diagnostics> {
    for level in levels {
        if let Some(credentials) = level.pick()? {
            return Ok(credentials);
        }
    }
    if levels.iter().any(|l| l.use_agent == Some(false)) {
        return Err(Diagnostics::from_error(
            "No SSH credentials",
            "`use_agent = false` turns the ssh-agent off and no `private_key` or \
                `private_key_file` is set, in the resource's `ssh` block or the provider's. Set \
                one of them.",
        ));
    }
    Ok(Credentials::agent())
}

fn host_key_policy(
    pinned: Option<&str>,
    known_hosts_file: Option<&str>,
    insecure: bool,
    defaults: &SshDefaults,
) -> Result<HostKeyPolicy, Diagnostics> {
    if let Some(line) = pinned {
        return HostKeyPolicy::pinned(line)
            .map_err(|e| Diagnostics::from_error("Invalid ssh.host_key", e.to_string()));
    }
    if let Some(file) = known_hosts_file.or(defaults.known_hosts_file.as_deref()) {
        return Ok(HostKeyPolicy::known_hosts(path(file)?));
    }
    if insecure {
        return Ok(HostKeyPolicy::InsecureAcceptAny);
    }
    Ok(HostKeyPolicy::known_hosts(path("~/.ssh/known_hosts")?))
}

/// The SSH target for `host` from a resource's `ssh` block and the provider's defaults, and its id
/// `ssh://user@host:port`.
pub fn target(
    ssh: Option<&SshBlock>,
    defaults: &SshDefaults,
    host: &str,
) -> Result<(Target, String), Diagnostics> {
    let empty = SshBlock::default();
    let block = ssh.unwrap_or(&empty);
    let user = block
        .login
        .user
        .clone()
        .or_else(|| defaults.user.clone())
        .unwrap_or_else(|| DEFAULT_USER.to_owned());
    let mut target = Target::new(
        host,
        user.clone(),
        credentials(&[Login::of_block(block), Login::of_defaults(defaults)])?,
        host_key_policy(
            block.login.host_key.as_deref(),
            block.known_hosts_file.as_deref(),
            block.insecure_ignore_host_key == Some(true),
            defaults,
        )?,
    );
    if let Some(port) = block.login.port {
        target = target.port(port);
    }
    if let Some(timeout) = &block.connect_timeout {
        target = target.retry_for(timeout.get());
        // A setting shorter than one attempt also bounds the attempt, so that a refresh
        // (one attempt) of a host that does not answer costs no more than it.
        if !timeout.get().is_zero() {
            target.timeouts.connect = target.timeouts.connect.min(timeout.get());
        }
    }
    target = match (block.sudo, &block.sudo_password) {
        (_, Some(password)) => target.sudo(Sudo::Password(password.clone())),
        (Some(true), None) => target.sudo(Sudo::Passwordless),
        _ => target,
    };
    if let Some(bastion) = &block.bastion {
        let mut jump = Bastion::new(
            bastion.host.clone(),
            bastion.login.user.clone().unwrap_or_else(|| user.clone()),
            credentials(&[Login::of_bastion(bastion), Login::of_defaults(defaults)])?,
            host_key_policy(bastion.login.host_key.as_deref(), None, false, defaults)?,
        );
        if let Some(port) = bastion.login.port {
            jump = jump.port(port);
        }
        target = target.bastion(jump);
    }
    let id = format!("ssh://{user}@{host}:{}", target.port);
    Ok((target, id))
}

/// Refuses `use_agent = true` beside a key, and empty keys, in a resource's `ssh` block (at
/// `at`) and its bastion.
pub fn validate_block(ssh: &SshBlock, at: &AttributePath, diagnostics: &mut Diagnostics) {
    check_login(&Login::of_block(ssh), at, diagnostics);
    if let Some(bastion) = &ssh.bastion {
        let at = at.attr(field_name!(SshBlock, bastion));
        check_login(&Login::of_bastion(bastion), &at, diagnostics);
    }
}

/// Refuses `use_agent = true` beside a key, and an empty key, in the provider's `ssh` block.
pub fn validate_defaults(ssh: &SshDefaults, at: &AttributePath, diagnostics: &mut Diagnostics) {
    check_login(&Login::of_defaults(ssh), at, diagnostics);
}

fn check_login(login: &Login<'_>, at: &AttributePath, diagnostics: &mut Diagnostics) {
    if login
        .private_key
        .is_some_and(|k| k.expose().trim().is_empty())
    {
        diagnostics.error_at(
            at.attr(field_name!(LoginSettings, private_key)),
            "Empty private key",
            "`private_key` is set but empty (a variable or file that was not filled in?). Give the \
                key's text, or remove the argument to log in otherwise.",
        );
    }
    if login.private_key_file.is_some_and(|f| f.trim().is_empty()) {
        diagnostics.error_at(
            at.attr(field_name!(LoginSettings, private_key_file)),
            "Empty private key file",
            "`private_key_file` is set but empty. Give the key file's path, or remove the \
                argument.",
        );
    }
    if let Some(key) = login.conflict() {
        diagnostics.error_at(
            at.attr(field_name!(SshBlock, use_agent)),
            "Conflicting SSH credentials",
            format!(
                "`use_agent = true` and `{key}` are both set; one of them would be ignored. \
                Keep the one to log in with and remove the other."
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(key: bool, file: bool, agent: Option<bool>) -> SshBlock {
        SshBlock {
            login: LoginSettings {
                private_key: key.then(|| Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----")),
                private_key_file: file.then(|| "/keys/id".to_owned()),
                host_key: Some(
                    "ssh-ed25519 \
                        AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
                        .into(),
                ),
                ..LoginSettings::default()
            },
            use_agent: agent,
            ..SshBlock::default()
        }
    }

    fn picked(ssh: &SshBlock, defaults: &SshDefaults) -> Result<String, String> {
        target(Some(ssh), defaults, "10.0.0.5")
            .map(|(t, _)| format!("{:?}", t.credentials))
            .map_err(|d| d.to_string())
    }

    #[test]
    fn the_most_specific_credentials_win_and_false_means_no_agent() {
        let provider_file = SshDefaults {
            private_key_file: Some("/keys/provider".into()),
            ..SshDefaults::default()
        };
        assert!(picked(&block(false, true, None), &provider_file)
            .unwrap()
            .contains("/keys/id"));
        assert!(picked(&block(false, false, Some(true)), &provider_file)
            .unwrap()
            .contains("Agent"));
        assert!(picked(&block(false, false, None), &provider_file)
            .unwrap()
            .contains("/keys/provider"));
        assert!(picked(&block(false, false, None), &SshDefaults::default())
            .unwrap()
            .contains("Agent"));
        // `false` at either level: never the agent.
        let refused = picked(&block(false, false, Some(false)), &SshDefaults::default());
        assert!(refused.unwrap_err().contains("No SSH credentials"));
        let provider_refuses = SshDefaults {
            use_agent: Some(false),
            ..SshDefaults::default()
        };
        assert!(picked(&block(false, false, None), &provider_refuses).is_err());
        // The provider's `true` turns the agent on for nodes without their own key.
        let provider_agent = SshDefaults {
            use_agent: Some(true),
            ..SshDefaults::default()
        };
        assert!(picked(&block(false, false, None), &provider_agent)
            .unwrap()
            .contains("Agent"));
    }

    #[test]
    fn an_agent_beside_a_key_is_refused_with_its_path() {
        let at = AttributePath::attribute("ssh");
        for (key, file) in [(true, false), (false, true)] {
            let mut diagnostics = Diagnostics::new();
            validate_block(&block(key, file, Some(true)), &at, &mut diagnostics);
            assert_eq!(diagnostics.0.len(), 1, "{diagnostics}");
            assert_eq!(
                diagnostics.0[0]
                    .path
                    .as_ref()
                    .map(ToString::to_string)
                    .as_deref(),
                Some("ssh.use_agent")
            );
        }
        let mut fine = Diagnostics::new();
        validate_block(&block(true, false, Some(false)), &at, &mut fine);
        validate_block(&block(false, false, Some(true)), &at, &mut fine);
        assert!(fine.is_empty(), "{fine}");
    }

    #[test]
    fn ids_carry_user_host_and_port() {
        let mut ssh = block(true, false, None);
        ssh.login.port = Some(2222);
        ssh.login.user = Some("ubuntu".into());
        let (_, id) = target(Some(&ssh), &SshDefaults::default(), "10.0.0.5").unwrap();
        assert_eq!(id, "ssh://ubuntu@10.0.0.5:2222");
        let (_, id) = target(
            Some(&block(true, false, None)),
            &SshDefaults::default(),
            "h",
        )
        .unwrap();
        assert_eq!(id, "ssh://root@h:22");
    }

    #[test]
    fn a_short_connect_timeout_also_bounds_one_attempt() {
        let with = |setting: Option<&str>| {
            let mut ssh = block(true, false, None);
            ssh.connect_timeout = setting.map(|s| s.parse().unwrap());
            let (target, _) = target(Some(&ssh), &SshDefaults::default(), "h").unwrap();
            (target.timeouts.connect, target.timeouts.retry_for)
        };
        let secs = std::time::Duration::from_secs;
        assert_eq!(
            with(None),
            (Timeouts::default().connect, Timeouts::default().retry_for)
        );
        assert_eq!(with(Some("5s")), (secs(5), secs(5)));
        assert_eq!(with(Some("3m")), (Timeouts::default().connect, secs(180)));
        assert_eq!(with(Some("0s")), (Timeouts::default().connect, secs(0)));
    }
}
