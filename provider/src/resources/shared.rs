//! Schema pieces more than one resource uses: the SSH `ssh` block, the `timeouts`
//! block, and validators for the values users type most (hosts, versions, durations, OCIDs).

use crate::runtime::cty::{Type, Value};
use crate::runtime::diagnostics::Diagnostics;
use crate::runtime::schema::{
    int_between, one_of, validator, Attribute, Block, NestedBlock, Validator,
};
use std::sync::Arc;

/// What resources answer until their behaviour lands.
pub fn not_implemented(type_name: &str, operation: &str) -> Diagnostics {
    Diagnostics::from_error(
        format!("{type_name}: {operation} is not implemented yet"),
        format!(
            "This version of terraform-provider-k3s declares {type_name} and validates its \
             configuration, but cannot {operation} it yet. Plans are accurate; apply will fail \
             here without changing anything."
        ),
    )
}

/// A host name or an IPv4/IPv6 address.
pub fn host() -> Arc<dyn Validator> {
    validator("a host name or an IP address", |value| {
        let s = value.as_str().ok_or("expected a string")?;
        if s.parse::<std::net::IpAddr>().is_ok() || is_hostname(s) {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is neither an IP address nor a valid host name"
            ))
        }
    })
}

fn is_hostname(s: &str) -> bool {
    // A dotted quad that failed to parse as an address (e.g. 10.0.0.256) is a typo, not a name.
    let all_numeric = s
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    !s.is_empty()
        && s.len() <= 253
        && !all_numeric
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A K3s release, pinned exactly: `vX.Y.Z+k3sN`.
pub fn k3s_version() -> Arc<dyn Validator> {
    validator("a pinned K3s release such as `v1.33.4+k3s1`", |value| {
        let s = value.as_str().ok_or("expected a string")?;
        let ok = (|| {
            let rest = s.strip_prefix('v')?;
            let (semver, build) = rest.split_once("+k3s")?;
            let parts: Vec<&str> = semver.split('.').collect();
            let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            (parts.len() == 3 && parts.iter().all(|p| numeric(p)) && numeric(build)).then_some(())
        })()
        .is_some();
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not a pinned K3s release; use the exact form vX.Y.Z+k3sN, for example \
                 v1.33.4+k3s1 (channels like \"stable\" resolve differently over time)"
            ))
        }
    })
}

/// A release tag `vX.Y.Z`.
pub fn semver_tag() -> Arc<dyn Validator> {
    validator("a release tag such as `v3.5.1`", |value| {
        let s = value.as_str().ok_or("expected a string")?;
        let parts: Vec<&str> = s.strip_prefix('v').unwrap_or("").split('.').collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not a release tag of the form vX.Y.Z, for example v3.5.1"
            ))
        }
    })
}

/// A duration such as `90s`, `5m` or `1h30m`.
pub fn duration() -> Arc<dyn Validator> {
    validator("a duration such as `30s`, `5m` or `1h30m`", |value| {
        let s = value.as_str().ok_or("expected a string")?;
        parse_duration(s)
            .map(|_| ())
            .ok_or_else(|| format!("{s:?} is not a duration; write it like 30s, 5m or 1h30m"))
    })
}

/// Parses `1h30m`, `90s`, `500ms` and the like.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = std::time::Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let amount: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let seconds = match &rest[..unit] {
            "ms" => amount as f64 / 1000.0,
            "s" => amount as f64,
            "m" => amount as f64 * 60.0,
            "h" => amount as f64 * 3600.0,
            _ => return None,
        };
        total += std::time::Duration::from_secs_f64(seconds);
        rest = &rest[unit..];
    }
    Some(total)
}

/// An OCID of the given resource kinds (`ocid1.<kind>.…`).
pub fn ocid(kinds: &'static [&'static str]) -> Arc<dyn Validator> {
    let names = kinds.join(" or ");
    validator(format!("an OCID of a {names}"), move |value| {
        let s = value.as_str().ok_or("expected a string")?;
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() >= 5
            && parts[0] == "ocid1"
            && kinds.contains(&parts[1])
            && !parts[parts.len() - 1].is_empty()
        {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not an OCID of a {}: expected ocid1.{}.<realm>.<region>.<id>",
                kinds.join(" or "),
                kinds[0]
            ))
        }
    })
}

/// An `https://` or `http://` URL.
pub fn http_url() -> Arc<dyn Validator> {
    validator("an http(s) URL", |value| {
        let s = value.as_str().ok_or("expected a string")?;
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(()),
            _ => Err(format!("{s:?} is not an http:// or https:// URL")),
        }
    })
}

/// An SSH public key line (`ssh-ed25519 AAAA…`).
pub fn ssh_public_key() -> Arc<dyn Validator> {
    validator("an SSH public key such as `ssh-ed25519 AAAA…`", |value| {
        let s = value.as_str().ok_or("expected a string")?;
        let mut parts = s.split_whitespace();
        let algorithm = parts.next().unwrap_or("");
        let blob = parts.next().unwrap_or("");
        let known = [
            "ssh-ed25519",
            "ssh-rsa",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
        ];
        if known.contains(&algorithm)
            && blob.len() > 16
            && blob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        {
            Ok(())
        } else {
            Err("not an SSH public key; paste the host's key as `ssh-ed25519 AAAA…` (from ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub)".into())
        }
    })
}

