//! Installing a manifest with server-side apply under one field manager, forcing conflicts:
//! the namespace, then the CRDs (waited for until Established, then discovery asked again),
//! then the rest; only objects that are missing or differ are written. Then the wait until the
//! Deployments and StatefulSets have rolled out, with a report of what is not ready and why.

use super::live::{needs_write, Live};
use super::{Error, Manifest};
use crate::kubernetes::{ApiClient, ObjectRef};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The field manager the install and the seeded objects are applied under.
pub const INSTALL_MANAGER: &str = "k3s-argocd-bootstrap";

/// How often waits look again.
const POLL: Duration = Duration::from_millis(500);

/// A deadline and a way to stop early, for the waits of one operation.
#[derive(Debug, Clone)]
pub struct Deadline {
    end: Instant,
    total: Duration,
    cancel: CancellationToken,
}

impl Deadline {
    /// `total` from now, stopped early by `cancel`.
    pub fn after(total: Duration, cancel: CancellationToken) -> Deadline {
        Deadline {
            end: Instant::now() + total,
            total,
            cancel,
        }
    }

    /// Waits one poll interval; `Ok(false)` once the deadline has passed.
    pub(crate) async fn tick(&self, doing: &str) -> Result<bool, Error> {
        if Instant::now() >= self.end {
            return Ok(false);
        }
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Error::Cancelled(doing.to_owned())),
            _ = tokio::time::sleep(POLL) => Ok(true),
        }
    }

    pub(crate) fn timeout(&self, what: impl Into<String>, report: String) -> Error {
        Error::Timeout {
            what: what.into(),
            seconds: self.total.as_secs(),
            report,
        }
    }

    /// Fails when the operation was cancelled or its deadline has passed (between writes).
    pub(crate) fn check(&self, doing: &str) -> Result<(), Error> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled(doing.to_owned()));
        }
        if Instant::now() >= self.end {
            return Err(self.timeout(
                "the operation did not finish",
                format!("- the deadline passed while {doing}; what was done so far stays done"),
            ));
        }
        Ok(())
    }
}

/// The Namespace object for `namespace`: the bare object `kubectl create namespace` makes, so
/// that a namespace made by hand is adopted as it is.
pub fn namespace_object(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
}

/// What an apply wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// The objects written, with why (`missing`, `changed`, …).
    pub objects: Vec<(ObjectRef, &'static str)>,
}

impl Written {
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// Applies `objects` under `manager`, writing only those [`needs_write`] names, and records
/// what is live afterwards in `live`.
pub async fn apply_needed(
    api: &ApiClient,
    objects: &[Value],
    manager: &str,
    live: &mut Live,
    written: &mut Written,
    deadline: &Deadline,
) -> Result<(), Error> {
    for object in objects {
        let r = ObjectRef::of(object)?;
        deadline.check(&format!("applying {r}"))?;
        if let Some(why) = needs_write(object, live.get(&r), manager) {
            tracing::debug!(object = %r, why, "applying");
            let now = api.apply(object, manager).await?;
            live.put(now);
            written.objects.push((r, why));
        }
    }
    Ok(())
}

/// Installs `manifest` (already set in `namespace`): the namespace, the CRDs until
/// Established, the rest. Returns what was written; nothing when the cluster already holds
/// it all. Does not wait for the workloads; see [`wait_rolled_out`].
pub async fn install(
    api: &ApiClient,
    manifest: &Manifest,
    namespace: &str,
    deadline: &Deadline,
) -> Result<Written, Error> {
    let ns = namespace_object(namespace);
    let mut wanted = vec![ns.clone()];
    wanted.extend(manifest.objects().iter().cloned());
    let mut live = Live::read(api, &wanted).await?;
    let mut written = Written::default();
    apply_needed(
        api,
        &[ns],
        INSTALL_MANAGER,
        &mut live,
        &mut written,
        deadline,
    )
    .await?;
    let (crds, rest): (Vec<Value>, Vec<Value>) = manifest
        .objects()
        .iter()
        .cloned()
        .partition(|o| o["kind"] == "CustomResourceDefinition");
    let before = written.objects.len();
    apply_needed(
        api,
        &crds,
        INSTALL_MANAGER,
        &mut live,
        &mut written,
        deadline,
    )
    .await?;
    if written.objects.len() > before {
        for crd in &crds {
            wait_established(api, &ObjectRef::of(crd)?, deadline).await?;
        }
        api.forget_kinds();
        // Kinds the CRDs added were not served when first read: read them again.
        let custom: Vec<Value> = rest
            .iter()
            .filter(|o| is_custom(o, &crds))
            .cloned()
            .collect();
        if !custom.is_empty() {
            let now = Live::read(api, &custom).await?;
            for object in &custom {
                if let Some(l) = now.get(&ObjectRef::of(object)?) {
                    live.put(l.clone());
                }
            }
        }
    }
    apply_needed(
        api,
        &rest,
        INSTALL_MANAGER,
        &mut live,
        &mut written,
        deadline,
    )
    .await?;
    Ok(written)
}

fn is_custom(object: &Value, crds: &[Value]) -> bool {
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .map(|(g, _)| g);
    crds.iter()
        .any(|c| Some(c["spec"]["group"].as_str().unwrap_or_default()) == group)
}

async fn wait_established(
    api: &ApiClient,
    crd: &ObjectRef,
    deadline: &Deadline,
) -> Result<(), Error> {
    let doing = format!("waiting for {} to be Established", crd.name);
    loop {
        let live = api.get(crd).await?;
        let established = live
            .as_ref()
            .is_some_and(|l| condition(l, "Established") == Some("True"));
        if established {
            return Ok(());
        }
        if !deadline.tick(&doing).await? {
            let why = live
                .as_ref()
                .map(conditions_text)
                .unwrap_or_else(|| "it is not there".into());
            return Err(deadline.timeout(format!("CRD {} was not Established", crd.name), why));
        }
    }
}

/// The status of condition `kind` of a live object.
pub(crate) fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?["status"]
        .as_str()
}

