//! K3s join tokens: the secure form `K10<sha256 of the cluster CA bundle>::<user>:<password>`
//! and the short form (just the password).

use anyhow::{bail, Result};

/// A parsed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The CA hash of a secure token.
    pub ca_hash: Option<String>,
    /// The user part of a secure token (`server`, `node`).
    pub user: Option<String>,
    /// The password.
    pub password: String,
}

/// Parses a token in either form.
pub fn parse(text: &str) -> Result<Token> {
    let text = text.trim();
    if text.is_empty() {
        bail!("the token is empty");
    }
    let Some(rest) = text.strip_prefix("K10") else {
        return Ok(Token {
            ca_hash: None,
            user: None,
            password: text.to_owned(),
        });
    };
    let Some((hash, creds)) = rest.split_once("::") else {
        bail!("invalid token format: a K10 token needs '::' after the CA hash");
    };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("invalid token CA hash length");
    }
    let (user, password) = match creds.split_once(':') {
        Some((u, p)) => (Some(u.to_owned()), p.to_owned()),
        None => (None, creds.to_owned()),
    };
    if password.is_empty() {
        bail!("invalid token format: empty password");
    }
    Ok(Token {
        ca_hash: Some(hash.to_ascii_lowercase()),
        user,
        password,
    })
}

/// The secure form.
pub fn secure(ca_hash: &str, user: &str, password: &str) -> String {
    format!("K10{ca_hash}::{user}:{password}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let hash = "a".repeat(64);
        let t = parse(&secure(&hash, "server", "pw")).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(hash.as_str()));
        assert_eq!(t.user.as_deref(), Some("server"));
        assert_eq!(t.password, "pw");
        assert_eq!(parse("short").unwrap().password, "short");
        assert!(parse("K10abc::server:pw").is_err());
    }
}
