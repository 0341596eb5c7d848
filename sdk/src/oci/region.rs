//! Regions, realms and service endpoints: which host serves which OCI API in which region.
//!
//! A region name (`us-ashburn-1`) or its three-letter code (`iad`) belongs to a realm (`oc1`),
//! and the realm gives the second-level domain the service hosts live under
//! (`oraclecloud.com`). Each service has its own host template and API version prefix. Pure
//! data: nothing here touches the network.

use super::error::Error;
use std::fmt;
use url::Url;

/// A realm: a set of regions sharing one second-level domain (`oc1` → `oraclecloud.com`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Realm {
    key: String,
    domain: String,
}

/// Realm keys and their second-level domains.
const REALMS: &[(&str, &str)] = &[
    ("oc1", "oraclecloud.com"),
    ("oc2", "oraclegovcloud.com"),
    ("oc3", "oraclegovcloud.com"),
    ("oc4", "oraclegovcloud.uk"),
    ("oc8", "oraclecloud8.com"),
    ("oc9", "oraclecloud9.com"),
    ("oc10", "oraclecloud10.com"),
    ("oc14", "oraclecloud14.com"),
    ("oc15", "oraclecloud15.com"),
    ("oc19", "oraclecloud.eu"),
    ("oc20", "oraclecloud20.com"),
    ("oc21", "oraclecloud21.com"),
    ("oc23", "oraclecloud23.com"),
    ("oc24", "oraclecloud24.com"),
    ("oc26", "oraclecloud26.com"),
    ("oc29", "oraclecloud29.com"),
    ("oc35", "oraclecloud35.com"),
    ("oc42", "oraclecloud42.com"),
    ("oc51", "oraclecloud51.com"),
    ("oc52", "oraclecloud52.com"),
];

/// Regions outside `oc1`, with their realm. Every other region name is taken to be in the
/// default realm (`oc1` unless the caller says otherwise).
const NON_OC1_REGIONS: &[(&str, &str)] = &[
    ("us-langley-1", "oc2"),
    ("us-luke-1", "oc2"),
    ("us-gov-ashburn-1", "oc3"),
    ("us-gov-chicago-1", "oc3"),
    ("us-gov-phoenix-1", "oc3"),
    ("uk-gov-london-1", "oc4"),
    ("uk-gov-cardiff-1", "oc4"),
    ("ap-chiyoda-1", "oc8"),
    ("ap-ibaraki-1", "oc8"),
    ("me-dcc-muscat-1", "oc9"),
    ("me-ibri-1", "oc9"),
    ("ap-dcc-canberra-1", "oc10"),
    ("eu-dcc-milan-1", "oc14"),
    ("eu-dcc-milan-2", "oc14"),
    ("eu-dcc-dublin-1", "oc14"),
    ("eu-dcc-dublin-2", "oc14"),
    ("eu-dcc-rating-1", "oc14"),
    ("eu-dcc-rating-2", "oc14"),
    ("ap-dcc-gazipur-1", "oc15"),
    ("eu-madrid-2", "oc19"),
    ("eu-frankfurt-2", "oc19"),
    ("eu-jovanovac-1", "oc20"),
    ("me-dcc-doha-1", "oc21"),
    ("us-somerset-1", "oc23"),
    ("us-thames-1", "oc23"),
    ("eu-dcc-zurich-1", "oc24"),
    ("eu-crissier-1", "oc24"),
    ("me-abudhabi-3", "oc26"),
    ("me-alain-1", "oc26"),
    ("me-abudhabi-2", "oc29"),
    ("me-abudhabi-4", "oc29"),
    ("ap-seoul-2", "oc35"),
    ("ap-suwon-1", "oc35"),
    ("ap-chuncheon-2", "oc35"),
    ("us-ashburn-2", "oc42"),
    ("us-newark-1", "oc42"),
    ("eu-budapest-1", "oc51"),
];

