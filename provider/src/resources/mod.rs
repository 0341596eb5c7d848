//! The k3s provider: its configuration block and the list of resources and data sources it
//! serves. Each resource is one file; adding one means adding its file and one line below.

mod argocd_bootstrap;
mod k3s_agent;
mod k3s_oci_instances;
mod k3s_server;
mod node;
mod oci_profiles;
pub mod shared;

pub use oci_profiles::{OciProfileSettings, OciProfiles};

use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{Attribute, Block, NestedBlock, Schema};
use crate::runtime::{DataSource, Diagnostics, Provider, ProviderData, Resource};
use async_trait::async_trait;
use std::sync::Arc;

/// The default install script location.
pub const DEFAULT_INSTALLER_URL: &str = "https://get.k3s.io";

/// The provider.
pub struct K3sProvider;

/// What the provider block configures, shared with every resource call.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Where resources fetch the K3s install script unless they say otherwise.
    pub installer_url: String,
    /// Where K3s releases are downloaded from, when not GitHub (the install script's `GITHUB_URL`).
    pub release_base_url: Option<String>,
    /// Default SSH login user.
    pub ssh_user: Option<String>,
    /// Default SSH private key.
    pub ssh_private_key: Option<k3s_sdk::ssh::Secret>,
    /// Default SSH private key file.
    pub ssh_private_key_file: Option<String>,
    /// Default known_hosts file.
    pub known_hosts_file: Option<String>,
    /// The `oci_profile` blocks, with their API clients made on first use.
    pub oci: Arc<OciProfiles>,
}

