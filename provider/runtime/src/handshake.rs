//! The go-plugin handshake: proving Terraform started us (the magic cookie), agreeing on the
//! protocol version, opening the listener, and announcing it in the one line Terraform reads
//! from stdout.

use std::path::{Path, PathBuf};

/// The value Terraform puts in `TF_PLUGIN_MAGIC_COOKIE`.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The environment variable holding the cookie.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// go-plugin's core protocol version.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol this runtime speaks.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// Why the handshake cannot go ahead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// Started by something other than Terraform (typically by hand).
    #[error(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Terraform runs {binary} itself: declare it in required_providers and run \
         `terraform init`. To debug it, run it with --debug and attach Terraform with the \
         TF_REATTACH_PROVIDERS value it prints."
    )]
    NotStartedByTerraform {
        /// The plugin's binary name (`terraform-provider-<name>`).
        binary: String,
    },
    /// Terraform does not offer protocol 6.
    #[error(
        "Terraform offered plugin protocol versions {offered:?}, but this provider speaks only \
         version 6. Use Terraform 1.0 or newer (or OpenTofu)."
    )]
    UnsupportedProtocol {
        /// What `PLUGIN_PROTOCOL_VERSIONS` held.
        offered: String,
    },
}

/// Checks the magic cookie and the offered protocol versions, given a way to read the
/// environment; `binary` names the plugin in the error shown when it was started by hand.
pub fn negotiate(
    binary: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<u32, HandshakeError> {
    if env(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotStartedByTerraform {
            binary: binary.to_owned(),
        });
    }
    // Absent means the client predates version negotiation; go-plugin then assumes the
    // server's version.
    let Some(offered) = env("PLUGIN_PROTOCOL_VERSIONS") else {
        return Ok(APP_PROTOCOL_VERSION);
    };
    let supported = offered
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .any(|v| v == APP_PROTOCOL_VERSION);
    if supported {
        Ok(APP_PROTOCOL_VERSION)
    } else {
        Err(HandshakeError::UnsupportedProtocol { offered })
    }
}

/// Where the unix socket goes: in `PLUGIN_UNIX_SOCKET_DIR` when Terraform names one, else in
/// the temporary directory; a fresh name each time, starting `plugin-<name>-`.
pub fn socket_path(name: &str, env: impl Fn(&str) -> Option<String>) -> PathBuf {
    let dir = env("PLUGIN_UNIX_SOCKET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!(
        "plugin-{name}-{}-{:016x}.sock",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// The handshake line: `1|6|unix|<path>|grpc|<server certificate>`, where the certificate is
/// the DER of the server's certificate in unpadded standard base64 (empty without TLS).
pub fn handshake_line(socket: &Path, server_cert_der: Option<&[u8]>) -> String {
    use base64::Engine;
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!(
        "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{}|grpc|{cert}\n",
        socket.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn refuses_without_the_cookie() {
        let by_hand = negotiate("terraform-provider-example", env(&[])).unwrap_err();
        assert!(
            by_hand
                .to_string()
                .contains("Terraform runs terraform-provider-example itself"),
            "{by_hand}"
        );
        assert_eq!(
            negotiate("p", env(&[(MAGIC_COOKIE_KEY, "nope")])),
            Err(HandshakeError::NotStartedByTerraform { binary: "p".into() })
        );
    }

    #[test]
    fn picks_6_from_either_order_and_refuses_5_only() {
        for offered in ["5,6", "6,5", "6"] {
            assert_eq!(
                negotiate(
                    "p",
                    env(&[
                        (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                        ("PLUGIN_PROTOCOL_VERSIONS", offered)
                    ])
                ),
                Ok(6)
            );
        }
        assert!(matches!(
            negotiate(
                "p",
                env(&[
                    (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                    ("PLUGIN_PROTOCOL_VERSIONS", "4,5")
                ])
            ),
            Err(HandshakeError::UnsupportedProtocol { .. })
        ));
    }

    #[test]
    fn line_carries_unpadded_base64_der() {
        let line = handshake_line(Path::new("/tmp/x.sock"), Some(&[0xff, 0x00]));
        assert_eq!(line, "1|6|unix|/tmp/x.sock|grpc|/wA\n");
        assert_eq!(handshake_line(Path::new("/s"), None), "1|6|unix|/s|grpc|\n");
    }
}
