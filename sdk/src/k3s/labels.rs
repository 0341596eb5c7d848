//! Node labels and taints as Kubernetes and the kubelet accept them, checked before a node is
//! touched: a label or taint the kubelet refuses makes K3s exit at start, which otherwise shows
//! only as a service that never becomes active.
//!
//! ```
//! use k3s_sdk::k3s::{check_node_label, check_node_taint};
//!
//! assert!(check_node_label("topology.kubernetes.io/zone", "eu-frankfurt-1a").is_ok());
//! assert!(check_node_label("role", "worker").is_ok());
//! // The kubelet refuses to set node roles itself (the API, after registration, may).
//! assert!(check_node_label("node-role.kubernetes.io/worker", "true").is_err());
//! assert!(check_node_taint("dedicated=infra:NoSchedule").is_ok());
//! assert!(check_node_taint("dedicated=infra:Sometimes").is_err());
//! ```

/// Labels the kubelet may set in the `kubernetes.io` and `k8s.io` namespaces.
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
];

/// Namespaces (and their subdomains) whose labels the kubelet may set.
const KUBELET_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// The taint effects Kubernetes knows.
pub const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Checks a qualified name (`[prefix/]name`), the form of label and taint keys.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if !is_dns_subdomain(prefix) {
            return Err(format!(
                "{key:?}: the prefix {prefix:?} must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)"
            ));
        }
    }
    if !is_name(name) {
        return Err(format!(
            "{key:?}: the name must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or 1 to 63 characters of the name form.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "the value {value:?} must be empty or 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// Checks a node label a node registers with: Kubernetes syntax, and not in the
/// `kubernetes.io`/`k8s.io` namespaces the kubelet keeps for itself (a
/// `node-role.kubernetes.io/…` label, say, which it refuses at start).
pub fn check_node_label(key: &str, value: &str) -> Result<(), String> {
    check_qualified_name(key)?;
    check_label_value(value)?;
    if let Some((prefix, _)) = key.split_once('/') {
        let reserved = ["kubernetes.io", "k8s.io"]
            .iter()
            .any(|ns| prefix == *ns || prefix.ends_with(&format!(".{ns}")));
        let allowed = KUBELET_LABELS.contains(&key)
            || KUBELET_NAMESPACES
                .iter()
                .any(|ns| prefix == *ns || prefix.ends_with(&format!(".{ns}")));
        if reserved && !allowed {
            return Err(format!(
                "{key:?} is in the {prefix} namespace, which the kubelet refuses to register a node with (K3s would not start); set such labels through the API after the node joins, or use a prefix of your own"
            ));
        }
    }
    Ok(())
}

/// Checks a taint `key[=value]:Effect`.
pub fn check_node_taint(taint: &str) -> Result<(), String> {
    let Some((key_value, effect)) = taint.rsplit_once(':') else {
        return Err(format!(
            "{taint:?} is not key=value:Effect (the effect is missing)"
        ));
    };
    if !TAINT_EFFECTS.contains(&effect) {
        return Err(format!(
            "{taint:?}: the effect {effect:?} is not one of {}",
            TAINT_EFFECTS.join(", ")
        ));
    }
    let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
    check_qualified_name(key).map_err(|e| format!("{taint:?}: the key {e}"))?;
    check_label_value(value).map_err(|e| format!("{taint:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_kubernetes_syntax_and_the_kubelets_reserved_namespaces() {
        for (key, value) in [
            ("role", "worker"),
            ("example.com/tier", ""),
            ("kubernetes.io/arch", "amd64"),
            ("node.kubernetes.io/instance-type", "VM.Standard.E4"),
            ("sub.kubelet.kubernetes.io/x", "y"),
            ("a_b.c-d", "A.b_c-9"),
        ] {
            assert!(check_node_label(key, value).is_ok(), "{key}={value}");
        }
        for (key, value) in [
            ("node-role.kubernetes.io/worker", "true"),
            ("kubernetes.io/custom", "x"),
            ("k8s.io/x", "y"),
            ("sub.k8s.io/x", "y"),
            ("", "x"),
            ("-role", "x"),
            ("Example.com/x", "y"),
            ("a/b/c", "d"),
            ("role", "has space"),
            ("role", &"x".repeat(64)),
            (&"x".repeat(64), "y"),
        ] {
            assert!(check_node_label(key, value).is_err(), "{key}={value}");
        }
    }

    #[test]
    fn taints_are_key_value_effect() {
        for good in [
            "dedicated=infra:NoSchedule",
            "gpu:NoExecute",
            "a/b=c:PreferNoSchedule",
        ] {
            assert!(check_node_taint(good).is_ok(), "{good}");
        }
        for bad in [
            "dedicated=infra",
            "dedicated=infra:Never",
            "=x:NoSchedule",
            "a b:NoSchedule",
        ] {
            assert!(check_node_taint(bad).is_err(), "{bad}");
        }
    }
}
