//! K3s's version rules, checked before a node is touched: no downgrades, upgrades one minor
//! release at a time, and an agent never newer than the server it joins. The servers' versions
//! come from what this provider run has read, planned or applied for `k3s_server` resources,
//! by their `api_endpoint`: an agent whose `server_url` is one of them is checked against it at
//! plan (against the server's planned version, as Terraform plans a server before the agents
//! that refer to it) and again at apply.

use k3s_sdk::k3s::K3sVersion;
use std::collections::HashMap;
use std::sync::Mutex;

/// The versions of the K3s servers this provider run knows, by API endpoint.
#[derive(Debug, Default)]
pub struct ServerVersions(Mutex<HashMap<String, K3sVersion>>);

impl ServerVersions {
    /// Records that the server at `endpoint` runs (or is planned to run) `version`.
    pub fn record(&self, endpoint: &str, version: K3sVersion) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(endpoint.trim_end_matches('/').to_owned(), version);
    }

    /// The version of the server at `endpoint`, when known.
    pub fn of(&self, endpoint: &str) -> Option<K3sVersion> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint.trim_end_matches('/'))
            .copied()
    }
}

/// Why going from `from` (what the node runs) to `to` (what is configured) is refused.
pub fn change_refused(from: K3sVersion, to: K3sVersion) -> Option<String> {
    if to < from {
        return Some(format!(
            "the node runs K3s {from} and {to} is older; K3s does not support downgrades. Pin \
                {from} or newer, or replace the node."
        ));
    }
    if to.major != from.major || to.minor > from.minor + 1 {
        return Some(format!(
            "the node runs K3s {from}; K3s upgrades one minor release at a time, so go to v{}.{}.x \
                first, then to {to}.",
            from.major,
            from.minor + 1
        ));
    }
    None
}

/// Why an agent at `agent` may not join a server at `server`.
pub fn agent_refused(agent: K3sVersion, server: K3sVersion) -> Option<String> {
    (agent > server).then(|| {
        format!(
            "the server this agent joins runs (or is to run) K3s {server}, older than {agent}; an \
                agent must not be newer than its server. Upgrade the server first, or pin the \
                agent at {server} or older."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> K3sVersion {
        s.parse().unwrap()
    }

    #[test]
    fn one_minor_at_a_time_never_down_and_agents_not_ahead() {
        assert_eq!(change_refused(v("v1.33.4+k3s1"), v("v1.33.5+k3s1")), None);
        assert_eq!(change_refused(v("v1.33.4+k3s1"), v("v1.34.1+k3s1")), None);
        assert_eq!(change_refused(v("v1.33.4+k3s1"), v("v1.33.4+k3s1")), None);
        assert!(change_refused(v("v1.33.4+k3s1"), v("v1.35.0+k3s1"))
            .unwrap()
            .contains("go to v1.34.x first"));
        assert!(change_refused(v("v1.34.1+k3s1"), v("v1.33.4+k3s1"))
            .unwrap()
            .contains("downgrades"));
        assert!(agent_refused(v("v1.34.1+k3s1"), v("v1.33.4+k3s1")).is_some());
        assert!(agent_refused(v("v1.33.4+k3s1"), v("v1.34.1+k3s1")).is_none());
        let known = ServerVersions::default();
        known.record("https://10.0.0.5:6443/", v("v1.33.4+k3s1"));
        assert_eq!(known.of("https://10.0.0.5:6443"), Some(v("v1.33.4+k3s1")));
    }
}
