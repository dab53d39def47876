//! `get` and `health`: a small gRPC client for people and scripts. `get` prints verdicts as
//! canonical proto3 JSON; `health` exits 0 when the server is SERVING (the Helm test uses it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_types::StatusExt as _;

use crate::domain::Product;
use crate::grpc::status::code_name;
use crate::pb;
use crate::pb::verdict_service_client::VerdictServiceClient;

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Server address: `http://host:port`, `https://host:port`, or `host:port`.
    #[arg(
        long,
        default_value = "http://127.0.0.1:50051",
        env = "ZOLOZ_VERDICT_ADDR"
    )]
    pub addr: String,
    /// CA certificate (PEM) to verify the server with; implies https.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS; implies https.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Client private key (PEM) for mTLS.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// The name to verify the server certificate against, when it differs from the address's
    /// host (e.g. a Service DNS name while connecting to 127.0.0.1).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Overall timeout of the call, sent to the server as the gRPC deadline (default: 30s; with
    /// `get --watch`: none, the stream ends at --max-wait or at the server's maximum).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

/// `--timeout` of a unary call when none is given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<crate::config::HumanDuration>().map(|d| d.0)
}

/// A `--timeout`: longer than zero, since a zero deadline ends the call before it starts.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() {
        return Err("the timeout must be longer than 0 (a zero deadline fails every call)".into());
    }
    Ok(timeout)
}

/// Arguments of `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The server.
    #[command(flatten)]
    pub connection: Connection,
    /// face-capture, face-compare, connect or id-recognition.
    #[arg(long)]
    pub product: Product,
    /// The ZOLOZ transaction id (the simulator understands `sim-<product>-<scenario>`).
    #[arg(long)]
    pub transaction_id: String,
    /// The business id (generated when empty, where the product needs one).
    #[arg(long, default_value = "")]
    pub biz_id: String,
    /// The tenant (empty: the server's default).
    #[arg(long, default_value = "")]
    pub tenant: String,
    /// The policy (empty: the tenant's default).
    #[arg(long, default_value = "")]
    pub policy: String,
    /// Return the product's images (printed Base64-encoded in the JSON).
    #[arg(long)]
    pub images: bool,
    /// Extra images to ask for (with --images), e.g. CROPPED_FACE.
    #[arg(long = "extra-image", value_name = "NAME", requires = "images")]
    pub extra_images: Vec<String>,
    /// Skip the server's cache.
    #[arg(long)]
    pub bypass_cache: bool,
    /// Follow the transaction until it is decided (one JSON object per line per change).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop polling after this long. Unset or 0s means until --timeout or the
    /// server's maximum (its `watch.max_wait`, 10m by default), whichever comes first.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "watch")]
    pub max_wait: Option<Duration>,
}

/// Arguments of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server.
    #[command(flatten)]
    pub connection: Connection,
    /// The service to ask about (empty: the whole server).
    #[arg(long, default_value = "")]
    pub service: String,
}

/// Why `connect` gave up, each cause with its exit code: only a server that cannot be reached
/// is "unavailable".
enum ConnectError {
    /// The arguments cannot make an endpoint (exit 2).
    Usage(String),
    /// A certificate or key file cannot be read or used (exit 66).
    NoInput(String),
    /// The server cannot be reached (exit 69).
    Unavailable(String),
}

impl ConnectError {
    fn fail(self) -> ExitCode {
        match self {
            Self::Usage(message) => super::fail(super::EXIT_USAGE, message),
            Self::NoInput(message) => super::fail(super::EXIT_NO_INPUT, message),
            Self::Unavailable(message) => super::fail(super::EXIT_UNAVAILABLE, message),
        }
    }
}

/// Reads a PEM file that must hold certificates: one that holds none, or one that does not
/// parse, is refused here, naming the file, instead of failing the TLS handshake later as a
/// server that "cannot be reached".
fn read_certificates(path: &Path) -> Result<Vec<u8>, ConnectError> {
    let (pem, certificates) =
        crate::config::read_pem_certificates(path).map_err(ConnectError::NoInput)?;
    let mut store = rustls::RootCertStore::empty();
    for certificate in certificates {
        store.add(certificate).map_err(|e| {
            ConnectError::NoInput(format!(
                "{}: holds a certificate that does not parse ({e})",
                path.display()
            ))
        })?;
    }
    Ok(pem)
}