/// The `ssh` block shared by `k3s_server` and `k3s_agent` (not `connection`, which Terraform
/// reserves for provisioners and never passes to providers).
pub fn ssh_block() -> NestedBlock {
    let credentials = |block: Block| {
        block
            .attribute(Attribute::optional("user", Type::String).describe("Login user. Defaults to the provider's `ssh.user`, else `root`."))
            .attribute(Attribute::optional("port", Type::Number).describe("SSH port. Defaults to 22.").validate(int_between(1, 65535)))
            .attribute(Attribute::optional("private_key", Type::String).sensitive().describe("Private key (OpenSSH or PEM) for login."))
            .attribute(Attribute::optional("private_key_file", Type::String).describe("Path of a private key file for login."))
            .attribute(Attribute::optional("host_key", Type::String).validate(ssh_public_key()).describe("The host's public key, pinned. The connection is refused when the host presents another."))
    };
    let bastion = credentials(
        Block::new("A jump host the node is reached through.").attribute(
            Attribute::required("host", Type::String)
                .validate(host())
                .describe("Address of the jump host."),
        ),
    );
    let block = credentials(Block::new("How to reach the host over SSH. Host keys are verified unless `insecure_ignore_host_key` is set."))
        .attribute(Attribute::optional("use_agent", Type::Bool).describe("Authenticate with the running ssh-agent (`SSH_AUTH_SOCK`)."))
        .attribute(Attribute::optional("known_hosts_file", Type::String).describe("A known_hosts file to verify the host key against."))
        .attribute(Attribute::optional("insecure_ignore_host_key", Type::Bool).describe("Skip host key verification. Logged as a warning; for throw-away hosts only."))
        .attribute(Attribute::optional("sudo", Type::Bool).describe("Run privileged commands through sudo (for a non-root `user`)."))
        .attribute(Attribute::optional("sudo_password", Type::String).sensitive().describe("Password for sudo, sent on stdin, never in a command line."))
        .attribute(Attribute::optional("connect_timeout", Type::String).validate(duration()).describe("How long to keep trying to connect while the host boots. Defaults to `2m`."))
        .block(NestedBlock::single("bastion", bastion));
    NestedBlock::single("ssh", block)
}

/// The `timeouts` block: per-operation deadlines.
pub fn timeouts_block() -> NestedBlock {
    let deadline = |name: &str, default: &str| {
        Attribute::optional(name, Type::String)
            .validate(duration())
            .describe(&format!("Deadline for {name}. Defaults to `{default}`."))
    };
    NestedBlock::single(
        "timeouts",
        Block::new("Deadlines for each operation.")
            .attribute(deadline("create", "15m"))
            .attribute(deadline("update", "15m"))
            .attribute(deadline("delete", "10m")),
    )
}

/// The `oci` address selector for hosts given as an OCI instance.
pub fn oci_address_kind() -> Arc<dyn Validator> {
    one_of(&["private", "public"])
}

/// Checks that exactly one of `host` and `oci_instance_id` is set (when known).
pub fn require_host_or_instance(config: &Value, diagnostics: &mut Diagnostics) {
    let host = config.attr("host").unwrap_or(&Value::Null);
    let instance = config.attr("oci_instance_id").unwrap_or(&Value::Null);
    if host.is_unknown() || instance.is_unknown() {
        return;
    }
    match (host.is_null(), instance.is_null()) {
        (true, true) => diagnostics.error_at(
            crate::runtime::cty::AttributePath::attribute("host"),
            "Missing host",
            "Set `host` (an address reachable over SSH) or `oci_instance_id` (an OCI instance whose address the provider looks up).",
        ),
        (false, false) => diagnostics.error_at(
            crate::runtime::cty::AttributePath::attribute("oci_instance_id"),
            "Conflicting host",
            "Set either `host` or `oci_instance_id`, not both.",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &Arc<dyn Validator>, s: &str) -> bool {
        v.validate(&Value::string(s)).is_ok()
    }

    #[test]
    fn versions_must_be_pinned() {
        let v = k3s_version();
        assert!(check(&v, "v1.33.4+k3s1"));
        for bad in [
            "1.33.4+k3s1",
            "v1.33+k3s1",
            "v1.33.4",
            "stable",
            "v1.33.4+k3s",
            "v1.33.x+k3s1",
        ] {
            assert!(!check(&v, bad), "{bad}");
        }
    }

    #[test]
    fn hosts_are_names_or_addresses() {
        let v = host();
        for good in ["10.0.0.241", "fd00::1", "node-1", "k3s.example.com"] {
            assert!(check(&v, good), "{good}");
        }
        for bad in ["10.0.0.256", "", "-bad", "a b", "under_score.example"] {
            assert!(!check(&v, bad), "{bad}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("500ms"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn ocids_name_their_kind() {
        let v = ocid(&["instance"]);
        assert!(check(&v, "ocid1.instance.oc1.eu-frankfurt-1.abcdef"));
        assert!(!check(&v, "ocid1.compartment.oc1..abcdef"));
    }
}
