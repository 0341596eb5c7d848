//! The Kubernetes API reached from this machine with an admin kubeconfig (embedded
//! certificates, as K3s writes them), for what cannot go through the node itself: deleting
//! the Node object of a host that no longer answers, and the server's version before an agent
//! that joins it from outside the configuration is touched.

use crate::Secret;
use serde_json::Value as J;
use std::time::Duration;

/// What went wrong talking to the API directly. No message carries the kubeconfig's keys.
#[derive(Debug, thiserror::Error)]
pub enum DirectApiError {
    /// The kubeconfig is not one this client can use.
    #[error("the kubeconfig cannot be used: {0}")]
    Kubeconfig(String),
    /// The API did not answer.
    #[error("the API at {server} did not answer: {reason}")]
    Unreachable {
        /// The API server URL.
        server: String,
        /// Why, as the HTTP client reports it.
        reason: String,
    },
    /// The API answered with an error.
    #[error("the API at {server} answered {status}: {message}")]
    Refused {
        /// The API server URL.
        server: String,
        /// The HTTP status.
        status: u16,
        /// The `message` of the Status object, or the body.
        message: String,
    },
}

/// What deleting a Node object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeDeletion {
    /// The Node object was deleted.
    Deleted,
    /// There was no such Node object.
    Absent,
}

/// A client for one cluster's API from this machine.
pub struct DirectApi {
    client: reqwest::Client,
    server: String,
}

impl DirectApi {
    /// A client from a kubeconfig's current context (or its first cluster and user), trusting
    /// only the cluster's CA, with every request bounded by `timeout`.
    pub fn from_kubeconfig(kubeconfig: &Secret, timeout: Duration) -> Result<Self, DirectApiError> {
        let bad = |why: &str| DirectApiError::Kubeconfig(why.to_owned());
        let doc: J = serde_yaml_ng::from_str(kubeconfig.expose()).map_err(|_| bad("not YAML"))?;
        let context = doc["current-context"]
            .as_str()
            .and_then(|name| named(&doc["contexts"], name).map(|c| c["context"].clone()));
        let pick = |list: &str, key: &str| match context.as_ref().and_then(|c| c[key].as_str()) {
            Some(name) => named(&doc[list], name),
            None => doc[list].get(0),
        };
        let cluster = &pick("clusters", "cluster").ok_or_else(|| bad("no cluster"))?["cluster"];
        let user = &pick("users", "user").ok_or_else(|| bad("no user"))?["user"];
        let server = cluster["server"]
            .as_str()
            .ok_or_else(|| bad("no server URL"))?
            .trim_end_matches('/')
            .to_owned();
        let data = |v: &J, what: &str| -> Result<Vec<u8>, DirectApiError> {
            use base64::Engine;
            let text = v
                .as_str()
                .ok_or_else(|| DirectApiError::Kubeconfig(format!("no {what}")))?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| DirectApiError::Kubeconfig(format!("{what} is not base64")))
        };
        let ca = data(
            &cluster["certificate-authority-data"],
            "certificate-authority-data",
        )?;
        let mut identity = data(&user["client-certificate-data"], "client-certificate-data")?;
        identity.push(b'\n');
        identity.extend(data(&user["client-key-data"], "client-key-data")?);
        let ca = reqwest::Certificate::from_pem(&ca).map_err(|_| bad("unreadable CA"))?;
        let identity = reqwest::Identity::from_pem(&identity)
            .map_err(|_| bad("unreadable client certificate or key"))?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(identity)
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(DirectApi { client, server })
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Deletes the Node object `name` (which also removes its node-password secret, as K3s's
    /// controller does for any deleted Node).
    pub async fn delete_node(&self, name: &str) -> Result<NodeDeletion, DirectApiError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(DirectApiError::Kubeconfig(format!(
                "{name:?} is not a Node name"
            )));
        }
        let response = self
            .send(
                self.client
                    .delete(self.url(&format!("/api/v1/nodes/{name}"))),
            )
            .await?;
        match response.status().as_u16() {
            200 | 202 => Ok(NodeDeletion::Deleted),
            404 => Ok(NodeDeletion::Absent),
            _ => Err(self.refusal(response).await),
        }
    }

    /// The version the API server runs (`gitVersion` of `/version`, e.g. `v1.33.4+k3s1`).
    pub async fn server_version(&self) -> Result<String, DirectApiError> {
        let response = self.send(self.client.get(self.url("/version"))).await?;
        if !response.status().is_success() {
            return Err(self.refusal(response).await);
        }
        let unreadable = |why: String| DirectApiError::Refused {
            server: self.server.clone(),
            status: 200,
            message: why,
        };
        let text = response
            .text()
            .await
            .map_err(|e| unreadable(format!("unreadable /version: {}", reason(&e))))?;
        let body: J = serde_json::from_str(&text)
            .map_err(|_| unreadable("/version is not JSON".to_owned()))?;
        body["gitVersion"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| unreadable("/version has no gitVersion".to_owned()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DirectApiError> {
        request
            .send()
            .await
            .map_err(|e| DirectApiError::Unreachable {
                server: self.server.clone(),
                reason: reason(&e),
            })
    }

    /// The error for an answer that is not a success: the Status object's `message`, or the body.
    async fn refusal(&self, response: reqwest::Response) -> DirectApiError {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<J>(&body)
            .ok()
            .and_then(|s| s["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        DirectApiError::Refused {
            server: self.server.clone(),
            status,
            message,
        }
    }
}

/// The entry of a kubeconfig list (`clusters`, `users`, `contexts`) with this name.
fn named<'a>(list: &'a J, name: &str) -> Option<&'a J> {
    list.as_array()?.iter().find(|e| e["name"] == name)
}

/// The HTTP client's error with its causes, which say what failed (connect, TLS, timeout).
fn reason(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfigs_it_cannot_use_are_refused_without_their_contents() {
        for (yaml, why) in [
            ("[", "not YAML"),
            ("clusters: []\nusers: []\n", "no cluster"),
            (
                "clusters:\n- name: a\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: '!!'\nusers:\n- name: a\n  user:\n    client-certificate-data: c2VjcmV0\n    client-key-data: c2VjcmV0\n",
                "certificate-authority-data is not base64",
            ),
        ] {
            let err = DirectApi::from_kubeconfig(&Secret::new(yaml), Duration::from_secs(1))
                .err()
                .expect("refused")
                .to_string();
            assert!(err.contains(why), "{err}");
            assert!(!err.contains("c2VjcmV0"), "{err}");
        }
    }
}
