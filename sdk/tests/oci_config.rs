//! OCI config files and profiles: `configparser` syntax, inheritance from `[DEFAULT]`, two
//! tenancies in one process, explicit values over file values, file location precedence,
//! environment fallbacks, session tokens, and messages that name the file, profile and key.
//! Environment variables come from a test [`Environment`], never the process.

use k3s_sdk::oci::{
    default_config_path, ConfigFile, Environment, KeyId, KeySource, PrivateKey, Profile,
    ProfileBuilder, Secret,
};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use std::path::{Path, PathBuf};

const SAMPLE_KEY: &str = include_str!("../src/oci/testdata/oci_sample_key.pem");
const SAMPLE_FP: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";
const TENANCY_A: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER_A: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
const TENANCY_B: &str = "ocid1.tenancy.oc1..bbbbbbbbsecondtenancy";
const USER_B: &str = "ocid1.user.oc1..bbbbbbbbseconduser";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(home.path().join(".oci")).unwrap();
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env(&self, extra: &[(&str, &str)]) -> Environment {
        let mut vars = vec![("HOME".to_owned(), self.path().display().to_string())];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Environment::from_pairs(vars)
    }
}

/// A throwaway RSA key (small, to keep debug-build tests quick; never uploaded anywhere).
fn throwaway_key_pem() -> String {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

#[test]
fn profiles_inherit_from_default_and_expand_home() {
    let home = Home::new();
    home.write(
        ".oci/oci_api_key.pem",
        &format!("{SAMPLE_KEY}OCI_API_KEY\n"),
    );
    let config = home.write(
        ".oci/config",
        &format!(
            "# written by oci setup config\n\
             [DEFAULT]\n\
             tenancy={TENANCY_A}\n\
             region = us-ashburn-1\n\
             key_file = ~/.oci/oci_api_key.pem\n\
             pass_phrase = inherited-but-unused\n\
             \n\
             ; the K3S profile only adds the user\n\
             [K3S]\n\
             User: {USER_A}\n\
             fingerprint = {}\n",
            SAMPLE_FP.to_uppercase()
        ),
    );
    let env = home.env(&[]);
    let file = ConfigFile::load(&config).unwrap();
    assert_eq!(file.profile_names(), vec!["DEFAULT", "K3S"]);
    assert_eq!(file.value("K3S", "tenancy"), Some(TENANCY_A));
    assert_eq!(
        file.value("K3S", "user"),
        Some(USER_A),
        "keys are case-insensitive"
    );

    let profile = file.profile_with_env("K3S", &env).unwrap();
    assert_eq!(profile.name(), "K3S");
    assert_eq!(profile.tenancy(), TENANCY_A);
    assert_eq!(profile.user(), Some(USER_A));
    assert_eq!(
        profile.fingerprint(),
        Some(SAMPLE_FP),
        "uppercase is normalized"
    );
    assert_eq!(profile.region().name(), "us-ashburn-1");
    assert_eq!(profile.source_file(), Some(config.as_path()));
    match profile.key_source() {
        KeySource::File(path) => assert_eq!(path, &home.path().join(".oci/oci_api_key.pem")),
        other => panic!("expected a key file, got {other:?}"),
    }
    // The inherited pass_phrase is ignored for the unencrypted key, as Oracle's SDKs do.
    let signer = profile.signer().unwrap();
    assert_eq!(
        signer.key_id().header_value(),
        format!("{TENANCY_A}/{USER_A}/{SAMPLE_FP}")
    );

    // The same through the builder, reading the default location ($HOME/.oci/config).
    let via_builder = ProfileBuilder::new()
        .profile("K3S")
        .env(env)
        .build()
        .unwrap();
    assert_eq!(via_builder.source_file(), Some(config.as_path()));
    assert_eq!(via_builder.user(), Some(USER_A));
}

#[test]
fn two_tenancies_in_one_process() {
    let home = Home::new();
    home.write("keys/a.pem", SAMPLE_KEY);
    let other = throwaway_key_pem();
    let other_fp = PrivateKey::from_pem(&other, None)
        .unwrap()
        .fingerprint()
        .to_owned();
    home.write("keys/b.pem", &other);
    let config = home.write(
        "oci/config",
        &format!(
            "[DEFAULT]\nregion=eu-frankfurt-1\n\n\
             [FIRST]\ntenancy={TENANCY_A}\nuser={USER_A}\nfingerprint={SAMPLE_FP}\nkey_file=~/keys/a.pem\n\n\
             [SECOND]\ntenancy={TENANCY_B}\nuser={USER_B}\nfingerprint={other_fp}\nkey_file=~/keys/b.pem\nregion=uk-london-1\n"
        ),
    );
    let env = home.env(&[]);
    let first = ProfileBuilder::new()
        .config_file(&config)
        .profile("FIRST")
        .env(env.clone())
        .build()
        .unwrap();
    let second = ProfileBuilder::new()
        .config_file(&config)
        .profile("SECOND")
        .env(env)
        .build()
        .unwrap();
    let (a, b) = (first.signer().unwrap(), second.signer().unwrap());
    assert_eq!(first.region().name(), "eu-frankfurt-1");
    assert_eq!(second.region().name(), "uk-london-1");
    assert_eq!(
        a.key_id().header_value(),
        format!("{TENANCY_A}/{USER_A}/{SAMPLE_FP}")
    );
    assert_eq!(
        b.key_id().header_value(),
        format!("{TENANCY_B}/{USER_B}/{other_fp}")
    );
    assert_ne!(a.key().fingerprint(), b.key().fingerprint());

    let url =
        url::Url::parse("https://iaas.eu-frankfurt-1.oraclecloud.com/20160918/instances").unwrap();
    let sign = |s: &k3s_sdk::oci::Signer| {
        let mut h = http::HeaderMap::new();
        h.insert(
            "date",
            http::HeaderValue::from_static("Thu, 05 Jan 2014 21:31:40 GMT"),
        );
        s.sign(&http::Method::GET, &url, &mut h, b"").unwrap();
        h["authorization"].to_str().unwrap().to_owned()
    };
    assert_ne!(sign(&a), sign(&b));
    // Loading one did not disturb the other.
    assert_eq!(sign(&a), sign(&first.signer().unwrap()));
}

#[test]
fn missing_keys_are_listed_with_file_and_profile() {
    let home = Home::new();
    let config = home.write(
        ".oci/config",
        &format!("[DEFAULT]\ntenancy={TENANCY_A}\n\n[K3S]\nkey_file=~/nokey.pem\n"),
    );
    let err = ProfileBuilder::new()
        .config_file(&config)
        .profile("K3S")
        .env(home.env(&[]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "OCI config file {}, profile [K3S]",
            config.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("missing user, fingerprint, region (or the OCI_REGION environment variable)"),
        "{err}"
    );
    assert!(err.contains("add them to [K3S] or to [DEFAULT]"), "{err}");

    // OCI_REGION fills the region.
    let config = home.write(
        ".oci/config",
        &format!("[DEFAULT]\ntenancy={TENANCY_A}\nuser={USER_A}\nfingerprint={SAMPLE_FP}\nkey_file=/k.pem\n"),
    );
    let profile = ProfileBuilder::new()
        .config_file(&config)
        .env(home.env(&[("OCI_REGION", "fra")]))
        .build()
        .unwrap();
    assert_eq!(profile.region().name(), "eu-frankfurt-1");
    // OCI_DEFAULT_REALM places regions this SDK does not know.
    let profile = ProfileBuilder::new()
        .config_file(&config)
        .region("xx-future-1")
        .env(home.env(&[("OCI_DEFAULT_REALM", "oc19")]))
        .build()
        .unwrap();
    assert_eq!(profile.region().realm().domain(), "oraclecloud.eu");
}

#[test]
fn malformed_values_name_the_key() {
    let home = Home::new();
    let cases = [
        (
            "fingerprint",
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5",
            "is not a key fingerprint",
        ),
        (
            "fingerprint",
            "7361a22167e0dfbe7e4b931e1598a5b7",
            "16 hex pairs joined by ':'",
        ),
        (
            "tenancy",
            "ocid1.compartment.oc1..aaaa",
            "is a compartment OCID, not a tenancy OCID",
        ),
        ("user", "alice@example.com", "is not an OCID"),
        (
            "region",
            "iaas.us-ashburn-1.oraclecloud.com",
            "not an OCI region name",
        ),
    ];
    for (key, value, expected) in cases {
        let mut values = [
            ("tenancy", TENANCY_A.to_owned()),
            ("user", USER_A.to_owned()),
            ("fingerprint", SAMPLE_FP.to_owned()),
            ("region", "us-phoenix-1".to_owned()),
            ("key_file", "/k.pem".to_owned()),
        ];
        values.iter_mut().find(|(k, _)| *k == key).unwrap().1 = value.to_owned();
        let body: String = values.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let config = home.write(".oci/config", &format!("[PROD]\n{body}"));
        let err = ProfileBuilder::new()
            .config_file(&config)
            .profile("PROD")
            .env(home.env(&[]))
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "OCI config file {}, profile [PROD], key '{key}'",
                config.display()
            )),
            "{key}: {err}"
        );
        assert!(err.contains(expected), "{key}: {err}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let cases = [
        (
            "tenancy=x\n[DEFAULT]\n",
            "line 1, key 'tenancy'",
            "before any '[profile]' header",
        ),
        ("[A]\nuser=x\n[A]\n", "line 3", "profile [A] appears twice"),
        (
            "[A]\nuser=x\nUSER=y\n",
            "line 3, key 'user'",
            "appears twice in profile [A]",
        ),
        ("[A]\njust words\n", "line 2", "expected 'key = value'"),
        ("[]\n", "line 1", "empty profile name"),
    ];
    for (text, at, expected) in cases {
        let err = ConfigFile::parse(text, "/etc/oci/config")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("OCI config file /etc/oci/config, {at}")),
            "{text:?}: {err}"
        );
        assert!(err.contains(expected), "{text:?}: {err}");
    }
    let file = ConfigFile::parse(
        "\u{feff}[DEFAULT]\nkey_file = /a/b=c.pem\nnote = first\n  second line\n# comment\n[X]\n",
        "/c",
    )
    .unwrap();
    assert_eq!(
        file.value("X", "key_file"),
        Some("/a/b=c.pem"),
        "values keep '='"
    );
    assert_eq!(file.value("DEFAULT", "note"), Some("first\nsecond line"));
    assert!(file.has_profile("X"));
    let err = file
        .profile_with_env("NOPE", &Environment::from_pairs([("HOME", "/h")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("there is no profile [NOPE]; the profiles there are: [DEFAULT], [X]"),
        "{err}"
    );
}

#[test]
fn config_file_location_precedence() {
    let home = Home::new();
    let elsewhere = home.write("elsewhere/config", "[DEFAULT]\n");
    let env_var = elsewhere.display().to_string();

    // Nothing at ~/.oci/config: OCI_CONFIG_FILE is used.
    let env = home.env(&[("OCI_CONFIG_FILE", env_var.as_str())]);
    assert_eq!(default_config_path(&env).unwrap(), elsewhere);
    // ~/.oci/config exists: it wins, as in Oracle's SDKs.
    let primary = home.write(".oci/config", "[DEFAULT]\n");
    assert_eq!(default_config_path(&env).unwrap(), primary);
    std::fs::remove_file(&primary).unwrap();
    // The legacy location comes last.
    let legacy = home.write(".oraclebmc/config", "[DEFAULT]\n");
    assert_eq!(default_config_path(&home.env(&[])).unwrap(), legacy);
    std::fs::remove_file(&legacy).unwrap();
    let err = default_config_path(&home.env(&[])).unwrap_err().to_string();
    assert!(err.contains("no OCI config file found"), "{err}");
    assert!(
        err.contains(&home.path().join(".oci/config").display().to_string()),
        "{err}"
    );
    assert!(err.contains("$OCI_CONFIG_FILE (not set)"), "{err}");
}

#[test]
fn explicit_values_override_the_file_and_need_no_file() {
    let home = Home::new();
    let config = home.write(
        ".oci/config",
        &format!("[DEFAULT]\ntenancy={TENANCY_A}\nuser={USER_A}\nfingerprint=00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00\nkey_file=/missing.pem\nregion=us-phoenix-1\n"),
    );
    // From HCL: a PEM and its fingerprint override the profile's; the region too.
    let profile = Profile::builder()
        .config_file(&config)
        .fingerprint(SAMPLE_FP)
        .private_key_pem(Secret::new(SAMPLE_KEY))
        .region("us-sanjose-1")
        .env(home.env(&[]))
        .build()
        .unwrap();
    assert_eq!(profile.tenancy(), TENANCY_A, "taken from the file");
    assert_eq!(profile.region().name(), "us-sanjose-1");
    assert_eq!(profile.signer().unwrap().key().fingerprint(), SAMPLE_FP);

    // Everything explicit, HOME without any config file: no file is needed.
    let empty_home = Home::new();
    let profile = Profile::builder()
        .tenancy(TENANCY_B)
        .user(USER_B)
        .fingerprint(SAMPLE_FP)
        .region("iad")
        .private_key_pem(Secret::new(SAMPLE_KEY))
        .env(empty_home.env(&[]))
        .build()
        .unwrap();
    assert_eq!(profile.name(), "explicit");
    assert_eq!(profile.source_file(), None);
    assert_eq!(profile.region().name(), "us-ashburn-1");

    // Incomplete explicit values and no file anywhere: say what is missing.
    let err = Profile::builder()
        .tenancy(TENANCY_B)
        .env(empty_home.env(&[]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the explicit OCI settings: missing user, fingerprint, key_file"),
        "{err}"
    );

    // A wrong fingerprint is caught before any call, showing both.
    let err = Profile::builder()
        .config_file(&config)
        .private_key_pem(Secret::new(SAMPLE_KEY))
        .env(home.env(&[]))
        .build()
        .unwrap()
        .signer()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00"),
        "{err}"
    );
    assert!(err.contains(SAMPLE_FP), "{err}");
    assert!(
        err.contains(&format!(
            "OCI config file {}, profile [DEFAULT]",
            config.display()
        )),
        "{err}"
    );

    // A missing key file is named.
    let err = Profile::builder()
        .config_file(&config)
        .env(home.env(&[]))
        .build()
        .unwrap()
        .signer()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read private key file /missing.pem"),
        "{err}"
    );
}

