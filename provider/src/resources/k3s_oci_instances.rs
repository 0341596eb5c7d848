//! Data source `k3s_oci_instances`: OCI compute instances in one or more compartments,
//! filtered by tags and lifecycle state, across the provider's OCI profiles (tenancies), each
//! with the profile that found it and its private and public IP.
//!
//! Every compartment is listed through every selected profile; a profile that cannot see a
//! compartment (OCI answers 404 `NotAuthorizedOrNotFound`, as for another tenancy's
//! compartment) is skipped, and a compartment no profile can see is an error.

use super::shared;
use super::ProviderConfig;
use crate::runtime::cty::{AttributePath, Type, Value};
use crate::runtime::schema::{one_of, Attribute, Block, Schema};
use crate::runtime::{Context, DataSource, Diagnostics};
use async_trait::async_trait;
use k3s_sdk::oci::Instance;
use std::collections::BTreeMap;

/// The `k3s_oci_instances` data source type.
pub struct K3sOciInstances;

#[async_trait]
impl DataSource for K3sOciInstances {
    fn type_name(&self) -> &'static str {
        "k3s_oci_instances"
    }

    fn schema(&self) -> Schema {
        let block = Block::new("OCI compute instances by compartment and tags, across tenancies.")
            .attribute(
                Attribute::optional("compartment_id", Type::String)
                    .validate(shared::ocid(&["compartment", "tenancy"]))
                    .describe("Compartment (or tenancy) to list. Set this or `compartment_ids`."),
            )
            .attribute(
                Attribute::optional("compartment_ids", Type::list(Type::String))
                    .describe("Compartments to list, e.g. one per tenancy. Set this or `compartment_id`."),
            )
            .attribute(
                Attribute::optional("profiles", Type::list(Type::String))
                    .describe("Provider `oci_profile` names to search. Defaults to all of them."),
            )
            .attribute(
                Attribute::optional("freeform_tags", Type::map(Type::String))
                    .describe("Only instances carrying all these free-form tags."),
            )
            .attribute(
                Attribute::optional("defined_tags", Type::map(Type::String)).describe(
                    "Only instances carrying all these defined tags, keyed `namespace.key`.",
                ),
            )
            .attribute(
                Attribute::optional("lifecycle_state", Type::String)
                    .validate(one_of(&[
                        "RUNNING",
                        "STOPPED",
                        "PROVISIONING",
                        "STARTING",
                        "STOPPING",
                        "TERMINATING",
                        "TERMINATED",
                    ]))
                    .describe("Only instances in this state. Defaults to `RUNNING`."),
            )
            .attribute(
                Attribute::computed("instances", Type::list(instance_type()))
                    .describe("The instances found, in profile and compartment order, with their addresses (null when an instance has none, e.g. a terminated one)."),
            );
        Schema::new(block)
    }

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        let one = config.attr("compartment_id").unwrap_or(&Value::Null);
        let many = config.attr("compartment_ids").unwrap_or(&Value::Null);
        if one.is_unknown() || many.is_unknown() {
            return;
        }
        match (one.is_null(), many.is_null()) {
            (true, true) => diagnostics.error_at(
                AttributePath::attribute("compartment_id"),
                "Missing compartment",
                "Set `compartment_id` or `compartment_ids`.",
            ),
            (false, false) => diagnostics.error_at(
                AttributePath::attribute("compartment_ids"),
                "Conflicting compartments",
                "Set either `compartment_id` or `compartment_ids`, not both.",
            ),
            _ => {}
        }
        if let Some(Value::Map(tags)) = config.attr("defined_tags") {
            for key in tags.keys() {
                if !key
                    .split_once('.')
                    .is_some_and(|(ns, k)| !ns.is_empty() && !k.is_empty())
                {
                    diagnostics.error_at(
                        AttributePath::attribute("defined_tags").key(key),
                        "Invalid defined tag key",
                        format!("{key:?} is not `namespace.key`, e.g. `Operations.CostCenter`."),
                    );
                }
            }
        }
    }

    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics> {
        let provider = ctx.provider::<ProviderConfig>()?;
        let compartments = strings(config.attr("compartment_ids"))
            .or_else(|| text(config, "compartment_id").map(|c| vec![c]))
            .unwrap_or_default();
        let profiles = strings(config.attr("profiles")).unwrap_or_else(|| provider.oci.names());
        if profiles.is_empty() {
            return Err(Diagnostics::from_error(
                "No OCI profile configured",
                "k3s_oci_instances needs an `oci_profile` block in the provider configuration.",
            ));
        }
        let state = text(config, "lifecycle_state").unwrap_or_else(|| "RUNNING".into());
        let filter = Filter::of(config);
        let mut seen_by = vec![0usize; compartments.len()];
        let mut found = Vec::new();
        for profile in &profiles {
            let (name, client) = provider.oci.client(Some(profile))?;
            for (index, compartment) in compartments.iter().enumerate() {
                let listed = match client
                    .compute()
                    .list_instances(compartment, Some(&state))
                    .await
                {
                    Ok(listed) => listed,
                    Err(e) if e.status() == Some(404) => {
                        tracing::debug!(profile = %name, compartment = %compartment, "compartment not visible to this profile");
                        continue;
                    }
                    Err(e) => {
                        return Err(Diagnostics::from_error(
                            format!(
                            "Listing OCI instances in {compartment} failed (OCI profile {name:?})"
                        ),
                            e.to_string(),
                        ))
                    }
                };
                seen_by[index] += 1;
                for instance in listed.into_iter().filter(|i| filter.matches(i)) {
                    let (private_ip, public_ip) = match client
                        .resolve_instance_addresses(&instance.id)
                        .await
                    {
                        Ok(a) => (Some(a.private_ip), a.public_ip),
                        Err(e @ k3s_sdk::oci::Error::NotFound(_)) => {
                            tracing::debug!(instance = %instance.id, error = %e, "instance has no address");
                            (None, None)
                        }
                        Err(e) => {
                            return Err(Diagnostics::from_error(
                                format!(
                                    "Cannot find the addresses of OCI instance {}",
                                    instance.id
                                ),
                                e.to_string(),
                            ))
                        }
                    };
                    found.push(instance_value(&name, &instance, private_ip, public_ip));
                }
            }
        }
        if let Some(index) = seen_by.iter().position(|n| *n == 0) {
            return Err(Diagnostics::from_error(
                format!("No OCI profile can list compartment {}", compartments[index]),
                format!(
                    "Every profile searched ({}) was answered 404 NotAuthorizedOrNotFound: check the compartment OCID, which tenancy it is in, and that one of the profiles belongs to that tenancy with a policy allowing it to read instances.",
                    profiles.join(", ")
                ),
            ));
        }
        let mut result = config.clone();
        if let Value::Object(attributes) = &mut result {
            attributes.insert("instances".into(), Value::List(found));
        }
        Ok(result)
    }
}

