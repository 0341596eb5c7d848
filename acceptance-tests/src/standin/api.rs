//! The stand-in's Kubernetes API: the cluster's state, request routing and authentication,
//! and generic get/list/create/replace/patch/delete over the object store. Discovery and
//! OpenAPI, watches, the object rules every write obeys, the HTTP plumbing and the K3s
//! supervisor endpoints are in the submodules of the same names. Type-specific behaviour (defaults, CRDs becoming
//! Established, namespace and CRD cascades, node passwords, pod evictions) lives here too;
//! background controllers are in `controllers`, and what a PodDisruptionBudget allows an
//! eviction in `disruption`.

mod discovery;
mod http;
mod rules;
mod supervisor;
mod watch;

use discovery::*;
use http::*;
use rules::*;
use supervisor::*;
use watch::*;

use super::disruption::{self, Verdict};
use super::patch;
use super::pki::{Ca, Usage};
use super::resources::{builtins, compare_versions, from_crd, ResourceType};
use super::selector::Selector;
use super::ssa;
use super::store::{Entry, EventType, Store};
use super::table::{table, Include};
use super::util::{name_suffix, now_rfc3339, sha256_hex, uuid4};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

/// Response bodies: whole, or streamed for watches.
pub type Body = BoxBody<Bytes, Infallible>;

/// The storage key of CRDs.
pub const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";
/// The storage key of nodes.
pub const NODE_KEY: &str = "/nodes";
/// The storage key of secrets.
pub const SECRET_KEY: &str = "/secrets";
/// The storage key of namespaces.
pub const NAMESPACE_KEY: &str = "/namespaces";

/// Everything the API server shares between requests.
pub struct Cluster {
    /// The objects.
    pub store: Store,
    /// The K3s version served (`v1.33.4+k3s1`).
    pub version: String,
    /// The server CA (its PEM is served at `/cacerts`; it signs kubelet certificates).
    pub server_ca: Ca,
    /// The client CA (signs client certificates; shared with joining servers).
    pub client_ca: Ca,
    /// Bearer tokens accepted (the server and agent tokens, in full and short form).
    pub tokens: Vec<String>,
    /// The server token in full and short form: only these may join servers.
    pub server_tokens: Vec<String>,
    /// `ip:port` the API is advertised at.
    pub advertise: String,
    builtins: Vec<ResourceType>,
    crd_types: RwLock<Vec<ResourceType>>,
    /// When each node last posted its status (kubelet heartbeats).
    pub heartbeats: Mutex<HashMap<String, Instant>>,
    /// Requests served, by client (the User-Agent's product name): reads and writes.
    pub requests: Mutex<BTreeMap<String, RequestCount>>,
}

/// The requests one client made. A dry-run write counts as a write, as it is one to the
/// API's admission chain; watches count as reads.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RequestCount {
    /// GET (objects, lists, watches, discovery).
    pub reads: u64,
    /// POST, PUT, PATCH and DELETE.
    pub writes: u64,
}

/// An API error, rendered as a Kubernetes `Status`.
#[derive(Debug)]
pub struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }

    fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", rt.qualified()),
            details: details(rt, name),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub(crate) fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

fn unknown_resource() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// The object a write request addresses.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Its type.
    pub rt: &'a ResourceType,
    /// Its namespace (empty for cluster-scoped objects).
    pub ns: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The subresource (`status`, `scale`), if any.
    pub sub: Option<&'a str>,
}

/// The cluster's CAs and accepted tokens.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The server CA.
    pub server_ca: Ca,
    /// The client CA.
    pub client_ca: Ca,
    /// Every accepted bearer token.
    pub tokens: Vec<String>,
    /// The server tokens (a subset of `tokens`).
    pub server_tokens: Vec<String>,
}

/// Options of a write request.
#[derive(Debug, Default, Clone)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `force=true`: a server-side apply takes over fields other managers apply.
    pub force: bool,
}

