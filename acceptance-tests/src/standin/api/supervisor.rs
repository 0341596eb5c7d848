//! The K3s supervisor endpoints the stand-in serves beside the Kubernetes API: the bootstrap
//! data a joining server fetches and the kubelet serving certificate an agent asks for.

use super::*;

/// `GET /v1-k3s/server-bootstrap`: the cluster CAs for a server joining this one; only the
/// server token may ask (an agent token cannot join servers, as in K3s).
pub(super) fn server_bootstrap(
    cluster: &Arc<Cluster>,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let token = req
        .authorization
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .trim();
    if !cluster.server_tokens.iter().any(|t| t == token) {
        return Err(ApiError::new(
            401,
            "Unauthorized",
            "only the server token may join servers",
        ));
    }
    Ok(json_response(
        200,
        &json!({
            "serverCA": {"cert": cluster.server_ca.cert_pem, "key": cluster.server_ca.key_pem},
            "clientCA": {"cert": cluster.client_ca.cert_pem, "key": cluster.client_ca.key_pem},
        }),
    ))
}

/// `GET /v1-k3s/serving-kubelet.crt` with `k3s-Node-Name` and `k3s-Node-Password`: checks
/// (or records) the node's password in the `<node>.node-password.k3s` secret, as K3s does,
/// and returns a kubelet serving certificate.
pub(super) fn node_certificate(
    cluster: &Arc<Cluster>,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let node = req.node_name.trim();
    let password = req.node_password.trim();
    if node.is_empty() || password.is_empty() {
        return Err(ApiError::bad_request(
            "k3s-Node-Name and k3s-Node-Password headers are required",
        ));
    }
    let secrets = cluster.builtin("", "secrets");
    let secret_name = format!("{node}.node-password.k3s");
    let hash = sha256_hex(password.as_bytes());
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&hash);
    match cluster.store.get(SECRET_KEY, "kube-system", &secret_name) {
        Some(secret) => {
            if secret["data"]["hash"].as_str() != Some(encoded.as_str()) {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!("Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-passwd entry, try enabling a unique node name with the --with-node-id flag (node {node})"),
                ));
            }
        }
        None => {
            cluster.create(
                &secrets,
                Some("kube-system"),
                json!({"metadata": {"name": secret_name, "labels": {"k3s.io/node-name": node}},
                       "type": "k3s.cattle.io/node-password", "data": {"hash": encoded}}),
                &WriteOptions::default(),
            )?;
        }
    }
    let leaf = cluster
        .server_ca
        .issue(node, &[], &[node.to_owned()], Usage::Server)
        .map_err(|e| {
            ApiError::new(
                500,
                "InternalError",
                format!("issuing a kubelet certificate: {e:#}"),
            )
        })?;
    Ok(text_response(
        200,
        format!("{}{}", leaf.cert_pem, cluster.server_ca.cert_pem),
    ))
}