fn instance_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("display_name", Type::String),
        ("profile", Type::String),
        ("compartment_id", Type::String),
        ("lifecycle_state", Type::String),
        ("private_ip", Type::String),
        ("public_ip", Type::String),
        ("freeform_tags", Type::map(Type::String)),
    ])
}

fn text(v: &Value, name: &str) -> Option<String> {
    v.attr(name).and_then(Value::as_str).map(str::to_owned)
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        Some(Value::List(items)) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    match v {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The tag filters.
struct Filter {
    freeform: BTreeMap<String, String>,
    /// (namespace, key) -> value.
    defined: Vec<(String, String, String)>,
}

impl Filter {
    fn of(config: &Value) -> Filter {
        Filter {
            freeform: string_map(config.attr("freeform_tags")),
            defined: string_map(config.attr("defined_tags"))
                .into_iter()
                .filter_map(|(k, v)| {
                    let (namespace, key) = k.split_once('.')?;
                    Some((namespace.to_owned(), key.to_owned(), v))
                })
                .collect(),
        }
    }

    fn matches(&self, instance: &Instance) -> bool {
        self.freeform
            .iter()
            .all(|(k, v)| instance.freeform_tags.get(k) == Some(v))
            && self.defined.iter().all(|(namespace, key, wanted)| {
                match instance.defined_tag(namespace, key) {
                    Some(serde_json::Value::String(s)) => s == wanted,
                    Some(serde_json::Value::Bool(b)) => wanted.parse() == Ok(*b),
                    Some(serde_json::Value::Number(n)) => wanted.parse().ok() == n.as_f64(),
                    Some(_) => false,
                    None => false,
                }
            })
    }
}

fn instance_value(
    profile: &str,
    instance: &Instance,
    private_ip: Option<String>,
    public_ip: Option<String>,
) -> Value {
    let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    Value::object([
        ("id", Value::string(&instance.id)),
        ("display_name", Value::string(&instance.display_name)),
        ("profile", Value::string(profile)),
        ("compartment_id", Value::string(&instance.compartment_id)),
        ("lifecycle_state", Value::string(&instance.lifecycle_state)),
        ("private_ip", opt(private_ip)),
        ("public_ip", opt(public_ip)),
        (
            "freeform_tags",
            Value::Map(
                instance
                    .freeform_tags
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::string(v)))
                    .collect(),
            ),
        ),
    ])
}
