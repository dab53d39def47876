//! The service configuration: one TOML file (tenants, policies, server, cache, retry, watch,
//! telemetry, audit), environment and flag overrides for a single-tenant setup, validated once
//! at start. Key files are read and parsed here, so a service that starts has usable keys; a
//! bad config is refused with a message that names the file, the line or key, and what is wrong
//! (exit 64). `Debug` output is redacted: secrets appear as paths, never as material.
//!
//! The policies part:
//!
//! ```toml
//! default_policy = "standard"          # optional; else the built-in "default"
//!
//! [policies.standard]
//! face_match_min_score = 80.0          # optional, 0 to 100; off when absent
//! face_quality_min_score = 60.0        # optional, 0 to 100; off when absent
//!
//! [policies.standard.effects]          # optional; reason code = "info" | "review" | "reject"
//! DEVICE_RISK_MEDIUM = "reject"
//! DOC_MATERIAL_CHECK_FAILED = "review"
//! ```
//!
//! Inside a policy table an unknown key is an error, so that a typo cannot silently weaken a
//! policy. Errors name the file, the line and the key: `policies.toml: line 7:
//! policies.standard.effects.FOO: unknown reason code "FOO"`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::callers::{Caller, Callers, IdentityRule, TenantGrant};
use crate::domain::{Policy, PolicyError, PolicySet, PolicySpec};

use crate::zoloz::aksk::SecretKey;
use crate::zoloz::api::{BaseUrl, ClientId, FaceCaptureApi, InvalidValue};
use crate::zoloz::client::{Auth, ClientConfig, RetryConfig, ZolozKeys};
use crate::zoloz::keys::{PrivateKey, PublicKey};

/// Every configuration key with its default and a comment: printed by `serve --help` and
/// copied into docs/configuration.md (tests keep both in step with the parser).
pub const REFERENCE: &str = include_str!("config/reference.toml");

/// The name of the tenant used when a request names none and the file names no default.
pub const DEFAULT_TENANT: &str = "default";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not valid TOML, a value of the wrong type, an unknown key, or a value that parses but
    /// cannot be used.
    #[error("{origin}: {}", Located(*line, key, message))]
    Invalid {
        /// The file, or `environment` for a setup without one.
        origin: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// The dotted key, when known (`tenants.acme.client_id`).
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// `line N: key: message`, leaving out what is unknown.
struct Located<'a>(Option<usize>, &'a Option<String>, &'a String);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.0 {
            write!(f, "line {line}: ")?;
        }
        if let Some(key) = self.1 {
            write!(f, "{key}: ")?;
        }
        f.write_str(self.2)
    }
}

fn invalid(origin: &str, key: impl Into<String>, message: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        line: None,
        key: Some(key.into()),
        message: message.to_string(),
    }
}

/// A TOML syntax or type error, located by its span.
fn toml_error(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        key: None,
        message: e.message().trim().to_string(),
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The longest duration a setting may have.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A duration written as `250ms`, `20s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl std::str::FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{s:?} has no unit: write e.g. 250ms, 20s, 5m or 1h"))?;
        let (number, unit) = s.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{s:?} does not start with a whole number"))?;
        let duration = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => {
                return Err(format!(
                    "{s:?} has unknown unit {unit:?}: use ms, s, m or h"
                ));
            }
        };
        // Every duration here bounds something in a running service; a day is far beyond any
        // sensible setting and keeps deadline arithmetic far from overflow.
        if duration > MAX_DURATION {
            return Err(format!("{s:?} is longer than 24h"));
        }
        Ok(Self(duration))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// The file, as written.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    upstream: UpstreamFile,
    #[serde(default)]
    retry: RetryFile,
    #[serde(default)]
    cache: CacheFile,
    #[serde(default)]
    watch: WatchFile,
    #[serde(default)]
    telemetry: TelemetryFile,
    #[serde(default)]
    audit: AuditFile,
    default_tenant: Option<String>,
    allow_unauthenticated: Option<bool>,
    #[serde(default)]
    callers: Vec<CallerFile>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantFile>,
    // Accepted here, read (with spans) by `parse_policies`.
    #[serde(default)]
    #[allow(dead_code)]
    default_policy: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    policies: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    listen: Option<String>,
    metrics_listen: Option<String>,
    shutdown_grace: Option<HumanDuration>,
    max_in_flight: Option<usize>,
    max_concurrent_streams: Option<u32>,
    max_message_bytes: Option<usize>,
    http2_keepalive_interval: Option<HumanDuration>,
    http2_keepalive_timeout: Option<HumanDuration>,
    max_evaluate_body_bytes: Option<usize>,
    max_evaluate_json_elements: Option<usize>,
    max_response_bytes_in_flight: Option<usize>,
    send_timeout: Option<HumanDuration>,
    tls: Option<TlsFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamFile {
    connect_timeout: Option<HumanDuration>,
    attempt_timeout: Option<HumanDuration>,
    default_deadline: Option<HumanDuration>,
    freshness_window: Option<HumanDuration>,
    max_response_bytes: Option<usize>,
    allow_insecure_http: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    max_attempts: Option<u32>,
    base_delay: Option<HumanDuration>,
    max_delay: Option<HumanDuration>,
    budget_ratio: Option<f32>,
    budget_min_per_sec: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    max_entries: Option<usize>,
    ttl: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchFile {
    max_wait: Option<HumanDuration>,
    initial_interval: Option<HumanDuration>,
    max_interval: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryFile {
    log_format: Option<String>,
    log_level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    enabled: Option<bool>,
    file: Option<PathBuf>,
    on_stall: Option<String>,
    stall_timeout: Option<HumanDuration>,
    queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerFile {
    name: String,
    #[serde(default)]
    uri_sans: Vec<String>,
    #[serde(default)]
    dns_sans: Vec<String>,
    #[serde(default)]
    common_names: Vec<String>,
    token_sha256: Option<String>,
    token_sha256_file: Option<PathBuf>,
    #[serde(default)]
    tenants: Vec<String>,
    default_tenant: Option<String>,
    images: Option<bool>,
    max_in_flight: Option<usize>,
    max_watches: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    client_id: Option<String>,
    auth: Option<String>,
    merchant_private_key_file: Option<PathBuf>,
    zoloz_public_key_file: Option<PathBuf>,
    #[serde(default)]
    zoloz_public_key_versions: BTreeMap<String, PathBuf>,
    access_key: Option<String>,
    secret_key_file: Option<PathBuf>,
    region: Option<String>,
    base_url: Option<String>,
    encrypt: Option<bool>,
    face_capture_api: Option<String>,
    default_policy: Option<String>,
    max_concurrent_upstream: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// Overrides from flags and environment (a single-tenant setup needs no file).

/// Values given on the command line or in `ZOLOZ_VERDICT_*` variables; they override the file
/// (the tenant values apply to the default tenant, created if the file has none).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen` / `ZOLOZ_VERDICT_LISTEN`.
    pub listen: Option<String>,
    /// `--metrics-listen` / `ZOLOZ_VERDICT_METRICS_LISTEN`.
    pub metrics_listen: Option<String>,
    /// `--base-url` / `ZOLOZ_VERDICT_BASE_URL`.
    pub base_url: Option<String>,
    /// `--region` / `ZOLOZ_VERDICT_REGION`.
    pub region: Option<String>,
    /// `--client-id` / `ZOLOZ_VERDICT_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `--private-key-file` / `ZOLOZ_VERDICT_PRIVATE_KEY_FILE`.
    pub private_key_file: Option<PathBuf>,
    /// `--zoloz-public-key-file` / `ZOLOZ_VERDICT_ZOLOZ_PUBLIC_KEY_FILE`.
    pub zoloz_public_key_file: Option<PathBuf>,
    /// `--encrypt` / `ZOLOZ_VERDICT_ENCRYPT`.
    pub encrypt: Option<bool>,
    /// `--allow-unauthenticated` / `ZOLOZ_VERDICT_ALLOW_UNAUTHENTICATED`.
    pub allow_unauthenticated: Option<bool>,
}

