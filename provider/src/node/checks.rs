//! What every node's configuration must get right, checked at validate so that a mistake shows
//! in `terraform validate` and `plan`, at its attribute, instead of failing (or crash-looping
//! K3s) at apply: exactly one of `host` and `oci_instance_id`; SSH credentials that do not
//! contradict each other; node labels and taints the kubelet accepts; `config` without the
//! settings that have arguments of their own (the token above all, which would show in plan
//! output); registry mirrors that are http(s) URLs; `airgap_binary` and its
//! `airgap_binary_sha256` together or not at all.

use super::{NodeModel, RegistryMirror};
use crate::ssh_target::{self, SshBlock};
use crate::validators;
use k3s_sdk::k3s::{check_node_label, check_node_taint, reserved_setting, ReservedBy};
use tfplugin_runtime::cty::{AttributePath, Value};
use tfplugin_runtime::{field_name, Diagnostics, MaybeUnknown, Planned};

/// Checks `node`'s configuration (values still unknown are checked once known).
pub fn validate(node: &NodeModel<Planned>, diagnostics: &mut Diagnostics) {
    let at = |name: &str| AttributePath::attribute(name);
    match (&node.host, &node.oci_instance_id) {
        (MaybeUnknown::Known(None), MaybeUnknown::Known(None)) => diagnostics.error_at(
            at(field_name!(NodeModel, host)),
            "Missing host",
            "Set `host` (an address reachable over SSH) or `oci_instance_id` (an OCI instance \
                whose address the provider looks up).",
        ),
        (MaybeUnknown::Known(Some(_)), MaybeUnknown::Known(Some(_))) => diagnostics.error_at(
            at(field_name!(NodeModel, oci_instance_id)),
            "Conflicting host",
            "Set either `host` or `oci_instance_id`, not both.",
        ),
        _ => {}
    }
    // Known parts of a partly unknown block are checked too: unknown values read as unset,
    // which can hide a mistake but never invent one.
    let ssh = match &node.ssh {
        MaybeUnknown::Known(ssh) => ssh.clone(),
        MaybeUnknown::Unknown(partly) => partly.known_parts::<Option<SshBlock>>().flatten(),
    };
    if let Some(ssh) = ssh {
        ssh_target::validate_block(&ssh, &at(field_name!(NodeModel, ssh)), diagnostics);
    }
    if let Some(Some(labels)) = node.node_labels.known() {
        for (key, value) in labels {
            if let Err(problem) = check_node_label(key, value) {
                diagnostics.error_at(
                    at(field_name!(NodeModel, node_labels)).key(key),
                    "Invalid node label",
                    problem,
                );
            }
        }
    }
    if let Some(Some(taints)) = node.node_taints.known() {
        for (index, taint) in taints.iter().enumerate() {
            if let Err(problem) = check_node_taint(taint) {
                diagnostics.error_at(
                    at(field_name!(NodeModel, node_taints)).index(index as i64),
                    "Invalid node taint",
                    problem,
                );
            }
        }
    }
    check_settings(&node.config, diagnostics);
    if let Some(mirrors) = node.registry_mirror.known() {
        check_mirrors(mirrors, diagnostics);
    }
    check_airgap(node, diagnostics);
}

/// An air-gap binary is uploaded only with its digest, and a digest means nothing without the
/// binary: one of the two alone is refused at the one that is set (an unknown one is checked once
/// known).
fn check_airgap(node: &NodeModel<Planned>, diagnostics: &mut Diagnostics) {
    let binary = field_name!(NodeModel, airgap_binary);
    let sha256 = field_name!(NodeModel, airgap_binary_sha256);
    let (set, missing) = match (&node.airgap_binary, &node.airgap_binary_sha256) {
        (MaybeUnknown::Known(Some(_)), MaybeUnknown::Known(None)) => (binary, sha256),
        (MaybeUnknown::Known(None), MaybeUnknown::Known(Some(_))) => (sha256, binary),
        _ => return,
    };
    diagnostics.error_at(
        AttributePath::attribute(set),
        "Incomplete air-gap settings",
        format!(
            "`{set}` is set without `{missing}`: set both (`{sha256}` is the binary's \
            `sha256sum`, checked before the upload), or neither to download K3s."
        ),
    );
}

