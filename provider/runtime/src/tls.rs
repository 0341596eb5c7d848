//! AutoMTLS as Terraform does it: the provider makes a one-time certificate and announces it in
//! the handshake line; Terraform's one-time client certificate (ECDSA P-521, from
//! `PLUGIN_CLIENT_CERT`) is the only client accepted, checked byte for byte and by the
//! signature that proves its key, with ALPN `h2` for gRPC.
//!
//! TLS runs on ring, which starts instantly; ring cannot verify P-521 signatures, so those are
//! checked with the pure-Rust `p521` crate.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` held no certificate.
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    ClientCertificate(String),
    /// Making the server certificate failed.
    #[error("could not make the provider's TLS certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("could not configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The provider's side of AutoMTLS.
pub struct AutoMtls {
    /// The DER of the provider's certificate, announced in the handshake line.
    pub server_cert_der: Vec<u8>,
    /// The rustls configuration that requires Terraform's certificate.
    pub config: Arc<rustls::ServerConfig>,
}

impl AutoMtls {
    /// Sets up TLS that accepts only the client whose certificate is `client_cert_pem`; the
    /// provider's certificate names `provider` as its organisation.
    pub fn new(client_cert_pem: &str, provider: &str) -> Result<AutoMtls, TlsError> {
        let client_cert = parse_pem_certificate(client_cert_pem)?;
        let (server_cert, server_key) = server_certificate(provider)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(PinnedClientCertificate {
            expected: client_cert,
            algorithms: provider.signature_verification_algorithms,
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server_cert.clone()], server_key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(AutoMtls {
            server_cert_der: server_cert.to_vec(),
            config: Arc::new(config),
        })
    }
}

/// Reads the first certificate from PEM text.
fn parse_pem_certificate(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| TlsError::ClientCertificate("no CERTIFICATE block".into()))?
        .map_err(|e| TlsError::ClientCertificate(e.to_string()))
}

/// A one-time self-signed ECDSA P-256 certificate for `localhost`, as go-plugin's client
/// expects: it is its own trust root, so it is a CA, valid from 30 s ago.
fn server_certificate(
    provider: &str,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let err = |e: rcgen::Error| TlsError::Certificate(e.to_string());
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.distinguished_name.push(
        DnType::OrganizationName,
        format!("terraform-provider-{provider}"),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(30)).into();
    params.not_after = (now + std::time::Duration::from_secs(30 * 365 * 24 * 3600)).into();
    let cert = params.self_signed(&key).map_err(err)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

/// Accepts exactly one client certificate. Terraform's certificate is a self-signed CA
/// certificate used as a leaf, which path-building verifiers reject, so the check is a pin:
/// the certificate must be byte-identical to the one Terraform gave us in its environment,
/// and the handshake signature proves the client holds its key.
#[derive(Debug)]
struct PinnedClientCertificate {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            tracing::debug!("client certificate verified: it is the one Terraform announced");
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(
                "refused a TLS client whose certificate is not the one Terraform announced"
            );
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        p521_or(message, cert, dss, || {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        p521_or(message, cert, dss, || {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self.algorithms.supported_schemes();
        schemes.insert(0, SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}

/// Verifies an ECDSA P-521 / SHA-512 signature (DER) over `message` with the certificate's key.
/// P-521 (which ring cannot verify) with the p521 crate, anything else with `otherwise`.
fn p521_or(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    otherwise: impl FnOnce() -> Result<HandshakeSignatureValid, rustls::Error>,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
        verify_p521(message, cert, dss.signature())
    } else {
        otherwise()
    }
}

fn verify_p521(
    message: &[u8],
    cert: &CertificateDer<'_>,
    signature: &[u8],
) -> Result<HandshakeSignatureValid, rustls::Error> {
    use p521::ecdsa::signature::Verifier;
    let bad = |what: &str| rustls::Error::General(format!("P-521 client signature: {what}"));
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| bad("unreadable certificate"))?;
    let spki = parsed.public_key();
    let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(&spki.subject_public_key.data)
        .map_err(|_| bad("not a P-521 key"))?;
    let signature =
        p521::ecdsa::Signature::from_der(signature).map_err(|_| bad("malformed signature"))?;
    key.verify(message, &signature)
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))?;
    Ok(HandshakeSignatureValid::assertion())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivatePkcs8KeyDer;

    /// A Terraform-like P-521 certificate and a signature made with its key (aws-lc-rs, tests
    /// only).
    fn signed(message: &[u8]) -> (CertificateDer<'static>, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&der).unwrap();
        let signer = signing
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP521_SHA512])
            .unwrap();
        (cert.der().clone(), signer.sign(message).unwrap())
    }

    #[test]
    fn p521_signatures_verify_and_forgeries_do_not() {
        let (cert, signature) = signed(b"handshake transcript");
        assert!(verify_p521(b"handshake transcript", &cert, &signature).is_ok());
        assert!(verify_p521(b"another transcript", &cert, &signature).is_err());
        let (other_cert, _) = signed(b"x");
        assert!(verify_p521(b"handshake transcript", &other_cert, &signature).is_err());
    }

    #[test]
    fn only_the_announced_certificate_is_accepted() {
        let (announced, _) = signed(b"x");
        let (other, _) = signed(b"x");
        let verifier = PinnedClientCertificate {
            expected: announced.clone(),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        };
        let now = UnixTime::now();
        assert!(verifier.verify_client_cert(&announced, &[], now).is_ok());
        assert!(verifier.verify_client_cert(&other, &[], now).is_err());
        assert!(verifier
            .supported_verify_schemes()
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }
}
