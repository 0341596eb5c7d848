//! Compute and Virtual Network (the `iaas` service, API `20160918`): instances, their VNIC
//! attachments and VNICs, and [`Client::resolve_instance_addresses`], which turns an instance
//! OCID into the addresses to reach it at. Only the fields the provider needs are read;
//! unknown fields are ignored.

use super::client::Client;
use super::error::Error;
use super::region::Service;
use super::request::{encode_path_segment, ListShape, Request};
use http::Method;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Defined tags: namespace → key → value.
pub type DefinedTags = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// A compute instance (the fields the provider reads).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Instance {
    /// The instance OCID.
    pub id: String,
    /// The display name.
    #[serde(default)]
    pub display_name: String,
    /// The compartment OCID.
    pub compartment_id: String,
    /// The availability domain, e.g. `Uocm:PHX-AD-1`.
    #[serde(default)]
    pub availability_domain: String,
    /// The fault domain.
    #[serde(default)]
    pub fault_domain: Option<String>,
    /// The region, e.g. `phx` or `us-phoenix-1`.
    #[serde(default)]
    pub region: String,
    /// The shape, e.g. `VM.Standard.A1.Flex`.
    #[serde(default)]
    pub shape: String,
    /// `PROVISIONING`, `RUNNING`, `STOPPED`, `TERMINATED`, …
    pub lifecycle_state: String,
    /// Free-form tags.
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags.
    #[serde(default)]
    pub defined_tags: DefinedTags,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub time_created: Option<String>,
}

impl Instance {
    /// A defined tag's value.
    pub fn defined_tag(&self, namespace: &str, key: &str) -> Option<&serde_json::Value> {
        self.defined_tags
            .get(namespace)
            .and_then(|tags| tags.get(key))
    }
}

/// The attachment of a VNIC to an instance.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct VnicAttachment {
    /// The attachment OCID.
    pub id: String,
    /// The instance OCID.
    pub instance_id: String,
    /// The VNIC OCID (set once the attachment completes).
    #[serde(default)]
    pub vnic_id: Option<String>,
    /// `ATTACHING`, `ATTACHED`, `DETACHING`, `DETACHED`.
    pub lifecycle_state: String,
    /// The NIC index (0 for the primary VNIC's NIC).
    #[serde(default)]
    pub nic_index: Option<u32>,
    /// The subnet OCID.
    #[serde(default)]
    pub subnet_id: Option<String>,
}

/// A virtual network interface card.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Vnic {
    /// The VNIC OCID.
    pub id: String,
    /// The primary private IP address.
    #[serde(default)]
    pub private_ip: Option<String>,
    /// The public IP address, if one is assigned.
    #[serde(default)]
    pub public_ip: Option<String>,
    /// The host name label within the subnet.
    #[serde(default)]
    pub hostname_label: Option<String>,
    /// Whether this is the instance's primary VNIC.
    #[serde(default)]
    pub is_primary: Option<bool>,
    /// `PROVISIONING`, `AVAILABLE`, `TERMINATING`, `TERMINATED`.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// The subnet OCID.
    #[serde(default)]
    pub subnet_id: Option<String>,
}

/// Where an instance can be reached, from its primary VNIC.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceAddresses {
    /// The instance OCID.
    pub instance_id: String,
    /// The primary VNIC OCID.
    pub vnic_id: String,
    /// The primary VNIC's private IP.
    pub private_ip: String,
    /// The primary VNIC's public IP, if it has one.
    pub public_ip: Option<String>,
    /// The primary VNIC's host name label.
    pub hostname_label: Option<String>,
    /// Every attached VNIC, primary first.
    pub vnics: Vec<Vnic>,
}

/// Compute API calls. Get one with [`Client::compute`].
#[derive(Clone, Copy, Debug)]
pub struct Compute<'a> {
    client: &'a Client,
}

