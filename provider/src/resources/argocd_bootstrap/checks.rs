//! What `terraform validate` refuses in an `argocd_bootstrap` configuration, each error at its
//! attribute: cluster access given twice or not at all, contradicting SSH settings, duplicate
//! or reserved repository Secret names, and credentials that do not fit the repository URL.
//! Values still unknown are checked once known (an unknown value reads as unset, which can
//! hide a mistake but never invent one).

use super::{ArgocdModel, Repository};
use crate::cluster_access;
use k3s_sdk::argocd;
use k3s_sdk::Secret;
use serde::Deserialize;
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::{field_name, Diagnostics, MaybeUnknown, Planned};

/// The checks `terraform validate` runs, each error at its attribute.
pub(super) fn check_config(config: &ArgocdModel<Planned>, diagnostics: &mut Diagnostics) {
    let at = AttributePath::attribute;
    cluster_access::check_access(
        &config.kubeconfig,
        &config.server,
        field_name!(ArgocdModel, kubeconfig),
        field_name!(ArgocdModel, server),
        diagnostics,
    );
    let repositories: Vec<RepositoryParts> = match &config.repository {
        MaybeUnknown::Known(repos) => repos.iter().map(RepositoryParts::from).collect(),
        MaybeUnknown::Unknown(partly) => partly.known_parts().unwrap_or_default(),
    };
    let mut names = Vec::new();
    for (index, repo) in repositories.iter().enumerate() {
        let here = |name: &str| {
            at(field_name!(ArgocdModel, repository))
                .index(index as i64)
                .attr(name)
        };
        if let Some(name) = &repo.name {
            if names.contains(name) {
                diagnostics.error_at(
                    here(field_name!(Repository, name)),
                    format!("Duplicate repository {name:?}"),
                    "Each `repository` block needs a Secret name of its own.",
                );
            } else if argocd::RUNTIME_OBJECTS.contains(&name.as_str()) {
                diagnostics.error_at(
                    here(field_name!(Repository, name)),
                    format!(
                        "{name:?} is \
                    Argo CD's own Secret"
                    ),
                    "Argo CD writes this Secret itself; choose another \
                    name for the repository Secret.",
                );
            }
            names.push(name.clone());
        }
        let Some(url) = &repo.url else { continue };
        let https = url.starts_with("https://");
        if https && repo.ssh_private_key {
            diagnostics.error_at(
                here(field_name!(Repository, ssh_private_key)),
                "SSH key on an \
                https repository",
                format!(
                    "{url} is an https URL; Argo CD uses `ssh_private_key` \
                only for ssh URLs (ssh://… or git@host:path). Use `username` and `password` (a \
                token) instead, or an ssh URL."
                ),
            );
        }
        if !https && (repo.username.is_some() || repo.password) {
            diagnostics.error_at(
                here(field_name!(Repository, username)),
                "User name or password on an ssh repository",
                format!("{url} is an ssh URL; Argo CD logs in to it with `ssh_private_key` only."),
            );
        }
        // Only where every value is known: an unknown password reads as unset.
        if repo.complete && https && repo.username.is_some() != repo.password {
            diagnostics.error_at(
                here(field_name!(Repository, password)),
                "Incomplete https \
                credentials",
                "Set both `username` and `password` (or a token), or neither for a \
                public repository.",
            );
        }
    }
}

/// The known parts of a `repository` block (whether each secret is set).
#[derive(Default, Deserialize)]
struct RepositoryParts {
    name: Option<String>,
    url: Option<String>,
    username: Option<String>,
    #[serde(default, deserialize_with = "is_set")]
    password: bool,
    #[serde(default, deserialize_with = "is_set")]
    ssh_private_key: bool,
    /// Every value of the block is known.
    #[serde(skip)]
    complete: bool,
}

fn is_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<Secret>::deserialize(d)?.is_some())
}

impl From<&Repository> for RepositoryParts {
    fn from(r: &Repository) -> RepositoryParts {
        RepositoryParts {
            name: Some(r.name.clone()),
            url: Some(r.url.clone()),
            username: r.username.clone(),
            password: r.password.is_some(),
            ssh_private_key: r.ssh_private_key.is_some(),
            complete: true,
        }
    }
}
