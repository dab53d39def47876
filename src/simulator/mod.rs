//! The ZOLOZ simulator: a stand-in for the ZOLOZ gateway that speaks its real protocol
//! (docs/protocol.md), so the service, its tests, the fault soak and the benchmarks run without
//! ZOLOZ credentials, and integrators can test their decision engines against every outcome.
//!
//! It serves the four checkresult endpoints (Face Capture at both `/api/v1/` and `/api/v1a/`)
//! and `authentication/test` over plain HTTP/1.1 and h2c. Every request is authenticated as
//! ZOLOZ does it (Client-Id, `Request-Time`, the RSA signature with the merchant public key or
//! AK/SK), `RSA_AES` requests are decrypted and answered encrypted, and every ZOLOZ answer is
//! signed with the simulator's ZOLOZ private key. What a checkresult call answers is chosen by
//! its transaction id, `sim-<product>-<scenario>` (see [`catalogue()`]); any other id answers
//! `approve`; a directory of recorded responses (`DIR/<transactionId>.json`) takes precedence.
//! A suffix after a dot is ignored when choosing (`sim-connect-pending-then-approve.42` is
//! `pending-then-approve`): it makes as many distinct transactions of one scenario as a load
//! test needs, each with its own poll count (and its own entry in the service's cache).
//!
//! Choices where ZOLOZ's documentation is silent (all answers HTTP 200, signed):
//!
//! | request | answer |
//! | --- | --- |
//! | no `Client-Id` header | `PARAM_MISSING` |
//! | a `Client-Id` other than the configured one, or AK/SK with an unknown `Access-Key` (or AK/SK not enabled) | `KEY_NOT_FOUND` |
//! | no `Request-Time`, or not `yyyy-MM-ddTHH:mm:ss±HHMM` | `PARAM_MISSING` / `PARAM_ILLEGAL` |
//! | no, unparseable or wrong `Signature` | `SIGNATURE_INVALID` |
//! | an `Encrypt` header that does not unwrap or a body that does not decrypt | `MSG_PARSE_ERROR` |
//! | `Encrypt` in AK/SK mode (not supported there) | `PARAM_ILLEGAL` |
//! | a body that is not a JSON object | `MSG_PARSE_ERROR` |
//! | no `transactionId`, or no `bizId` (all but Face Compare) | `PARAM_MISSING` |
//! | `transactionId` over 64 or `bizId` over 32 characters, `isReturnImage` not `Y`/`N` | `PARAM_ILLEGAL` |
//! | `sim-<other product>-…` at a product's endpoint, or an unknown `sim-` scenario | `INVALID_ARGUMENT` |
//!
//! A request without a `User-Agent` gets the HTTP 403 HTML page of ZOLOZ's WAF, as
//! docs/protocol.md says (reqwest sends none by default).
//!
//! Gateway refusals (the first five rows) are plain JSON even to an encrypted request, as
//! docs/protocol.md (RSA_AES) warns real gateway errors may be; everything after decryption is
//! answered encrypted when the request was. Unknown paths answer HTTP 404 and other methods
//! HTTP 405, both with a `NO_INTERFACE_DEF` result and unsigned. `Response-Time` is given in
//! `+0800` (ZOLOZ's Singapore and Hong Kong gateways), which also exercises clients' offset
//! handling. HTTP/1.1 header names are written as ZOLOZ spells them (`Signature`,
//! `Response-Time`, `Encrypt`, `Content-Type`): ZOLOZ's Java SDK looks them up by exact name.
//! `authentication/test` answers with the posted JSON as a string in `resultMessage`, as the
//! gateway does. With further keys by `keyVersion` ([`SimulatorConfig::zoloz_versioned_keys`]),
//! answers can be signed under a rotated key named in the `Signature` header.

mod bodies;
mod catalogue;
mod exchange;
mod images;
mod recorded;
mod server;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use catalogue::{Expected, Scenario, catalogue, find, markdown_table};
pub use server::{RunningSimulator, Simulator};

use crate::zoloz::aksk::SecretKey;
use crate::zoloz::keys::{KeyError, PrivateKey, PublicKey};

/// The client id the simulator accepts unless told otherwise (the one of the test vectors).
pub const DEFAULT_CLIENT_ID: &str = "2089012345678900";

/// How long the `slow` scenario waits before answering, unless told otherwise.
pub const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(3);

/// What a simulator needs: the merchant's public key to check request signatures, its own
/// ZOLOZ private key to sign answers, and optionally AK/SK credentials and recorded responses.
#[derive(Debug)]
pub struct SimulatorConfig {
    /// The only `Client-Id` accepted.
    pub client_id: String,
    /// Verifies request signatures and wraps the AES keys of encrypted answers.
    pub merchant_public_key: PublicKey,
    /// Signs answers and unwraps the AES keys of encrypted requests.
    pub zoloz_private_key: Arc<PrivateKey>,
    /// AK/SK mode: the access key and secret accepted (RSA requests are accepted as well).
    pub aksk: Option<(String, SecretKey)>,
    /// A directory of recorded responses, `<transactionId>.json`, served verbatim (signed).
    pub scenarios_dir: Option<PathBuf>,
    /// How long the `slow` scenario waits.
    pub slow_delay: Duration,
    /// Further ZOLOZ signing keys by `keyVersion`, as the gateway holds them while it rotates.
    pub zoloz_versioned_keys: BTreeMap<String, Arc<PrivateKey>>,
    /// The `keyVersion` answers are signed under at start (one of `zoloz_versioned_keys`, named
    /// in the `Signature` header's `keyVersion` pair); `None` signs with `zoloz_private_key` and
    /// names no version. [`RunningSimulator::sign_with`] rotates a running simulator.
    pub signing_key_version: Option<String>,
}