impl Compute<'_> {
    /// GetInstance.
    pub async fn get_instance(&self, instance_id: &str) -> Result<Instance, Error> {
        let path = format!("/instances/{}", encode_path_segment(instance_id));
        self.client
            .execute(Request::new(
                Method::GET,
                Service::Iaas,
                "GetInstance",
                path,
            ))
            .await?
            .json()
    }

    /// ListInstances in a compartment, all pages; optionally only those in `lifecycle_state`
    /// (`RUNNING`, …).
    pub async fn list_instances(
        &self,
        compartment_id: &str,
        lifecycle_state: Option<&str>,
    ) -> Result<Vec<Instance>, Error> {
        let request = Request::new(Method::GET, Service::Iaas, "ListInstances", "/instances")
            .query("compartmentId", compartment_id)
            .query_opt("lifecycleState", lifecycle_state);
        self.client.list_all(request, ListShape::Array).await
    }

    /// ListVnicAttachments of an instance, all pages.
    pub async fn list_vnic_attachments(
        &self,
        compartment_id: &str,
        instance_id: &str,
    ) -> Result<Vec<VnicAttachment>, Error> {
        let request = Request::new(
            Method::GET,
            Service::Iaas,
            "ListVnicAttachments",
            "/vnicAttachments",
        )
        .query("compartmentId", compartment_id)
        .query("instanceId", instance_id);
        self.client.list_all(request, ListShape::Array).await
    }
}

/// Virtual Network API calls. Get one with [`Client::virtual_network`].
#[derive(Clone, Copy, Debug)]
pub struct VirtualNetwork<'a> {
    client: &'a Client,
}

impl VirtualNetwork<'_> {
    /// GetVnic.
    pub async fn get_vnic(&self, vnic_id: &str) -> Result<Vnic, Error> {
        let path = format!("/vnics/{}", encode_path_segment(vnic_id));
        self.client
            .execute(Request::new(Method::GET, Service::Iaas, "GetVnic", path))
            .await?
            .json()
    }
}

impl Client {
    /// Compute calls.
    pub fn compute(&self) -> Compute<'_> {
        Compute { client: self }
    }

    /// Virtual Network calls.
    pub fn virtual_network(&self) -> VirtualNetwork<'_> {
        VirtualNetwork { client: self }
    }

    /// The addresses of an instance: GetInstance (for its compartment), then its `ATTACHED`
    /// VNIC attachments in NIC order, then each VNIC; the primary VNIC (else the first) gives
    /// the private and public IP.
    pub async fn resolve_instance_addresses(
        &self,
        instance_id: &str,
    ) -> Result<InstanceAddresses, Error> {
        let instance = self.compute().get_instance(instance_id).await?;
        let mut attachments: Vec<VnicAttachment> = self
            .compute()
            .list_vnic_attachments(&instance.compartment_id, instance_id)
            .await?
            .into_iter()
            .filter(|a| a.lifecycle_state == "ATTACHED" && a.vnic_id.is_some())
            .collect();
        attachments.sort_by_key(|a| a.nic_index.unwrap_or(u32::MAX));
        if attachments.is_empty() {
            return Err(Error::NotFound(format!(
                "instance {instance_id} ({}) has no ATTACHED VNIC, so it has no address (its \
                 state is {}); wait until it is RUNNING",
                instance.display_name, instance.lifecycle_state
            )));
        }
        let mut vnics = Vec::with_capacity(attachments.len());
        for attachment in &attachments {
            let vnic_id = attachment.vnic_id.as_deref().expect("filtered above");
            vnics.push(self.virtual_network().get_vnic(vnic_id).await?);
        }
        if let Some(primary) = vnics.iter().position(|v| v.is_primary == Some(true)) {
            let vnic = vnics.remove(primary);
            vnics.insert(0, vnic);
        }
        let primary = &vnics[0];
        let private_ip = primary.private_ip.clone().ok_or_else(|| {
            Error::NotFound(format!(
                "the primary VNIC {} of instance {instance_id} has no private IP yet",
                primary.id
            ))
        })?;
        Ok(InstanceAddresses {
            instance_id: instance_id.to_owned(),
            vnic_id: primary.id.clone(),
            private_ip,
            public_ip: primary.public_ip.clone(),
            hostname_label: primary.hostname_label.clone(),
            vnics,
        })
    }
}
