//! The stand-in API server's object store: every object as JSON in memory, keyed by
//! `<group>/<plural>`, namespace and name, with a global increasing resourceVersion, a log
//! of recent changes for watches that resume from a resourceVersion, and a JSON file under
//! the server's data directory so a restart keeps the objects.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How many changes the watch log keeps.
const LOG_CAPACITY: usize = 20_000;

/// One stored object and the configurations field managers applied to it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The object as served (resourceVersion included).
    pub object: Value,
    /// Server-side apply: the last configuration each field manager applied.
    pub applied: BTreeMap<String, Value>,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// The storage key (`<group>/<plural>`).
    pub key: String,
    /// The object's namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (before it, for a deletion, with a new resourceVersion).
    pub object: Value,
}

type Id = (String, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Id, Entry>,
    log: VecDeque<Arc<Event>>,
    /// Every change after this resourceVersion is in the log.
    log_floor: u64,
}

/// The logged changes a watch resumes with, and the receiver for the changes to come.
pub type Subscription = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// A watch that asked for changes the log no longer holds.
#[derive(Debug)]
pub struct Expired;

/// The object store.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    path: Option<PathBuf>,
    dirty: AtomicBool,
}

/// A locked view of the store for read-modify-write operations.
pub struct Txn<'a> {
    inner: MutexGuard<'a, Inner>,
    store: &'a Store,
}

impl Store {
    /// Opens the store, loading `path` when it exists (`None`: memory only).
    pub fn open(path: Option<PathBuf>) -> Result<Store> {
        let mut inner = Inner {
            rv: 1,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_floor: 1,
        };
        if let Some(p) = path.as_ref().filter(|p| p.exists()) {
            let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let doc: Value = serde_json::from_slice(&text)
                .with_context(|| format!("parsing {}", p.display()))?;
            inner.rv = doc["resourceVersion"].as_u64().unwrap_or(1);
            for item in doc["objects"].as_array().into_iter().flatten() {
                let id = (
                    item["key"].as_str().unwrap_or_default().to_owned(),
                    item["namespace"].as_str().unwrap_or_default().to_owned(),
                    item["name"].as_str().unwrap_or_default().to_owned(),
                );
                let applied = item["applied"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                inner.objects.insert(
                    id,
                    Entry {
                        object: item["object"].clone(),
                        applied,
                    },
                );
            }
            // Watches from before the restart cannot resume: they get 410 Gone and relist.
            inner.rv += 1;
            inner.log_floor = inner.rv;
        }
        let (tx, _) = broadcast::channel(4096);
        Ok(Store {
            inner: Mutex::new(inner),
            tx,
            path,
            dirty: AtomicBool::new(false),
        })
    }

    /// Locks the store for a read-modify-write.
    pub fn txn(&self) -> Txn<'_> {
        Txn {
            inner: self.inner.lock().expect("store lock"),
            store: self,
        }
    }

    /// One object.
    pub fn get(&self, key: &str, namespace: &str, name: &str) -> Option<Value> {
        self.txn()
            .get(key, namespace, name)
            .map(|e| e.object.clone())
    }

    /// The objects under `key` (in `namespace` when given) and the current resourceVersion.
    pub fn list(&self, key: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let txn = self.txn();
        (txn.list(key, namespace), txn.inner.rv)
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().expect("store lock").rv
    }

    /// Subscribes to changes after `from` (`None`: from now on). Returns the logged changes
    /// after `from` and a receiver for the ones to come; no change falls between the two.
    pub fn watch(&self, from: Option<u64>) -> Result<Subscription, Expired> {
        let inner = self.inner.lock().expect("store lock");
        let rx = self.tx.subscribe();
        let backlog = match from {
            None => Vec::new(),
            Some(rv) if rv < inner.log_floor => return Err(Expired),
            Some(rv) => inner.log.iter().filter(|e| e.rv > rv).cloned().collect(),
        };
        Ok((backlog, rx))
    }

    /// Snapshots the objects under `key` (in `namespace` when given) and subscribes to the
    /// changes after the snapshot, atomically.
    pub fn list_and_watch(
        &self,
        key: &str,
        namespace: Option<&str>,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Arc<Event>>) {
        let txn = self.txn();
        let rx = self.tx.subscribe();
        (txn.list(key, namespace), txn.inner.rv, rx)
    }

