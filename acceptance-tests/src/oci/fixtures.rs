//! What the fake OCI endpoint serves: tenancies with their API users and compartments,
//! instances with their primary VNIC, network load balancers with backend sets, and Vault
//! secrets. Plain structs (serde, camelCase) so a test can build them in code or load JSON.
//!
//! [`generate_api_key`] makes a fresh RSA-2048 API key the way `oci setup keys` does (PKCS#8
//! PEM plus the MD5 fingerprint of the public key), and [`Credentials`] writes the matching
//! `~/.oci/config` profile.
//!
//! ```no_run
//! use acceptance_tests::oci::fixtures::{Fixtures, Instance};
//! let mut fixtures = Fixtures::default();
//! let creds = fixtures.add_tenancy("ocid1.tenancy.oc1..a", &["ocid1.compartment.oc1..k3s"])?;
//! fixtures.instances.push(Instance::new("ocid1.instance.oc1..s1", "ocid1.compartment.oc1..k3s", "k3s-server-1", "10.0.0.241"));
//! let profile = creds.config_profile("DEFAULT", std::path::Path::new("/tmp/key.pem"), "us-phoenix-1");
//! assert!(profile.contains("fingerprint="));
//! # anyhow::Ok(())
//! ```

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Everything the fake endpoint knows at start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Fixtures {
    /// Tenancies, their API users and compartments.
    pub tenancies: Vec<Tenancy>,
    /// Compute instances (each with its primary VNIC).
    pub instances: Vec<Instance>,
    /// Network load balancers.
    pub network_load_balancers: Vec<NetworkLoadBalancer>,
    /// Vault secrets.
    pub secrets: Vec<Secret>,
    /// Default page size of list calls without `limit` (0 means 2, so tests paginate).
    pub page_size: usize,
    /// How many polls of a work request answer `ACCEPTED`/`IN_PROGRESS` before it succeeds
    /// (0 means 2: the first poll says ACCEPTED, the second IN_PROGRESS, the third SUCCEEDED).
    pub work_request_polls: u32,
}

/// A tenancy: its OCID, API users, and compartments (the tenancy OCID itself is the root
/// compartment and need not be listed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tenancy {
    /// The tenancy OCID.
    pub id: String,
    /// Users with API keys.
    pub users: Vec<User>,
    /// Compartment OCIDs in this tenancy.
    pub compartments: Vec<String>,
}

/// An API user: requests signed with keyId `tenancy/user/fingerprint` are checked against
/// `public_key_pem`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    /// The user OCID.
    pub id: String,
    /// The API key's fingerprint as it appears in the keyId.
    pub fingerprint: String,
    /// The API key's public half, `BEGIN PUBLIC KEY` PEM.
    pub public_key_pem: String,
}

/// A compute instance and its primary VNIC.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Instance {
    /// The instance OCID.
    pub id: String,
    /// Its compartment.
    pub compartment_id: String,
    /// The display name.
    pub display_name: String,
    /// `RUNNING`, `STOPPED`, `TERMINATED`, ...
    pub lifecycle_state: String,
    /// Free-form tags.
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags: namespace -> key -> value.
    pub defined_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// e.g. `Pjwf:PHX-AD-1`.
    pub availability_domain: String,
    /// e.g. `VM.Standard.A1.Flex`.
    pub shape: String,
    /// RFC 3339 creation time.
    pub time_created: String,
    /// The primary VNIC.
    pub vnic: Vnic,
}

/// An instance's primary VNIC.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Vnic {
    /// The VNIC OCID (derived from the instance OCID when empty).
    pub id: String,
    /// The primary private IP address.
    pub private_ip: String,
    /// The public IP address, if one is assigned.
    pub public_ip: Option<String>,
    /// The hostname label in the subnet's DNS.
    pub hostname_label: Option<String>,
    /// The subnet OCID.
    pub subnet_id: String,
}

/// A network load balancer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkLoadBalancer {
    /// The NLB OCID.
    pub id: String,
    /// Its compartment.
    pub compartment_id: String,
    /// The display name.
    pub display_name: String,
    /// Its backend sets.
    pub backend_sets: Vec<BackendSet>,
}

/// A backend set of a network load balancer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackendSet {
    /// The backend set name, e.g. `k3s-https`.
    pub name: String,
    /// Its backends.
    pub backends: Vec<Backend>,
}

/// A backend of an NLB backend set, as `ListBackends` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Backend {
    /// `ip:port` unless a name was given at creation.
    pub name: String,
    /// The backend's IP address.
    pub ip_address: String,
    /// The backend's port.
    pub port: u16,
    /// Load-balancing weight.
    pub weight: u32,
    /// Drain flag.
    pub is_drain: bool,
    /// Backup flag.
    pub is_backup: bool,
    /// Offline flag.
    pub is_offline: bool,
}

