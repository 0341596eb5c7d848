//! The plugin binary as Terraform's go-plugin client sees it: the real executable is started
//! with the environment Terraform gives it, its handshake line is read from stdout, and a
//! tonic client talks to it over the announced unix socket, with AutoMTLS as Terraform does
//! it (a one-time self-signed ECDSA P-521 client certificate in `PLUGIN_CLIENT_CERT`, the
//! server certificate from the handshake line as the only trust root, server name
//! `localhost`, ALPN `h2`) or in plaintext when Terraform turns TLS off.

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tfplugin_proto::plugin;
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tfplugin_proto::tfplugin6::{get_provider_schema, stop_provider};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, ChildStdout, Command};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The plugin binary under test.
const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-k3s");
/// Terraform's magic cookie.
const MAGIC_COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// Generous bound for anything that should take milliseconds, so a hang fails instead of
/// blocking the suite.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long go-plugin waits for a plugin to exit after `Shutdown` before killing it.
const GO_PLUGIN_KILL_AFTER: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Certificates

/// A client certificate and key made the way go-plugin makes Terraform's (`mtls.go`
/// `generateCert`): ECDSA P-521, self-signed CA, CN and SAN `localhost`, both EKUs.
struct ClientIdentity {
    pem: String,
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    fn terraform_like() -> ClientIdentity {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "HashiCorp");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let now = std::time::SystemTime::now();
        params.not_before = (now - Duration::from_secs(30)).into();
        params.not_after = (now + Duration::from_secs(262_980 * 3600)).into();
        let cert = params.self_signed(&key).expect("self-signed certificate");
        ClientIdentity {
            pem: cert.pem(),
            der: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

/// What go-plugin's Go client checks on the server: the certificate announced in the
/// handshake line is the only trust root (the server's certificate is that self-signed CA
/// certificate itself, which webpki would refuse as an end entity, so this is a pin), it names
/// the server name in a DNS SAN, it is within its validity window and its EKU allows server
/// authentication; the handshake signature proves the server holds its key.
#[derive(Debug)]
struct AnnouncedServerCertificate {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnnouncedServerCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError;
        if end_entity.as_ref() != self.expected.as_ref() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        let facts = ServerCertFacts::parse(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now < facts.not_before {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet,
            ));
        }
        if now > facts.not_after {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        let ServerName::DnsName(name) = server_name else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
        };
        if !facts
            .dns_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name.as_ref()))
        {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
        }
        if !facts.allows_server_auth {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The parts of the server certificate a Go client looks at.
#[derive(Debug)]
struct ServerCertFacts {
    dns_names: Vec<String>,
    allows_server_auth: bool,
    is_ca: bool,
    self_issued: bool,
    not_before: i64,
    not_after: i64,
}

impl ServerCertFacts {
    fn parse(der: &[u8]) -> Result<ServerCertFacts, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
        let dns_names = match cert.subject_alternative_name().map_err(|e| e.to_string())? {
            Some(san) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_string()),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        // No EKU extension means any purpose.
        let allows_server_auth = match cert.extended_key_usage().map_err(|e| e.to_string())? {
            Some(eku) => eku.value.server_auth || eku.value.any,
            None => true,
        };
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| e.to_string())?
            .is_some_and(|bc| bc.value.ca);
        Ok(ServerCertFacts {
            dns_names,
            allows_server_auth,
            is_ca,
            self_issued: cert.issuer() == cert.subject(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// A client TLS configuration as go-plugin builds Terraform's: trusts only the announced
/// server certificate, presents `identity` (or no certificate), offers ALPN `h2`.
fn client_tls(
    server_cert_der: &[u8],
    identity: Option<&ClientIdentity>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AnnouncedServerCertificate {
        expected: CertificateDer::from(server_cert_der.to_vec()),
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.der.clone()], id.key.clone_key())
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

// ---------------------------------------------------------------------------------------------
// The provider process

/// A provider started as Terraform starts it. Killed when dropped, so a failing test leaves
/// no process behind; its stderr (logs at DEBUG) is printed if the test is failing.
struct RunningProvider {
    child: Child,
    socket: PathBuf,
    server_cert: Option<Vec<u8>>,
    /// Terraform's side of AutoMTLS; `None` in plaintext.
    client_identity: Option<ClientIdentity>,
    stderr: Arc<Mutex<Vec<u8>>>,
    // Held so the provider's stdout stays open for as long as it runs, as go-plugin keeps it.
    stdout: BufReader<ChildStdout>,
    socket_dir: tempfile::TempDir,
}

impl Drop for RunningProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let log = self
                .stderr
                .lock()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            eprintln!("--- provider stderr ---\n{log}--- end of provider stderr ---");
        }
    }
}

impl RunningProvider {
    /// Connects as Terraform does, with TLS when the provider was given a client certificate.
    async fn connect_as_terraform(&self) -> Channel {
        match (&self.server_cert, &self.client_identity) {
            (Some(server_cert), Some(identity)) => {
                connect_tls(&self.socket, client_tls(server_cert, Some(identity)))
                    .await
                    .expect("TLS connection")
                    .channel
            }
            _ => connect_plain(&self.socket)
                .await
                .expect("plaintext connection"),
        }
    }
}

/// A command for the plugin binary with none of the plugin variables from our own environment.
fn plugin_command() -> Command {
    let mut command = Command::new(BINARY);
    for var in [
        "TF_PLUGIN_MAGIC_COOKIE",
        "PLUGIN_PROTOCOL_VERSIONS",
        "PLUGIN_CLIENT_CERT",
        "PLUGIN_UNIX_SOCKET_DIR",
        "PLUGIN_UNIX_SOCKET_GROUP",
        "PLUGIN_MULTIPLEX_GRPC",
        "TF_LOG",
        "TF_LOG_PROVIDER",
    ] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// Starts the provider with AutoMTLS, given a fresh Terraform-like client certificate.
async fn start_provider_with_mtls() -> RunningProvider {
    let provider = start_provider(Some(ClientIdentity::terraform_like())).await;
    assert!(
        provider.server_cert.is_some(),
        "with PLUGIN_CLIENT_CERT the handshake line carries a server certificate"
    );
    provider
}

/// Starts the provider with Terraform's environment (`PLUGIN_CLIENT_CERT` only with a client
/// identity) and reads and checks its handshake line.
async fn start_provider(client_identity: Option<ClientIdentity>) -> RunningProvider {
    let socket_dir = tempfile::tempdir().expect("socket directory");
    let mut command = plugin_command();
    command
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_dir.path())
        .env("TF_LOG_PROVIDER", "DEBUG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(identity) = &client_identity {
        command.env("PLUGIN_CLIENT_CERT", &identity.pem);
    }
    let mut child = command.spawn().expect("start the provider");

    // Drain stderr so logging can never block the provider.
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = child.stderr.take().expect("stderr pipe");
    let sink = stderr.clone();
    tokio::spawn(async move {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("stderr buffer")
                .extend_from_slice(&chunk[..n]);
        }
    });

    let stdout = BufReader::new(child.stdout.take().expect("stdout pipe"));
    let mut provider = RunningProvider {
        child,
        socket: PathBuf::new(),
        server_cert: None,
        client_identity,
        stderr,
        stdout,
        socket_dir,
    };
    let mut line = String::new();
    match tokio::time::timeout(PATIENCE, provider.stdout.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => {}
        other => panic!("no handshake line from the provider within {PATIENCE:?}: {other:?}"),
    }
    let (socket, server_cert) = parse_handshake_line(&line);
    assert_eq!(
        socket.parent(),
        Some(provider.socket_dir.path()),
        "the socket goes in PLUGIN_UNIX_SOCKET_DIR"
    );
    assert!(
        socket.exists(),
        "the announced socket {} exists",
        socket.display()
    );
    provider.socket = socket;
    provider.server_cert = server_cert;
    provider
}