/// Three-letter region codes (airport codes) and the region names they stand for.
const SHORT_CODES: &[(&str, &str)] = &[
    ("yny", "ap-chuncheon-1"),
    ("hyd", "ap-hyderabad-1"),
    ("mel", "ap-melbourne-1"),
    ("bom", "ap-mumbai-1"),
    ("kix", "ap-osaka-1"),
    ("icn", "ap-seoul-1"),
    ("syd", "ap-sydney-1"),
    ("nrt", "ap-tokyo-1"),
    ("yul", "ca-montreal-1"),
    ("yyz", "ca-toronto-1"),
    ("ams", "eu-amsterdam-1"),
    ("fra", "eu-frankfurt-1"),
    ("zrh", "eu-zurich-1"),
    ("jed", "me-jeddah-1"),
    ("dxb", "me-dubai-1"),
    ("gru", "sa-saopaulo-1"),
    ("cwl", "uk-cardiff-1"),
    ("lhr", "uk-london-1"),
    ("iad", "us-ashburn-1"),
    ("phx", "us-phoenix-1"),
    ("sjc", "us-sanjose-1"),
    ("vcp", "sa-vinhedo-1"),
    ("scl", "sa-santiago-1"),
    ("mtz", "il-jerusalem-1"),
    ("mrs", "eu-marseille-1"),
    ("sin", "ap-singapore-1"),
    ("auh", "me-abudhabi-1"),
    ("lin", "eu-milan-1"),
    ("arn", "eu-stockholm-1"),
    ("jnb", "af-johannesburg-1"),
    ("cdg", "eu-paris-1"),
    ("qro", "mx-queretaro-1"),
    ("mad", "eu-madrid-1"),
    ("ord", "us-chicago-1"),
    ("mty", "mx-monterrey-1"),
    ("aga", "us-saltlake-2"),
    ("bog", "sa-bogota-1"),
    ("vap", "sa-valparaiso-1"),
    ("xsp", "ap-singapore-2"),
    ("ruh", "me-riyadh-1"),
    ("onm", "ap-delhi-1"),
    ("hsg", "ap-batam-1"),
    ("lfi", "us-langley-1"),
    ("luf", "us-luke-1"),
    ("ric", "us-gov-ashburn-1"),
    ("pia", "us-gov-chicago-1"),
    ("tus", "us-gov-phoenix-1"),
    ("ltn", "uk-gov-london-1"),
    ("brs", "uk-gov-cardiff-1"),
    ("nja", "ap-chiyoda-1"),
    ("ukb", "ap-ibaraki-1"),
    ("mct", "me-dcc-muscat-1"),
    ("ibr", "me-ibri-1"),
    ("wga", "ap-dcc-canberra-1"),
    ("bgy", "eu-dcc-milan-1"),
    ("mxp", "eu-dcc-milan-2"),
    ("snn", "eu-dcc-dublin-2"),
    ("dtm", "eu-dcc-rating-2"),
    ("dus", "eu-dcc-rating-1"),
    ("ork", "eu-dcc-dublin-1"),
    ("dac", "ap-dcc-gazipur-1"),
    ("vll", "eu-madrid-2"),
    ("str", "eu-frankfurt-2"),
    ("beg", "eu-jovanovac-1"),
    ("doh", "me-dcc-doha-1"),
    ("ebb", "us-somerset-1"),
    ("ebl", "us-thames-1"),
    ("avz", "eu-dcc-zurich-1"),
    ("avf", "eu-crissier-1"),
    ("ahu", "me-abudhabi-3"),
    ("rba", "me-alain-1"),
    ("rkt", "me-abudhabi-2"),
    ("shj", "me-abudhabi-4"),
    ("dtz", "ap-seoul-2"),
    ("dln", "ap-suwon-1"),
    ("bno", "ap-chuncheon-2"),
    ("yxj", "us-ashburn-2"),
    ("pgc", "us-newark-1"),
    ("jsk", "eu-budapest-1"),
];

