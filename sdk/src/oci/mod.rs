//! Oracle Cloud Infrastructure: request signing, config files, an HTTP client with Oracle's
//! retry rules, and the typed API calls a K3s bootstrap needs (instances and their addresses,
//! network load balancer backends, vault secrets).
//!
//! Three layers, each usable alone:
//! - pure, no network: [`PrivateKey`] (PEM loading, fingerprint), [`Signer`] (the OCI HTTP
//!   signature, byte-identical to Oracle's SDKs), [`ConfigFile`]/[`Profile`]/[`ProfileBuilder`]
//!   (`~/.oci/config` and explicit values), [`Region`]/[`Service`] (endpoints), [`RetryPolicy`];
//! - I/O: [`Client`] (signs every attempt, retries, pagination, errors);
//! - typed calls on top: [`Compute`], [`VirtualNetwork`], [`NetworkLoadBalancer`], [`Secrets`].
//!
//! ## Load a profile and list instances
//!
//! ```no_run
//! use k3s_sdk::oci::{Client, Profile};
//! # async fn demo() -> Result<(), k3s_sdk::oci::Error> {
//! // ~/.oci/config (or $OCI_CONFIG_FILE), profile [K3S], inheriting from [DEFAULT].
//! let profile = Profile::from_file(None, "K3S")?;
//! let client = Client::from_profile(&profile)?.build()?;
//! let running = client
//!     .compute()
//!     .list_instances("ocid1.compartment.oc1..aaaa", Some("RUNNING"))
//!     .await?; // every page
//! for instance in &running {
//!     let addresses = client.resolve_instance_addresses(&instance.id).await?;
//!     println!("{} private {} public {:?}", instance.display_name, addresses.private_ip, addresses.public_ip);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Two tenancies in one process are two profiles and two clients; nothing is global.
//!
//! ## Explicit values (what the Terraform provider passes from HCL)
//!
//! ```no_run
//! use k3s_sdk::oci::{Client, Profile, Secret};
//! # fn demo(pem_from_a_variable: String) -> Result<(), k3s_sdk::oci::Error> {
//! let profile = Profile::builder()
//!     .tenancy("ocid1.tenancy.oc1..aaaa")
//!     .user("ocid1.user.oc1..bbbb")
//!     .fingerprint("12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0")
//!     .region("eu-frankfurt-1")
//!     .private_key_pem(Secret::new(pem_from_a_variable)) // or .private_key_path("~/.oci/k3s.pem")
//!     .build()?; // or .config_file(path).profile("K3S") with only some values overridden
//! let client = Client::from_profile(&profile)?
//!     .endpoint_override("https://oci-proxy.internal.example:8443")? // optional: one base URL for all services
//!     .add_root_certificate_pem(b"-----BEGIN CERTIFICATE-----\n...")? // optional: trust a private CA
//!     .build()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Sign a request yourself
//!
//! ```
//! use k3s_sdk::oci::{HeaderMap, KeyId, Method, PrivateKey, Signer, Url};
//! # let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/oci/testdata/oci_sample_key.pem"));
//! let key = PrivateKey::from_pem(pem, None)?;
//! let signer = Signer::new(KeyId::api_key("ocid1.tenancy.oc1..aaaa", "ocid1.user.oc1..bbbb", key.fingerprint()), key);
//! let url = Url::parse("https://iaas.us-phoenix-1.oraclecloud.com/20160918/volumeAttachments").unwrap();
//! let body = br#"{"instanceId":"ocid1.instance.oc1.phx.x"}"#;
//! let mut headers = HeaderMap::new();
//! signer.sign(&Method::POST, &url, &mut headers, body)?;
//! // date, host, content-length, content-type, x-content-sha256 and authorization are set;
//! // send exactly `url` and `body` with these headers.
//! assert_eq!(headers["content-length"], body.len().to_string().as_str());
//! # Ok::<(), k3s_sdk::oci::Error>(())
//! ```
//!
//! ## In short (for the README)
//!
//! OCI support signs requests exactly as Oracle's SDKs do (checked against Oracle's published
//! test vectors and an independent verifier), reads `~/.oci/config` profiles the way the OCI
//! CLI does (inheritance from `[DEFAULT]`, `~` paths, `OCI_CONFIG_FILE`, `OCI_REGION`), accepts
//! PKCS#1, PKCS#8 and passphrase-protected PKCS#8 keys (with or without the `OCI_API_KEY`
//! trailer line), checks the key against the configured fingerprint before the first call, and
//! retries throttling and transient failures with capped exponential backoff. Errors name the
//! file, profile and key at fault, or the HTTP status, OCI error code, message and
//! `opc-request-id`, with a hint for 401s (clock skew, fingerprint, key not uploaded). Private
//! keys, passphrases, tokens and secret contents never reach logs, errors or `Debug` output.
//! Not yet supported: instance and resource principals, delegation tokens, legacy
//! `Proc-Type: 4,ENCRYPTED` keys (convert them with `openssl pkcs8 -topk8`).
//!
//! What each part owns:
//! - `key`: [`PrivateKey`], [`fingerprint_of`];
//! - `signer`: [`Signer`], [`KeyId`], [`signing_string`], [`request_target`];
//! - `config`: [`ConfigFile`], [`Environment`], [`default_config_path`];
//! - `profile`: [`Profile`], [`ProfileBuilder`], [`KeySource`];
//! - `ocid`: [`Ocid`], [`OcidError`];
//! - `region`: [`Region`], [`Realm`], [`Service`];
//! - `retry`: [`RetryPolicy`];
//! - `client`: [`Client`], [`ClientBuilder`];
//! - `request`: [`Request`], [`Response`], [`ListShape`], [`encode_path_segment`];
//! - `compute`: [`Compute`], [`VirtualNetwork`], [`Instance`], [`VnicAttachment`], [`Vnic`],
//!   [`InstanceAddresses`];
//! - `nlb`: [`NetworkLoadBalancer`], [`Backend`], [`CreateBackendDetails`], [`WorkRequest`];
//! - `secrets`: [`Secrets`], [`SecretBundle`], [`SecretBytes`], [`SecretVersion`];
//! - `error`: [`Error`], [`ServiceError`].