impl Backend {
    /// A backend named `ip:port` with weight 1.
    pub fn new(ip_address: &str, port: u16) -> Backend {
        Backend {
            name: format!("{ip_address}:{port}"),
            ip_address: ip_address.to_owned(),
            port,
            weight: 1,
            ..Backend::default()
        }
    }
}

/// A Vault secret with its current version's content.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Secret {
    /// The secret OCID.
    pub id: String,
    /// Its compartment.
    pub compartment_id: String,
    /// The current version's content, base64.
    pub content: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("compartment_id", &self.compartment_id)
            .field("content", &"<redacted>")
            .finish()
    }
}

impl Secret {
    /// A secret whose current version holds `plain` (stored base64, as OCI returns it).
    pub fn new(id: &str, compartment_id: &str, plain: &[u8]) -> Secret {
        Secret {
            id: id.to_owned(),
            compartment_id: compartment_id.to_owned(),
            content: base64::engine::general_purpose::STANDARD.encode(plain),
        }
    }
}

impl Instance {
    /// A `RUNNING` `VM.Standard.A1.Flex` instance in `Pjwf:PHX-AD-1` whose primary VNIC has
    /// `private_ip` and the hostname label `display_name`.
    pub fn new(id: &str, compartment_id: &str, display_name: &str, private_ip: &str) -> Instance {
        Instance {
            id: id.to_owned(),
            compartment_id: compartment_id.to_owned(),
            display_name: display_name.to_owned(),
            lifecycle_state: "RUNNING".to_owned(),
            availability_domain: "Pjwf:PHX-AD-1".to_owned(),
            shape: "VM.Standard.A1.Flex".to_owned(),
            time_created: "2024-05-01T10:00:00.000Z".to_owned(),
            vnic: Vnic {
                id: vnic_id_for(id),
                private_ip: private_ip.to_owned(),
                hostname_label: Some(display_name.to_owned()),
                subnet_id: "ocid1.subnet.oc1.phx.fake".to_owned(),
                ..Vnic::default()
            },
            ..Instance::default()
        }
    }

    /// Sets the public IP of the primary VNIC.
    pub fn with_public_ip(mut self, ip: &str) -> Instance {
        self.vnic.public_ip = Some(ip.to_owned());
        self
    }

    /// Adds a free-form tag.
    pub fn with_freeform_tag(mut self, key: &str, value: &str) -> Instance {
        self.freeform_tags.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds a defined tag.
    pub fn with_defined_tag(mut self, namespace: &str, key: &str, value: &str) -> Instance {
        self.defined_tags
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }
}

/// The VNIC OCID the fake derives for an instance without one.
pub fn vnic_id_for(instance_id: &str) -> String {
    let tail = instance_id.rsplit('.').next().unwrap_or(instance_id);
    format!("ocid1.vnic.oc1.phx.{tail}")
}

/// An API key pair, as `oci setup keys` would make it.
#[derive(Clone)]
pub struct ApiKey {
    /// The private key, PKCS#8 `BEGIN PRIVATE KEY` PEM. Secret: write it with mode 0600.
    pub private_key_pem: String,
    /// The public key, `BEGIN PUBLIC KEY` PEM (what is uploaded to the console).
    pub public_key_pem: String,
    /// MD5 of the DER SubjectPublicKeyInfo, lowercase hex pairs joined by `:`.
    pub fingerprint: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("fingerprint", &self.fingerprint)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// The OCI fingerprint of a public key: MD5 of its DER SubjectPublicKeyInfo, lowercase hex
/// pairs joined by `:`.
pub fn fingerprint(public_key: &rsa::RsaPublicKey) -> Result<String> {
    use md5::Digest as _;
    let der = public_key
        .to_public_key_der()
        .context("encoding the public key")?;
    let digest = md5::Md5::digest(der.as_bytes());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// Generates a fresh RSA-2048 API key. Uses the `openssl` command when present (the `rsa`
/// crate's key generation takes seconds in unoptimised test builds); the key travels over a
/// pipe, never through argv or a file.
pub fn generate_api_key() -> Result<ApiKey> {
    let private = match generate_with_openssl() {
        Some(key) => key,
        None => rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .context("generating an RSA key")?,
    };
    api_key_from(&private)
}

/// The [`ApiKey`] of an existing private key.
pub fn api_key_from(private: &rsa::RsaPrivateKey) -> Result<ApiKey> {
    let public = private.to_public_key();
    let private_key_pem = private
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .context("encoding the private key")?
        .to_string();
    let public_key_pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .context("encoding the public key")?;
    Ok(ApiKey {
        private_key_pem,
        public_key_pem,
        fingerprint: fingerprint(&public)?,
    })
}

fn generate_with_openssl() -> Option<rsa::RsaPrivateKey> {
    let output = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let pem = String::from_utf8(output.stdout).ok()?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).ok()?;
    use rsa::traits::PublicKeyParts as _;
    (key.size() == 256).then_some(key)
}

/// A user's credentials for signing requests to the fake: the keyId parts and the private key.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The tenancy OCID.
    pub tenancy: String,
    /// The user OCID.
    pub user: String,
    /// The API key.
    pub key: ApiKey,
}

impl Credentials {
    /// `tenancy/user/fingerprint`.
    pub fn key_id(&self) -> String {
        format!("{}/{}/{}", self.tenancy, self.user, self.key.fingerprint)
    }