/// `type: message` of each condition of a live object (those with status `True` only, when
/// `true_only`), for reports.
pub(crate) fn condition_messages(object: &Value, true_only: bool) -> Vec<String> {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| !true_only || c["status"] == "True")
        .map(|c| {
            format!(
                "{}: {}",
                c["type"].as_str().unwrap_or("?"),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn conditions_text(object: &Value) -> String {
    let parts: Vec<String> = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut s = format!(
                "{}={}",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?")
            );
            if let Some(reason) = c["reason"].as_str() {
                s.push_str(&format!(" ({reason}"));
                if let Some(m) = c["message"].as_str().filter(|m| !m.is_empty()) {
                    s.push_str(&format!(": {m}"));
                }
                s.push(')');
            }
            s
        })
        .collect();
    if parts.is_empty() {
        "no conditions yet".into()
    } else {
        parts.join("; ")
    }
}

/// Why a Deployment or StatefulSet has not rolled out, or `None` when it has: the controller saw
/// this generation, and updated, ready (and for a StatefulSet, current) replicas are the desired
/// count.
pub fn not_rolled_out(object: &Value) -> Option<String> {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
    let status = &object["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if observed < generation {
        return Some(format!(
            "generation {generation} not observed yet (observed {observed})"
        ));
    }
    let desired = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let count = |k: &str| status[k].as_i64().unwrap_or(0);
    let (updated, ready) = (count("updatedReplicas"), count("readyReplicas"));
    if updated != desired || ready != desired {
        return Some(format!(
            "{ready} of {desired} replicas ready, {updated} updated"
        ));
    }
    if object["kind"] == "StatefulSet" {
        let (current, update) = (&status["currentRevision"], &status["updateRevision"]);
        if !update.is_null() && current != update {
            return Some(format!("revision {current} is not yet {update}"));
        }
    }
    if object["kind"] == "Deployment" && condition(object, "Available") == Some("False") {
        return Some(conditions_text(object));
    }
    None
}

/// Waits until every workload of `manifest` has rolled out. On the deadline, the error names
/// each one that has not, why, its conditions and the last events about it.
pub async fn wait_rolled_out(
    api: &ApiClient,
    manifest: &Manifest,
    deadline: &Deadline,
) -> Result<(), Error> {
    let workloads: Vec<Value> = manifest
        .objects()
        .iter()
        .filter(|o| {
            manifest
                .workloads()
                .contains(&ObjectRef::of(o).expect("parsed"))
        })
        .cloned()
        .collect();
    loop {
        let live = Live::read(api, &workloads).await?;
        let mut waiting = Vec::new();
        for w in &workloads {
            let r = ObjectRef::of(w)?;
            match live.get(&r) {
                None => waiting.push((r, "it is not there".to_owned(), None)),
                Some(l) => {
                    if let Some(why) = not_rolled_out(l) {
                        waiting.push((r, why, Some(conditions_text(l))));
                    }
                }
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if !deadline.tick("waiting for Argo CD to roll out").await? {
            let report = report(api, &waiting).await;
            return Err(deadline.timeout("Argo CD did not roll out", report));
        }
    }
}

async fn report(api: &ApiClient, waiting: &[(ObjectRef, String, Option<String>)]) -> String {
    let events = match waiting.first().and_then(|(r, _, _)| r.namespace.clone()) {
        Some(ns) => api
            .list("v1", "Event", Some(&ns), None)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut lines = Vec::new();
    for (r, why, conditions) in waiting {
        let mut line = format!("- {r}: {why}");
        if let Some(c) = conditions {
            line.push_str(&format!("; conditions: {c}"));
        }
        let mut about: Vec<&Value> = events
            .iter()
            .filter(|e| {
                let name = e["involvedObject"]["name"].as_str().unwrap_or_default();
                name == r.name || name.starts_with(&format!("{}-", r.name))
            })
            .collect();
        about.sort_by_key(|e| {
            e["lastTimestamp"]
                .as_str()
                .or(e["eventTime"].as_str())
                .unwrap_or("")
                .to_owned()
        });
        for e in about.iter().rev().take(3).rev() {
            line.push_str(&format!(
                "\n    event {}: {}",
                e["reason"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("")
            ));
        }
        lines.push(line);
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workload_is_rolled_out_when_every_replica_is_updated_and_ready() {
        let d = |gen: i64, observed: i64, ready: i64| {
            json!({"kind": "Deployment",
            "metadata": {"generation": gen}, "spec": {"replicas": 2},
            "status": {"observedGeneration": observed, "updatedReplicas": 2, "readyReplicas": ready}})
        };
        assert_eq!(not_rolled_out(&d(2, 2, 2)), None);
        assert!(not_rolled_out(&d(3, 2, 2))
            .unwrap()
            .contains("generation 3 not observed"));
        assert!(not_rolled_out(&d(2, 2, 1))
            .unwrap()
            .contains("1 of 2 replicas ready"));
        let s = json!({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1,
                       "currentRevision": "a", "updateRevision": "b"}});
        assert!(not_rolled_out(&s).unwrap().contains("revision"));
    }
}
