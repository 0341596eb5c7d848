//! Data source `k3s_oci_instances`: OCI compute instances in one or more compartments,
//! filtered by tags and lifecycle state, across the provider's OCI profiles (tenancies), each
//! with the profile that found it and its private and public IP.
//!
//! Every compartment is listed through every selected profile; a profile that cannot see a
//! compartment (OCI answers 404 `NotAuthorizedOrNotFound`, as for another tenancy's
//! compartment) is skipped, and a compartment no profile can see is an error.

use crate::provider::ProviderConfig;
use crate::validators;
use async_trait::async_trait;
use k3s_sdk::oci::Instance;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::schema::{one_of, ModelSchema};
use tfplugin_runtime::{
    field_name, Context, DataSource, Diagnostics, Form, Known, MaybeUnknown, Models, Planned,
};

/// The `k3s_oci_instances` data source type.
pub struct K3sOciInstances;

/// The lifecycle states an instance can be listed by.
const LIFECYCLE_STATES: &[&str] = &[
    "RUNNING",
    "STOPPED",
    "PROVISIONING",
    "STARTING",
    "STOPPING",
    "TERMINATING",
    "TERMINATED",
];

/// OCI compute instances by compartment and tags, across tenancies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
pub struct OciInstancesModel<F: Form = Known> {
    /// Compartment (or tenancy) to list. Set this or `compartment_ids`.
    #[tf(validate = validators::ocid(&["compartment", "tenancy"]))]
    pub compartment_id: F::Of<Option<String>>,
    /// Compartments to list, e.g. one per tenancy. Set this or `compartment_id`.
    #[tf(validate = validators::each(validators::ocid(&["compartment", "tenancy"])))]
    pub compartment_ids: F::Of<Option<Vec<String>>>,
    /// Provider `oci_profile` names to search. Defaults to all of them.
    pub profiles: F::Of<Option<Vec<String>>>,
    /// Only instances carrying all these free-form tags.
    pub freeform_tags: F::Of<Option<BTreeMap<String, String>>>,
    /// Only instances carrying all these defined tags, keyed `namespace.key`.
    pub defined_tags: F::Of<Option<BTreeMap<String, String>>>,
    /// Only instances in this state.
    #[tf(default = "RUNNING", validate = one_of(LIFECYCLE_STATES))]
    pub lifecycle_state: F::Of<String>,
    /// The instances found, in profile and compartment order, with their addresses (null when an
    /// instance has none, e.g. a terminated one).
    #[tf(computed)]
    pub instances: F::Of<Option<Vec<FoundInstance>>>,
}

/// One instance found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundInstance {
    /// Its OCID.
    pub id: String,
    /// Its display name.
    pub display_name: String,
    /// The provider profile that found it.
    pub profile: String,
    /// Its compartment.
    pub compartment_id: String,
    /// Its lifecycle state.
    pub lifecycle_state: String,
    /// Its private IP, if it has one.
    pub private_ip: Option<String>,
    /// Its public IP, if it has one.
    pub public_ip: Option<String>,
    /// Its free-form tags.
    pub freeform_tags: BTreeMap<String, String>,
}

impl Models for K3sOciInstances {
    type Model<F: Form> = OciInstancesModel<F>;
}

#[async_trait]
impl DataSource for K3sOciInstances {
    fn type_name(&self) -> &'static str {
        "k3s_oci_instances"
    }

    async fn validate(&self, config: &OciInstancesModel<Planned>, diagnostics: &mut Diagnostics) {
        match (&config.compartment_id, &config.compartment_ids) {
            (MaybeUnknown::Known(None), MaybeUnknown::Known(None)) => diagnostics.error_at(
                AttributePath::attribute(field_name!(OciInstancesModel, compartment_id)),
                "Missing compartment",
                "Set `compartment_id` or `compartment_ids`.",
            ),
            (MaybeUnknown::Known(Some(_)), MaybeUnknown::Known(Some(_))) => diagnostics.error_at(
                AttributePath::attribute(field_name!(OciInstancesModel, compartment_ids)),
                "Conflicting compartments",
                "Set either `compartment_id` or `compartment_ids`, not both.",
            ),
            _ => {}
        }
        if let Some(Some(tags)) = config.defined_tags.known() {
            for key in tags.keys() {
                if !key
                    .split_once('.')
                    .is_some_and(|(ns, k)| !ns.is_empty() && !k.is_empty())
                {
                    diagnostics.error_at(
                        AttributePath::attribute(field_name!(OciInstancesModel, defined_tags))
                            .key(key),
                        "Invalid defined tag key",
                        format!("{key:?} is not `namespace.key`, e.g. `Operations.CostCenter`."),
                    );
                }
            }
        }
    }

    async fn read(
        &self,
        ctx: &Context,
        mut config: OciInstancesModel,
    ) -> Result<OciInstancesModel, Diagnostics> {
        let provider = ctx.provider::<ProviderConfig>()?;
        let compartments = config
            .compartment_ids
            .clone()
            .or_else(|| config.compartment_id.clone().map(|c| vec![c]))
            .unwrap_or_default();
        let profiles = config
            .profiles
            .clone()
            .unwrap_or_else(|| provider.oci.names());
        if profiles.is_empty() {
            return Err(Diagnostics::from_error(
                "No OCI profile configured",
                "k3s_oci_instances needs an `oci_profile` block in the provider configuration.",
            ));
        }
        let filter = Filter::of(&config);
        let mut seen_by = vec![0usize; compartments.len()];
        let mut found = Vec::new();
        for profile in &profiles {
            let (name, client) = provider.oci.client(Some(profile))?;
            for (index, compartment) in compartments.iter().enumerate() {
                let listed = match client
                    .compute()
                    .list_instances(compartment, Some(&config.lifecycle_state))
                    .await
                {
                    Ok(listed) => listed,
                    Err(e) if e.status() == Some(404) => {
                        tracing::debug!(profile = %name, compartment = %compartment, "compartment \
                            not visible to this profile");
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
                            tracing::debug!(instance = %instance.id, error = %e, "instance has no \
                                address");
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
                    found.push(FoundInstance {
                        id: instance.id.clone(),
                        display_name: instance.display_name.clone(),
                        profile: name.clone(),
                        compartment_id: instance.compartment_id.clone(),
                        lifecycle_state: instance.lifecycle_state.clone(),
                        private_ip,
                        public_ip,
                        freeform_tags: instance.freeform_tags.clone(),
                    });
                }
            }
        }
        if let Some(index) = seen_by.iter().position(|n| *n == 0) {
            return Err(Diagnostics::from_error(
                format!(
                    "No OCI profile can list compartment {}",
                    compartments[index]
                ),
                format!(
                    "Every profile searched ({}) was answered 404 NotAuthorizedOrNotFound: check \
                        the compartment OCID, which tenancy it is in, and that one of the profiles \
                        belongs to that tenancy with a policy allowing it to read instances.",
                    profiles.join(", ")
                ),
            ));
        }
        config.instances = Some(found);
        Ok(config)
    }
}

/// The tag filters.
struct Filter {
    freeform: BTreeMap<String, String>,
    /// (namespace, key) -> value.
    defined: Vec<(String, String, String)>,
}

impl Filter {
    fn of(config: &OciInstancesModel) -> Filter {
        Filter {
            freeform: config.freeform_tags.clone().unwrap_or_default(),
            defined: config
                .defined_tags
                .clone()
                .unwrap_or_default()
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
