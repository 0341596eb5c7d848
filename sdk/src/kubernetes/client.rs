//! [`ApiClient`]: one cluster's API, with the kinds it serves resolved once per group version,
//! and the object operations the SDK's layers use.

use super::{Error, ObjectRef, Unanswered};
#[cfg(feature = "ssh")]
use crate::ssh::PortForward;
use crate::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersion;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long one connection attempt to the API may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request (not a watch) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What requests say they come from.
const USER_AGENT: &str = concat!("k3s-sdk/", env!("CARGO_PKG_VERSION"));

/// A client for one cluster's API.
pub struct ApiClient {
    client: Client,
    server: String,
    kinds: Mutex<HashMap<String, Vec<(ApiResource, ApiCapabilities)>>>,
    /// Keeps the SSH forward the client goes through open as long as the client lives.
    #[cfg(feature = "ssh")]
    _forward: Option<PortForward>,
}

/// What deleting an object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The object is gone, or going (it has finalizers to run).
    Deleted,
    /// There was no such object.
    Absent,
}

/// What happens to an object's dependents when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// The API's default for the kind.
    Default,
    /// Dependents first, then the object.
    Foreground,
    /// The object now, dependents after.
    Background,
}

impl ApiClient {
    /// A client from a kubeconfig's current context. The kubeconfig is only ever read from
    /// `kubeconfig`, never from `$KUBECONFIG` or `~/.kube/config`.
    pub async fn from_kubeconfig(kubeconfig: &Secret) -> Result<ApiClient, Error> {
        let config = config_of(kubeconfig).await?;
        ApiClient::from_config(config)
    }

    /// A client for the API at `url` (the local end of `forward`) with `kubeconfig`'s
    /// credentials, verifying the API's certificate for `server_name`.
    #[cfg(feature = "ssh")]
    pub(super) async fn from_kubeconfig_at(
        kubeconfig: &Secret,
        url: &str,
        server_name: Option<String>,
        forward: PortForward,
    ) -> Result<ApiClient, Error> {
        let mut config = config_of(kubeconfig).await?;
        config.cluster_url = url
            .parse()
            .map_err(|_| Error::Kubeconfig(format!("{url} is not a URL")))?;
        if server_name.is_some() {
            config.tls_server_name = server_name;
        }
        let mut client = ApiClient::from_config(config)?;
        client._forward = Some(forward);
        Ok(client)
    }