impl Overrides {
    fn touches_tenant(&self) -> bool {
        self.base_url.is_some()
            || self.region.is_some()
            || self.client_id.is_some()
            || self.private_key_file.is_some()
            || self.zoloz_public_key_file.is_some()
            || self.encrypt.is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC server.
    pub server: ServerConfig,
    /// The result cache.
    pub cache: CacheConfig,
    /// Watch polling.
    pub watch: WatchConfig,
    /// Logs.
    pub telemetry: TelemetryConfig,
    /// Audit records.
    pub audit: AuditConfig,
    /// The tenants (credential profiles).
    pub tenants: Tenants,
    /// The named policies and the default one.
    pub policies: PolicySet,
    /// Who may call, and what each caller may ask for.
    pub callers: Callers,
}

/// The gRPC server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the gRPC server listens.
    pub listen: SocketAddr,
    /// Where `/metrics` is served (none: no metrics endpoint).
    pub metrics_listen: Option<SocketAddr>,
    /// How long in-flight calls get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// RPCs in progress at most before new ones are shed with `OVERLOADED`.
    pub max_in_flight: usize,
    /// HTTP/2 streams per connection at most.
    pub max_concurrent_streams: u32,
    /// Largest gRPC message, both directions (image results are megabytes).
    pub max_message_bytes: usize,
    /// HTTP/2 keepalive ping interval.
    pub http2_keepalive_interval: Duration,
    /// HTTP/2 keepalive ping timeout.
    pub http2_keepalive_timeout: Duration,
    /// Largest Evaluate `response_body`, in bytes.
    pub max_evaluate_body_bytes: usize,
    /// Most JSON elements (values and keys) in an Evaluate `response_body`.
    pub max_evaluate_json_elements: usize,
    /// Bytes of image-carrying answers held until written out, at most.
    pub max_response_bytes_in_flight: usize,
    /// How long an answer may take to be written out before it is dropped.
    pub send_timeout: Duration,
    /// TLS for the gRPC port.
    pub tls: Option<TlsConfig>,
}

/// TLS (and optional mTLS) files; read at start.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// Client CA (PEM): when set, clients must present a certificate it signed (mTLS).
    pub client_ca_file: Option<PathBuf>,
}

/// Reads a PEM file that must hold certificates: (the file's bytes, the certificates). A file
/// that cannot be read, is not PEM or holds no certificate is refused with a message naming it.
/// The server's TLS files and the `get`/`health` client's certificate files are read this way.
pub fn read_pem_certificates(
    path: &Path,
) -> Result<(Vec<u8>, Vec<rustls::pki_types::CertificateDer<'static>>), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok((pem, certs))
}

impl TlsConfig {
    /// Reads the files as the server will and builds the TLS configuration from them, so that a
    /// file that is missing, holds no certificate or key, or a key that does not match the
    /// certificate, stops the service at load (exit 64) naming the file, not at its first
    /// connection. Errors are (config key, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject as _;

        let read = |key: &'static str, path: &Path| {
            std::fs::read(path).map_err(|e| (key, format!("{}: {e}", path.display())))
        };
        let certs = |key: &'static str, path: &Path| {
            read_pem_certificates(path)
                .map(|(_, certs)| certs)
                .map_err(|e| (key, e))
        };
        let chain = certs("server.tls.cert_file", &self.cert_file)?;
        let key_pem = read("server.tls.key_file", &self.key_file)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            (
                "server.tls.key_file",
                format!(
                    "{}: no PEM private key in it ({e})",
                    self.key_file.display()
                ),
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| ("server.tls", e.to_string()))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs("server.tls.client_ca_file", path)? {
                    roots.add(cert).map_err(|e| {
                        (
                            "server.tls.client_ca_file",
                            format!("{}: not a usable CA certificate ({e})", path.display()),
                        )
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| {
                    (
                        "server.tls.client_ca_file",
                        format!("{}: {e}", path.display()),
                    )
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder.with_single_cert(chain, key).map_err(|e| {
            (
                "server.tls.key_file",
                format!(
                    "{} with {}: {e}",
                    self.key_file.display(),
                    self.cert_file.display()
                ),
            )
        })?;
        Ok(())
    }
}

/// Result cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Entries at most (0 disables the cache).
    pub max_entries: usize,
    /// How long a terminal result stays.
    pub ttl: Duration,
}

/// Watch polling settings.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The longest a Watch may run (a request's `max_wait` above it is capped).
    pub max_wait: Duration,
    /// The first poll interval.
    pub initial_interval: Duration,
    /// The poll interval cap (intervals grow 1.5× per poll).
    pub max_interval: Duration,
}

/// Log settings.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// JSON lines (default) or human-readable text.
    pub json_logs: bool,
    /// An `EnvFilter` directive (default `info`; `RUST_LOG` wins).
    pub log_level: String,
}

/// Audit record settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Whether a record is written for every verdict.
    pub enabled: bool,
    /// A file to append records to (none: the `audit` log target on standard output).
    pub file: Option<PathBuf>,
    /// What a call does when the sink stalls, how long it waits, and the queue's size.
    pub settings: crate::audit::Settings,
}

/// The tenants and the default one.
#[derive(Debug, Clone)]
pub struct Tenants {
    /// The tenant used when a request names none.
    pub default: String,
    /// Tenants by name.
    pub by_name: BTreeMap<String, TenantConfig>,
}

/// One tenant: credentials and settings toward ZOLOZ.
#[derive(Clone)]
pub struct TenantConfig {
    /// The tenant name.
    pub name: String,
    /// The ZOLOZ client settings (keys loaded).
    pub client: ClientConfig,
    /// The policy used when a request names none (none: the global default).
    pub default_policy: Option<String>,
    /// Concurrent calls to ZOLOZ at most for this tenant.
    pub max_concurrent_upstream: usize,
    /// Where the keys came from (for the redacted display).
    key_files: Vec<(String, PathBuf)>,
}