impl SimulatorConfig {
    /// A configuration with RSA keys only, no recorded responses and the default slow delay.
    pub fn new(
        client_id: impl Into<String>,
        merchant_public_key: PublicKey,
        zoloz_private_key: Arc<PrivateKey>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            merchant_public_key,
            zoloz_private_key,
            aksk: None,
            scenarios_dir: None,
            slow_delay: DEFAULT_SLOW_DELAY,
            zoloz_versioned_keys: BTreeMap::new(),
            signing_key_version: None,
        }
    }
}

/// Why the simulator could not start or its keys could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The recorded-responses directory is missing or unreadable.
    #[error("scenarios directory {path}: {reason}")]
    ScenariosDir {
        /// The directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file in the recorded-responses directory is not UTF-8 text.
    #[error("recorded response {path} is not valid UTF-8: recorded responses must be text")]
    NotUtf8 {
        /// The file.
        path: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The I/O error text.
        reason: String,
    },
    /// Answers are to be signed under a `keyVersion` whose key is not configured.
    #[error("no ZOLOZ signing key has keyVersion {0:?}")]
    UnknownKeyVersion(String),
    /// A key could not be generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A key file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error text.
        reason: String,
    },
}

/// Two fresh RSA-2048 key pairs: the merchant's (the service signs with its private key, the
/// simulator verifies with its public key) and ZOLOZ's (the other way round).
#[derive(Debug, Clone)]
pub struct SimulatorKeys {
    /// The merchant private key: the service's signing key.
    pub merchant_private: Arc<PrivateKey>,
    /// The ZOLOZ private key: the simulator's signing key.
    pub zoloz_private: Arc<PrivateKey>,
}

/// Where [`SimulatorKeys::write_to`] put the keys (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// `merchant_private.pem` (mode 0600): for the service.
    pub merchant_private: PathBuf,
    /// `merchant_public.pem`: for the simulator.
    pub merchant_public: PathBuf,
    /// `zoloz_private.pem` (mode 0600): for the simulator.
    pub zoloz_private: PathBuf,
    /// `zoloz_public.pem`: for the service.
    pub zoloz_public: PathBuf,
}

impl SimulatorKeys {
    /// Generates both pairs.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self {
            merchant_private: Arc::new(PrivateKey::generate()?),
            zoloz_private: Arc::new(PrivateKey::generate()?),
        })
    }

    /// The merchant public key (for the simulator).
    pub fn merchant_public(&self) -> PublicKey {
        self.merchant_private.public_key().clone()
    }

    /// The ZOLOZ public key (for the service).
    pub fn zoloz_public(&self) -> PublicKey {
        self.zoloz_private.public_key().clone()
    }

    /// A simulator configuration using these keys.
    pub fn config(&self, client_id: impl Into<String>) -> SimulatorConfig {
        SimulatorConfig::new(
            client_id,
            self.merchant_public(),
            Arc::clone(&self.zoloz_private),
        )
    }

    /// Writes `merchant_private.pem`, `merchant_public.pem`, `zoloz_private.pem` and
    /// `zoloz_public.pem` into `dir` (created if missing); private keys get mode 0600.
    pub fn write_to(&self, dir: &Path) -> Result<KeyFiles, SimulatorError> {
        fs::create_dir_all(dir).map_err(|e| write_error(dir, &e))?;
        let files = KeyFiles {
            merchant_private: dir.join("merchant_private.pem"),
            merchant_public: dir.join("merchant_public.pem"),
            zoloz_private: dir.join("zoloz_private.pem"),
            zoloz_public: dir.join("zoloz_public.pem"),
        };
        let contents = [
            (
                &files.merchant_private,
                self.merchant_private.to_pkcs8_pem(),
                true,
            ),
            (
                &files.merchant_public,
                self.merchant_public().to_pem().into(),
                false,
            ),
            (
                &files.zoloz_private,
                self.zoloz_private.to_pkcs8_pem(),
                true,
            ),
            (
                &files.zoloz_public,
                self.zoloz_public().to_pem().into(),
                false,
            ),
        ];
        for (path, pem, private) in contents {
            write_file(path, pem.as_bytes(), private)?;
        }
        Ok(files)
    }
}

fn write_error(path: &Path, e: &std::io::Error) -> SimulatorError {
    SimulatorError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Writes a file; a private one is created 0600 and narrowed to 0600 if it already existed.
fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), SimulatorError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(if private { 0o600 } else { 0o644 });
        let file = options.open(path).map_err(|e| write_error(path, &e))?;
        if private {
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| write_error(path, &e))?;
        }
        write_all(file, path, contents)
    }
    #[cfg(not(unix))]
    {
        let _ = private;
        let file = options.open(path).map_err(|e| write_error(path, &e))?;
        write_all(file, path, contents)
    }
}

fn write_all(mut file: fs::File, path: &Path, contents: &[u8]) -> Result<(), SimulatorError> {
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| write_error(path, &e))
}