    /// A client from a `kube` configuration the caller built.
    pub fn from_config(mut config: Config) -> Result<ApiClient, Error> {
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        ));
        config.read_timeout = None;
        // kube retries 429, 503 and 504 answers by itself (up to 15 times, backing off for
        // minutes in all); every request here has a deadline of its own and its caller decides
        // what an answer means (a 429 to an eviction is a PodDisruptionBudget saying "not now",
        // which a drain must see and report), so those answers come back as they are.
        config.default_retry = false;
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        // With both of rustls's crypto providers in the build (feature unification with another
        // crate), rustls cannot pick one for kube's client: choose ring, as the rest of this
        // crate uses, unless the process already chose.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
        Ok(ApiClient {
            client,
            server,
            kinds: Mutex::new(HashMap::new()),
            #[cfg(feature = "ssh")]
            _forward: None,
        })
    }

    /// The API server URL requests go to.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The `kube` client, for what this layer does not wrap (watches, subresources).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How `kind` in `api_version` is served: its resource and whether it is namespaced.
    /// The group version is asked once and remembered; [`forget_kinds`](Self::forget_kinds)
    /// asks again (after CRDs were added).
    pub async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), Error> {
        let cached = self.kinds.lock().expect("kinds").get(api_version).cloned();
        let resources = match cached {
            Some(r) => r,
            None => {
                let gv: GroupVersion = api_version
                    .parse()
                    .map_err(|_| Error::Malformed(format!("apiVersion {api_version:?}")))?;
                let group = bounded(
                    &self.server,
                    || format!("discover {api_version}"),
                    discovery::pinned_group(&self.client, &gv),
                )
                .await;
                let resources = match group {
                    Ok(group) => group.recommended_resources(),
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e),
                };
                self.kinds
                    .lock()
                    .expect("kinds")
                    .insert(api_version.to_owned(), resources.clone());
                resources
            }
        };
        resources
            .into_iter()
            .find(|(r, _)| r.kind == kind)
            .map(|(r, caps)| (r, caps.scope == Scope::Namespaced))
            .ok_or_else(|| Error::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })
    }

    /// Forgets what discovery answered, so that new kinds are seen.
    pub fn forget_kinds(&self) {
        self.kinds.lock().expect("kinds").clear();
    }

    async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, Error> {
        let (resource, namespaced) = self.resource(api_version, kind).await?;
        Ok(match namespace {
            Some(ns) if namespaced => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// Server-side apply of `object` under `manager`, forcing conflicts (the configuration is
    /// this manager's to set). Returns the live object.
    pub async fn apply(&self, object: &Value, manager: &str) -> Result<Value, Error> {
        self.apply_with(object, manager, true).await
    }

    /// Server-side apply of `object` under `manager`; without `force`, a field another
    /// manager owns with a different value is a conflict (409).
    pub async fn apply_with(
        &self,
        object: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, Error> {
        let r = ObjectRef::of(object)?;
        let api = self
            .api(&r.api_version, &r.kind, r.namespace.as_deref())
            .await?;
        let mut params = PatchParams::apply(manager);
        params.force = force;
        let live = bounded(
            &self.server,
            || format!("apply {r}"),
            api.patch(&r.name, &params, &Patch::Apply(object)),
        )
        .await?;
        to_value(live)
    }

    /// The live object, or `None`.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, Error> {
        let api = self
            .api(&r.api_version, &r.kind, r.namespace.as_deref())
            .await?;
        match bounded(&self.server, || format!("read {r}"), api.get_opt(&r.name)).await? {
            Some(object) => Ok(Some(to_value(object)?)),
            None => Ok(None),
        }
    }

    /// Every object of a kind, in `namespace` or cluster-wide; optionally only those with
    /// the labels of `selector` (`key=value,…`).
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let api = self.api(api_version, kind, namespace).await?;
        let mut params = ListParams::default();
        if let Some(s) = selector {
            params = params.labels(s);
        }
        let list = bounded(
            &self.server,
            || format!("list {kind} in {api_version}"),
            api.list(&params),
        )
        .await?;
        list.items
            .into_iter()
            .map(|mut o| {
                o.types = Some(kube::core::TypeMeta {
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                });
                to_value(o)
            })
            .collect()
    }

    /// Deletes an object.
    pub async fn delete(&self, r: &ObjectRef, propagation: Propagation) -> Result<Deletion, Error> {
        let api = self
            .api(&r.api_version, &r.kind, r.namespace.as_deref())
            .await?;
        let params = match propagation {
            Propagation::Default => DeleteParams::default(),
            Propagation::Foreground => DeleteParams::foreground(),
            Propagation::Background => DeleteParams::background(),
        };
        match bounded(
            &self.server,
            || format!("delete {r}"),
            api.delete(&r.name, &params),
        )
        .await
        {
            Ok(_) => Ok(Deletion::Deleted),
            Err(e) if e.is_not_found() => Ok(Deletion::Absent),
            Err(e) => Err(e),
        }
    }

    /// A JSON merge patch of an object (for what apply cannot take back, e.g. finalizers
    /// another manager set).
    pub async fn merge_patch(&self, r: &ObjectRef, patch: &Value) -> Result<Value, Error> {
        let api = self
            .api(&r.api_version, &r.kind, r.namespace.as_deref())
            .await?;
        let live = bounded(
            &self.server,
            || format!("patch {r}"),
            api.patch(&r.name, &PatchParams::default(), &Patch::Merge(patch)),
        )
        .await?;
        to_value(live)
    }
}

pub(super) async fn config_of(kubeconfig: &Secret) -> Result<Config, Error> {
    // The parser's messages may quote the document; say only what is wrong in general.
    let parsed = Kubeconfig::from_yaml(kubeconfig.expose())
        .map_err(|_| Error::Kubeconfig("it is not a kubeconfig document".into()))?;
    Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))
}

fn to_value(object: DynamicObject) -> Result<Value, Error> {
    serde_json::to_value(object).map_err(|e| Error::Malformed(e.to_string()))
}

/// Runs one request with the request deadline, mapping the client's errors.
async fn bounded<T>(
    server: &str,
    what: impl FnOnce() -> String,
    request: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::from_kube(server, what, e)),
        Err(_) => Err(Error::Unreachable {
            server: server.to_owned(),
            cause: Unanswered::TimedOut {
                what: what(),
                after: REQUEST_TIMEOUT,
            },
        }),
    }
}