impl fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConfig")
            .field("name", &self.name)
            .field("client_id", &self.client.client_id.as_str())
            .field("base_url", &self.client.base_url.as_str())
            .field("encrypt", &self.client.encrypt)
            .field("key_files", &self.key_files)
            .field("default_policy", &self.default_policy)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Loads the file (if any), applies the overrides, reads the keys and validates
    /// everything.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        match file {
            Some(path) => {
                let text = read_text(path)?;
                Self::parse(&text, &path.display().to_string(), overrides)
            }
            None => Self::validate(
                "environment",
                FileConfig::default(),
                PolicySet::builtin(),
                overrides,
            ),
        }
    }

    /// Parses config text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Self::parse(text, origin, &Overrides::default())
    }

    fn parse(text: &str, origin: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let policies = parse_policies(text, origin)?;
        Self::validate(origin, file, policies, overrides)
    }

    fn validate(
        origin: &str,
        mut file: FileConfig,
        policies: PolicySet,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let addr = |key: &str, text: &str| -> Result<SocketAddr, ConfigError> {
            text.parse().map_err(|_| {
                invalid(
                    origin,
                    key,
                    format!("{text:?} is not an address like 0.0.0.0:50051"),
                )
            })
        };
        let s = &file.server;
        let listen = addr(
            "server.listen",
            overrides
                .listen
                .as_deref()
                .or(s.listen.as_deref())
                .unwrap_or("0.0.0.0:50051"),
        )?;
        let metrics_listen = match overrides
            .metrics_listen
            .as_deref()
            .or(s.metrics_listen.as_deref())
        {
            Some("") | Some("off") => None,
            Some(text) => Some(addr("server.metrics_listen", text)?),
            None => Some(addr("server.metrics_listen", "0.0.0.0:9090")?),
        };
        let positive = |key: &str, value: usize| {
            if value == 0 {
                Err(invalid(origin, key, "must be greater than 0"))
            } else {
                Ok(value)
            }
        };
        // A duration that bounds or paces work: zero would fail every call (a deadline, a
        // timeout) or spin (a keepalive ping, a backoff), so it is refused, never read as off.
        let nonzero = |key: &str, value: Option<HumanDuration>, default: Duration| match value {
            None => Ok(default),
            Some(d) if d.0.is_zero() => Err(invalid(origin, key, "must be greater than 0")),
            Some(d) => Ok(d.0),
        };
        let server = ServerConfig {
            listen,
            metrics_listen,
            shutdown_grace: s.shutdown_grace.map_or(Duration::from_secs(20), |d| d.0),
            max_in_flight: positive("server.max_in_flight", s.max_in_flight.unwrap_or(1024))?,
            max_concurrent_streams: u32::try_from(positive(
                "server.max_concurrent_streams",
                s.max_concurrent_streams.unwrap_or(1024) as usize,
            )?)
            .unwrap_or(u32::MAX),
            max_message_bytes: {
                let bytes = s.max_message_bytes.unwrap_or(16 * 1024 * 1024);
                if bytes < 1024 * 1024 {
                    return Err(invalid(
                        origin,
                        "server.max_message_bytes",
                        "must be at least 1048576 (image results are megabytes)",
                    ));
                }
                bytes
            },
            http2_keepalive_interval: nonzero(
                "server.http2_keepalive_interval",
                s.http2_keepalive_interval,
                Duration::from_secs(30),
            )?,
            http2_keepalive_timeout: nonzero(
                "server.http2_keepalive_timeout",
                s.http2_keepalive_timeout,
                Duration::from_secs(10),
            )?,
            max_evaluate_body_bytes: match s.max_evaluate_body_bytes {
                None => 8 * 1024 * 1024,
                Some(0) => {
                    return Err(invalid(
                        origin,
                        "server.max_evaluate_body_bytes",
                        "must be greater than 0",
                    ));
                }
                Some(n) => n,
            },
            max_evaluate_json_elements: positive(
                "server.max_evaluate_json_elements",
                s.max_evaluate_json_elements.unwrap_or(100_000),
            )?,
            max_response_bytes_in_flight: positive(
                "server.max_response_bytes_in_flight",
                s.max_response_bytes_in_flight.unwrap_or(64 * 1024 * 1024),
            )?,
            send_timeout: nonzero(
                "server.send_timeout",
                s.send_timeout,
                Duration::from_secs(30),
            )?,
            tls: s.tls.as_ref().map(|t| TlsConfig {
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                client_ca_file: t.client_ca_file.clone(),
            }),
        };
        if let Some(tls) = &server.tls {
            tls.check()
                .map_err(|(key, message)| invalid(origin, key, message))?;
        }

        let cache = CacheConfig {
            max_entries: file.cache.max_entries.unwrap_or(100_000),
            ttl: file.cache.ttl.map_or(Duration::from_secs(3600), |d| d.0),
        };
        let watch = WatchConfig {
            max_wait: nonzero(
                "watch.max_wait",
                file.watch.max_wait,
                Duration::from_secs(600),
            )?,
            initial_interval: file
                .watch
                .initial_interval
                .map_or(Duration::from_secs(1), |d| d.0),
            max_interval: file
                .watch
                .max_interval
                .map_or(Duration::from_secs(10), |d| d.0),
        };
        if watch.initial_interval.is_zero() || watch.max_interval < watch.initial_interval {
            return Err(invalid(
                origin,
                "watch",
                "initial_interval must be above 0 and at most max_interval",
            ));
        }
        let telemetry = TelemetryConfig {
            json_logs: match file.telemetry.log_format.as_deref() {
                None | Some("json") => true,
                Some("text") => false,
                Some(other) => {
                    return Err(invalid(
                        origin,
                        "telemetry.log_format",
                        format!("{other:?}: expected \"json\" or \"text\""),
                    ));
                }
            },
            log_level: file
                .telemetry
                .log_level
                .clone()
                .unwrap_or_else(|| "info".into()),
        };
        let audit = AuditConfig {
            enabled: file.audit.enabled.unwrap_or(true),
            file: file.audit.file.clone(),
            settings: crate::audit::Settings {
                on_stall: match file.audit.on_stall.as_deref() {
                    None => crate::audit::OnStall::default(),
                    Some(value) => crate::audit::OnStall::parse(value).ok_or_else(|| {
                        invalid(
                            origin,
                            "audit.on_stall",
                            format!("{value:?}: expected \"fail_closed\" or \"drop\""),
                        )
                    })?,
                },
                stall_timeout: nonzero(
                    "audit.stall_timeout",
                    file.audit.stall_timeout,
                    crate::audit::DEFAULT_STALL_TIMEOUT,
                )?,
                queue: match file.audit.queue.unwrap_or(crate::audit::DEFAULT_QUEUE) {
                    n @ 1..=1_000_000 => n,
                    _ => {
                        return Err(invalid(origin, "audit.queue", "must be from 1 to 1000000"));
                    }
                },
            },
        };

        let u = &file.upstream;
        let r = &file.retry;
        let retry = RetryConfig {
            max_attempts: match r.max_attempts.unwrap_or(3) {
                0 => return Err(invalid(origin, "retry.max_attempts", "must be at least 1")),
                n => n,
            },
            base_delay: nonzero("retry.base_delay", r.base_delay, Duration::from_millis(100))?,
            max_delay: nonzero("retry.max_delay", r.max_delay, Duration::from_secs(2))?,
            budget_ratio: match r.budget_ratio.unwrap_or(0.2) {
                v if (0.0..=1000.0).contains(&v) => v,
                _ => {
                    return Err(invalid(
                        origin,
                        "retry.budget_ratio",
                        "must be between 0 and 1000",
                    ));
                }
            },
            budget_min_per_sec: match r.budget_min_per_sec.unwrap_or(10) {
                n if n <= 100_000 => n,
                _ => {
                    return Err(invalid(
                        origin,
                        "retry.budget_min_per_sec",
                        "must be at most 100000",
                    ));
                }
            },
        };
        if retry.max_delay < retry.base_delay {
            return Err(invalid(
                origin,
                "retry.max_delay",
                "must be at least retry.base_delay (it caps the backoff)",
            ));
        }
        for (key, value) in [
            ("upstream.connect_timeout", u.connect_timeout),
            ("upstream.attempt_timeout", u.attempt_timeout),
            ("upstream.default_deadline", u.default_deadline),
        ] {
            nonzero(key, value, Duration::ZERO)?;
        }
        if let Some(window) = u.freshness_window
            && (window.0 < Duration::from_secs(1) || window.0 > Duration::from_secs(3600))
        {
            return Err(invalid(
                origin,
                "upstream.freshness_window",
                "must be from 1s to 1h (it bounds how long a signed answer can be replayed)",
            ));
        }
        if let Some(bytes) = u.max_response_bytes
            && (bytes < 1024 * 1024 || bytes > server.max_message_bytes)
        {
            return Err(invalid(
                origin,
                "upstream.max_response_bytes",
                format!(
                    "must be from 1048576 to server.max_message_bytes ({}): a result with its \
                     images must fit in one gRPC message",
                    server.max_message_bytes
                ),
            ));
        }

        // Single-tenant overrides: they configure (or create) the default tenant.
        let default_tenant = file
            .default_tenant
            .clone()
            .unwrap_or_else(|| DEFAULT_TENANT.to_string());
        if overrides.touches_tenant() || file.tenants.is_empty() {
            let tenant = file.tenants.entry(default_tenant.clone()).or_default();
            if let Some(v) = &overrides.client_id {
                tenant.client_id = Some(v.clone());
            }
            if let Some(v) = &overrides.base_url {
                tenant.base_url = Some(v.clone());
                tenant.region = None;
            }
            if let Some(v) = &overrides.region {
                tenant.region = Some(v.clone());
                tenant.base_url = None;
            }
            if let Some(v) = &overrides.private_key_file {
                tenant.merchant_private_key_file = Some(v.clone());
            }
            if let Some(v) = &overrides.zoloz_public_key_file {
                tenant.zoloz_public_key_file = Some(v.clone());
            }
            if let Some(v) = overrides.encrypt {
                tenant.encrypt = Some(v);
            }
        }
        let mut by_name = BTreeMap::new();
        for (name, tenant) in &file.tenants {
            // A request names its tenant in this grammar: a name outside it could never be
            // asked for.
            if !crate::domain::ids::is_valid_name(name) {
                return Err(invalid(
                    origin,
                    format!("tenants.{name}"),
                    format!(
                        "a tenant name must be 1 to {} characters of A-Z, a-z, 0-9, '_', '.', '-' \
                         (requests name tenants that way)",
                        crate::domain::ids::MAX_NAME_LEN
                    ),
                ));
            }
            let built = build_tenant(origin, name, tenant, u, &retry, server.max_message_bytes)?;
            if let Some(policy) = &built.default_policy
                && policies.get(policy).is_none()
            {
                return Err(invalid(
                    origin,
                    format!("tenants.{name}.default_policy"),
                    format!("no policy named {policy:?}"),
                ));
            }
            by_name.insert(name.clone(), built);
        }
        if !by_name.contains_key(&default_tenant) {
            return Err(invalid(
                origin,
                "default_tenant",
                format!("names tenant {default_tenant:?}, which is not configured"),
            ));
        }
        let callers = build_callers(origin, &file, overrides, &server, &by_name)?;
        Ok(Config {
            server,
            cache,
            watch,
            telemetry,
            audit,
            tenants: Tenants {
                default: default_tenant,
                by_name,
            },
            policies,
            callers,
        })
    }
}

