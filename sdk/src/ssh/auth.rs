//! Authentication on a fresh connection: the configured credentials loaded (a key file, an
//! inline key, optionally passphrase-protected, or an ssh-agent) and offered to the server,
//! with errors that name the credentials and the methods the server accepts.

use super::config::Credentials;
use super::connect::{classify_ssh, Client, Endpoint, Failure};
use super::error::Error;
use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::MethodKind;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Credentials ready for use: a decoded key, or an agent socket.
pub(super) enum Auth {
    Key(Arc<PrivateKey>),
    Agent(PathBuf),
}

pub(super) async fn load_auth(ep: &Endpoint<'_>) -> Result<Auth, Error> {
    let describe = ep.credentials.describe();
    let key_error = |reason: String| Error::Key {
        credentials: describe.clone(),
        reason,
    };
    let (text, passphrase) = match ep.credentials {
        Credentials::KeyFile { path, passphrase } => {
            let bytes = Zeroizing::new(tokio::fs::read(path).await.map_err(|e| {
                key_error(format!(
                    "cannot read it ({e}); check the path and its permissions"
                ))
            })?);
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| key_error("it is not a text key file".into()))?;
            (Zeroizing::new(text.to_owned()), passphrase.clone())
        }
        Credentials::Key {
            private_key,
            passphrase,
        } => (
            Zeroizing::new(private_key.expose().to_owned()),
            passphrase.clone(),
        ),
        Credentials::Agent { socket } => {
            let socket = match socket {
                Some(s) => s.clone(),
                None => std::env::var_os("SSH_AUTH_SOCK")
                    .map(PathBuf::from)
                    .ok_or_else(|| Error::Agent {
                        host: ep.label.clone(),
                        reason: "SSH_AUTH_SOCK is not set; start ssh-agent and ssh-add your key, \
                                 or use a key file"
                            .into(),
                    })?,
            };
            return Ok(Auth::Agent(socket));
        }
    };
    // Decrypting a passphrase-protected key is deliberately slow (bcrypt): keep it off the
    // async threads.
    let had_passphrase = passphrase.is_some();
    let decoded = tokio::task::spawn_blocking(move || {
        russh::keys::decode_secret_key(&text, passphrase.as_ref().map(|p| p.expose()))
    })
    .await
    .map_err(|e| key_error(format!("decoding it failed: {e}")))?;
    match decoded {
        Ok(key) => Ok(Auth::Key(Arc::new(key))),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(key_error(
            "it is passphrase-protected; give its passphrase".into(),
        )),
        Err(e) if had_passphrase => Err(key_error(format!(
            "cannot decrypt or decode it ({e}); check the passphrase"
        ))),
        Err(e) => Err(key_error(format!(
            "cannot decode it ({e}); expected an OpenSSH, PEM or PuTTY private key"
        ))),
    }
}

pub(super) async fn authenticate(
    handle: &mut Handle<Client>,
    ep: &Endpoint<'_>,
    auth: &Auth,
) -> Result<(), Failure> {
    let fatal_ssh = |e: russh::Error| classify_ssh(&ep.label, "authentication", e);
    let refused = |methods: &[MethodKind], credentials: String| {
        let accepted: Vec<&str> = methods.iter().map(<&str>::from).collect();
        Failure::Fatal(Error::AuthFailed {
            host: ep.label.clone(),
            user: ep.user.to_owned(),
            credentials,
            accepted: if accepted.is_empty() {
                "nothing further".into()
            } else {
                accepted.join(", ")
            },
        })
    };
    match auth {
        Auth::Key(key) => {
            let hash = rsa_hash(handle, key.algorithm().is_rsa())
                .await
                .map_err(fatal_ssh)?;
            let result = handle
                .authenticate_publickey(ep.user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(fatal_ssh)?;
            match result {
                russh::client::AuthResult::Success => Ok(()),
                russh::client::AuthResult::Failure {
                    remaining_methods, ..
                } => Err(refused(&remaining_methods, ep.credentials.describe())),
            }
        }
        Auth::Agent(socket) => {
            let agent_error = |reason: String| {
                Failure::Fatal(Error::Agent {
                    host: ep.label.clone(),
                    reason,
                })
            };
            let mut agent = AgentClient::connect_uds(socket).await.map_err(|e| {
                agent_error(format!(
                    "cannot connect to the agent at {} ({e}); is ssh-agent running?",
                    socket.display()
                ))
            })?;
            let identities = agent
                .request_identities()
                .await
                .map_err(|e| agent_error(format!("cannot list its keys: {e}")))?;
            let keys: Vec<PublicKey> = identities
                .into_iter()
                .filter_map(|id| match id {
                    AgentIdentity::PublicKey { key, .. } => Some(key),
                    AgentIdentity::Certificate { .. } => None,
                })
                .collect();
            if keys.is_empty() {
                return Err(agent_error(
                    "the agent holds no keys; add one with ssh-add".into(),
                ));
            }
            let mut methods = Vec::new();
            for key in &keys {
                let hash = rsa_hash(handle, key.algorithm().is_rsa())
                    .await
                    .map_err(fatal_ssh)?;
                let result = handle
                    .authenticate_publickey_with(ep.user, key.clone(), hash, &mut agent)
                    .await
                    .map_err(|e| agent_error(format!("signing failed: {e}")))?;
                match result {
                    russh::client::AuthResult::Success => return Ok(()),
                    russh::client::AuthResult::Failure {
                        remaining_methods, ..
                    } => methods = remaining_methods.to_vec(),
                }
            }
            Err(refused(
                &methods,
                format!("{} ({} key(s))", ep.credentials.describe(), keys.len()),
            ))
        }
    }
}

async fn rsa_hash(handle: &Handle<Client>, is_rsa: bool) -> Result<Option<HashAlg>, russh::Error> {
    if !is_rsa {
        return Ok(None);
    }
    Ok(handle
        .best_supported_rsa_hash()
        .await?
        .unwrap_or(Some(HashAlg::Sha256)))
}
