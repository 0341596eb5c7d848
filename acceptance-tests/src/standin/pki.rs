//! Certificates of the K3s stand-in, laid out where K3s keeps them under
//! `<data-dir>/server/tls/`: a server CA (its PEM is what `/cacerts` serves and what the
//! `K10<hash>` token prefix hashes), a client CA for client certificates, the API server's
//! serving certificate and the admin client certificate that goes into `k3s.yaml`.
//! The CAs survive restarts. The serving certificate is issued anew on every start (its SANs
//! follow the configuration); the admin client certificate is kept, as K3s keeps it, unless it
//! expires within 90 days, when K3s renews it at start. `k3s.yaml` is rewritten on every start
//! either way.

use super::util::{civil_from_days, unix_now, write_file};
use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::Path;

/// A certificate authority: certificate and key in PEM.
#[derive(Debug, Clone)]
pub struct Ca {
    /// The CA certificate.
    pub cert_pem: String,
    /// The CA's private key (PKCS#8).
    pub key_pem: String,
}

/// A leaf certificate and its key in PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// TLS server.
    Server,
    /// TLS client.
    Client,
}

impl Ca {
    /// Loads `<dir>/<name>.crt` and `.key`, or creates a new CA there (valid ten years).
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Ca> {
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        if cert_path.exists() && key_path.exists() {
            return Ok(Ca {
                cert_pem: std::fs::read_to_string(&cert_path)?,
                key_pem: std::fs::read_to_string(&key_path)?,
            });
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("k3s-{name}@{}", unix_now()));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, 3650);
        let cert = params.self_signed(&key)?;
        let ca = Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        write_file(&key_path, ca.key_pem.as_bytes(), 0o600)?;
        write_file(&cert_path, ca.cert_pem.as_bytes(), 0o644)?;
        Ok(ca)
    }

    /// Issues a leaf certificate (valid one year) for `common_name` with the given
    /// organisations and subject alternative names (IP addresses or DNS names).
    pub fn issue(
        &self,
        common_name: &str,
        organisations: &[&str],
        sans: &[String],
        usage: Usage,
    ) -> Result<Leaf> {
        self.issue_for_days(common_name, organisations, sans, usage, 365)
    }

    fn issue_for_days(
        &self,
        common_name: &str,
        organisations: &[&str],
        sans: &[String],
        usage: Usage,
        days: i64,
    ) -> Result<Leaf> {
        let ca_key = KeyPair::from_pem(&self.key_pem).context("parsing the CA key")?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key).context("parsing the CA")?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(sans.to_vec())?;
        let mut dn = DistinguishedName::new();
        for org in organisations {
            dn.push(DnType::OrganizationName, *org);
        }
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, days);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Within this many days of expiry, a leaf certificate is renewed at start.
pub const RENEW_WITHIN_DAYS: i64 = 90;

impl Leaf {
    /// Loads `<dir>/<name>.crt` and `.key` when both exist and the certificate is valid for
    /// more than [`RENEW_WITHIN_DAYS`]; otherwise `None` (it is to be issued anew).
    pub fn load_unless_due(dir: &Path, name: &str) -> Result<Option<Leaf>> {
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        if !(cert_path.exists() && key_path.exists()) {
            return Ok(None);
        }
        let cert_pem = std::fs::read_to_string(&cert_path)?;
        let der = pem_certs(&cert_pem)?
            .into_iter()
            .next()
            .with_context(|| format!("no certificate in {}", cert_path.display()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .with_context(|| format!("parsing {}", cert_path.display()))?;
        let due = unix_now() as i64 + RENEW_WITHIN_DAYS * 86_400;
        if cert.validity().not_after.timestamp() <= due {
            return Ok(None);
        }
        Ok(Some(Leaf {
            cert_pem,
            key_pem: std::fs::read_to_string(&key_path)?,
        }))
    }

    /// Writes `<dir>/<name>.crt` (0644) and `<dir>/<name>.key` (0600).
    pub fn write(&self, dir: &Path, name: &str) -> Result<()> {
        write_file(
            &dir.join(format!("{name}.key")),
            self.key_pem.as_bytes(),
            0o600,
        )?;
        write_file(
            &dir.join(format!("{name}.crt")),
            self.cert_pem.as_bytes(),
            0o644,
        )
    }
}

/// Valid from yesterday for `days` days.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let today = (unix_now() / 86_400) as i64;
    let date = |d: i64| {
        let (y, m, dd) = civil_from_days(d);
        rcgen::date_time_ymd(y as i32, m as u8, dd as u8)
    };
    params.not_before = date(today - 1);
    params.not_after = date(today + days);
}

/// The DER bytes of every certificate in a PEM bundle.
pub fn pem_certs(pem: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing PEM certificates")
}

/// The private key in a PEM string.
pub fn pem_key(pem: &str) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes()).context("parsing a PEM key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_survives_reloading_and_issues_leaves() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let ca = Ca::load_or_create(dir.path(), "server-ca")?;
        let again = Ca::load_or_create(dir.path(), "server-ca")?;
        assert_eq!(ca.cert_pem, again.cert_pem);
        let leaf = again.issue(
            "k3s",
            &["k3s"],
            &["127.0.0.1".into(), "localhost".into()],
            Usage::Server,
        )?;
        assert_eq!(pem_certs(&leaf.cert_pem)?.len(), 1);
        pem_key(&leaf.key_pem)?;
        Ok(())
    }

    #[test]
    fn the_admin_certificate_is_kept_until_it_is_due_for_renewal() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let ca = Ca::load_or_create(dir.path(), "client-ca")?;
        assert!(Leaf::load_unless_due(dir.path(), "client-admin")?.is_none());
        let year = ca.issue("system:admin", &["system:masters"], &[], Usage::Client)?;
        year.write(dir.path(), "client-admin")?;
        let kept = Leaf::load_unless_due(dir.path(), "client-admin")?.expect("kept");
        assert_eq!(kept.cert_pem, year.cert_pem);
        let month = ca.issue_for_days("system:admin", &[], &[], Usage::Client, 30)?;
        month.write(dir.path(), "client-admin")?;
        assert!(Leaf::load_unless_due(dir.path(), "client-admin")?.is_none());
        Ok(())
    }
}