mod client;
mod compute;
mod config;
mod error;
mod key;
mod nlb;
mod ocid;
mod profile;
mod region;
mod request;
mod retry;
mod secrets;
mod signer;

pub use crate::Secret;
pub use client::{Client, ClientBuilder};
pub use compute::{
    Compute, DefinedTags, Instance, InstanceAddresses, VirtualNetwork, Vnic, VnicAttachment,
};
pub use config::{default_config_path, ConfigFile, Environment, DEFAULT_PROFILE};
pub use error::{Error, ServiceError};
/// Re-exported: [`Signer::sign`] takes the [`Url`] that is sent, its [`Method`] and the
/// [`HeaderMap`] it fills in.
pub use http::{HeaderMap, HeaderValue, Method};
pub use key::{fingerprint_of, PrivateKey};
pub use nlb::{Backend, CreateBackendDetails, NetworkLoadBalancer, WorkRequest};
pub use ocid::{Ocid, OcidError};
pub use profile::{KeySource, Profile, ProfileBuilder};
pub use region::{Realm, Region, Service};
pub use request::{encode_path_segment, ListShape, Request, Response};
pub use retry::{is_retryable_status, RetryPolicy};
/// Re-exported so callers can name the RSA key types without depending on `rsa` themselves.
pub use rsa::{RsaPrivateKey, RsaPublicKey};
pub use secrets::{SecretBundle, SecretBytes, SecretVersion, Secrets};
pub use signer::{
    content_sha256, host_of, http_date, request_target, signed_headers, signing_string, KeyId,
    Signer, BODY_HEADERS, EMPTY_BODY_SHA256, GENERIC_HEADERS,
};
/// Re-exported with [`Method`] and [`HeaderMap`].
pub use url::Url;
