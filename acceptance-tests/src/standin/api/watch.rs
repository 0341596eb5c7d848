//! Watches: the initial list (or a resume from a resourceVersion) and then the store's
//! events, streamed as JSON lines until the client goes away.

use super::*;

pub(super) fn watch(
    cluster: &Arc<Cluster>,
    req: &ApiRequest,
    rt: &ResourceType,
    namespace: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let labels = Selector::labels(req.query.get("labelSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    let fields = Selector::fields(req.query.get("fieldSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    let key = rt.storage_key();
    let initial_events = req
        .query
        .get("sendInitialEvents")
        .is_some_and(|v| v == "true");
    let from = req
        .query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
        .and_then(|rv| rv.parse::<u64>().ok());
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let rt = rt.clone();
    let namespace = namespace.map(String::from);
    let as_table = wants_table(&req.accept);
    let include = Include::parse(req.query.get("includeObject").map(String::as_str));
    let frame = {
        let rt = rt.clone();
        move |kind: &str, mut object: Value| -> Bytes {
            present(&rt, &mut object);
            if as_table && kind != "BOOKMARK" {
                let rv = object["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                object = table(&rt, &[object], rv, include);
            }
            let mut line =
                serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        }
    };
    let mut first: Vec<Bytes> = Vec::new();
    let (backlog, mut events, floor) = match from.filter(|_| !initial_events) {
        None => {
            // No resourceVersion (or the initial events asked for): the current objects as
            // ADDED, then the changes after them.
            let (objects, rv, events) = cluster.store.list_and_watch(&key, namespace.as_deref());
            for o in objects
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
            {
                first.push(frame("ADDED", o));
            }
            if initial_events {
                first.push(frame(
                    "BOOKMARK",
                    json!({"metadata": {"resourceVersion": rv.to_string(),
                                        "annotations": {"k8s.io/initial-events-end": "true"}}}),
                ));
            }
            (Vec::new(), events, rv)
        }
        Some(from_rv) => match cluster.store.watch(Some(from_rv)) {
            Ok((backlog, events)) => (backlog, events, from_rv),
            Err(_) => {
                let status = ApiError::new(
                    410,
                    "Expired",
                    format!(
                        "too old resource version: {from_rv} ({})",
                        cluster.store.resource_version()
                    ),
                )
                .status();
                let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": status}))
                    .unwrap_or_default();
                line.push(b'\n');
                tokio::spawn(async move {
                    let _ = tx.send(Bytes::from(line)).await;
                });
                return Ok(stream_response(ChannelBody(rx)));
            }
        },
    };
    let matches = move |key_: &str, ns: &str, obj: &Value| -> bool {
        key_ == key
            && namespace.as_deref().is_none_or(|n| n == ns)
            && labels.matches(obj)
            && fields.matches(obj)
    };
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        for ev in backlog {
            if matches(&ev.key, &ev.namespace, &ev.object)
                && tx
                    .send(frame(ev.kind.as_str(), ev.object.clone()))
                    .await
                    .is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= floor || !matches(&ev.key, &ev.namespace, &ev.object) {
                            continue;
                        }
                        let kind = if ev.kind == EventType::Deleted { "DELETED" } else { ev.kind.as_str() };
                        if tx.send(frame(kind, ev.object.clone())).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
            }
        }
    });
    Ok(stream_response(ChannelBody(rx)))
}