/// The callers, checked against the tenants and the server: names unique and in the request
/// grammar, an identity for each, certificate names only where client certificates are
/// required, grants naming configured tenants, limits within the server's.
fn build_callers(
    origin: &str,
    file: &FileConfig,
    overrides: &Overrides,
    server: &ServerConfig,
    tenants: &BTreeMap<String, TenantConfig>,
) -> Result<Callers, ConfigError> {
    let allow_unauthenticated = overrides
        .allow_unauthenticated
        .or(file.allow_unauthenticated)
        .unwrap_or(false);
    if file.callers.is_empty() && !allow_unauthenticated {
        return Err(invalid(
            origin,
            "callers",
            "no [[callers]] are configured, so no call could be served: name the callers (by \
             client certificate or bearer token), or set allow_unauthenticated = true to serve \
             anyone who can reach the port",
        ));
    }
    let mtls = server
        .tls
        .as_ref()
        .is_some_and(|t| t.client_ca_file.is_some());
    let mut rules: Vec<Caller> = Vec::with_capacity(file.callers.len());
    for (i, c) in file.callers.iter().enumerate() {
        let key = |field: &str| format!("callers[{i}].{field}");
        if !crate::domain::ids::is_valid_name(&c.name)
            || c.name == crate::callers::UNAUTHENTICATED
            || c.name == crate::callers::UNIDENTIFIED
        {
            return Err(invalid(
                origin,
                key("name"),
                format!(
                    "{:?}: a caller name must be 1 to {} characters of A-Z, a-z, 0-9, '_', '.',                      '-', and not {:?} or {:?}",
                    c.name,
                    crate::domain::ids::MAX_NAME_LEN,
                    crate::callers::UNAUTHENTICATED,
                    crate::callers::UNIDENTIFIED
                ),
            ));
        }
        if rules.iter().any(|r| r.name == c.name) {
            return Err(invalid(
                origin,
                key("name"),
                format!("{:?} names another caller too", c.name),
            ));
        }
        let hex_hash = match (&c.token_sha256, &c.token_sha256_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    origin,
                    key("token_sha256"),
                    "give token_sha256 or token_sha256_file, not both",
                ));
            }
            (Some(text), None) => Some((key("token_sha256"), text.clone())),
            (None, Some(path)) => Some((
                key("token_sha256_file"),
                std::fs::read_to_string(path).map_err(|e| {
                    invalid(
                        origin,
                        key("token_sha256_file"),
                        format!("{}: {e}", path.display()),
                    )
                })?,
            )),
            (None, None) => None,
        };
        let token_sha256 = match hex_hash {
            None => None,
            Some((field, text)) => {
                let mut hash = [0u8; 32];
                // The first word: `sha256sum`'s output ("<hex>  -") works as it is.
                let word = text.split_whitespace().next().unwrap_or_default();
                hex::decode_to_slice(word, &mut hash).map_err(|_| {
                    invalid(
                        origin,
                        field,
                        "must be the SHA-256 of the token as 64 hex digits (sha256sum prints it)",
                    )
                })?;
                Some(hash)
            }
        };
        let identity = IdentityRule {
            uri_sans: c.uri_sans.clone(),
            dns_sans: c.dns_sans.clone(),
            common_names: c.common_names.clone(),
            token_sha256,
        };
        let names = [
            &identity.uri_sans,
            &identity.dns_sans,
            &identity.common_names,
        ];
        if names.iter().any(|list| list.iter().any(String::is_empty)) {
            return Err(invalid(
                origin,
                key("uri_sans"),
                "a certificate name must not be empty",
            ));
        }
        if !identity.uses_certificate() && identity.token_sha256.is_none() {
            return Err(invalid(
                origin,
                key("name"),
                "a caller needs an identity: uri_sans, dns_sans, common_names (client \
                 certificate) or token_sha256 / token_sha256_file (bearer token)",
            ));
        }
        if identity.uses_certificate() && !mtls {
            return Err(invalid(
                origin,
                key("uri_sans"),
                "certificate names need client certificates: set server.tls.client_ca_file",
            ));
        }
        if c.tenants.is_empty() {
            return Err(invalid(
                origin,
                key("tenants"),
                "is required: the tenants this caller may ask about, or [\"*\"] for all",
            ));
        }
        let grant = if c.tenants.iter().any(|t| t == "*") {
            if c.tenants.len() > 1 {
                return Err(invalid(
                    origin,
                    key("tenants"),
                    "\"*\" grants every tenant: list it alone",
                ));
            }
            TenantGrant::All
        } else {
            for tenant in &c.tenants {
                if !tenants.contains_key(tenant) {
                    return Err(invalid(
                        origin,
                        key("tenants"),
                        format!("names tenant {tenant:?}, which is not configured"),
                    ));
                }
            }
            TenantGrant::Only(c.tenants.clone())
        };
        if let Some(tenant) = &c.default_tenant {
            let granted = match &grant {
                TenantGrant::All => tenants.contains_key(tenant),
                TenantGrant::Only(names) => names.contains(tenant),
            };
            if !granted {
                return Err(invalid(
                    origin,
                    key("default_tenant"),
                    format!("{tenant:?} is not a configured tenant this caller is granted"),
                ));
            }
        }
        let limit = |field: &str, value: Option<usize>| match value {
            Some(0) => Err(invalid(origin, key(field), "must be greater than 0")),
            Some(n) if n > server.max_in_flight => Err(invalid(
                origin,
                key(field),
                format!(
                    "must be at most server.max_in_flight ({})",
                    server.max_in_flight
                ),
            )),
            other => Ok(other),
        };
        rules.push(Caller {
            // Caller names label metrics: a fixed, configured set, kept for the process.
            name: Box::leak(c.name.clone().into_boxed_str()),
            identity,
            tenants: grant,
            default_tenant: c.default_tenant.clone(),
            images: c.images.unwrap_or(false),
            max_in_flight: limit("max_in_flight", c.max_in_flight)?,
            max_watches: limit("max_watches", c.max_watches)?,
        });
    }
    Ok(Callers::new(rules, allow_unauthenticated))
}