/// Splits `1|6|unix|<path>|grpc|<cert>` as go-plugin does and returns the socket path and the
/// decoded server certificate (`None` when the field is empty).
fn parse_handshake_line(line: &str) -> (PathBuf, Option<Vec<u8>>) {
    let body = line
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("the handshake line ends in a newline: {line:?}"));
    let fields: Vec<&str> = body.split('|').collect();
    assert_eq!(fields.len(), 6, "six fields in {line:?}");
    assert_eq!(fields[0], "1", "core protocol version");
    assert_eq!(fields[1], "6", "app protocol version");
    assert_eq!(fields[2], "unix", "network");
    assert_eq!(fields[4], "grpc", "protocol");
    let cert = match fields[5] {
        "" => None,
        b64 => {
            assert!(!b64.contains('='), "the certificate is unpadded base64");
            Some(
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(b64)
                    .expect("standard base64 certificate DER"),
            )
        }
    };
    (PathBuf::from(fields[3]), cert)
}

// ---------------------------------------------------------------------------------------------
// Clients

/// A TLS connection to the provider, as a tonic channel.
struct TlsConnection {
    channel: Channel,
    /// The ALPN protocol the connection negotiated.
    alpn: Arc<Mutex<Option<Vec<u8>>>>,
    /// Another handle on the underlying socket, to close it as grpc-go's `ClientConn.Close`
    /// does, whatever tonic's handles still hold.
    socket: Arc<Mutex<Option<std::os::unix::net::UnixStream>>>,
}