#[async_trait]
impl Provider for K3sProvider {
    fn name(&self) -> &'static str {
        "k3s"
    }

    fn schema(&self) -> Schema {
        let ssh = Block::new(
            "Defaults for every node's `ssh` block, and the credentials `terraform import` uses.",
        )
        .attribute(
            Attribute::optional("user", Type::String).describe("Login user. Defaults to `root`."),
        )
        .attribute(
            Attribute::optional("private_key", Type::String)
                .sensitive()
                .describe("Private key for login."),
        )
        .attribute(
            Attribute::optional("private_key_file", Type::String)
                .describe("Path of a private key file for login."),
        )
        .attribute(
            Attribute::optional("use_agent", Type::Bool)
                .describe("Authenticate with the running ssh-agent."),
        )
        .attribute(
            Attribute::optional("known_hosts_file", Type::String)
                .describe("A known_hosts file to verify host keys against."),
        );
        let oci = Block::new(
            "An OCI tenancy the provider can call: a profile of an OCI config file, explicit API-key values, or both (explicit values override the file's).",
        )
        .attribute(
            Attribute::required("name", Type::String)
                .describe("Name resources and data sources refer to in `oci_profile`/`profiles`."),
        )
        .attribute(Attribute::optional("config_file", Type::String).describe(
            "OCI config file. Defaults to `OCI_CONFIG_FILE`, else `~/.oci/config` (read only when `profile` is set or the explicit values are incomplete).",
        ))
        .attribute(
            Attribute::optional("profile", Type::String)
                .describe("Profile in the config file. Defaults to `DEFAULT`."),
        )
        .attribute(
            Attribute::optional("tenancy", Type::String)
                .validate(shared::ocid(&["tenancy"]))
                .describe("Tenancy OCID, overriding the profile's."),
        )
        .attribute(
            Attribute::optional("user", Type::String)
                .validate(shared::ocid(&["user"]))
                .describe("User OCID of the API key, overriding the profile's."),
        )
        .attribute(
            Attribute::optional("fingerprint", Type::String)
                .describe("Fingerprint of the API key (`aa:bb:...`), overriding the profile's. Checked against the private key before the first call."),
        )
        .attribute(
            Attribute::optional("region", Type::String)
                .describe("Region, overriding the profile's."),
        )
        .attribute(
            Attribute::optional("private_key", Type::String)
                .sensitive()
                .describe("The API private key (PEM), instead of a key file."),
        )
        .attribute(
            Attribute::optional("private_key_file", Type::String)
                .describe("Path of the API private key (PEM), overriding the profile's `key_file`."),
        )
        .attribute(
            Attribute::optional("passphrase", Type::String)
                .sensitive()
                .describe("Passphrase of an encrypted private key."),
        )
        .attribute(
            Attribute::optional("endpoint", Type::String)
                .validate(shared::http_url())
                .describe("One base URL for every OCI service instead of the region's (private endpoints, tests)."),
        )
        .attribute(
            Attribute::optional("ca_certificate_file", Type::String)
                .describe("A PEM file of extra CA certificates to trust for the OCI endpoints (a private endpoint or a TLS-inspecting proxy)."),
        );
        let block = Block::new(
            "Turns Linux hosts into a K3s cluster with Argo CD bootstrapped, over SSH.",
        )
        .attribute(
            Attribute::optional("installer_url", Type::String)
                .validate(shared::http_url())
                .describe(
                    "Where to fetch the K3s install script. Defaults to `https://get.k3s.io`.",
                ),
        )
        .attribute(
            Attribute::optional("release_base_url", Type::String)
                .validate(shared::http_url())
                .describe("Where K3s releases are downloaded from, for mirrors (the install script's `GITHUB_URL`). Defaults to GitHub."),
        )
        .block(NestedBlock::single("ssh", ssh))
        .block(NestedBlock::list("oci_profile", oci));
        Schema::new(block)
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(k3s_server::K3sServer),
            Arc::new(k3s_agent::K3sAgent),
            Arc::new(argocd_bootstrap::ArgocdBootstrap),
        ]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(k3s_oci_instances::K3sOciInstances)]
    }

    async fn configure(
        &self,
        config: &Value,
        _terraform_version: &str,
    ) -> Result<ProviderData, Diagnostics> {
        let text = |v: Option<&Value>, name: &str| {
            v.and_then(|v| v.attr(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let ssh = config.attr("ssh").filter(|s| !s.is_null());
        let mut profiles = Vec::new();
        if let Some(Value::List(blocks)) = config.attr("oci_profile") {
            for block in blocks {
                let name = text(Some(block), "name").unwrap_or_default();
                if profiles.iter().any(|p: &OciProfileSettings| p.name == name) {
                    return Err(Diagnostics::from_error(
                        format!("Duplicate OCI profile {name:?}"),
                        "Each `oci_profile` block needs a name of its own.",
                    ));
                }
                profiles.push(OciProfileSettings {
                    name,
                    config_file: text(Some(block), "config_file"),
                    profile: text(Some(block), "profile"),
                    tenancy: text(Some(block), "tenancy"),
                    user: text(Some(block), "user"),
                    fingerprint: text(Some(block), "fingerprint"),
                    region: text(Some(block), "region"),
                    private_key: text(Some(block), "private_key").map(k3s_sdk::oci::Secret::new),
                    private_key_file: text(Some(block), "private_key_file"),
                    passphrase: text(Some(block), "passphrase").map(k3s_sdk::oci::Secret::new),
                    endpoint: text(Some(block), "endpoint"),
                    ca_certificate_file: text(Some(block), "ca_certificate_file")
                        .map(|f| node::expand_home(&f)),
                });
            }
        }
        Ok(Arc::new(ProviderConfig {
            installer_url: text(Some(config), "installer_url")
                .unwrap_or_else(|| DEFAULT_INSTALLER_URL.to_owned()),
            release_base_url: text(Some(config), "release_base_url"),
            ssh_user: text(ssh, "user"),
            ssh_private_key: text(ssh, "private_key").map(k3s_sdk::ssh::Secret::new),
            ssh_private_key_file: text(ssh, "private_key_file"),
            known_hosts_file: text(ssh, "known_hosts_file"),
            oci: Arc::new(OciProfiles::new(profiles)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_passes_terraforms_schema_rules() {
        let provider = K3sProvider;
        let mut problems = provider.schema().block.check("provider.");
        for resource in provider.resources() {
            problems.extend(
                resource
                    .schema()
                    .block
                    .check(&format!("{}.", resource.type_name())),
            );
        }
        for source in provider.data_sources() {
            problems.extend(
                source
                    .schema()
                    .block
                    .check(&format!("{}.", source.type_name())),
            );
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// `docs/` is rendered from the schemas and the examples under
    /// `examples/resources/<type>/resource.tf` and `import.sh` (`examples/data-sources/<type>/data-source.tf`);
    /// this fails when they drift apart. `UPDATE_DOCS=1` rewrites the pages instead.
    #[test]
    fn docs_match_the_schemas() {
        use crate::runtime::docs::{render, Kind};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let provider = K3sProvider;
        let mut pages = Vec::new();
        for r in provider.resources() {
            pages.push((
                r.type_name(),
                Kind::Resource,
                r.schema(),
                "resources",
                "resource.tf",
            ));
        }
        for d in provider.data_sources() {
            pages.push((
                d.type_name(),
                Kind::DataSource,
                d.schema(),
                "data-sources",
                "data-source.tf",
            ));
        }
        let mut stale = Vec::new();
        for (name, kind, schema, dir, example_file) in pages {
            let example = std::fs::read_to_string(
                root.join("examples")
                    .join(dir)
                    .join(name)
                    .join(example_file),
            )
            .ok();
            let import = std::fs::read_to_string(
                root.join("examples").join(dir).join(name).join("import.sh"),
            )
            .ok();
            let expected = render(name, kind, &schema, example.as_deref(), import.as_deref());
            let page = root
                .join("docs")
                .join(dir)
                .join(format!("{}.md", name.trim_start_matches("k3s_")));
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::create_dir_all(page.parent().unwrap()).unwrap();
                std::fs::write(&page, &expected).unwrap();
            } else if std::fs::read_to_string(&page).ok().as_deref() != Some(expected.as_str()) {
                stale.push(page.display().to_string());
            }
        }
        assert!(stale.is_empty(), "out of date (run `UPDATE_DOCS=1 cargo test -p terraform-provider-k3s docs`): {stale:?}");
    }
}
