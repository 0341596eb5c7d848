//! Where a host is: an address given as `host`, or the address of an OCI instance
//! (`oci_instance_id`) looked up through one of the provider's OCI profiles. A terminated or
//! unknown instance is [`Whereabouts::Gone`], which reads treat as "the host is gone".

use crate::oci_profiles::OciProfiles;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::Diagnostics;

/// Which address of an OCI instance to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OciAddress {
    /// Its primary VNIC's private IP.
    Private,
    /// Its primary VNIC's public IP.
    Public,
}

impl OciAddress {
    /// The values the attribute takes.
    pub const NAMES: [&'static str; 2] = ["private", "public"];
}

/// A host, as a resource names it.
#[derive(Debug, Clone, Copy)]
pub struct HostSpec<'a> {
    /// An address reachable over SSH.
    pub host: Option<&'a str>,
    /// Or an OCI instance.
    pub oci_instance_id: Option<&'a str>,
    /// The OCI profile to look the instance up with (the first when `None`).
    pub oci_profile: Option<&'a str>,
    /// Which of its addresses.
    pub oci_address: OciAddress,
}

/// Where a host is: the address to connect to, and its private IP when known (an OCI
/// instance's, or `host` when it is an IP address), for load balancer backends.
#[derive(Debug, Clone)]
pub struct Location {
    /// The address SSH connects to.
    pub address: String,
    /// The host's private IP address, if known.
    pub private_ip: Option<String>,
}

/// Whether a host still exists.
#[derive(Debug, Clone)]
pub enum Whereabouts {
    /// It is there.
    At(Location),
    /// Its OCI instance is terminated or not found (why, for the warning).
    Gone(String),
}

/// Finds the host: `host` as given, or the address of `oci_instance_id`.
pub async fn locate(spec: HostSpec<'_>, oci: &OciProfiles) -> Result<Whereabouts, Diagnostics> {
    match (spec.host, spec.oci_instance_id) {
        (Some(host), _) => Ok(Whereabouts::At(Location {
            address: host.to_owned(),
            private_ip: host
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| ip.to_string()),
        })),
        (None, Some(instance)) => {
            locate_instance(oci, instance, spec.oci_profile, spec.oci_address).await
        }
        (None, None) => Err(Diagnostics::from_error(
            "Missing host",
            "Set `host` or `oci_instance_id`.",
        )),
    }
}

/// Looks up an OCI instance's address through profile `profile` (the first when `None`).
pub async fn locate_instance(
    oci: &OciProfiles,
    instance_id: &str,
    profile: Option<&str>,
    address: OciAddress,
) -> Result<Whereabouts, Diagnostics> {
    let (name, client) = oci.client(profile)?;
    let instance = match client.compute().get_instance(instance_id).await {
        Ok(instance) => instance,
        Err(e) if e.status() == Some(404) => {
            return Ok(Whereabouts::Gone(format!(
                "OCI instance {instance_id} is not found through OCI profile {name:?}. {e}"
            )))
        }
        Err(e) => {
            return Err(Diagnostics::from_error(
                format!("Cannot look up OCI instance {instance_id} (OCI profile {name:?})"),
                e.to_string(),
            ))
        }
    };
    if matches!(
        instance.lifecycle_state.as_str(),
        "TERMINATED" | "TERMINATING"
    ) {
        return Ok(Whereabouts::Gone(format!(
            "OCI instance {instance_id} ({}) is {}.",
            instance.display_name, instance.lifecycle_state
        )));
    }
    let addresses = client
        .resolve_instance_addresses(instance_id)
        .await
        .map_err(|e| {
            Diagnostics::from_error(
                format!("Cannot find the address of OCI instance {instance_id}"),
                e.to_string(),
            )
        })?;
    let connect_to = match address {
        OciAddress::Public => addresses.public_ip.clone().ok_or_else(|| {
            Diagnostics::from_error(
                format!("OCI instance {instance_id} has no public IP"),
                format!(
                    "{} ({}) has only the private IP {}; set `oci_address = \"private\"` (through \
                        a bastion or a peered network) or assign it a public IP.",
                    instance_id, instance.display_name, addresses.private_ip
                ),
            )
        })?,
        OciAddress::Private => addresses.private_ip.clone(),
    };
    tracing::debug!(instance = instance_id, profile = %name, address = %connect_to, "resolved OCI \
        instance");
    Ok(Whereabouts::At(Location {
        address: connect_to,
        private_ip: Some(addresses.private_ip),
    }))
}