impl TlsConnection {
    /// Closes the transport under the channel, both ways.
    fn close(&self) {
        if let Some(socket) = self.socket.lock().expect("socket slot").take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Connects over the unix socket with TLS.
async fn connect_tls(
    socket: &Path,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsConnection, tonic::transport::Error> {
    let alpn = Arc::new(Mutex::new(None));
    let raw = Arc::new(Mutex::new(None));
    let (alpn_slot, raw_slot) = (alpn.clone(), raw.clone());
    let socket = socket.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let socket = socket.clone();
        let config = config.clone();
        let (alpn_slot, raw_slot) = (alpn_slot.clone(), raw_slot.clone());
        async move {
            let stream = UnixStream::connect(&socket).await?.into_std()?;
            *raw_slot.lock().expect("socket slot") = Some(stream.try_clone()?);
            let stream = UnixStream::from_std(stream)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(
                    ServerName::try_from("localhost").map_err(std::io::Error::other)?,
                    stream,
                )
                .await?;
            *alpn_slot.lock().expect("alpn slot") =
                tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await?;
    Ok(TlsConnection {
        channel,
        alpn,
        socket: raw,
    })
}

/// Connects over the unix socket in plaintext (h2c with prior knowledge, as grpc-go does).
async fn connect_plain(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let socket = socket.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(&socket).await?)) }
    });
    Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
}

/// GetProviderSchema, bounded by [`PATIENCE`].
async fn provider_schema(channel: &Channel) -> Result<get_provider_schema::Response, String> {
    let mut client =
        ProviderClient::new(channel.clone()).max_decoding_message_size(256 * 1024 * 1024);
    match tokio::time::timeout(
        PATIENCE,
        client.get_provider_schema(get_provider_schema::Request {}),
    )
    .await
    {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(format!("GetProviderSchema failed: {status}")),
        Err(_) => Err(format!(
            "GetProviderSchema got no answer within {PATIENCE:?}"
        )),
    }
}

/// Asserts the schema lists the provider's resource types and data source.
fn assert_k3s_schema(schema: &get_provider_schema::Response) {
    for resource in ["k3s_server", "k3s_agent", "argocd_bootstrap"] {
        assert!(
            schema.resource_schemas.contains_key(resource),
            "resource {resource} in {:?}",
            schema.resource_schemas.keys().collect::<Vec<_>>()
        );
    }
    assert!(
        schema.data_source_schemas.contains_key("k3s_oci_instances"),
        "data source k3s_oci_instances in {:?}",
        schema.data_source_schemas.keys().collect::<Vec<_>>()
    );
    assert!(
        schema.diagnostics.is_empty(),
        "no diagnostics: {:?}",
        schema.diagnostics
    );
}

/// Health Check for go-plugin's service name `plugin`.
async fn plugin_health(channel: &Channel) -> ServingStatus {
    let mut client = HealthClient::new(channel.clone());
    let response = tokio::time::timeout(
        PATIENCE,
        client.check(HealthCheckRequest {
            service: "plugin".into(),
        }),
    )
    .await
    .expect("health answers in time")
    .expect("health check");
    ServingStatus::try_from(response.into_inner().status).expect("a known serving status")
}