impl Realm {
    /// The commercial realm, `oc1` (`oraclecloud.com`).
    pub fn oc1() -> Realm {
        Realm {
            key: "oc1".into(),
            domain: "oraclecloud.com".into(),
        }
    }

    /// A known realm by key (`oc1`, `oc19`, …), case-insensitive.
    pub fn by_key(key: &str) -> Option<Realm> {
        let key = key.trim().to_ascii_lowercase();
        REALMS.iter().find(|(k, _)| *k == key).map(|(k, d)| Realm {
            key: (*k).into(),
            domain: (*d).into(),
        })
    }

    /// A realm not in the built-in table, given by its key and second-level domain.
    pub fn custom(key: impl Into<String>, domain: impl Into<String>) -> Realm {
        Realm {
            key: key.into(),
            domain: domain.into(),
        }
    }

    /// The realm key, e.g. `oc1`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The second-level domain, e.g. `oraclecloud.com`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// An OCI region: its full name and the realm it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    name: String,
    realm: Realm,
}

impl Region {
    /// A region by name (`us-ashburn-1`) or three-letter code (`iad`), case-insensitive.
    /// Regions missing from the built-in table are taken to be in `oc1`; use
    /// [`Region::with_default_realm`] or [`Region::in_realm`] for others.
    ///
    /// ```
    /// use k3s_sdk::oci::Region;
    /// let region = Region::new("phx").unwrap();
    /// assert_eq!(region.name(), "us-phoenix-1");
    /// assert_eq!(region.realm().domain(), "oraclecloud.com");
    /// ```
    pub fn new(name: &str) -> Result<Region, Error> {
        Region::with_default_realm(name, Realm::oc1())
    }

    /// Like [`Region::new`], with the realm to assume for region names missing from the
    /// built-in table (what `OCI_DEFAULT_REALM` means for Oracle's SDKs).
    pub fn with_default_realm(name: &str, default_realm: Realm) -> Result<Region, Error> {
        Region::resolve(name, default_realm).map_err(|reason| Error::config("region", None, reason))
    }

    /// [`Region::with_default_realm`] with the reason as text, for callers that place the
    /// message themselves (config files).
    pub(crate) fn resolve(name: &str, default_realm: Realm) -> Result<Region, String> {
        let name = canonical_name(name)?;
        let realm = NON_OC1_REGIONS
            .iter()
            .find(|(r, _)| *r == name)
            .and_then(|(_, realm)| Realm::by_key(realm))
            .unwrap_or_else(|| {
                if !is_known_oc1(&name) {
                    tracing::debug!(
                        region = %name,
                        realm = %default_realm.key,
                        "region is not in the built-in table; assuming the default realm"
                    );
                }
                default_realm
            });
        Ok(Region { name, realm })
    }

    /// A region in an explicitly given realm, whatever the built-in table says.
    pub fn in_realm(name: &str, realm: Realm) -> Result<Region, Error> {
        Ok(Region {
            name: canonical_name(name).map_err(|reason| Error::config("region", None, reason))?,
            realm,
        })
    }