    /// The private key, parsed.
    pub fn private_key(&self) -> Result<rsa::RsaPrivateKey> {
        rsa::RsaPrivateKey::from_pkcs8_pem(&self.key.private_key_pem)
            .context("parsing the generated private key")
    }

    /// An `~/.oci/config` profile section for these credentials with the private key at
    /// `key_file` (the caller writes [`ApiKey::private_key_pem`] there, mode 0600).
    pub fn config_profile(&self, profile: &str, key_file: &Path, region: &str) -> String {
        format!(
            "[{profile}]\nuser={}\nfingerprint={}\ntenancy={}\nregion={region}\nkey_file={}\n",
            self.user,
            self.key.fingerprint,
            self.tenancy,
            key_file.display()
        )
    }

    /// Writes the private key to `key_file` with mode 0600.
    pub fn write_private_key(&self, key_file: &Path) -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(key_file)
            .with_context(|| format!("creating {}", key_file.display()))?;
        file.write_all(self.key.private_key_pem.as_bytes())
            .with_context(|| format!("writing {}", key_file.display()))
    }
}

impl Fixtures {
    /// Adds a tenancy with `compartments` and one API user with a freshly generated key, and
    /// returns that user's credentials. The user OCID is derived from the tenancy OCID.
    pub fn add_tenancy(&mut self, tenancy_id: &str, compartments: &[&str]) -> Result<Credentials> {
        if self.tenancies.iter().any(|t| t.id == tenancy_id) {
            bail!("tenancy {tenancy_id} already exists");
        }
        self.tenancies.push(Tenancy {
            id: tenancy_id.to_owned(),
            users: Vec::new(),
            compartments: compartments.iter().map(|c| c.to_string()).collect(),
        });
        let tail = tenancy_id.rsplit('.').next().unwrap_or(tenancy_id);
        self.add_user(tenancy_id, &format!("ocid1.user.oc1..{tail}"))
    }

    /// Adds an API user with a freshly generated key to an existing tenancy.
    pub fn add_user(&mut self, tenancy_id: &str, user_id: &str) -> Result<Credentials> {
        let key = generate_api_key()?;
        self.add_user_with_key(tenancy_id, user_id, key)
    }

    /// Adds an API user with the given key to an existing tenancy.
    pub fn add_user_with_key(
        &mut self,
        tenancy_id: &str,
        user_id: &str,
        key: ApiKey,
    ) -> Result<Credentials> {
        let tenancy = self
            .tenancies
            .iter_mut()
            .find(|t| t.id == tenancy_id)
            .with_context(|| format!("no tenancy {tenancy_id} in the fixtures"))?;
        tenancy.users.push(User {
            id: user_id.to_owned(),
            fingerprint: key.fingerprint.clone(),
            public_key_pem: key.public_key_pem.clone(),
        });
        Ok(Credentials {
            tenancy: tenancy_id.to_owned(),
            user: user_id.to_owned(),
            key,
        })
    }

