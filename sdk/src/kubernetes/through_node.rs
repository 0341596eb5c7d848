//! Reaching a cluster's API through a node over SSH: the API address the kubeconfig names is
//! reached from the node (a local port forward), and the API's certificate is verified for
//! that address, not for the local end of the forward. The kubeconfig stays in this
//! process's memory; nothing is written to the node.

use super::{ApiClient, Error};
use crate::ssh::Session;
use crate::Secret;

impl ApiClient {
    /// A client through `session`'s node with the kubeconfig the node holds at `path` (a K3s
    /// server's admin kubeconfig, `/etc/rancher/k3s/k3s.yaml`, names `https://127.0.0.1:6443`,
    /// which is then the node's own loopback). Read as root when the session uses sudo.
    pub async fn through_node(session: &Session, path: &str) -> Result<ApiClient, Error> {
        let failed = |step: String, cause| Error::ThroughNode {
            host: session.host().to_owned(),
            step,
            cause,
        };
        let bytes = session
            .read_file(path)
            .await
            .map_err(|e| failed(format!("reading {path}"), Some(Box::new(e))))?;
        let text =
            String::from_utf8(bytes).map_err(|_| failed(format!("{path} is not text"), None))?;
        ApiClient::through_node_with(session, &Secret::new(text)).await
    }

    /// A client through `session`'s node with a kubeconfig held here: its API address is
    /// reached as the node sees it (an agent reaching the server it joined).
    pub async fn through_node_with(
        session: &Session,
        kubeconfig: &Secret,
    ) -> Result<ApiClient, Error> {
        let failed = |step: String, cause| Error::ThroughNode {
            host: session.host().to_owned(),
            step,
            cause,
        };
        let config = super::client::config_of(kubeconfig).await?;
        let url = &config.cluster_url;
        let host = url
            .host()
            .ok_or_else(|| failed("the kubeconfig's server URL has no host".into(), None))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_u16().unwrap_or(443);
        let forward = session
            .forward_local(&host, port)
            .await
            .map_err(|e| failed(format!("forwarding to {host}:{port}"), Some(Box::new(e))))?;
        let local = format!("https://{}", forward.local_addr());
        let server_name = config.tls_server_name.clone().unwrap_or(host);
        ApiClient::from_kubeconfig_at(kubeconfig, &local, Some(server_name), forward).await
    }
}
