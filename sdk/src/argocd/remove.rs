//! Taking Argo CD out of a cluster in an order that cannot strand anything: the root
//! Application first (its cascade run by Argo CD's controller while it still runs), the
//! finalizers of Applications left behind when no cascade was asked, the seeded objects, the
//! install, the CRDs only when asked, the namespace last. Every wait is bounded, and what
//! blocks — a finalizer, a Terminating namespace's conditions — is named.

use super::install::Deadline;
use super::Error;
use crate::kubernetes::{ApiClient, Deletion, ObjectRef, Propagation};
use serde_json::{json, Value};

/// What to remove.
#[derive(Debug, Clone)]
pub struct Removal {
    /// Argo CD's namespace.
    pub namespace: String,
    /// The root Application's name.
    pub root: String,
    /// Let the root's finalizer delete what it manages, and wait for it.
    pub cascade: bool,
    /// The objects applied (seeded and installed), in the order they were applied.
    pub inventory: Vec<ObjectRef>,
    /// Delete the CRDs too (which deletes every Application, AppProject and ApplicationSet
    /// in the cluster).
    pub delete_crds: bool,
}

/// Deletes objects that were applied before but are not in `now` (an upgrade dropped them),
/// newest first. Returns what was deleted.
pub async fn prune(
    api: &ApiClient,
    before: &[ObjectRef],
    now: &[ObjectRef],
    deadline: &Deadline,
) -> Result<Vec<ObjectRef>, Error> {
    // Compared without the version: an object a new release serves at another version of its
    // group is the same object, and stays.
    let kept: Vec<String> = now.iter().map(ToString::to_string).collect();
    let mut deleted = Vec::new();
    for r in before
        .iter()
        .rev()
        .filter(|r| !kept.contains(&r.to_string()))
    {
        deadline.check(&format!("deleting {r}"))?;
        if api.delete(r, Propagation::Background).await? == Deletion::Deleted {
            deleted.push(r.clone());
        }
    }
    Ok(deleted)
}

/// Removes Argo CD as described in the module documentation.
pub async fn remove(api: &ApiClient, removal: &Removal, deadline: &Deadline) -> Result<(), Error> {
    let ns = &removal.namespace;
    let app = |name: &str| ObjectRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some(ns.clone()),
        name: name.into(),
    };
    let root = app(&removal.root);
    let served = match api.get(&root).await {
        Ok(live) => Some(live),
        Err(crate::kubernetes::Error::UnknownKind { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(Some(live)) = &served {
        if !removal.cascade && has_finalizers(live) {
            api.merge_patch(&root, &json!({"metadata": {"finalizers": null}}))
                .await?;
        }
        api.delete(&root, Propagation::Default).await?;
        wait_gone(api, &root, deadline).await?;
    }
    if !removal.cascade && served.is_some() {
        // Applications left behind keep what they manage: first the controller goes (so it
        // cannot re-create a finalizer or start a cascade), then their finalizers, which would
        // otherwise hold the namespace in Terminating with nothing left to run them.
        let controller = removal
            .inventory
            .iter()
            .find(|r| r.kind == "StatefulSet" && r.name == "argocd-application-controller");
        if let Some(controller) = controller {
            deadline.check("stopping Argo CD's application controller")?;
            api.delete(controller, Propagation::Foreground).await?;
        }
        let left = match api
            .list("argoproj.io/v1alpha1", "Application", Some(ns), None)
            .await
        {
            Ok(left) => left,
            Err(crate::kubernetes::Error::UnknownKind { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for a in left {
            if has_finalizers(&a) {
                api.merge_patch(
                    &ObjectRef::of(&a)?,
                    &json!({"metadata": {"finalizers": null}}),
                )
                .await?;
            }
        }
    }
    let is_crd = |r: &ObjectRef| r.kind == "CustomResourceDefinition";
    let is_namespace = |r: &ObjectRef| r.kind == "Namespace" && r.group().is_empty();
    for r in removal.inventory.iter().rev() {
        deadline.check(&format!("deleting {r}"))?;
        if is_crd(r) || is_namespace(r) || *r == root {
            continue;
        }
        match api.delete(r, Propagation::Background).await {
            Ok(_) => {}
            Err(crate::kubernetes::Error::UnknownKind { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if removal.delete_crds {
        let crds: Vec<&ObjectRef> = removal.inventory.iter().filter(|r| is_crd(r)).collect();
        for r in &crds {
            api.delete(r, Propagation::Background).await?;
        }
        for r in &crds {
            wait_gone(api, r, deadline).await?;
        }
    }
    let namespace = ObjectRef {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: ns.clone(),
    };
    if removal
        .inventory
        .iter()
        .any(|r| is_namespace(r) && r.name == *ns)
    {
        api.delete(&namespace, Propagation::Background).await?;
        wait_gone(api, &namespace, deadline).await?;
    }
    Ok(())
}

fn has_finalizers(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// Waits until `r` is gone; on the deadline, names its finalizers and conditions.
async fn wait_gone(api: &ApiClient, r: &ObjectRef, deadline: &Deadline) -> Result<(), Error> {
    let doing = format!("waiting for {r} to be deleted");
    loop {
        let Some(live) = api.get(r).await? else {
            return Ok(());
        };
        if !deadline.tick(&doing).await? {
            let finalizers = live["metadata"]["finalizers"].clone();
            let conditions = super::install::condition_messages(&live, true);
            let mut report = format!("{r} is still there (Terminating); finalizers: {finalizers}");
            if !conditions.is_empty() {
                report.push_str(&format!("; conditions: {}", conditions.join("; ")));
            }
            return Err(deadline.timeout(format!("{r} was not deleted"), report));
        }
    }
}
