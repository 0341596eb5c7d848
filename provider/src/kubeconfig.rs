//! K3s's admin kubeconfig (`/etc/rancher/k3s/k3s.yaml`) rewritten for another API endpoint, and
//! split into the parts a server exposes: the CA certificate, the client certificate and key.

use base64::Engine;
use k3s_sdk::Secret;
use serde_json::Value as J;

/// A kubeconfig for the cluster and its parts.
pub struct Parts {
    /// The kubeconfig, pointing at the endpoint asked for.
    pub kubeconfig: Secret,
    /// The cluster's CA certificate (PEM).
    pub ca: String,
    /// The admin client certificate (PEM).
    pub client_certificate: Secret,
    /// The admin client key (PEM).
    pub client_key: Secret,
}

/// K3s renews a client certificate when it starts within this many days of its expiry.
const RENEWED_WITHIN_DAYS: i64 = 90;

/// Whether K3s renews this admin client certificate (PEM) if it starts now: within 90 days of
/// its expiry. One that cannot be read counts as renewed.
pub fn renewed_at_start(client_certificate: &str) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(client_certificate.as_bytes()) else {
        return true;
    };
    let Ok(cert) = pem.parse_x509() else {
        return true;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    cert.validity().not_after.timestamp() <= now + RENEWED_WITHIN_DAYS * 86_400
}

/// Parses `k3s.yaml` and points it at `endpoint` (the YAML is edited, not string-replaced).
pub fn parse(yaml: &[u8], endpoint: &str) -> Result<Parts, String> {
    let mut doc: J = serde_yaml_ng::from_slice(yaml).map_err(|e| format!("not YAML: {e}"))?;
    let decode = |v: &J| -> Result<String, String> {
        let text = v.as_str().ok_or("missing certificate data")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    };
    let cluster = doc
        .pointer_mut("/clusters/0/cluster")
        .ok_or("no cluster in k3s.yaml")?;
    let ca = decode(&cluster["certificate-authority-data"])?;
    cluster["server"] = J::String(endpoint.to_owned());
    let user = doc.pointer("/users/0/user").ok_or("no user in k3s.yaml")?;
    let client_certificate = decode(&user["client-certificate-data"])?;
    let client_key = decode(&user["client-key-data"])?;
    let kubeconfig = serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?;
    Ok(Parts {
        kubeconfig: Secret::new(kubeconfig),
        ca,
        client_certificate: Secret::new(client_certificate),
        client_key: Secret::new(client_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_until(year: i32) -> String {
        let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").pem()
    }

    #[test]
    fn a_certificate_is_renewed_at_start_only_near_its_expiry() {
        assert!(!renewed_at_start(&certificate_until(2120)));
        assert!(renewed_at_start(&certificate_until(2021)));
        assert!(renewed_at_start("not a certificate"));
    }
}