/// `config` must be an object, without the keys other arguments own.
fn check_settings(config: &MaybeUnknown<Value>, diagnostics: &mut Diagnostics) {
    let at = AttributePath::attribute(field_name!(NodeModel, config));
    let value = match config {
        MaybeUnknown::Known(value) => value.clone(),
        MaybeUnknown::Unknown(partly) => partly.value().clone(),
    };
    let mut bare = &value;
    while let Value::Dynamic(_, inner) = bare {
        bare = inner;
    }
    match bare {
        Value::Null | Value::Unknown(_) => {}
        Value::Object(settings) | Value::Map(settings) => {
            for key in settings.keys() {
                if let Some(owner) = reserved_setting(key) {
                    // At `config` itself: Terraform points into a dynamic value's object in
                    // some versions and at the resource in others.
                    diagnostics.error_at(
                        at.clone(),
                        format!("`{key}` does not belong in config"),
                        match owner {
                            ReservedBy::Token => format!(
                                "Set the join token with the `token` \
                                argument: it is sensitive there, while a value in `config` shows \
                                in plan output in plain text. (`{key}` in config.yaml is written \
                                by the provider.)"
                            ),
                            _ => format!(
                                "It is set through `{}`; the provider writes `{key}` into \
                                config.yaml from there.",
                                argument_of(owner)
                            ),
                        },
                    );
                }
            }
        }
        _ => diagnostics.error_at(
            at,
            "Invalid config",
            "`config` must be an object of K3s settings, e.g. { disable = [\"traefik\"] }.",
        ),
    }
}

/// The argument that sets what a reserved `config.yaml` key would.
fn argument_of(owner: ReservedBy) -> &'static str {
    match owner {
        ReservedBy::Token => "token",
        ReservedBy::ServerUrl => "server_url",
        ReservedBy::ClusterInit => "cluster_init",
        ReservedBy::NodeLabels => field_name!(NodeModel, node_labels),
        ReservedBy::NodeTaints => field_name!(NodeModel, node_taints),
    }
}

fn check_mirrors(mirrors: &[RegistryMirror], diagnostics: &mut Diagnostics) {
    for (index, mirror) in mirrors.iter().enumerate() {
        for (e, endpoint) in mirror.endpoints.iter().enumerate() {
            if !validators::is_url(endpoint, true) {
                diagnostics.error_at(
                    AttributePath::attribute(field_name!(NodeModel, registry_mirror))
                        .index(index as i64)
                        .attr(field_name!(RegistryMirror, endpoints))
                        .index(e as i64),
                    "Invalid registry mirror endpoint",
                    format!(
                        "{endpoint:?} is not an http:// or https:// URL, e.g. \
                        https://zot.internal:5000."
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin_runtime::model;
    use tfplugin_runtime::schema::ModelSchema;

    /// A node's configuration with `host` and the given attributes set.
    fn node(set: &[(&str, Value)]) -> NodeModel<Planned> {
        let mut value = NodeModel::<tfplugin_runtime::Known>::block().unset_value();
        if let Value::Object(attributes) = &mut value {
            attributes.insert("host".into(), Value::string("10.0.0.5"));
            attributes.insert("version".into(), Value::string("v1.33.4+k3s1"));
            for (name, v) in set {
                attributes.insert((*name).into(), v.clone());
            }
        }
        model::from_blank(&value).unwrap()
    }

    fn errors(node: &NodeModel<Planned>) -> Vec<(String, Option<AttributePath>)> {
        let mut diagnostics = Diagnostics::new();
        validate(node, &mut diagnostics);
        diagnostics
            .0
            .into_iter()
            .map(|d| (d.summary, d.path))
            .collect()
    }

    #[test]
    fn keys_other_arguments_own_are_refused_in_config_naming_the_argument() {
        let refused = |key: &str| {
            let config = Value::object([(key, Value::string("x"))]);
            let mut diagnostics = Diagnostics::new();
            validate(&node(&[("config", config)]), &mut diagnostics);
            diagnostics
                .0
                .into_iter()
                .map(|d| (d.summary, d.detail))
                .collect::<Vec<_>>()
        };
        for (key, argument) in [
            ("server", "`server_url`"),
            ("cluster-init", "`cluster_init`"),
            ("node-label+", "`node_labels`"),
            ("node-taint", "`node_taints`"),
        ] {
            let found = refused(key);
            assert_eq!(found.len(), 1, "{key}: {found:?}");
            assert_eq!(found[0].0, format!("`{key}` does not belong in config"));
            assert!(found[0].1.contains(argument), "{key}: {found:?}");
        }
        let token = refused("token-file");
        assert!(token[0].1.contains("sensitive"), "{token:?}");
        assert!(refused("tls-san").is_empty());
    }

    #[test]
    fn air_gap_settings_in_halves_are_refused_at_the_one_that_is_set() {
        let binary = ("airgap_binary", Value::string("/srv/k3s"));
        let digest = ("airgap_binary_sha256", Value::string("ab".repeat(32)));
        let at = |name: &str| Some(AttributePath::attribute(name));
        let summary = "Incomplete air-gap settings".to_owned();
        assert_eq!(
            errors(&node(std::slice::from_ref(&binary))),
            [(summary.clone(), at("airgap_binary"))]
        );
        assert_eq!(
            errors(&node(std::slice::from_ref(&digest))),
            [(summary, at("airgap_binary_sha256"))]
        );
        assert_eq!(errors(&node(&[binary.clone(), digest])), []);
        assert_eq!(errors(&node(&[])), []);
        // The digest computed in the same apply: checked once known.
        assert_eq!(
            errors(&node(&[binary, ("airgap_binary_sha256", Value::unknown())])),
            []
        );
    }
}