fn build_tenant(
    origin: &str,
    name: &str,
    t: &TenantFile,
    u: &UpstreamFile,
    retry: &RetryConfig,
    max_message_bytes: usize,
) -> Result<TenantConfig, ConfigError> {
    let key = |field: &str| format!("tenants.{name}.{field}");
    let required = |field: &str, env: &str| {
        invalid(
            origin,
            key(field),
            format!("is required (or set {env} for a single-tenant setup)"),
        )
    };
    let client_id: ClientId = t
        .client_id
        .as_deref()
        .ok_or_else(|| required("client_id", "ZOLOZ_VERDICT_CLIENT_ID"))?
        .parse()
        .map_err(|e| invalid(origin, key("client_id"), e))?;
    let base_url = match (&t.base_url, &t.region) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                origin,
                key("base_url"),
                "give base_url or region, not both",
            ));
        }
        (Some(url), None) => {
            let url = url
                .parse::<BaseUrl>()
                .map_err(|e| invalid(origin, key("base_url"), e))?;
            // Over plain HTTP anyone on the path reads the answers and can replay or withhold
            // them: only loopback (a local simulator or sidecar) unless explicitly allowed.
            if url.is_plaintext_off_loopback() && !u.allow_insecure_http.unwrap_or(false) {
                return Err(invalid(
                    origin,
                    key("base_url"),
                    format!(
                        "{url} is plain http:// to a host that is not loopback: use https://, \
                         or set upstream.allow_insecure_http = true"
                    ),
                ));
            }
            url
        }
        (None, Some(region)) => {
            BaseUrl::for_region(region).map_err(|e| invalid(origin, key("region"), e))?
        }
        (None, None) => {
            return Err(invalid(
                origin,
                key("base_url"),
                "base_url or region is required (or set ZOLOZ_VERDICT_BASE_URL)",
            ));
        }
    };
    let mut key_files = Vec::new();
    let auth = match t.auth.as_deref().unwrap_or("rsa") {
        "rsa" => {
            let private_path = t.merchant_private_key_file.as_ref().ok_or_else(|| {
                required(
                    "merchant_private_key_file",
                    "ZOLOZ_VERDICT_PRIVATE_KEY_FILE",
                )
            })?;
            let merchant_key = PrivateKey::from_file(private_path)
                .map_err(|e| invalid(origin, key("merchant_private_key_file"), e))?;
            key_files.push(("merchant_private_key_file".into(), private_path.clone()));
            let public_path = t.zoloz_public_key_file.as_ref().ok_or_else(|| {
                required(
                    "zoloz_public_key_file",
                    "ZOLOZ_VERDICT_ZOLOZ_PUBLIC_KEY_FILE",
                )
            })?;
            let default = PublicKey::from_file(public_path)
                .map_err(|e| invalid(origin, key("zoloz_public_key_file"), e))?;
            key_files.push(("zoloz_public_key_file".into(), public_path.clone()));
            let mut versions = BTreeMap::new();
            for (version, path) in &t.zoloz_public_key_versions {
                let k = PublicKey::from_file(path).map_err(|e| {
                    invalid(
                        origin,
                        key(&format!("zoloz_public_key_versions.{version}")),
                        e,
                    )
                })?;
                key_files.push((format!("zoloz_public_key_versions.{version}"), path.clone()));
                versions.insert(version.clone(), k);
            }
            if t.access_key.is_some() || t.secret_key_file.is_some() {
                return Err(invalid(
                    origin,
                    key("access_key"),
                    "access_key and secret_key_file belong to auth = \"aksk\"",
                ));
            }
            Auth::Rsa {
                merchant_key: Arc::new(merchant_key),
                zoloz_keys: Arc::new(ZolozKeys { default, versions }),
            }
        }
        "aksk" => {
            let access_key = t
                .access_key
                .clone()
                // It travels as the Access-Key header: visible ASCII, nothing else.
                .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| {
                    invalid(
                        origin,
                        key("access_key"),
                        "is required for auth = \"aksk\" (visible ASCII: no spaces or control \
                         characters)",
                    )
                })?;
            let path = t.secret_key_file.as_ref().ok_or_else(|| {
                invalid(
                    origin,
                    key("secret_key_file"),
                    "is required for auth = \"aksk\"",
                )
            })?;
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    origin,
                    key("secret_key_file"),
                    format!("{}: {e}", path.display()),
                )
            })?;
            let secret = SecretKey::parse(&text).ok_or_else(|| {
                invalid(
                    origin,
                    key("secret_key_file"),
                    "does not hold a base64url secret key",
                )
            })?;
            key_files.push(("secret_key_file".into(), path.clone()));
            Auth::AkSk {
                access_key,
                secret: Arc::new(secret),
            }
        }
        other => {
            return Err(invalid(
                origin,
                key("auth"),
                format!("{other:?}: expected \"rsa\" or \"aksk\""),
            ));
        }
    };
    let encrypt = t.encrypt.unwrap_or(false);
    if encrypt && matches!(auth, Auth::AkSk { .. }) {
        return Err(invalid(
            origin,
            key("encrypt"),
            "RSA_AES encryption needs auth = \"rsa\"",
        ));
    }
    let face_capture_api = match t.face_capture_api.as_deref() {
        None => FaceCaptureApi::default(),
        Some(text) => text
            .parse()
            .map_err(|e: InvalidValue| invalid(origin, key("face_capture_api"), e.0))?,
    };
    let mut client = ClientConfig::new(base_url, client_id, auth);
    client.encrypt = encrypt;
    client.face_capture_api = face_capture_api;
    client.retry = retry.clone();
    if let Some(d) = u.connect_timeout {
        client.connect_timeout = d.0;
    }
    if let Some(d) = u.attempt_timeout {
        client.attempt_timeout = d.0;
    }
    if let Some(d) = u.default_deadline {
        client.default_deadline = d.0;
    }
    if let Some(d) = u.freshness_window {
        client.freshness_window = d.0;
    }
    // A result with its images must fit in one gRPC message: Base64 images shrink by a quarter
    // when decoded, so a body up to the message limit always does.
    client.max_response_bytes = u.max_response_bytes.unwrap_or(max_message_bytes);
    Ok(TenantConfig {
        name: name.to_string(),
        client,
        default_policy: t.default_policy.clone(),
        max_concurrent_upstream: match t.max_concurrent_upstream.unwrap_or(64) {
            0 => {
                return Err(invalid(
                    origin,
                    key("max_concurrent_upstream"),
                    "must be greater than 0",
                ));
            }
            n => n,
        },
        key_files,
    })
}