    /// Writes the store to its file if anything changed since the last write.
    pub fn flush(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let doc = {
            let inner = self.inner.lock().expect("store lock");
            let objects: Vec<Value> = inner
                .objects
                .iter()
                .map(|((key, ns, name), entry)| {
                    json!({"key": key, "namespace": ns, "name": name,
                           "object": entry.object, "applied": entry.applied})
                })
                .collect();
            json!({"resourceVersion": inner.rv, "objects": objects})
        };
        let bytes = serde_json::to_vec(&doc)?;
        if let Err(e) = super::util::write_file(path, &bytes, 0o600) {
            self.dirty.store(true, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }
}

impl Txn<'_> {
    /// One entry.
    pub fn get(&self, key: &str, namespace: &str, name: &str) -> Option<&Entry> {
        self.inner
            .objects
            .get(&(key.to_owned(), namespace.to_owned(), name.to_owned()))
    }

    /// The objects under `key`, in `namespace` when given.
    pub fn list(&self, key: &str, namespace: Option<&str>) -> Vec<Value> {
        let start = (key.to_owned(), String::new(), String::new());
        self.inner
            .objects
            .range(start..)
            .take_while(|((k, _, _), _)| k == key)
            .filter(|((_, ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, e)| e.object.clone())
            .collect()
    }

    /// The names of the objects under `key` in `namespace` (all namespaces when `None`).
    pub fn ids(&self, key: &str, namespace: Option<&str>) -> Vec<(String, String)> {
        let start = (key.to_owned(), String::new(), String::new());
        self.inner
            .objects
            .range(start..)
            .take_while(|((k, _, _), _)| k == key)
            .filter(|((_, ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|((_, ns, name), _)| (ns.clone(), name.clone()))
            .collect()
    }

    /// Every (storage key, name) in `namespace`.
    pub fn ids_in_namespace(&self, namespace: &str) -> Vec<(String, String)> {
        self.inner
            .objects
            .keys()
            .filter(|(_, ns, _)| ns == namespace)
            .map(|(key, _, name)| (key.clone(), name.clone()))
            .collect()
    }

    /// Stores an object (created or changed), giving it the next resourceVersion.
    /// Returns the object as stored.
    pub fn put(&mut self, key: &str, namespace: &str, name: &str, mut entry: Entry) -> Value {
        self.inner.rv += 1;
        let rv = self.inner.rv;
        entry.object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let id = (key.to_owned(), namespace.to_owned(), name.to_owned());
        let object = entry.object.clone();
        let kind = if self.inner.objects.insert(id, entry).is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(rv, key, namespace, kind, object.clone());
        object
    }

    /// Deletes an object; returns it as it was last.
    pub fn delete(&mut self, key: &str, namespace: &str, name: &str) -> Option<Value> {
        let id = (key.to_owned(), namespace.to_owned(), name.to_owned());
        let mut entry = self.inner.objects.remove(&id)?;
        self.inner.rv += 1;
        let rv = self.inner.rv;
        entry.object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(rv, key, namespace, EventType::Deleted, entry.object.clone());
        Some(entry.object)
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.rv
    }

    fn record(&mut self, rv: u64, key: &str, namespace: &str, kind: EventType, object: Value) {
        let event = Arc::new(Event {
            rv,
            key: key.to_owned(),
            namespace: namespace.to_owned(),
            kind,
            object,
        });
        if self.inner.log.len() >= LOG_CAPACITY {
            if let Some(old) = self.inner.log.pop_front() {
                self.inner.log_floor = old.rv;
            }
        }
        self.inner.log.push_back(event.clone());
        let _ = self.store.tx.send(event);
        self.store.dirty.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> Entry {
        Entry {
            object: v,
            applied: BTreeMap::new(),
        }
    }

    #[test]
    fn objects_persist_and_watches_resume() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state.json");
        let store = Store::open(Some(path.clone()))?;
        let start = store.resource_version();
        let stored = store.txn().put(
            "/configmaps",
            "default",
            "a",
            entry(json!({"metadata": {"name": "a"}})),
        );
        assert_eq!(
            stored["metadata"]["resourceVersion"],
            (start + 1).to_string()
        );
        store.txn().put(
            "apps/deployments",
            "default",
            "d",
            entry(json!({"metadata": {"name": "d"}})),
        );
        let (backlog, _rx) = store
            .watch(Some(start + 1))
            .map_err(|_| anyhow::anyhow!("gone"))?;
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].key, "apps/deployments");
        assert_eq!(store.list("/configmaps", None).0.len(), 1);
        store.flush()?;
        let again = Store::open(Some(path))?;
        assert_eq!(again.list("/configmaps", Some("default")).0.len(), 1);
        assert!(again.resource_version() > start + 2);
        assert!(again.watch(Some(start)).is_err());
        Ok(())
    }
}