/// Reads a PEM file that must hold a private key.
fn read_private_key(path: &Path) -> Result<Vec<u8>, ConnectError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;
    let bad = |what: String| ConnectError::NoInput(format!("{}: {what}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| bad(format!("no usable PEM private key in it ({e})")))?;
    Ok(pem)
}

async fn connect(connection: &Connection) -> Result<Channel, ConnectError> {
    let tls_flags = connection.ca_file.is_some()
        || connection.cert_file.is_some()
        || connection.tls_server_name.is_some();
    // A TLS flag with a plain-text address would be dropped without a word: refused.
    if tls_flags && connection.addr.starts_with("http://") {
        return Err(ConnectError::Usage(format!(
            "--ca-file, --cert-file and --tls-server-name need TLS, but {:?} is http://: use \
             https:// or host:port",
            connection.addr
        )));
    }
    let tls = tls_flags || connection.addr.starts_with("https://");
    let addr = if connection.addr.contains("://") {
        connection.addr.clone()
    } else if tls {
        format!("https://{}", connection.addr)
    } else {
        format!("http://{}", connection.addr)
    };
    let mut endpoint = Endpoint::from_shared(addr.clone())
        .map_err(|e| ConnectError::Usage(format!("bad address {addr:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5));
    if tls {
        let mut config = ClientTlsConfig::new().with_enabled_roots();
        if let Some(ca) = &connection.ca_file {
            config = config.ca_certificate(Certificate::from_pem(read_certificates(ca)?));
        }
        if let Some(name) = &connection.tls_server_name {
            config = config.domain_name(name.clone());
        }
        let identity = match (&connection.cert_file, &connection.key_file) {
            (Some(cert), Some(key)) => Some((read_certificates(cert)?, read_private_key(key)?)),
            _ => None,
        };
        let has_identity = identity.is_some();
        if let Some((cert, key)) = identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(config).map_err(|e| {
            let message = format!("tls: {}", crate::error::error_chain(&e));
            // The files parsed: what is left is a key that does not fit its certificate, or a
            // server name TLS cannot use.
            if has_identity {
                ConnectError::NoInput(message)
            } else {
                ConnectError::Usage(message)
            }
        })?;
    }
    endpoint.connect().await.map_err(|e| {
        ConnectError::Unavailable(format!(
            "cannot connect to {addr}: {}",
            crate::error::error_chain(&e)
        ))
    })
}

/// A request carrying `timeout` as its gRPC deadline (the `grpc-timeout` header): the server
/// bounds the call, a Watch's whole stream included, and answers `DEADLINE_EXCEEDED` itself.
/// (`Endpoint::timeout` would only give up locally, with `CANCELLED`, and never bound a stream.)
fn with_deadline<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    request
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The JSON printed for a call that ended without a verdict.
pub fn status_json(status: &tonic::Status) -> serde_json::Value {
    let reason = status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default();
    serde_json::json!({
        "error": {
            "code": code_name(status.code()),
            "reason": reason,
            "message": status.message(),
        }
    })
}

fn product_pb(product: Product) -> pb::Product {
    match product {
        Product::FaceCapture => pb::Product::FaceCapture,
        Product::FaceCompare => pb::Product::FaceCompare,
        Product::Connect => pb::Product::Connect,
        Product::IdRecognition => pb::Product::IdRecognition,
    }
}

/// `get`: prints the verdict (or, with `--watch`, each change) as proto3 JSON. Exit 0 with a
/// verdict, 1 when the call ended with an error (printed as `{"error":{…}}`), 2 for an address
/// that is not one, 66 for a certificate or key file that cannot be used, 69 when the server
/// cannot be reached.
pub fn get(args: &GetArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return super::fail(1, e),
    };
    runtime.block_on(async {
        let channel = match connect(&args.connection).await {
            Ok(c) => c,
            Err(e) => return e.fail(),
        };
        let mut client =
            VerdictServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let image_options = args.images.then(|| pb::ImageOptions {
            return_images: true,
            extra_images: args.extra_images.clone(),
        });
        if args.watch {
            let request = pb::WatchVerificationResultRequest {
                product: product_pb(args.product) as i32,
                transaction_id: args.transaction_id.clone(),
                biz_id: args.biz_id.clone(),
                tenant: args.tenant.clone(),
                policy: args.policy.clone(),
                image_options,
                bypass_cache: args.bypass_cache,
                max_wait: args
                    .max_wait
                    .and_then(|d| prost_types::Duration::try_from(d).ok()),
            };
            let mut stream = match client
                .watch_verification_result(with_deadline(request, args.connection.timeout))
                .await
            {
                Ok(response) => response.into_inner(),
                Err(status) => return print_status(&status),
            };
            loop {
                match stream.message().await {
                    Ok(Some(result)) => outln!("{}", pb::to_json(&result)),
                    Ok(None) => return ExitCode::SUCCESS,
                    Err(status) => return print_status(&status),
                }
            }
        } else {
            let request = pb::GetVerificationResultRequest {
                product: product_pb(args.product) as i32,
                transaction_id: args.transaction_id.clone(),
                biz_id: args.biz_id.clone(),
                tenant: args.tenant.clone(),
                policy: args.policy.clone(),
                image_options,
                bypass_cache: args.bypass_cache,
            };
            let timeout = args.connection.timeout.unwrap_or(DEFAULT_TIMEOUT);
            match client
                .get_verification_result(with_deadline(request, Some(timeout)))
                .await
            {
                Ok(response) => {
                    outln!("{}", super::pretty(&pb::to_json(response.get_ref())));
                    ExitCode::SUCCESS
                }
                Err(status) => print_status(&status),
            }
        }
    })
}

fn print_status(status: &tonic::Status) -> ExitCode {
    outln!("{}", status_json(status));
    ExitCode::FAILURE
}

/// `health`: exit 0 when SERVING, 1 otherwise (the status is printed); 2, 66 and 69 as for
/// `get`.
pub fn health(args: &HealthArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return super::fail(1, e),
    };
    runtime.block_on(async {
        let channel = match connect(&args.connection).await {
            Ok(c) => c,
            Err(e) => return e.fail(),
        };
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest {
            service: args.service.clone(),
        };
        let timeout = args.connection.timeout.unwrap_or(DEFAULT_TIMEOUT);
        match client.check(with_deadline(request, Some(timeout))).await {
            Ok(response) => {
                let status = response.into_inner().status();
                outln!("{}", status.as_str_name());
                if status == tonic_health::pb::health_check_response::ServingStatus::Serving {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(status) => {
                eprintln!(
                    "health check failed: {} {}",
                    code_name(status.code()),
                    status.message()
                );
                ExitCode::FAILURE
            }
        }
    })
}