    /// The full region name, e.g. `us-ashburn-1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The realm.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// The base URL of a service in this region, e.g. `https://iaas.us-ashburn-1.oraclecloud.com`.
    pub fn endpoint(&self, service: Service) -> Url {
        let host = match service {
            Service::Iaas => format!("iaas.{}.{}", self.name, self.realm.domain),
            Service::NetworkLoadBalancer => format!(
                "network-load-balancer-api.{}.oci.{}",
                self.name, self.realm.domain
            ),
            Service::Secrets => format!("secrets.vaults.{}.oci.{}", self.name, self.realm.domain),
        };
        Url::parse(&format!("https://{host}")).expect("region names are validated host labels")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn is_known_oc1(name: &str) -> bool {
    SHORT_CODES.iter().any(|(_, r)| *r == name)
}

fn canonical_name(name: &str) -> Result<String, String> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some((_, full)) = SHORT_CODES.iter().find(|(code, _)| *code == lower) {
        return Ok((*full).to_string());
    }
    let valid = !lower.is_empty()
        && lower.len() <= 63
        && lower
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !lower.starts_with('-')
        && !lower.ends_with('-');
    if !valid {
        return Err(format!(
            "'{}' is not an OCI region name (expected something like 'us-ashburn-1' or its code \
             'iad'); to reach a private or custom endpoint, set the endpoint override instead",
            name.trim()
        ));
    }
    Ok(lower)
}

/// The OCI services this SDK calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// Compute, Virtual Network and Block Volume (`iaas`, API `20160918`).
    Iaas,
    /// Network Load Balancer (API `20200501`).
    NetworkLoadBalancer,
    /// Vault secret retrieval (API `20190301`).
    Secrets,
}

impl Service {
    /// The API version path prefix, e.g. `/20160918`.
    pub fn api_version(self) -> &'static str {
        match self {
            Service::Iaas => "/20160918",
            Service::NetworkLoadBalancer => "/20200501",
            Service::Secrets => "/20190301",
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::Iaas => "Compute/VirtualNetwork",
            Service::NetworkLoadBalancer => "NetworkLoadBalancer",
            Service::Secrets => "Secrets",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_per_service_and_realm() {
        let iad = Region::new("us-ashburn-1").unwrap();
        assert_eq!(
            iad.endpoint(Service::Iaas).as_str(),
            "https://iaas.us-ashburn-1.oraclecloud.com/"
        );
        assert_eq!(
            iad.endpoint(Service::NetworkLoadBalancer).as_str(),
            "https://network-load-balancer-api.us-ashburn-1.oci.oraclecloud.com/"
        );
        assert_eq!(
            iad.endpoint(Service::Secrets).as_str(),
            "https://secrets.vaults.us-ashburn-1.oci.oraclecloud.com/"
        );
        let gov = Region::new("us-langley-1").unwrap();
        assert_eq!(gov.realm().key(), "oc2");
        assert_eq!(
            gov.endpoint(Service::Iaas).as_str(),
            "https://iaas.us-langley-1.oraclegovcloud.com/"
        );
        let eu = Region::new("STR").unwrap();
        assert_eq!(eu.name(), "eu-frankfurt-2");
        assert_eq!(
            eu.endpoint(Service::NetworkLoadBalancer).as_str(),
            "https://network-load-balancer-api.eu-frankfurt-2.oci.oraclecloud.eu/"
        );
        let japan = Region::new("nja").unwrap();
        assert_eq!(japan.realm().domain(), "oraclecloud8.com");
    }

    #[test]
    fn unknown_regions_use_the_default_realm() {
        assert_eq!(Region::new("xx-newplace-1").unwrap().realm(), &Realm::oc1());
        let r =
            Region::with_default_realm("xx-newplace-1", Realm::by_key("oc19").unwrap()).unwrap();
        assert_eq!(r.realm().domain(), "oraclecloud.eu");
        // A known region keeps its own realm whatever the default.
        let r = Region::with_default_realm("us-gov-phoenix-1", Realm::oc1()).unwrap();
        assert_eq!(r.realm().key(), "oc3");
        let r = Region::in_realm("my-region-1", Realm::custom("oc99", "example.test")).unwrap();
        assert_eq!(
            r.endpoint(Service::Iaas).as_str(),
            "https://iaas.my-region-1.example.test/"
        );
    }

    #[test]
    fn rejects_hosts_and_junk() {
        for bad in [
            "",
            "iaas.us-ashburn-1.oraclecloud.com",
            "us ashburn",
            "-x",
            "https://x",
        ] {
            let err = Region::new(bad).unwrap_err().to_string();
            assert!(err.contains("not an OCI region name"), "{bad}: {err}");
        }
    }
}