/// Connects with `config` and makes one RPC; `Err` describes where it was refused.
async fn attempt_rpc(socket: &Path, config: Arc<rustls::ClientConfig>) -> Result<(), String> {
    let attempt = async {
        let connection = connect_tls(socket, config)
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        provider_schema(&connection.channel).await.map(drop)
    };
    tokio::time::timeout(PATIENCE, attempt)
        .await
        .unwrap_or_else(|_| panic!("the attempt neither succeeded nor failed within {PATIENCE:?}"))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn mutual_tls_accepts_only_the_announced_client_certificate() {
    let provider = start_provider_with_mtls().await;
    let server_cert = provider.server_cert.clone().expect("server certificate");
    let terraform = provider
        .client_identity
        .as_ref()
        .expect("Terraform's certificate");

    // The certificate a Go client would accept: SAN localhost, server auth, in its validity
    // window, self-signed CA (it is its own trust root).
    let facts =
        ServerCertFacts::parse(&server_cert).expect("the announced certificate parses as X.509");
    assert!(
        facts.dns_names.iter().any(|n| n == "localhost"),
        "SAN DNS localhost: {facts:?}"
    );
    assert!(
        facts.allows_server_auth,
        "EKU allows server auth: {facts:?}"
    );
    assert!(
        facts.is_ca && facts.self_issued,
        "a self-signed CA certificate: {facts:?}"
    );
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("time");
    assert!(
        facts.not_before <= now && now < facts.not_after,
        "valid now: {facts:?}"
    );

    // Terraform's own certificate: served, over h2.
    let connection = connect_tls(&provider.socket, client_tls(&server_cert, Some(terraform)))
        .await
        .expect("TLS connection with Terraform's certificate");
    let channel = connection.channel.clone();
    assert_eq!(
        connection.alpn.lock().expect("alpn").as_deref(),
        Some(&b"h2"[..]),
        "ALPN h2 negotiated"
    );
    assert_k3s_schema(
        &provider_schema(&channel)
            .await
            .expect("schema over AutoMTLS"),
    );
    assert_eq!(plugin_health(&channel).await, ServingStatus::Serving);

    // Another P-521 certificate made the same way, and no certificate at all: refused.
    let stranger = ClientIdentity::terraform_like();
    let refusal = attempt_rpc(&provider.socket, client_tls(&server_cert, Some(&stranger))).await;
    assert!(
        refusal.is_err(),
        "a client with a different certificate was served"
    );
    eprintln!(
        "different client certificate refused: {}",
        refusal.unwrap_err()
    );
    let refusal = attempt_rpc(&provider.socket, client_tls(&server_cert, None)).await;
    assert!(
        refusal.is_err(),
        "a client without a certificate was served"
    );
    eprintln!("no client certificate refused: {}", refusal.unwrap_err());

    // The refusals cost Terraform's connections nothing: the open one and a new one still work.
    assert_k3s_schema(
        &provider_schema(&channel)
            .await
            .expect("schema on the first connection after the refusals"),
    );
    attempt_rpc(&provider.socket, client_tls(&server_cert, Some(terraform)))
        .await
        .expect("a new connection with Terraform's certificate");
}

/// What go-plugin's client does to a provider it is done with, up to the wait: the streams its
/// client opens on connecting (stdio and broker) are open, `Shutdown` is called, and then the
/// connection is closed unless `close_after` is false. Returns the time from sending
/// `Shutdown` to the process's exit, and its exit status.
async fn shutdown_as_go_plugin_does(
    provider: &mut RunningProvider,
    close_after: bool,
) -> (Duration, std::process::ExitStatus) {
    let terraform_cert = provider
        .client_identity
        .as_ref()
        .expect("an AutoMTLS provider");
    let server_cert = provider.server_cert.clone().expect("server certificate");
    let connection = connect_tls(
        &provider.socket,
        client_tls(&server_cert, Some(terraform_cert)),
    )
    .await
    .expect("connect");
    let channel = connection.channel.clone();
    let stdio = tokio::time::timeout(
        PATIENCE,
        plugin::grpc_stdio_client::GrpcStdioClient::new(channel.clone()).stream_stdio(()),
    )
    .await
    .expect("StreamStdio answers in time")
    .expect("StreamStdio");
    let broker = tokio::time::timeout(
        PATIENCE,
        plugin::grpc_broker_client::GrpcBrokerClient::new(channel.clone())
            .start_stream(tokio_stream::pending()),
    )
    .await
    .expect("StartStream answers in time")
    .expect("StartStream");
    provider_schema(&channel)
        .await
        .expect("schema before Shutdown");

    let sent = Instant::now();
    let answer = tokio::time::timeout(
        PATIENCE,
        GrpcControllerClient::new(channel.clone()).shutdown(plugin::Empty {}),
    )
    .await
    .expect("Shutdown answers in time");
    if close_after {
        connection.close();
    }
    let status = tokio::time::timeout(PATIENCE, provider.child.wait())
        .await
        .expect("the provider exits after Shutdown")
        .expect("wait for the provider");
    let elapsed = sent.elapsed();
    answer.expect("Shutdown is answered before the process exits");
    drop((stdio, broker, connection));
    (elapsed, status)
}

#[tokio::test]
async fn shutdown_ends_the_process_promptly() {
    let mut provider = start_provider_with_mtls().await;
    let (elapsed, status) = shutdown_as_go_plugin_does(&mut provider, true).await;
    eprintln!("provider exited {} ms after Shutdown", elapsed.as_millis());
    // Whether the socket file goes depends on the graceful stop finishing before the forced
    // exit; reported, not asserted (see the ignored test below for the requirement).
    eprintln!(
        "socket file left behind after Shutdown: {}",
        provider.socket.exists()
    );
    assert!(status.success(), "exit status after Shutdown: {status}");
    assert!(elapsed < GO_PLUGIN_KILL_AFTER, "exited {elapsed:?} after Shutdown; go-plugin kills a plugin after {GO_PLUGIN_KILL_AFTER:?}");
}

#[tokio::test]
async fn shutdown_removes_the_socket_file_even_if_the_client_lingers() {
    let mut provider = start_provider_with_mtls().await;
    let (_, status) = shutdown_as_go_plugin_does(&mut provider, false).await;
    assert!(status.success(), "exit status after Shutdown: {status}");
    assert!(
        !provider.socket.exists(),
        "the socket file {} is removed when the provider exits",
        provider.socket.display()
    );
}

#[tokio::test]
async fn stop_provider_keeps_serving() {
    let provider = start_provider_with_mtls().await;
    let channel = provider.connect_as_terraform().await;

    let stop = tokio::time::timeout(
        PATIENCE,
        ProviderClient::new(channel.clone()).stop_provider(stop_provider::Request {}),
    )
    .await
    .expect("StopProvider answers in time")
    .expect("StopProvider");
    assert_eq!(stop.into_inner().error, "", "StopProvider reports no error");
    assert_k3s_schema(
        &provider_schema(&channel)
            .await
            .expect("schema on the same connection after StopProvider"),
    );
}

#[tokio::test]
async fn plaintext_when_terraform_disables_tls() {
    let provider = start_provider(None).await;
    assert_eq!(
        provider.server_cert, None,
        "without PLUGIN_CLIENT_CERT the certificate field is empty"
    );
    let channel = connect_plain(&provider.socket)
        .await
        .expect("plaintext connection");
    assert_k3s_schema(
        &provider_schema(&channel)
            .await
            .expect("schema over plaintext h2c"),
    );
    assert_eq!(plugin_health(&channel).await, ServingStatus::Serving);
}

#[tokio::test]
async fn refuses_to_run_by_hand() {
    let mut command = plugin_command();
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .expect("exits promptly without the cookie")
        .expect("run the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status; stderr: {stderr}"
    );
    assert!(
        stderr.contains("This binary is a plugin"),
        "stderr explains: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Sends SIGINT to the provider, as a Ctrl-C in Terraform's terminal does to the whole
/// process group.
fn send_sigint(provider: &RunningProvider) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pid = i32::try_from(provider.child.id().expect("the provider is running")).expect("pid");
    kill(Pid::from_raw(pid), Signal::SIGINT).expect("send SIGINT");
}

#[tokio::test]
async fn sigint_is_ignored() {
    let mut provider = start_provider_with_mtls().await;
    let channel = provider.connect_as_terraform().await;
    provider_schema(&channel)
        .await
        .expect("schema before SIGINT");

    send_sigint(&provider);
    // The answer is the barrier: the provider's threads have run since the signal was sent,
    // so a process that SIGINT ends would have ended.
    assert_k3s_schema(
        &provider_schema(&channel)
            .await
            .expect("schema on the same connection after SIGINT"),
    );
    assert!(
        provider
            .child
            .try_wait()
            .expect("poll the provider")
            .is_none(),
        "the provider exited on SIGINT"
    );
    let server_cert = provider.server_cert.clone().expect("server certificate");
    attempt_rpc(
        &provider.socket,
        client_tls(&server_cert, provider.client_identity.as_ref()),
    )
    .await
    .expect("a new connection after SIGINT");
}

#[tokio::test]
async fn sigint_right_after_the_handshake_line_is_ignored() {
    for round in 1..=20 {
        let mut provider = start_provider(None).await;
        send_sigint(&provider);
        let channel = connect_plain(&provider.socket)
            .await
            .unwrap_or_else(|e| panic!("round {round}: connect after SIGINT: {e:?}"));
        let schema = provider_schema(&channel).await;
        let exited = provider.child.try_wait().expect("poll the provider");
        assert!(
            schema.is_ok() && exited.is_none(),
            "round {round}: SIGINT right after the handshake line: {schema:?}, exit {exited:?}"
        );
    }
}