// ---------------------------------------------------------------------------------------------
// Policies, read with spans so that errors carry the line.

#[derive(Debug, Deserialize)]
struct PoliciesFile {
    #[serde(default)]
    default_policy: Option<Spanned<String>>,
    #[serde(default)]
    policies: BTreeMap<String, Spanned<PolicyTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyTable {
    #[serde(default)]
    face_match_min_score: Option<Spanned<f64>>,
    #[serde(default)]
    face_quality_min_score: Option<Spanned<f64>>,
    #[serde(default)]
    effects: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Reads only the policies of a configuration file (for `explain`, which needs no tenant).
pub fn load_policies(path: &Path) -> Result<PolicySet, ConfigError> {
    parse_policies(&read_text(path)?, &path.display().to_string())
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Reads the policies of configuration text; `origin` only names it in errors. Other tables
/// are left to [`Config`].
pub fn parse_policies(text: &str, origin: &str) -> Result<PolicySet, ConfigError> {
    let invalid =
        |span: Option<Range<usize>>, key: Option<String>, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            line: span.map(|s| line_of(text, s.start)),
            key,
            message,
        };
    let file: PoliciesFile = toml::from_str(text)
        .map_err(|e| invalid(e.span(), None, e.message().trim().to_string()))?;

    let mut policies = Vec::with_capacity(file.policies.len());
    for (name, table) in &file.policies {
        let table_span = table.span();
        let table = table.get_ref();
        let spec = PolicySpec {
            face_match_min_score: table.face_match_min_score.as_ref().map(|v| *v.get_ref()),
            face_quality_min_score: table.face_quality_min_score.as_ref().map(|v| *v.get_ref()),
            effects: table
                .effects
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                .collect(),
        };
        let policy = Policy::new(name, &spec).map_err(|e| {
            let prefix = format!("policies.{name}.");
            let setting = e.key.strip_prefix(&prefix).unwrap_or_default();
            let span = match setting {
                "face_match_min_score" => table.face_match_min_score.as_ref().map(Spanned::span),
                "face_quality_min_score" => {
                    table.face_quality_min_score.as_ref().map(Spanned::span)
                }
                _ => setting.strip_prefix("effects.").and_then(|code| {
                    table
                        .effects
                        .keys()
                        .find(|k| k.get_ref() == code)
                        .map(Spanned::span)
                }),
            };
            located(invalid, span.or(Some(table_span.clone())), e)
        })?;
        policies.push(policy);
    }
    let default_name = file.default_policy.as_ref().map(|d| d.get_ref().as_str());
    PolicySet::new(policies, default_name).map_err(|e| {
        let span = if e.key == "default_policy" {
            file.default_policy.as_ref().map(Spanned::span)
        } else {
            e.key
                .strip_prefix("policies.")
                .and_then(|name| file.policies.get(name))
                .map(Spanned::span)
        };
        located(invalid, span, e)
    })
}

fn located(
    invalid: impl Fn(Option<Range<usize>>, Option<String>, String) -> ConfigError,
    span: Option<Range<usize>>,
    e: PolicyError,
) -> ConfigError {
    invalid(span, Some(e.key), e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration that serves calls without an identity: these tests are not about
    /// callers (`callers_are_checked_at_load` is).
    fn open_config(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::parse(
            text,
            origin,
            &Overrides {
                allow_unauthenticated: Some(true),
                ..Overrides::default()
            },
        )
    }

    #[test]
    fn the_reference_names_every_key_the_parser_knows() {
        // Structure: every key is accepted (deny_unknown_fields) and has the right type.
        let file: FileConfig = toml::from_str(REFERENCE).unwrap();
        assert_eq!(file.tenants.len(), 2);
        assert_eq!(file.callers.len(), 2);
        assert!(file.server.tls.is_some());
        parse_policies(REFERENCE, "reference").unwrap();
        // And every field of every table appears in it (a new key must be documented).
        for key in [
            "listen",
            "metrics_listen",
            "shutdown_grace",
            "max_in_flight",
            "max_concurrent_streams",
            "max_message_bytes",
            "http2_keepalive_interval",
            "http2_keepalive_timeout",
            "max_evaluate_body_bytes",
            "max_evaluate_json_elements",
            "max_response_bytes_in_flight",
            "send_timeout",
            "cert_file",
            "key_file",
            "client_ca_file",
            "connect_timeout",
            "attempt_timeout",
            "default_deadline",
            "freshness_window",
            "max_response_bytes",
            "max_attempts",
            "base_delay",
            "max_delay",
            "budget_ratio",
            "budget_min_per_sec",
            "max_entries",
            "ttl",
            "max_wait",
            "initial_interval",
            "max_interval",
            "log_format",
            "log_level",
            "enabled",
            "file",
            "client_id",
            "auth",
            "merchant_private_key_file",
            "zoloz_public_key_file",
            "zoloz_public_key_versions",
            "access_key",
            "secret_key_file",
            "region",
            "base_url",
            "encrypt",
            "face_capture_api",
            "default_policy",
            "max_concurrent_upstream",
            "face_match_min_score",
            "face_quality_min_score",
            "default_tenant",
            "allow_unauthenticated",
            "name",
            "uri_sans",
            "dns_sans",
            "common_names",
            "token_sha256",
            "token_sha256_file",
            "tenants",
            "images",
            "max_watches",
            "allow_insecure_http",
        ] {
            assert!(
                REFERENCE
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{key} ="))
                        || l.contains(&format!("or {key} ="))),
                "{key} is not in the reference"
            );
        }
    }

    #[test]
    fn limits_that_would_break_the_service_are_refused() {
        for (extra, key) in [
            (
                "[upstream]\nfreshness_window = \"0s\"\n",
                "upstream.freshness_window",
            ),
            (
                "[upstream]\nfreshness_window = \"2h\"\n",
                "upstream.freshness_window",
            ),
            (
                "[upstream]\nmax_response_bytes = 33554432\n",
                "upstream.max_response_bytes",
            ),
            (
                "[retry]\nbudget_min_per_sec = 4000000000\n",
                "retry.budget_min_per_sec",
            ),
            // Zero durations: every call would fail at once, or a loop would spin.
            (
                "[upstream]\ndefault_deadline = \"0s\"\n",
                "upstream.default_deadline: must be greater than 0",
            ),
            (
                "[upstream]\nattempt_timeout = \"0ms\"\n",
                "upstream.attempt_timeout: must be greater than 0",
            ),
            (
                "[upstream]\nconnect_timeout = \"0s\"\n",
                "upstream.connect_timeout: must be greater than 0",
            ),
            (
                "[watch]\nmax_wait = \"0s\"\n",
                "watch.max_wait: must be greater than 0",
            ),
            (
                "[server]\nhttp2_keepalive_interval = \"0s\"\n",
                "server.http2_keepalive_interval: must be greater than 0",
            ),
            (
                "[server]\nhttp2_keepalive_timeout = \"0s\"\n",
                "server.http2_keepalive_timeout: must be greater than 0",
            ),
            (
                "[retry]\nbase_delay = \"0s\"\n",
                "retry.base_delay: must be greater than 0",
            ),
            (
                "[retry]\nmax_delay = \"0s\"\n",
                "retry.max_delay: must be greater than 0",
            ),
            (
                "[retry]\nbase_delay = \"24h\"\nmax_delay = \"1s\"\n",
                "retry.max_delay: must be at least retry.base_delay",
            ),
        ] {
            let err = open_config(&format!("{extra}{}", tenant_toml()), "x.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        let err = open_config(
            &format!("[cache]\nttl = \"9999h\"\n{}", tenant_toml()),
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("longer than 24h"), "{err}");
        // By default a ZOLOZ answer may be as large as a gRPC message.
        let config = open_config(
            &format!("default_tenant = \"acme\"\n{}", tenant_toml()),
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            config.tenants.by_name["acme"].client.max_response_bytes,
            config.server.max_message_bytes
        );
    }

    #[test]
    fn callers_are_checked_at_load() {
        let hash = "ab".repeat(32);
        let load = |head: &str, callers: &str| {
            Config::from_toml(
                &format!(
                    "default_tenant = \"acme\"\n{head}\n{callers}\n{}",
                    tenant_toml()
                ),
                "x.toml",
            )
        };
        // No callers and no explicit opening: serve must not start.
        let err = load("", "").unwrap_err().to_string();
        assert!(
            err.contains("callers") && err.contains("allow_unauthenticated = true"),
            "{err}"
        );
        let open = load("allow_unauthenticated = true", "").unwrap();
        assert!(open.callers.allows_unauthenticated());
        // A token caller loads, hash kept (and redacted in Debug).
        let config = load(
            "",
            &format!(
                "[[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"acme\"]\n\
                 images = true\nmax_in_flight = 2\nmax_watches = 1\n"
            ),
        )
        .unwrap();
        let caller = &config.callers.rules()[0];
        assert_eq!(caller.name, "a");
        assert!(caller.images);
        assert_eq!(
            (caller.max_in_flight, caller.max_watches),
            (Some(2), Some(1))
        );
        assert!(!config.callers.allows_unauthenticated());
        assert!(!format!("{config:?}").contains(&hash));
        for (callers, needle) in [
            (
                "[[callers]]\nname = \"a\"\ntenants = [\"acme\"]\n",
                "needs an identity",
            ),
            (
                "[[callers]]\nname = \"a\"\ntoken_sha256 = \"xyz\"\ntenants = [\"acme\"]\n",
                "callers[0].token_sha256",
            ),
            (
                &format!("[[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\n"),
                "callers[0].tenants",
            ),
            (
                &format!(
                    "[[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"zz\"]\n"
                ),
                "\"zz\", which is not configured",
            ),
            (
                &format!(
                    "[[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"acme\"]\n\
                     [[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"acme\"]\n"
                ),
                "callers[1].name",
            ),
            (
                &format!(
                    "[[callers]]\nname = \"unauthenticated\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"*\"]\n"
                ),
                "callers[0].name",
            ),
            (
                "[[callers]]\nname = \"a\"\nuri_sans = [\"spiffe://x/y\"]\ntenants = [\"*\"]\n",
                "server.tls.client_ca_file",
            ),
            (
                &format!(
                    "[[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"acme\"]\n\
                     default_tenant = \"other\"\n"
                ),
                "callers[0].default_tenant",
            ),
            (
                &format!(
                    "[[callers]]\nname = \"a\"\ntoken_sha256 = \"{hash}\"\ntenants = [\"*\"]\n\
                     max_watches = 0\n"
                ),
                "callers[0].max_watches",
            ),
        ] {
            let err = load("", callers).unwrap_err().to_string();
            assert!(err.contains(needle), "{callers}: {err}");
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let tenant =
            |url: &str| tenant_toml().replace("region = \"sg\"", &format!("base_url = \"{url}\""));
        let load = |head: &str, url: &str| {
            open_config(
                &format!("default_tenant = \"acme\"\n{head}\n{}", tenant(url)),
                "x.toml",
            )
        };
        let err = load("", "http://10.1.2.3:8080").unwrap_err().to_string();
        assert!(
            err.contains("tenants.acme.base_url") && err.contains("allow_insecure_http"),
            "{err}"
        );
        load("", "http://127.0.0.1:8080").unwrap();
        load("", "https://10.1.2.3").unwrap();
        load(
            "[upstream]\nallow_insecure_http = true",
            "http://10.1.2.3:8080",
        )
        .unwrap();
    }

    #[test]
    fn durations() {
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            "5m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(300)
        );
        assert!("5".parse::<HumanDuration>().is_err());
        assert!("5 days".parse::<HumanDuration>().is_err());
        assert!("ms".parse::<HumanDuration>().is_err());
    }

    fn vectors() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
    }

    fn tenant_toml() -> String {
        format!(
            r#"
[tenants.acme]
client_id = "2089012345678900"
region = "sg"
merchant_private_key_file = "{v}/merchant_private.pk8.b64"
zoloz_public_key_file = "{v}/zoloz_public.spki.b64"
encrypt = true
"#,
            v = vectors().display()
        )
    }

    #[test]
    fn tls_files_are_read_and_matched_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let self_signed = || {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (cert, key) = self_signed();
        let (other_cert, other_key) = self_signed();
        let cert = write("cert.pem", &cert);
        let key = write("key.pem", &key);
        let ca = write("ca.pem", &other_cert);
        let other_key = write("other-key.pem", &other_key);
        let garbage = write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
        let empty = write("empty.pem", "");
        let missing = dir.path().join("missing.pem");
        let load = |cert: &Path, key: &Path, ca: Option<&Path>| {
            let ca = ca.map_or(String::new(), |p| format!("client_ca_file = {:?}\n", p));
            open_config(
                &format!(
                    "default_tenant = \"acme\"\n[server.tls]\ncert_file = {cert:?}\n\
                     key_file = {key:?}\n{ca}{}",
                    tenant_toml()
                ),
                "x.toml",
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        load(&cert, &key, None).unwrap();
        load(&cert, &key, Some(&ca)).unwrap();
        for (cert_file, key_file, ca_file, expected) in [
            (&missing, &key, None, "server.tls.cert_file: "),
            (&garbage, &key, None, "server.tls.cert_file: "),
            (&empty, &key, None, "no PEM certificate"),
            (&cert, &missing, None, "server.tls.key_file: "),
            (&cert, &cert, None, "no PEM private key"),
            // A key that does not belong to the certificate.
            (&cert, &other_key, None, "other-key.pem with"),
            (&cert, &key, Some(&garbage), "server.tls.client_ca_file: "),
            (&cert, &key, Some(&empty), "no PEM certificate"),
            (&cert, &key, Some(&missing), "server.tls.client_ca_file: "),
        ] {
            let err = load(cert_file, key_file, ca_file.map(PathBuf::as_path)).unwrap_err();
            assert!(
                err.contains(expected),
                "{cert_file:?} {key_file:?} {ca_file:?}: {err}"
            );
        }
    }

    #[test]
    fn an_access_key_must_be_a_usable_header_value() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
        let load = |access_key: &str| {
            open_config(
                &format!(
                    "[tenants.default]\nclient_id = \"2089012345678900\"\nregion = \"sg\"\n\
                     auth = \"aksk\"\naccess_key = {access_key}\nsecret_key_file = {secret:?}\n"
                ),
                "x.toml",
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        // TOML strings, as the file writes them.
        load(r#""AK-TEST_1""#).unwrap();
        // The Access-Key header could not carry these: every call would fail before sending.
        for bad in [
            r#""""#,
            r#""AK TEST""#,
            r#""AK\u0001X""#,
            r#""AK\u007f""#,
            r#""AKé""#,
        ] {
            let err = load(bad).unwrap_err();
            assert!(err.contains("tenants.default.access_key"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn tenant_names_follow_the_request_grammar() {
        for (name, ok) in [
            ("acme", true),
            ("acme-sg_2.prod", true),
            (&"a".repeat(64), true),
            ("acme corp", false),
            ("acmé", false),
            (&"a".repeat(65), false),
        ] {
            let text = tenant_toml().replace("[tenants.acme]", &format!("[tenants.\"{name}\"]"));
            let result = open_config(&format!("default_tenant = \"{name}\"\n{text}"), "x.toml");
            match (ok, result) {
                (true, Ok(config)) => assert!(config.tenants.by_name.contains_key(name)),
                (false, Err(err)) => {
                    let err = err.to_string();
                    assert!(
                        err.contains(&format!("tenants.{name}: a tenant name")),
                        "{err}"
                    );
                }
                (ok, result) => panic!("{name:?}: expected ok={ok}, got {result:?}"),
            }
        }
    }

    #[test]
    fn a_full_file_loads_and_debug_is_redacted() {
        let text = format!(
            "default_tenant = \"acme\"\n[server]\nlisten = \"127.0.0.1:7000\"\nshutdown_grace = \"5s\"\n[cache]\nttl = \"10m\"\n{}",
            tenant_toml()
        );
        let config = open_config(&text, "test.toml").unwrap();
        assert_eq!(config.server.listen.port(), 7000);
        assert_eq!(config.server.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.cache.ttl, Duration::from_secs(600));
        let acme = &config.tenants.by_name["acme"];
        assert!(acme.client.encrypt);
        assert_eq!(
            acme.client.base_url.as_str(),
            "https://sg-production-api.zoloz.com"
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("MII"), "{shown}");
        assert!(shown.contains("merchant_private.pk8.b64"));
    }

    #[test]
    fn errors_name_the_key_or_line() {
        let err = open_config("[server]\nlisten = 5\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("line 2"), "{err}");
        let err = open_config("[server]\nlisen = \"a\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        let err = open_config("[tenants.acme]\nregion = \"sg\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tenants.acme.client_id"), "{err}");
        let bad_key = tenant_toml().replace("zoloz_public.spki.b64", "nope.pem");
        let err = open_config(&bad_key, "x.toml").unwrap_err().to_string();
        assert!(
            err.contains("tenants.acme.zoloz_public_key_file") && err.contains("nope.pem"),
            "{err}"
        );
        let swapped = tenant_toml().replace("zoloz_public.spki.b64", "zoloz_private.pk8.b64");
        let err = open_config(&swapped, "x.toml").unwrap_err().to_string();
        assert!(
            err.contains("expected a public key, found a private key"),
            "{err}"
        );
        let err = open_config(
            &format!("default_tenant = \"zz\"\n{}", tenant_toml()),
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("default_tenant"), "{err}");
        let err = open_config(
            &format!("{}face_capture_api = \"v2\"\n", tenant_toml()),
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tenants.acme.face_capture_api")
                && err.contains(r#""v2": expected "v1a" or "v1""#),
            "{err}"
        );
    }

    #[test]
    fn overrides_make_a_single_tenant_setup_without_a_file() {
        let v = vectors();
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            base_url: Some("http://127.0.0.1:9/".into()),
            client_id: Some("2089012345678900".into()),
            private_key_file: Some(v.join("merchant_private.pk8.b64")),
            zoloz_public_key_file: Some(v.join("zoloz_public.spki.b64")),
            ..Overrides::default()
        };
        let config = Config::load(
            None,
            &Overrides {
                allow_unauthenticated: Some(true),
                ..overrides
            },
        )
        .unwrap();
        assert_eq!(config.tenants.default, DEFAULT_TENANT);
        assert_eq!(
            config.tenants.by_name[DEFAULT_TENANT]
                .client
                .base_url
                .as_str(),
            "http://127.0.0.1:9"
        );
        let err = Config::load(None, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ZOLOZ_VERDICT_CLIENT_ID"), "{err}");
    }

    use crate::domain::{Effect, ReasonCode};

    fn policies(text: &str) -> Result<PolicySet, ConfigError> {
        parse_policies(text, "test.toml")
    }

    #[test]
    fn the_documented_example_loads() {
        let set = policies(
            r#"
default_policy = "standard"
[server]
listen = "0.0.0.0:50051"
[policies.standard]
face_match_min_score = 80.0
face_quality_min_score = 60
[policies.standard.effects]
DEVICE_RISK_MEDIUM = "reject"
DOC_MATERIAL_CHECK_FAILED = "review"
"#,
        )
        .unwrap();
        let standard = set.default_policy();
        assert_eq!(standard.name(), "standard");
        assert_eq!(standard.face_match_min_score(), Some(80.0));
        assert_eq!(standard.face_quality_min_score(), Some(60.0));
        assert_eq!(
            standard.effect(ReasonCode::DeviceRiskMedium),
            Effect::Reject
        );
        assert!(set.get("default").is_some());
    }

    #[test]
    fn empty_file_is_the_builtin_table() {
        let set = policies("").unwrap();
        assert_eq!(set.default_policy(), &Policy::default_table());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[policies.strict.effects]\nDEVICE_RISK_LOW = \"info\"\nFOO = \"reject\"\n",
                "test.toml: line 3: policies.strict.effects.FOO: unknown reason code \"FOO\"",
            ),
            (
                "[policies.strict.effects]\nINCOMPLETE_RESULT = \"info\"\n",
                "test.toml: line 2: policies.strict.effects.INCOMPLETE_RESULT: INCOMPLETE_RESULT \
                 cannot be lowered below review (fail-safe floor)",
            ),
            (
                "[policies.strict]\n\nface_match_min_score = 101\n",
                "test.toml: line 3: policies.strict.face_match_min_score: must be a number from \
                 0 to 100, got 101",
            ),
            (
                "[policies.strict]\nface_match_min_score = nan\n",
                "test.toml: line 2: policies.strict.face_match_min_score: must be a number from \
                 0 to 100, got NaN",
            ),
            (
                "default_policy = \"nope\"\n",
                "test.toml: line 1: default_policy: no policy named \"nope\"",
            ),
            (
                "[policies.default]\n",
                "test.toml: line 1: policies.default: the name \"default\" is reserved",
            ),
        ];
        for (text, expected) in cases {
            let message = policies(text).unwrap_err().to_string();
            assert!(
                message.starts_with(expected),
                "{message}\nexpected {expected}"
            );
        }
    }

    #[test]
    fn toml_errors_carry_the_line() {
        let message = policies("[policies.strict]\nface_match_min = 80\n")
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("test.toml: line 2: unknown field"),
            "{message}"
        );
        let message = policies("[policies.strict.effects]\nDEVICE_RISK_LOW = 3\n")
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("test.toml: line 2: "), "{message}");
        let message = policies("[policies.strict\n").unwrap_err().to_string();
        assert!(message.starts_with("test.toml: line 1: "), "{message}");
    }

    #[test]
    fn unreadable_file() {
        let err = load_policies(Path::new("/nonexistent/zoloz-verdict.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/zoloz-verdict.toml: cannot read")
        );
    }
}
