//! Validators for the values users type most: hosts, K3s and Argo CD versions, durations, OCIDs,
//! URLs and SSH public keys. Each one accepts exactly what the code that later uses the value
//! accepts (the SDK's [`K3sVersion`], [`Ocid`], the runtime's [`Duration`]), so a value that
//! passes validation never fails to parse at apply.

use k3s_sdk::k3s::{self, K3sVersion};
use k3s_sdk::oci::Ocid;
use std::sync::Arc;
use tfplugin_runtime::cty::Value;
use tfplugin_runtime::schema::{validator, Validator};
use tfplugin_runtime::Duration;

fn text(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "expected a string".to_owned())
}

/// A host name or an IPv4/IPv6 address.
pub fn host() -> Arc<dyn Validator> {
    validator("a host name or an IP address", |value| {
        let s = text(value)?;
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

/// A K3s release, pinned exactly: `vX.Y.Z+k3sN`, as [`K3sVersion`] parses it.
pub fn k3s_version() -> Arc<dyn Validator> {
    validator("a pinned K3s release such as `v1.33.4+k3s1`", |value| {
        let s = text(value)?;
        s.parse::<K3sVersion>()
            .map(|_| ())
            .map_err(|e| format!("{e} (channels like \"stable\" resolve differently over time)"))
    })
}

/// A release tag `vX.Y.Z`.
pub fn semver_tag() -> Arc<dyn Validator> {
    validator("a release tag such as `v3.5.1`", |value| {
        let s = text(value)?;
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

/// A duration such as `90s`, `5m` or `1h30m`, as [`Duration`] parses it.
pub fn duration() -> Arc<dyn Validator> {
    validator("a duration such as `30s`, `5m` or `1h30m`", |value| {
        text(value)?
            .parse::<Duration>()
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// An OCID of one of the given resource kinds (`ocid1.<kind>.…`), as [`Ocid`] checks it.
pub fn ocid(kinds: &'static [&'static str]) -> Arc<dyn Validator> {
    validator(
        format!("an OCID of {}", Ocid::describe_kinds(kinds)),
        move |value| {
            Ocid::of_kind(text(value)?, kinds)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
}

/// A list (or set) each of whose elements `element` accepts; a problem names the element's
/// position.
pub fn each(element: Arc<dyn Validator>) -> Arc<dyn Validator> {
    validator(
        format!("a list, each element {}", element.description()),
        move |value| {
            let items = match value {
                Value::List(items) | Value::Set(items) => items,
                _ => return Err("expected a list".to_owned()),
            };
            let problems: Vec<String> = items
                .iter()
                .enumerate()
                .filter(|(_, item)| !item.is_null() && item.is_wholly_known())
                .filter_map(|(i, item)| {
                    element
                        .validate(item)
                        .err()
                        .map(|e| format!("element {i}: {e}"))
                })
                .collect();
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        },
    )
}

/// Whether `s` is an `https://` (or, with `plain_http`, `http://`) URL with a host.
pub fn is_url(s: &str, plain_http: bool) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| plain_http.then(|| s.strip_prefix("http://")).flatten());
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

/// An `https://` or `http://` URL.
pub fn http_url() -> Arc<dyn Validator> {
    validator("an http(s) URL", |value| {
        let s = text(value)?;
        if is_url(s, true) {
            Ok(())
        } else {
            Err(format!("{s:?} is not an http:// or https:// URL"))
        }
    })
}

/// Where a manifest is read from: an http(s) URL, or `file:///absolute/path`.
pub fn manifest_url() -> Arc<dyn Validator> {
    validator("an http(s) URL or file:///path", |value| {
        let s = text(value)?;
        let file = s
            .strip_prefix("file://")
            .is_some_and(|p| p.starts_with('/') && p.len() > 1);
        if is_url(s, true) || file {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is neither an http(s):// URL nor a file:///absolute/path"
            ))
        }
    })
}

/// A sha256 digest, 64 hex digits (surrounding white space, as `file("k3s.sha256")` leaves it,
/// is accepted: the digest is trimmed where it is compared).
pub fn sha256() -> Arc<dyn Validator> {
    validator("a sha256 digest (64 hex digits)", |value| {
        let s = text(value)?.trim();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(())
        } else {
            Err(format!("{s:?} is not a sha256 digest of 64 hex digits"))
        }
    })
}

/// A Git repository URL Argo CD can pull from: `https://…`, `ssh://…`, or the scp form
/// `user@host:path`.
pub fn git_url() -> Arc<dyn Validator> {
    validator(
        "an https://, ssh:// or user@host:path repository URL",
        |value| {
            let s = text(value)?;
            let ssh = s
                .strip_prefix("ssh://")
                .is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
            let scp = !s.contains("://")
                && s.split_once('@').is_some_and(|(user, rest)| {
                    !user.is_empty()
                        && rest
                            .split_once(':')
                            .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty())
                });
            let userinfo = s
                .split_once("://")
                .and_then(|(_, rest)| rest.split('/').next())
                .and_then(|authority| authority.rsplit_once('@'))
                .map(|(user, _)| user);
            if userinfo.is_some_and(|u| u.contains(':')) {
                // Not echoed: the part before `@` is a password or token.
                Err(
                    "the URL carries a password or token before `@`; it would be stored and shown \
                    in plain text. Put the user name in `username` and the token in `password` \
                    (sensitive)."
                        .to_owned(),
                )
            } else if is_url(s, false) || ssh || scp {
                Ok(())
            } else if s.starts_with("http://") {
                Err("a plain http:// URL: Argo CD's repository credentials would cross the network \
                    in the clear. Use https:// (or ssh).".to_owned())
            } else {
                Err(format!(
                    "{s:?} is not an https://, ssh:// or user@host:path repository URL"
                ))
            }
        },
    )
}

/// An `https://` URL (the K3s API and supervisor speak only TLS).
pub fn https_url() -> Arc<dyn Validator> {
    let example = k3s::api_url("10.0.0.241");
    validator(format!("an https URL such as `{example}`"), |value| {
        let s = text(value)?;
        if is_url(s, false) {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not an https:// URL; K3s serves its API and the agents' join endpoint \
                    over TLS only ({})",
                k3s::api_url("<server>")
            ))
        }
    })
}

/// An SSH public key line (`ssh-ed25519 AAAA…`).
pub fn ssh_public_key() -> Arc<dyn Validator> {
    validator("an SSH public key such as `ssh-ed25519 AAAA…`", |value| {
        let s = text(value)?;
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
            Err(
                "not an SSH public key; paste the host's key as `ssh-ed25519 AAAA…` (from \
                ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub)"
                    .into(),
            )
        }
    })
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
        let message = v.validate(&Value::string("stable")).unwrap_err();
        assert!(message.contains("vX.Y.Z+k3sN"), "{message}");
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
        let v = duration();
        for good in ["1h30m", "500ms", "90s", "1.5h"] {
            assert!(check(&v, good), "{good}");
        }
        for bad in ["5", "5x", ""] {
            assert!(!check(&v, bad), "{bad}");
        }
    }

    #[test]
    fn ocids_name_their_kind_and_use_ocis_characters() {
        let v = ocid(&["instance"]);
        assert!(check(&v, "ocid1.instance.oc1.eu-frankfurt-1.abcdef"));
        assert!(!check(&v, "ocid1.compartment.oc1..abcdef"));
        assert!(!check(&v, "ocid1.instance.oc1.phx.ab cd"));
        assert!(!check(&v, "ocid1.instance.oc1.phx.ab/cd"));
        let message = v
            .validate(&Value::string("ocid1.compartment.oc1..abcdef"))
            .unwrap_err();
        assert!(message.contains("not an instance OCID"), "{message}");
        assert_eq!(v.description(), "an OCID of an instance");
    }

    #[test]
    fn sha256_digests_are_64_hex_digits() {
        let v = sha256();
        assert!(check(&v, &"0123456789abcdefABCDEF".repeat(3)[..64]));
        // As `file("k3s.sha256")` reads it, with its newline.
        assert!(check(&v, &format!("{}\n", "a".repeat(64))));
        for bad in [
            "",
            "abc",
            &"a".repeat(63),
            &"a".repeat(65),
            &"g".repeat(64),
            &format!("sha256:{}", "a".repeat(57)),
        ] {
            assert!(!check(&v, bad), "{bad}");
        }
    }

    #[test]
    fn each_element_of_a_list_is_checked_and_named_by_position() {
        let v = each(ocid(&["compartment", "tenancy"]));
        let list = |items: &[&str]| Value::List(items.iter().map(|s| Value::string(*s)).collect());
        assert!(v
            .validate(&list(&[
                "ocid1.compartment.oc1..aaaa",
                "ocid1.tenancy.oc1..bbbb"
            ]))
            .is_ok());
        assert!(v.validate(&list(&[])).is_ok());
        let message = v
            .validate(&list(&[
                "ocid1.compartment.oc1..aaaa",
                "ocid1.instance.oc1.phx.c",
            ]))
            .unwrap_err();
        assert!(message.starts_with("element 1: "), "{message}");
        assert!(!message.contains("element 0"), "{message}");
        // An element not yet known is checked once known.
        assert!(v.validate(&Value::List(vec![Value::unknown()])).is_ok());
        assert_eq!(
            v.description(),
            "a list, each element an OCID of a compartment or tenancy"
        );
    }
}