#[test]
fn encrypted_key_with_passphrase_from_the_profile() {
    use rsa::pkcs8::der::{Decode as _, EncodePem as _};
    use rsa::pkcs8::pkcs5::pbes2;
    let key = <rsa::RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(SAMPLE_KEY)
        .unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).unwrap();
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[1; 16], &[2; 16]).unwrap();
    let encrypted = info.encrypt_with_params(params, "test123").unwrap();
    let pem = rsa::pkcs8::EncryptedPrivateKeyInfo::from_der(encrypted.as_bytes())
        .unwrap()
        .to_pem(LineEnding::LF)
        .unwrap();

    let home = Home::new();
    home.write(".oci/enc.pem", &pem);
    let base = format!("[DEFAULT]\ntenancy={TENANCY_A}\nuser={USER_A}\nfingerprint={SAMPLE_FP}\nkey_file=~/.oci/enc.pem\nregion=phx\n");
    let with = home.write("with/config", &format!("{base}pass_phrase=test123\n"));
    let without = home.write("without/config", &base);
    let env = home.env(&[]);
    let signer = ProfileBuilder::new()
        .config_file(&with)
        .env(env.clone())
        .build()
        .unwrap()
        .signer()
        .unwrap();
    assert_eq!(signer.key().fingerprint(), SAMPLE_FP);
    let err = ProfileBuilder::new()
        .config_file(&without)
        .env(env.clone())
        .build()
        .unwrap()
        .signer()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encrypted but no passphrase was given"),
        "{err}"
    );
    assert!(err.contains("enc.pem"), "{err}");
    // A runtime passphrase works too (the documented replacement for pass_phrase).
    ProfileBuilder::new()
        .config_file(&without)
        .passphrase("test123")
        .env(env)
        .build()
        .unwrap()
        .signer()
        .unwrap();
}