impl Cluster {
    /// A cluster over `store`, with the namespaces Kubernetes always has.
    pub fn new(store: Store, version: String, secrets: Secrets, advertise: String) -> Arc<Cluster> {
        let cluster = Cluster {
            store,
            version,
            server_ca: secrets.server_ca,
            client_ca: secrets.client_ca,
            tokens: secrets.tokens,
            server_tokens: secrets.server_tokens,
            advertise,
            builtins: builtins(),
            crd_types: RwLock::new(Vec::new()),
            heartbeats: Mutex::new(HashMap::new()),
            requests: Mutex::new(BTreeMap::new()),
        };
        cluster.refresh_crd_types();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if cluster.store.get(NAMESPACE_KEY, "", ns).is_none() {
                let _ = cluster.create(
                    &cluster.builtin("", "namespaces"),
                    None,
                    json!({"metadata": {"name": ns}}),
                    &WriteOptions::default(),
                );
            }
        }
        if cluster
            .store
            .get("/services", "default", "kubernetes")
            .is_none()
        {
            let _ = cluster.create(
                &cluster.builtin("", "services"),
                Some("default"),
                json!({"metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                       "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
                &WriteOptions::default(),
            );
        }
        Arc::new(cluster)
    }

    /// A built-in resource type by group and plural.
    pub fn builtin(&self, group: &str, plural: &str) -> ResourceType {
        self.builtins
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .cloned()
            .expect("a built-in resource type")
    }

    fn refresh_crd_types(&self) {
        let (crds, _) = self.store.list(CRD_KEY, None);
        let types: Vec<ResourceType> = crds.iter().flat_map(from_crd).collect();
        *self.crd_types.write().expect("crd types") = types;
    }

    /// Every servable type: built-ins, then CRD-defined.
    pub fn types(&self) -> Vec<ResourceType> {
        let mut all = self.builtins.clone();
        all.extend(self.crd_types.read().expect("crd types").iter().cloned());
        all
    }

    fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Groups in discovery order, each with its versions in priority order.
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for rt in self.types() {
            if rt.group.is_empty() {
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == rt.group) {
                Some((_, versions)) => {
                    if !versions.contains(&rt.version) {
                        versions.push(rt.version.clone());
                    }
                }
                None => groups.push((rt.group.clone(), vec![rt.version.clone()])),
            }
        }
        for (_, versions) in &mut groups {
            versions.sort_by(|a, b| compare_versions(a, b));
        }
        groups
    }

    /// Records a kubelet heartbeat for `node`.
    /// Records a kubelet heartbeat for `node` and renews its Lease in `kube-node-lease`.
    /// Must not be called while holding a store transaction.
    pub fn heartbeat(&self, node: &str) {
        self.heartbeats
            .lock()
            .expect("heartbeats")
            .insert(node.to_owned(), Instant::now());
        let leases = self.builtin("coordination.k8s.io", "leases");
        let renew = now_rfc3339().replace('Z', ".000000Z");
        let spec = json!({"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": renew});
        let opts = WriteOptions::default();
        let result = if self
            .store
            .get(&leases.storage_key(), "kube-node-lease", node)
            .is_some()
        {
            let target = Target {
                rt: &leases,
                ns: "kube-node-lease",
                name: node,
                sub: None,
            };
            self.patch(
                target,
                "application/merge-patch+json",
                json!({"spec": spec}).to_string().as_bytes(),
                &opts,
            )
            .map(|_| ())
        } else {
            let lease = json!({"metadata": {"name": node}, "spec": spec});
            self.create(&leases, Some("kube-node-lease"), lease, &opts)
                .map(|_| ())
        };
        if let Err(e) = result {
            super::util::warn(&format!("renewing the lease of node {node}: {}", e.message));
        }
    }

    fn authenticated(&self, client_cert: bool, headers: &hyper::HeaderMap) -> bool {
        if client_cert {
            return true;
        }
        let Some(auth) = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Some(token) = auth.strip_prefix("Bearer ") {
            return self.tokens.iter().any(|t| t == token.trim());
        }
        if let Some(basic) = auth.strip_prefix("Basic ") {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((_, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                return self.tokens.iter().any(|t| t == password);
            }
        }
        false
    }

    // ----- writes -------------------------------------------------------------------------

    /// Creates an object.
    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.create_applied(rt, namespace, body, opts, None)
    }