    /// The reference cluster of the design brief in two tenancies: a server and a worker in
    /// tenancy A (`ocid1.compartment.oc1..k3sa`), two workers in tenancy B
    /// (`ocid1.compartment.oc1..k3sb`), a terminated old worker in A, an NLB in A with an
    /// empty `k3s-https` backend set, and a secret in A holding `bootstrap-secret`. Returns the
    /// fixtures and the credentials of tenancy A's and tenancy B's user, in that order.
    pub fn reference_cluster() -> Result<(Fixtures, [Credentials; 2])> {
        let mut fixtures = Fixtures::default();
        let a = fixtures.add_tenancy(TENANCY_A, &[COMPARTMENT_A])?;
        let b = fixtures.add_tenancy(TENANCY_B, &[COMPARTMENT_B])?;
        fixtures.instances = vec![
            Instance::new(
                "ocid1.instance.oc1.phx.server1",
                COMPARTMENT_A,
                "k3s-server-1",
                "10.0.0.241",
            )
            .with_public_ip("192.0.2.10")
            .with_freeform_tag("k3s-role", "server")
            .with_defined_tag("k3s", "cluster", "prod"),
            Instance::new(
                "ocid1.instance.oc1.phx.worker1",
                COMPARTMENT_A,
                "k3s-worker-1",
                "10.0.0.11",
            )
            .with_freeform_tag("k3s-role", "agent")
            .with_defined_tag("k3s", "cluster", "prod"),
            Instance {
                lifecycle_state: "TERMINATED".to_owned(),
                ..Instance::new(
                    "ocid1.instance.oc1.phx.worker0",
                    COMPARTMENT_A,
                    "k3s-worker-0",
                    "10.0.0.10",
                )
                .with_freeform_tag("k3s-role", "agent")
            },
            Instance::new(
                "ocid1.instance.oc1.phx.worker2",
                COMPARTMENT_B,
                "k3s-worker-2",
                "10.1.0.12",
            )
            .with_freeform_tag("k3s-role", "agent")
            .with_defined_tag("k3s", "cluster", "prod"),
            Instance::new(
                "ocid1.instance.oc1.phx.worker3",
                COMPARTMENT_B,
                "k3s-worker-3",
                "10.1.0.13",
            )
            .with_freeform_tag("k3s-role", "agent")
            .with_defined_tag("k3s", "cluster", "prod"),
        ];
        fixtures.network_load_balancers = vec![NetworkLoadBalancer {
            id: NLB_ID.to_owned(),
            compartment_id: COMPARTMENT_A.to_owned(),
            display_name: "k3s-ingress".to_owned(),
            backend_sets: vec![BackendSet {
                name: "k3s-https".to_owned(),
                backends: Vec::new(),
            }],
        }];
        fixtures.secrets = vec![Secret::new(SECRET_ID, COMPARTMENT_A, b"bootstrap-secret")];
        Ok((fixtures, [a, b]))
    }
}

/// Tenancy A of [`Fixtures::reference_cluster`].
pub const TENANCY_A: &str = "ocid1.tenancy.oc1..tenancya";
/// Tenancy B of [`Fixtures::reference_cluster`].
pub const TENANCY_B: &str = "ocid1.tenancy.oc1..tenancyb";
/// The K3s compartment in tenancy A.
pub const COMPARTMENT_A: &str = "ocid1.compartment.oc1..k3sa";
/// The K3s compartment in tenancy B.
pub const COMPARTMENT_B: &str = "ocid1.compartment.oc1..k3sb";
/// The NLB of [`Fixtures::reference_cluster`].
pub const NLB_ID: &str = "ocid1.networkloadbalancer.oc1.phx.ingress";
/// The secret of [`Fixtures::reference_cluster`].
pub const SECRET_ID: &str = "ocid1.vaultsecret.oc1.phx.bootstrap";

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey as _;

    #[test]
    fn fingerprint_of_the_published_sample_key() {
        let pem = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
";
        let key = rsa::RsaPublicKey::from_public_key_pem(pem).expect("sample key");
        assert_eq!(
            fingerprint(&key).expect("fingerprint"),
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
        );
    }

    #[test]
    fn generated_keys_are_2048_bit_and_fresh() -> Result<()> {
        let one = generate_api_key()?;
        let two = generate_api_key()?;
        assert_ne!(one.fingerprint, two.fingerprint);
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&one.private_key_pem)?;
        assert_eq!(rsa::traits::PublicKeyParts::size(&private), 256);
        let public = rsa::RsaPublicKey::from_public_key_pem(&one.public_key_pem)?;
        assert_eq!(fingerprint(&public)?, one.fingerprint);
        assert!(!format!("{one:?}").contains("PRIVATE"));
        Ok(())
    }

    #[test]
    fn fixtures_round_trip_through_json() -> Result<()> {
        let (fixtures, [a, _b]) = Fixtures::reference_cluster()?;
        let json = serde_json::to_string(&fixtures)?;
        assert!(json.contains("\"lifecycleState\":\"RUNNING\""));
        assert!(json.contains("\"freeformTags\""));
        let back: Fixtures = serde_json::from_str(&json)?;
        assert_eq!(back.instances.len(), 5);
        assert_eq!(back.tenancies[0].users[0].fingerprint, a.key.fingerprint);
        let profile = a.config_profile("TENANCY_A", Path::new("/k/a.pem"), "us-phoenix-1");
        assert!(profile.starts_with("[TENANCY_A]\nuser=ocid1.user.oc1..tenancya\n"));
        assert!(profile.contains(&format!("fingerprint={}\n", a.key.fingerprint)));
        Ok(())
    }
}
