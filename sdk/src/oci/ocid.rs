//! [`Ocid`]: an Oracle Cloud ID, checked for shape and resource type before any call is made.
//!
//! An OCID is `ocid<version>.<resource type>.<realm>.[region][.future use].<unique id>`, of
//! ASCII letters, digits and `.-_:` only, e.g.
//! `ocid1.instance.oc1.eu-frankfurt-1.antheljt…` or `ocid1.tenancy.oc1..aaaaaaaa…`.
//!
//! ```
//! use k3s_sdk::oci::Ocid;
//!
//! let id = Ocid::of_kind("ocid1.instance.oc1.phx.abcdef", &["instance"])?;
//! assert_eq!(id.kind(), "instance");
//! let wrong = Ocid::of_kind("ocid1.compartment.oc1..aaaa", &["instance"]).unwrap_err();
//! assert!(wrong.to_string().contains("is a compartment OCID, not an instance OCID"));
//! assert!("ocid1.instance.oc1.phx.ab cd".parse::<Ocid>().is_err());
//! # Ok::<(), k3s_sdk::oci::OcidError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// A well-formed OCID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ocid(String);

/// Why a text is not the OCID wanted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcidError {
    /// Not an OCID at all.
    #[error(
        "'{value}' is not an OCID; expected something like 'ocid1.{example_kind}.oc1..aaaa…' \
        (copy it from the OCI console)"
    )]
    Malformed {
        /// The text given.
        value: String,
        /// A resource type to show in the example.
        example_kind: String,
    },
    /// An OCID of another resource type.
    #[error("'{value}' is a {found} OCID, not {expected} OCID")]
    WrongKind {
        /// The text given.
        value: String,
        /// Its resource type.
        found: String,
        /// What was wanted ("an instance", "a compartment or tenancy").
        expected: String,
    },
}

impl Ocid {
    /// Parses an OCID of any resource type.
    pub fn parse(value: &str) -> Result<Ocid, OcidError> {
        Ocid::check(value, "instance").map(|()| Ocid(value.to_owned()))
    }

    /// Parses an OCID of one of `kinds` (`["compartment", "tenancy"]`).
    pub fn of_kind(value: &str, kinds: &[&str]) -> Result<Ocid, OcidError> {
        Ocid::check(value, kinds.first().copied().unwrap_or("instance"))?;
        let ocid = Ocid(value.to_owned());
        if kinds.is_empty() || kinds.contains(&ocid.kind()) {
            return Ok(ocid);
        }
        Err(OcidError::WrongKind {
            value: value.to_owned(),
            found: ocid.kind().to_owned(),
            expected: Ocid::describe_kinds(kinds),
        })
    }

    /// "an instance", "a compartment or tenancy": for messages about the kinds wanted.
    pub fn describe_kinds(kinds: &[&str]) -> String {
        let article = match kinds.first().and_then(|k| k.chars().next()) {
            Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
            _ => "a",
        };
        format!("{article} {}", kinds.join(" or "))
    }

    fn check(value: &str, example_kind: &str) -> Result<(), OcidError> {
        let parts: Vec<&str> = value.split('.').collect();
        let version_ok = parts[0]
            .strip_prefix("ocid")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
        let charset_ok = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !version_ok
            || !charset_ok
            || parts.len() < 5
            || parts[1].is_empty()
            || parts[2].is_empty()
            || parts.last().is_none_or(|id| id.is_empty())
        {
            return Err(OcidError::Malformed {
                value: value.to_owned(),
                example_kind: example_kind.to_owned(),
            });
        }
        Ok(())
    }

    /// The resource type (`instance`, `tenancy`, `networkloadbalancer`, …).
    pub fn kind(&self) -> &str {
        self.0.split('.').nth(1).unwrap_or_default()
    }

    /// The OCID's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Ocid {
    type Err = OcidError;
    fn from_str(s: &str) -> Result<Ocid, OcidError> {
        Ocid::parse(s)
    }
}

impl fmt::Display for Ocid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, kind: &str) -> Result<(), String> {
        Ocid::of_kind(value, &[kind])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn ocids() {
        check(
            "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
            "tenancy",
        )
        .unwrap();
        check("ocid1.user.oc1..aaaa", "user").unwrap();
        let err = check("ocid1.compartment.oc1..aaaa", "tenancy").unwrap_err();
        assert!(
            err.contains("is a compartment OCID, not a tenancy OCID"),
            "{err}"
        );
        assert!(check("tenancy", "tenancy").is_err());
        assert!(check("ocid1.tenancy.oc1..", "tenancy").is_err());
        assert!(check("ocid1.tenancy.oc1..aa aa", "tenancy").is_err());
        // The version is digits, the realm is there, the characters are OCI's.
        assert!(check("ocidx.tenancy.oc1..aaaa", "tenancy").is_err());
        assert!(check("ocid1.tenancy...aaaa", "tenancy").is_err());
        assert!(check("ocid1.instance.oc1.phx.ab/cd", "instance").is_err());
        check("ocid1.instance.oc1.eu-frankfurt-1.an_x:y-z", "instance").unwrap();
        let either = Ocid::of_kind("ocid1.user.oc1..aaaa", &["compartment", "tenancy"]);
        assert!(either
            .unwrap_err()
            .to_string()
            .contains("not a compartment or tenancy OCID"));
    }
}