    /// Creates an object; `applied` is the configuration `opts.field_manager` applied, when
    /// server-side apply creates it.
    fn create_applied(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut body: Value,
        opts: &WriteOptions,
        applied: Option<Value>,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        check_kind(rt, &body)?;
        let ns = scope_namespace(rt, namespace, &body)?;
        let mut name = body["metadata"]["name"].as_str().unwrap_or("").to_owned();
        if name.is_empty() {
            match body["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => name = format!("{prefix}{}", name_suffix()),
                _ => {
                    return Err(invalid(
                        rt,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ))
                }
            }
        }
        let mut txn = self.store.txn();
        if rt.namespaced && txn.get(NAMESPACE_KEY, "", &ns).is_none() {
            return Err(ApiError {
                code: 404,
                reason: "NotFound",
                message: format!("namespaces \"{ns}\" not found"),
                details: json!({"name": ns, "kind": "namespaces"}),
            });
        }
        if txn.get(&rt.storage_key(), &ns, &name).is_some() {
            return Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{} \"{name}\" already exists", rt.qualified()),
                details: details(rt, &name),
            });
        }
        {
            let meta = meta_mut(&mut body);
            meta.insert("name".into(), json!(name));
            meta.insert("uid".into(), json!(uuid4()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            meta.insert("generation".into(), json!(1));
            meta.remove("resourceVersion");
            meta.remove("deletionTimestamp");
            meta.remove("managedFields");
            if rt.namespaced {
                meta.insert("namespace".into(), json!(ns));
            } else {
                meta.remove("namespace");
            }
        }
        if rt.has_status() && rt.plural != "nodes" && rt.plural != "pods" {
            if let Some(m) = body.as_object_mut() {
                m.remove("status");
            }
        }
        let mut records = BTreeMap::new();
        if let Some((manager, config)) = opts.field_manager.clone().zip(applied) {
            records.insert(manager, config);
        }
        self.prepare(rt, &mut body, None)?;
        set_managed_fields(rt, &mut body, &records);
        present(rt, &mut body);
        if opts.dry_run {
            return Ok(body);
        }
        let stored = txn.put(
            &rt.storage_key(),
            &ns,
            &name,
            Entry {
                object: body,
                applied: records,
            },
        );
        drop(txn);
        if rt.storage_key() == CRD_KEY {
            self.refresh_crd_types();
        }
        Ok(stored)
    }

    /// Replaces an object (or its status or scale subresource) with `new`, keeping what
    /// the API server owns. `applied` replaces the server-side apply records when given.
    fn write(
        &self,
        target: Target<'_>,
        old: &Entry,
        mut new: Value,
        applied: Option<BTreeMap<String, Value>>,
        opts: &WriteOptions,
        txn: &mut super::store::Txn<'_>,
    ) -> Result<Value, ApiError> {
        let Target { rt, ns, name, sub } = target;
        match sub {
            Some("status") => {
                let status = new.get("status").cloned().unwrap_or(Value::Null);
                new = old.object.clone();
                new["status"] = status;
            }
            Some("scale") => {
                let replicas = new["spec"]["replicas"].clone();
                new = old.object.clone();
                new["spec"]["replicas"] = replicas;
            }
            Some(other) if other != "finalize" => {
                return Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    format!("the subresource {other} does not support this verb"),
                ))
            }
            _ => {
                if rt.has_status() {
                    match old.object.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
            }
        }
        check_kind(rt, &new)?;
        if let Some(given) = new["metadata"]["name"].as_str() {
            if given != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({given}) does not match the name on the URL ({name})"
                )));
            }
        }
        {
            let old_meta = &old.object["metadata"];
            let meta = meta_mut(&mut new);
            for key in [
                "name",
                "uid",
                "creationTimestamp",
                "namespace",
                "generation",
                "deletionTimestamp",
            ] {
                match old_meta.get(key) {
                    Some(v) => {
                        meta.insert(key.into(), v.clone());
                    }
                    None => {
                        meta.remove(key);
                    }
                }
            }
            meta.remove("resourceVersion");
        }
        let changed_spec = strip_for_generation(&old.object) != strip_for_generation(&new);
        if changed_spec {
            let generation = old.object["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = json!(generation);
        }
        self.prepare(rt, &mut new, Some(&old.object))?;
        let applied = applied.unwrap_or_else(|| old.applied.clone());
        set_managed_fields(rt, &mut new, &applied);
        present(rt, &mut new);
        if opts.dry_run {
            new["metadata"]["resourceVersion"] = old.object["metadata"]["resourceVersion"].clone();
            return Ok(new);
        }
        let mut compare = new.clone();
        compare["metadata"]["resourceVersion"] = old.object["metadata"]["resourceVersion"].clone();
        if compare == old.object && applied == old.applied {
            // No change: Kubernetes keeps the resourceVersion and sends no watch event.
            return Ok(old.object.clone());
        }
        if !new["metadata"]["deletionTimestamp"].is_null() && !has_finalizers(&new) {
            // The last finalizer is gone: the deletion completes.
            txn.delete(&rt.storage_key(), ns, name);
            if rt.namespaced {
                finish_namespace_if_empty(txn, ns);
            }
            return Ok(new);
        }
        Ok(txn.put(
            &rt.storage_key(),
            ns,
            name,
            Entry {
                object: new,
                applied,
            },
        ))
    }

    /// PUT.
    pub fn replace(
        &self,
        target: Target<'_>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let Target { rt, ns, name, sub } = target;
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let mut txn = self.store.txn();
        let old = txn
            .get(&rt.storage_key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let body = if sub == Some("scale") {
            json!({"spec": {"replicas": body["spec"]["replicas"]}})
        } else {
            body
        };
        if let Some(rv) = body["metadata"]["resourceVersion"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            if Some(rv) != old.object["metadata"]["resourceVersion"].as_str() {
                return Err(conflict(rt, name));
            }
        }
        let out = self.write(target, &old, body, None, opts, &mut txn)?;
        drop(txn);
        self.after_write(rt, ns, name, sub);
        Ok(out)
    }

    /// PATCH (all four patch types). Returns the status code and the object.
    pub fn patch(
        &self,
        target: Target<'_>,
        content_type: &str,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<(u16, Value), ApiError> {
        let Target { rt, ns, name, sub } = target;
        let kind = content_type.split(';').next().unwrap_or("").trim();
        let patch_doc: Value = if kind == "application/apply-patch+yaml" {
            parse_yaml_or_json(body)?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid patch body: {e}")))?
        };
        let mut txn = self.store.txn();
        let Some(old) = txn.get(&rt.storage_key(), ns, name).cloned() else {
            if kind == "application/apply-patch+yaml" && sub.is_none() {
                drop(txn);
                let manager = opts.field_manager.clone().ok_or_else(|| {
                    ApiError::bad_request("PATCH: fieldManager is required for apply requests")
                })?;
                let mut body = patch_doc.clone();
                if body["metadata"]["name"].is_null() {
                    body["metadata"]["name"] = json!(name);
                }
                let opts = WriteOptions {
                    field_manager: Some(manager),
                    ..opts.clone()
                };
                return Ok((
                    201,
                    self.create_applied(
                        rt,
                        Some(ns).filter(|n| !n.is_empty()),
                        body,
                        &opts,
                        Some(patch_doc),
                    )?,
                ));
            }
            return Err(ApiError::not_found(rt, name));
        };
        // Patches apply to the object as the client sees it (the scale subresource is a Scale).
        let mut patched = if sub == Some("scale") {
            scale_of(&old.object)
        } else {
            old.object.clone()
        };
        let mut applied = None;
        match kind {
            "application/merge-patch+json" => patch::merge_patch(&mut patched, &patch_doc),
            "application/strategic-merge-patch+json" => {
                patch::strategic_merge_patch(&mut patched, &patch_doc)
            }
            "application/json-patch+json" => patch::json_patch(&mut patched, &patch_doc)
                .map_err(|e| ApiError::new(422, "Invalid", format!("the JSON patch could not be applied: {e}")))?,
            "application/apply-patch+yaml" => {
                let manager = opts.field_manager.clone().ok_or_else(|| {
                    ApiError::bad_request("PATCH: fieldManager is required for apply requests")
                })?;
                check_kind(rt, &patch_doc)?;
                let mut records = old.applied.clone();
                let found = ssa::conflicts(&manager, &patch_doc, &records);
                if !found.is_empty() && !opts.force {
                    return Err(apply_conflict(rt, name, &found));
                }
                for (other, path) in &found {
                    if let Some(config) = records.get_mut(other) {
                        ssa::release(config, path);
                    }
                }
                {
                    let others: Vec<&Value> = records
                        .iter()
                        .filter(|(m, _)| **m != manager)
                        .map(|(_, c)| c)
                        .collect();
                    ssa::apply(&mut patched, records.get(&manager), &patch_doc, &others);
                }
                records.insert(manager, patch_doc.clone());
                applied = Some(records);
            }
            other => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"),
                ))
            }
        }
        let out = self.write(target, &old, patched, applied, opts, &mut txn)?;
        drop(txn);
        self.after_write(rt, ns, name, sub);
        Ok((200, out))
    }

    fn after_write(&self, rt: &ResourceType, _ns: &str, name: &str, sub: Option<&str>) {
        if rt.storage_key() == CRD_KEY {
            self.refresh_crd_types();
        }
        if rt.storage_key() == NODE_KEY && sub == Some("status") {
            self.heartbeat(name);
        }
    }

    /// DELETE of one object. Returns the deleted object.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let key = rt.storage_key();
        if key == NAMESPACE_KEY && ["default", "kube-system", "kube-public"].contains(&name) {
            return Err(ApiError {
                code: 403,
                reason: "Forbidden",
                message: format!(
                    "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                ),
                details: details(rt, name),
            });
        }
        let mut txn = self.store.txn();
        let Some(old) = txn.get(&key, ns, name).map(|e| e.object.clone()) else {
            return Err(ApiError::not_found(rt, name));
        };
        if opts.dry_run {
            return Ok(old);
        }
        if key != NAMESPACE_KEY && has_finalizers(&old) {
            // Finalizers hold the object until their controllers remove them.
            let entry = txn.get(&key, ns, name).cloned().expect("read above");
            if !old["metadata"]["deletionTimestamp"].is_null() {
                return Ok(old);
            }
            let mut object = entry.object;
            object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok(store_and_present(rt, txn, ns, name, object, entry.applied));
        }
        if key == NAMESPACE_KEY {
            let mut held: BTreeMap<String, usize> = BTreeMap::new();
            for (k, n) in txn.ids_in_namespace(name) {
                let Some(entry) = txn.get(&k, name, &n).cloned() else {
                    continue;
                };
                if !has_finalizers(&entry.object) {
                    txn.delete(&k, name, &n);
                    continue;
                }
                for f in entry.object["metadata"]["finalizers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    *held
                        .entry(f.as_str().unwrap_or_default().to_owned())
                        .or_default() += 1;
                }
                if entry.object["metadata"]["deletionTimestamp"].is_null() {
                    let mut object = entry.object;
                    object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    txn.put(
                        &k,
                        name,
                        &n,
                        Entry {
                            object,
                            applied: entry.applied,
                        },
                    );
                }
            }
            if !held.is_empty() {
                // Terminating until the content's finalizers are removed, as the namespace
                // controller reports it.
                let entry = txn.get(&key, ns, name).cloned().expect("read above");
                let mut object = entry.object;
                let remaining: Vec<String> = held
                    .iter()
                    .map(|(f, n)| format!("{f} in {n} resource instances"))
                    .collect();
                object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                object["status"] = json!({"phase": "Terminating", "conditions": [{
                    "type": "NamespaceFinalizersRemaining", "status": "True",
                    "reason": "SomeFinalizersRemain", "lastTransitionTime": now_rfc3339(),
                    "message": format!("Some content in the namespace has finalizers remaining: {}", remaining.join(", ")),
                }]});
                return Ok(store_and_present(rt, txn, ns, name, object, entry.applied));
            }
        }
        if key == CRD_KEY {
            let stored = format!(
                "{}/{}",
                old["spec"]["group"].as_str().unwrap_or(""),
                old["spec"]["names"]["plural"].as_str().unwrap_or("")
            );
            for (n_ns, n) in txn.ids(&stored, None) {
                txn.delete(&stored, &n_ns, &n);
            }
        }
        if key == NODE_KEY {
            txn.delete(
                SECRET_KEY,
                "kube-system",
                &format!("{name}.node-password.k3s"),
            );
        }
        let deleted = txn.delete(&key, ns, name).unwrap_or(old);
        drop(txn);
        if key == CRD_KEY {
            self.refresh_crd_types();
        }
        if key == NODE_KEY {
            self.heartbeats.lock().expect("heartbeats").remove(name);
        }
        let mut deleted = deleted;
        present(rt, &mut deleted);
        Ok(deleted)
    }

    /// POST of a pod's `eviction` subresource: the pod is deleted, unless the
    /// PodDisruptionBudget selecting it would be violated (429 TooManyRequests, the pod stays)
    /// or more than one budget selects it (500), as the real API answers. Decided and done
    /// under one lock, so concurrent evictions cannot overdraw a budget.
    pub fn evict(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        if rt.storage_key() != "/pods" {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{} cannot be evicted", rt.qualified()),
            ));
        }
        let key = rt.storage_key();
        let mut txn = self.store.txn();
        let Some(pod) = txn.get(&key, ns, name).map(|e| e.object.clone()) else {
            return Err(ApiError::not_found(rt, name));
        };
        let budgets = txn.list(disruption::PDB_KEY, Some(ns));
        let pods = txn.list(&key, Some(ns));
        match disruption::check(&pod, &budgets, &pods) {
            Verdict::Allowed => {}
            v @ Verdict::Violates { .. } => {
                return Err(ApiError {
                    code: 429,
                    reason: "TooManyRequests",
                    message: disruption::VIOLATION_MESSAGE.into(),
                    details: v.details(),
                })
            }
            Verdict::SeveralBudgets => {
                return Err(ApiError::new(
                    500,
                    "InternalError",
                    format!(
                        "Internal error occurred: {}",
                        disruption::SEVERAL_BUDGETS_MESSAGE
                    ),
                ))
            }
        }
        if !opts.dry_run {
            txn.delete(&key, ns, name);
        }
        Ok(())
    }

    /// Type-specific defaults and validation, applied on every write.
    fn prepare(
        &self,
        rt: &ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => {
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                if obj["spec"]["finalizers"].is_null() {
                    obj["spec"]["finalizers"] = json!(["kubernetes"]);
                }
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "secrets") => {
                if let Some(Value::Object(string_data)) =
                    obj.as_object_mut().and_then(|m| m.remove("stringData"))
                {
                    use base64::Engine;
                    for (k, v) in string_data {
                        let text = v.as_str().unwrap_or_default().to_owned();
                        obj["data"][k] =
                            json!(base64::engine::general_purpose::STANDARD.encode(text));
                    }
                }
                if obj["type"].is_null() {
                    obj["type"] = json!("Opaque");
                }
            }
            ("", "services") => {
                let spec = &mut obj["spec"];
                if spec["type"].is_null() {
                    spec["type"] = json!("ClusterIP");
                }
                if let Some(ip) = old.and_then(|o| o["spec"]["clusterIP"].as_str()) {
                    spec["clusterIP"] = json!(ip);
                }
                if spec["clusterIP"].is_null() && spec["type"] != "ExternalName" {
                    let h =
                        sha256_hex(format!("{}/{name}", obj["metadata"]["namespace"]).as_bytes());
                    let a = u8::from_str_radix(&h[0..2], 16).unwrap_or(1);
                    let b = u8::from_str_radix(&h[2..4], 16).unwrap_or(1).max(2);
                    let spec = &mut obj["spec"];
                    spec["clusterIP"] = json!(format!("10.43.{a}.{b}"));
                    spec["clusterIPs"] = json!([format!("10.43.{a}.{b}")]);
                }
                for port in obj["spec"]["ports"].as_array_mut().into_iter().flatten() {
                    if port["protocol"].is_null() {
                        port["protocol"] = json!("TCP");
                    }
                    if port["targetPort"].is_null() {
                        port["targetPort"] = port["port"].clone();
                    }
                }
            }
            ("", "pods") if obj["status"]["phase"].is_null() => {
                obj["status"]["phase"] = json!("Pending");
            }
            ("apps", "deployments") => {
                let spec = &mut obj["spec"];
                if spec["replicas"].is_null() {
                    spec["replicas"] = json!(1);
                }
                if spec["strategy"].is_null() {
                    spec["strategy"] = json!({"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
                }
                if spec["revisionHistoryLimit"].is_null() {
                    spec["revisionHistoryLimit"] = json!(10);
                }
                if spec["progressDeadlineSeconds"].is_null() {
                    spec["progressDeadlineSeconds"] = json!(600);
                }
            }
            ("apps", "statefulsets" | "replicasets") if obj["spec"]["replicas"].is_null() => {
                obj["spec"]["replicas"] = json!(1);
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => prepare_crd(rt, obj, old)?,
            _ => {}
        }
        Ok(())
    }

    // ----- reads --------------------------------------------------------------------------

    fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        query: &HashMap<String, String>,
    ) -> Result<(Vec<Value>, u64), ApiError> {
        let labels = Selector::labels(query.get("labelSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?;
        let fields = Selector::fields(query.get("fieldSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?;
        let (items, rv) = self.store.list(&rt.storage_key(), ns);
        let items = items
            .into_iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .map(|mut o| {
                present(rt, &mut o);
                o
            })
            .collect();
        Ok((items, rv))
    }
}

/// Serves one request. `client_cert` tells whether the TLS client presented a certificate
/// the client CA signed (rustls has verified it).
pub async fn handle(
    cluster: Arc<Cluster>,
    client_cert: bool,
    req: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    match path.as_str() {
        "/cacerts" => return text_response(200, cluster.server_ca.cert_pem.clone()),
        "/ping" => return text_response(200, "pong"),
        _ => {}
    }
    if !cluster.authenticated(client_cert, &parts.headers) {
        return error_response(ApiError::new(401, "Unauthorized", "Unauthorized"));
    }
    if path == "/standin/requests" {
        // The request counts, for tests that check what a client wrote; `?reset` clears them.
        let mut counts = cluster.requests.lock().expect("requests");
        let answer = json!(*counts);
        if parts.uri.query().is_some_and(|q| q.contains("reset")) {
            counts.clear();
        }
        return json_response(200, &answer);
    }
    {
        let agent = parts
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split(['/', ' ']).next())
            .unwrap_or("")
            .to_owned();
        let mut counts = cluster.requests.lock().expect("requests");
        let count = counts.entry(agent).or_default();
        if parts.method == Method::GET || parts.method == Method::HEAD {
            count.reads += 1;
        } else {
            count.writes += 1;
        }
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error_response(ApiError::bad_request(format!("reading the body: {e}"))),
    };
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut content_type = header("content-type");
    let mut body = body;
    if content_type.starts_with(super::protobuf::MEDIA_TYPE) {
        match super::protobuf::to_json(&body) {
            Ok(v) => {
                body = Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
                content_type = "application/json".into();
            }
            Err(e) => return error_response(ApiError::new(415, "UnsupportedMediaType", e)),
        }
    }
    let request = ApiRequest {
        method: parts.method.clone(),
        path,
        query,
        accept: header("accept"),
        content_type,
        body,
        node_name: header("k3s-node-name"),
        node_password: header("k3s-node-password"),
        authorization: header("authorization"),
    };
    match route(&cluster, request).await {
        Ok(response) => response,
        Err(error) => error_response(error),
    }
}

struct ApiRequest {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    body: Bytes,
    node_name: String,
    node_password: String,
    authorization: String,
}

async fn route(cluster: &Arc<Cluster>, req: ApiRequest) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => return Ok(json_response(200, &version_info(&cluster.version))),
        [health] | [health, _] if ["readyz", "livez", "healthz"].contains(health) => {
            return Ok(text_response(
                200,
                if req.query.contains_key("verbose") {
                    format!("[+]ping ok\n[+]etcd ok\n[+]poststarthook/start-apiextensions-controllers ok\n{health} check passed\n")
                } else {
                    "ok".to_owned()
                },
            ))
        }
        ["v1-k3s", "readyz"] => return Ok(text_response(200, "ok")),
        ["v1-k3s", "serving-kubelet.crt"] => return node_certificate(cluster, &req),
        ["v1-k3s", "server-bootstrap"] => return server_bootstrap(cluster, &req),
        ["api"] => {
            return Ok(json_response(
                200,
                &json!({
                    "kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": cluster.advertise}],
                }),
            ))
        }
        ["apis"] => {
            let groups: Vec<Value> = cluster
                .groups()
                .iter()
                .map(|(g, versions)| group_json(g, versions))
                .collect();
            return Ok(json_response(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            ));
        }
        ["apis", group] => {
            let groups = cluster.groups();
            let (g, versions) = groups
                .iter()
                .find(|(g, _)| g == group)
                .ok_or_else(unknown_resource)?;
            let mut doc = group_json(g, versions);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            return Ok(json_response(200, &doc));
        }
        ["api", "v1"] => return resource_list(cluster, "", "v1"),
        ["apis", group, version] => return resource_list(cluster, group, version),
        ["openapi", "v3"] => return Ok(json_response(200, &openapi_root(cluster))),
        ["openapi", "v3", rest @ ..] => return openapi_doc(cluster, &rest.join("/")),
        _ => {}
    }
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(unknown_resource()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..] if !["status", "finalize"].contains(plural) => {
            (Some(*ns), [&[*plural][..], more].concat())
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(unknown_resource()),
    };
    let rt = cluster
        .find_type(group, version, plural)
        .ok_or_else(unknown_resource)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(unknown_resource());
    }
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(unknown_resource());
    }
    if let Some(s) = sub {
        if !rt.subresources.iter().any(|x| x == s) {
            return Err(unknown_resource());
        }
    }
    resource(cluster, &req, &rt, namespace, name, sub).await
}