#[test]
fn session_token_profiles_sign_as_st() {
    let home = Home::new();
    home.write(".oci/sessions/K3S/oci_api_key.pem", SAMPLE_KEY);
    home.write(
        ".oci/sessions/K3S/token",
        "  eyJraWQiOiJzZXNzaW9uIn0.e30.sig\n",
    );
    let config = home.write(
        ".oci/config",
        &format!(
            "[K3S]\nfingerprint={SAMPLE_FP}\nkey_file=~/.oci/sessions/K3S/oci_api_key.pem\ntenancy={TENANCY_A}\nregion=us-ashburn-1\nsecurity_token_file=~/.oci/sessions/K3S/token\n"
        ),
    );
    let profile = ProfileBuilder::new()
        .config_file(&config)
        .profile("K3S")
        .env(home.env(&[]))
        .build()
        .unwrap();
    assert_eq!(profile.user(), None);
    let signer = profile.signer().unwrap();
    assert!(matches!(signer.key_id(), KeyId::SecurityToken(_)));
    assert_eq!(
        signer.key_id().header_value(),
        "ST$eyJraWQiOiJzZXNzaW9uIn0.e30.sig"
    );
    assert!(!format!("{signer:?} {profile:?}").contains("eyJraWQ"));
}

#[test]
fn unsupported_profile_kinds_are_refused() {
    let home = Home::new();
    let base = format!("tenancy={TENANCY_A}\nuser={USER_A}\nfingerprint={SAMPLE_FP}\nregion=phx\n");
    let config = home.write(".oci/config", &format!("[A]\n{base}key_content=-----BEGIN...\n[B]\n{base}authentication_type=instance_principal\n"));
    let err = ProfileBuilder::new()
        .config_file(&config)
        .profile("A")
        .env(home.env(&[]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key 'key_content'") && err.contains("not allowed in a config file"),
        "{err}"
    );
    let err = ProfileBuilder::new()
        .config_file(&config)
        .profile("B")
        .env(home.env(&[]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'instance_principal' is not supported"),
        "{err}"
    );
}

#[test]
fn no_secret_in_debug_of_config_and_profiles() {
    let home = Home::new();
    let config = home.write(
        ".oci/config",
        &format!("[DEFAULT]\ntenancy={TENANCY_A}\nuser={USER_A}\nfingerprint={SAMPLE_FP}\nkey_file=/k.pem\nregion=phx\npass_phrase=hunter2-passphrase\n"),
    );
    let file = ConfigFile::load(&config).unwrap();
    let profile = file.profile_with_env("DEFAULT", &home.env(&[])).unwrap();
    let builder = Profile::builder()
        .private_key_pem(Secret::new(SAMPLE_KEY))
        .passphrase("hunter2-passphrase");
    let explicit = builder
        .clone()
        .tenancy(TENANCY_A)
        .user(USER_A)
        .fingerprint(SAMPLE_FP)
        .region("phx")
        .env(home.env(&[]))
        .build()
        .unwrap();
    let shown = format!("{file:?} {profile:?} {builder:?} {explicit:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("MIIC"), "{shown}");
    assert!(
        shown.contains(TENANCY_A),
        "non-secret values stay visible: {shown}"
    );
}