fn write_options(req: &ApiRequest) -> WriteOptions {
    WriteOptions {
        dry_run: req.query.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: req
            .query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .cloned(),
        force: req.query.get("force").is_some_and(|v| v == "true"),
    }
}

fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

fn wants_metadata(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

async fn resource(
    cluster: &Arc<Cluster>,
    req: &ApiRequest,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
    sub: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let ns = namespace.unwrap_or("");
    let opts = write_options(req);
    let body_json = || -> Result<Value, ApiError> {
        serde_json::from_slice(&req.body).or_else(|_| parse_yaml_or_json(&req.body))
    };
    match (&req.method, name) {
        (&Method::GET, None) => {
            let watching = req
                .query
                .get("watch")
                .is_some_and(|w| w == "true" || w == "1");
            if watching {
                return watch(cluster, req, rt, namespace);
            }
            let (items, rv) = cluster.list(rt, namespace, &req.query)?;
            if wants_table(&req.accept) {
                let include = Include::parse(req.query.get("includeObject").map(String::as_str));
                return Ok(json_response(200, &table(rt, &items, rv, include)));
            }
            if wants_metadata(&req.accept) {
                let items: Vec<Value> = items
                    .iter()
                    .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}))
                    .collect();
                return Ok(json_response(
                    200,
                    &json!({
                        "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                        "metadata": {"resourceVersion": rv.to_string()}, "items": items,
                    }),
                ));
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()}, "items": items,
                }),
            ))
        }
        (&Method::GET, Some(name)) => {
            let mut obj = cluster
                .store
                .get(&rt.storage_key(), ns, name)
                .ok_or_else(|| ApiError::not_found(rt, name))?;
            present(rt, &mut obj);
            if sub == Some("scale") {
                return Ok(json_response(200, &scale_of(&obj)));
            }
            if wants_table(&req.accept) {
                let include = Include::parse(req.query.get("includeObject").map(String::as_str));
                let rv = cluster.store.resource_version();
                return Ok(json_response(200, &table(rt, &[obj], rv, include)));
            }
            if wants_metadata(&req.accept) {
                return Ok(json_response(
                    200,
                    &json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}),
                ));
            }
            Ok(json_response(200, &obj))
        }
        (&Method::POST, None) => {
            let created = cluster.create(rt, namespace, body_json()?, &opts)?;
            if rt.storage_key() == NODE_KEY {
                if let Some(n) = created["metadata"]["name"].as_str() {
                    cluster.heartbeat(n);
                }
            }
            Ok(json_response(201, &created))
        }
        (&Method::POST, Some(name)) if sub == Some("eviction") => {
            cluster.evict(rt, ns, name, &opts)?;
            Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (&Method::PUT, Some(name)) => {
            let out = cluster.replace(Target { rt, ns, name, sub }, body_json()?, &opts)?;
            if sub == Some("scale") {
                return Ok(json_response(200, &scale_of(&out)));
            }
            Ok(json_response(200, &out))
        }
        (&Method::PATCH, Some(name)) => {
            let (code, out) = cluster.patch(
                Target { rt, ns, name, sub },
                &req.content_type,
                &req.body,
                &opts,
            )?;
            if sub == Some("scale") {
                return Ok(json_response(code, &scale_of(&out)));
            }
            Ok(json_response(code, &out))
        }
        (&Method::DELETE, Some(name)) if sub.is_none() => {
            let deleted = cluster.delete(rt, ns, name, &opts)?;
            Ok(json_response(
                200,
                &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": deleted["metadata"]["uid"]},
                }),
            ))
        }
        (&Method::DELETE, None) => {
            let (items, rv) = cluster.list(rt, namespace, &req.query)?;
            let mut deleted = Vec::new();
            for item in items {
                let n = item["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let item_ns = item["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Ok(d) = cluster.delete(rt, &item_ns, &n, &opts) {
                    deleted.push(d);
                }
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()}, "items": deleted,
                }),
            ))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{} is not supported here", req.method),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Arc<Cluster> {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path(), "server-ca").unwrap();
        let secrets = Secrets {
            server_ca: ca.clone(),
            client_ca: ca,
            tokens: vec!["t".into()],
            server_tokens: vec!["t".into()],
        };
        Cluster::new(
            Store::open(None).unwrap(),
            "v1.33.4+k3s1".into(),
            secrets,
            "127.0.0.1:6443".into(),
        )
    }

    #[test]
    fn queries_are_percent_decoded() {
        let q =
            parse_query("fieldSelector=spec.nodeName%3Dnode-2&labelSelector=a+in+%28b%29&watch");
        assert_eq!(q["fieldSelector"], "spec.nodeName=node-2");
        assert_eq!(q["labelSelector"], "a in (b)");
        assert_eq!(q["watch"], "");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn crds_become_established_and_servable() {
        let c = cluster();
        let crds = c.builtin("apiextensions.k8s.io", "customresourcedefinitions");
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}});
        let created = c
            .create(&crds, None, crd, &WriteOptions::default())
            .unwrap();
        assert_eq!(created["status"]["conditions"][1]["type"], "Established");
        let rt = c.find_type("example.com", "v1", "widgets").expect("served");
        let w = c
            .create(
                &rt,
                Some("default"),
                json!({"metadata": {"name": "w"}, "spec": {"a": 1}}),
                &WriteOptions::default(),
            )
            .unwrap();
        assert_eq!(w["kind"], "Widget");
        assert_eq!(w["metadata"]["generation"], 1);
        let opts = WriteOptions {
            field_manager: Some("m".into()),
            ..Default::default()
        };
        let (_, p) = c
            .patch(
                Target {
                    rt: &rt,
                    ns: "default",
                    name: "w",
                    sub: None,
                },
                "application/apply-patch+yaml",
                b"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  a: 2\n",
                &opts,
            )
            .unwrap();
        assert_eq!(p["spec"]["a"], 2);
        assert_eq!(p["metadata"]["generation"], 2);
        c.delete(&crds, "", "widgets.example.com", &WriteOptions::default())
            .unwrap();
        assert!(c.find_type("example.com", "v1", "widgets").is_none());
        assert!(c.store.get("example.com/widgets", "default", "w").is_none());
    }

    #[test]
    fn status_is_a_subresource_and_missing_namespaces_are_404() {
        let c = cluster();
        let deploys = c.builtin("apps", "deployments");
        let err = c
            .create(
                &deploys,
                Some("nope"),
                json!({"metadata": {"name": "d"}}),
                &WriteOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, 404);
        let d = c
            .create(
                &deploys,
                Some("default"),
                json!({"metadata": {"name": "d"}, "status": {"x": 1}}),
                &WriteOptions::default(),
            )
            .unwrap();
        assert!(d["status"].is_null());
        assert_eq!(d["spec"]["replicas"], 1);
        let (_, d) = c
            .patch(
                Target {
                    rt: &deploys,
                    ns: "default",
                    name: "d",
                    sub: None,
                },
                "application/merge-patch+json",
                br#"{"status":{"x":2},"spec":{"replicas":3}}"#,
                &WriteOptions::default(),
            )
            .unwrap();
        assert!(d["status"].is_null());
        assert_eq!(d["metadata"]["generation"], 2);
        let (_, d) = c
            .patch(
                Target {
                    rt: &deploys,
                    ns: "default",
                    name: "d",
                    sub: Some("status"),
                },
                "application/merge-patch+json",
                br#"{"status":{"x":2}}"#,
                &WriteOptions::default(),
            )
            .unwrap();
        assert_eq!(d["status"]["x"], 2);
        assert_eq!(d["metadata"]["generation"], 2);
        let err = c
            .replace(
                Target {
                    rt: &deploys,
                    ns: "default",
                    name: "d",
                    sub: None,
                },
                json!({"metadata": {"name": "d", "resourceVersion": "1"}}),
                &WriteOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, 409);
    }
}
