//! `serve` and `demo`. `serve` loads and validates the configuration (exit 64 when it cannot
//! be used), sets up logs and traces, serves until SIGTERM or Ctrl-C, then drains within the
//! grace period. `demo` runs the ZOLOZ simulator with fresh keys and the service pointed at it,
//! on loopback: the one-command way to see the service work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokio::net::TcpListener;

use super::{EXIT_BAD_CONFIG, EXIT_UNAVAILABLE, fail, stop_signal};
use crate::app;
use crate::config::{Config, Overrides};
use crate::simulator::{DEFAULT_CLIENT_ID, Simulator, SimulatorKeys};

/// Arguments of `serve`. Every flag has a `ZOLOZ_VERDICT_*` variable; flags and variables
/// override the file (tenant values apply to the default tenant, created if the file has none,
/// so a single-tenant setup needs no file at all).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML; docs/configuration.md lists every key).
    #[arg(long, value_name = "FILE", env = "ZOLOZ_VERDICT_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address [file: server.listen; default 0.0.0.0:50051].
    #[arg(long, value_name = "ADDR", env = "ZOLOZ_VERDICT_LISTEN")]
    pub listen: Option<String>,
    /// Prometheus /metrics listen address, or "off" [file: server.metrics_listen; default
    /// 0.0.0.0:9090].
    #[arg(long, value_name = "ADDR", env = "ZOLOZ_VERDICT_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// ZOLOZ base URL, e.g. https://sg-production-api.zoloz.com [file: tenants.<default>.base_url].
    #[arg(
        long,
        value_name = "URL",
        env = "ZOLOZ_VERDICT_BASE_URL",
        conflicts_with = "region"
    )]
    pub base_url: Option<String>,
    /// ZOLOZ region instead of a base URL: sg, hk, id or sg-sandbox [file: tenants.<default>.region].
    #[arg(long, env = "ZOLOZ_VERDICT_REGION")]
    pub region: Option<String>,
    /// The ZOLOZ client id [file: tenants.<default>.client_id].
    #[arg(long, env = "ZOLOZ_VERDICT_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Merchant private key file (PEM or bare Base64 DER) [file:
    /// tenants.<default>.merchant_private_key_file].
    #[arg(long, value_name = "FILE", env = "ZOLOZ_VERDICT_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// ZOLOZ platform public key file [file: tenants.<default>.zoloz_public_key_file].
    #[arg(long, value_name = "FILE", env = "ZOLOZ_VERDICT_ZOLOZ_PUBLIC_KEY_FILE")]
    pub zoloz_public_key_file: Option<PathBuf>,
    /// Encrypt requests with RSA_AES [file: tenants.<default>.encrypt].
    #[arg(long, env = "ZOLOZ_VERDICT_ENCRYPT", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub encrypt: Option<bool>,
    /// Serve calls that no configured caller matches, as caller "unauthenticated" with every
    /// tenant and images (for local development; logs a warning at start) [file:
    /// allow_unauthenticated].
    #[arg(long, env = "ZOLOZ_VERDICT_ALLOW_UNAUTHENTICATED", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_unauthenticated: Option<bool>,
    /// Validate the configuration, print it (redacted) and exit.
    #[arg(long)]
    pub check_config: bool,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            metrics_listen: self.metrics_listen.clone(),
            base_url: self.base_url.clone(),
            region: self.region.clone(),
            client_id: self.client_id.clone(),
            private_key_file: self.private_key_file.clone(),
            zoloz_public_key_file: self.zoloz_public_key_file.clone(),
            encrypt: self.encrypt,
            allow_unauthenticated: self.allow_unauthenticated,
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("zoloz-verdict")
        .build()
        .map_err(|e| fail(1, format!("cannot start the async runtime: {e}")))
}

/// `serve`.
pub fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref(), &args.overrides()) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_BAD_CONFIG, format!("bad configuration: {e}")),
    };
    if args.check_config {
        // What serve itself would refuse before it binds: the log filter (with RUST_LOG) and
        // the audit file (opened for appending, as serve does: it is created when missing).
        // Key files and TLS files were read by Config::load.
        if let Err(e) = crate::telemetry::check_log_filter(&config.telemetry.log_level) {
            return fail(EXIT_BAD_CONFIG, format!("bad configuration: {e}"));
        }
        if config.audit.enabled
            && let Some(path) = &config.audit.file
            && let Err(e) = crate::audit::Audit::open(path)
        {
            return fail(
                EXIT_BAD_CONFIG,
                format!("bad configuration: audit.file {}: {e}", path.display()),
            );
        }
        outln!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let telemetry =
            match crate::telemetry::init(config.telemetry.json_logs, &config.telemetry.log_level) {
                Ok(t) => t,
                Err(e) => return fail(EXIT_BAD_CONFIG, e),
            };
        let code = run(&config).await;
        telemetry.shutdown();
        code
    })
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, ExitCode> {
    TcpListener::bind(addr).await.map_err(|e| {
        fail(
            EXIT_UNAVAILABLE,
            format!("cannot listen on {addr} ({what}): {e}"),
        )
    })
}

/// Binds, serves until SIGTERM / Ctrl-C, drains.
async fn run(config: &Config) -> ExitCode {
    let listener = match bind(config.server.listen, "grpc").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let metrics_listener = match config.server.metrics_listen {
        Some(addr) => match bind(addr, "metrics").await {
            Ok(l) => Some(l),
            Err(code) => return code,
        },
        None => None,
    };
    let running = match app::start(config, listener, metrics_listener, stop_signal()).await {
        Ok(r) => r,
        Err(e) => return fail(EXIT_BAD_CONFIG, e),
    };
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            fail(1, e)
        }
    }
}

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// gRPC listen address of the service.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Listen address of the ZOLOZ simulator (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub simulator_listen: SocketAddr,
    /// Prometheus /metrics listen address (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub metrics_listen: SocketAddr,
    /// Encrypt requests to the simulator with RSA_AES.
    #[arg(long)]
    pub encrypt: bool,
    /// Log level (RUST_LOG wins).
    #[arg(long, default_value = "warn")]
    pub log_level: String,
}

/// `demo`: simulator + service on loopback with fresh keys, until Ctrl-C.
pub fn demo(args: &DemoArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let telemetry = match crate::telemetry::init(false, &args.log_level) {
            Ok(t) => t,
            Err(e) => return fail(1, e),
        };
        let code = run_demo(args).await;
        telemetry.shutdown();
        code
    })
}

async fn run_demo(args: &DemoArgs) -> ExitCode {
    let dir = std::env::temp_dir().join(format!("zoloz-verdict-demo-{}", std::process::id()));
    let keys = match SimulatorKeys::generate() {
        Ok(k) => k,
        Err(e) => return fail(1, format!("cannot generate keys: {e}")),
    };
    let files = match keys.write_to(&dir) {
        Ok(f) => f,
        Err(e) => return fail(1, e),
    };
    let simulator =
        match Simulator::bind(keys.config(DEFAULT_CLIENT_ID), args.simulator_listen).await {
            Ok(s) => s,
            Err(e) => return fail(EXIT_UNAVAILABLE, e),
        };
    let overrides = Overrides {
        listen: Some(args.listen.to_string()),
        metrics_listen: Some(args.metrics_listen.to_string()),
        base_url: Some(simulator.base_url()),
        client_id: Some(DEFAULT_CLIENT_ID.into()),
        private_key_file: Some(files.merchant_private.clone()),
        zoloz_public_key_file: Some(files.zoloz_public.clone()),
        encrypt: Some(args.encrypt),
        // On loopback, for trying it out: any local process may call.
        allow_unauthenticated: Some(true),
        ..Overrides::default()
    };
    let audit_file = dir.join("audit.jsonl");
    let mut config = match Config::load(None, &overrides) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_BAD_CONFIG, e),
    };
    config.audit.file = Some(audit_file.clone());
    let listener = match bind(config.server.listen, "grpc").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let metrics_listener = match config.server.metrics_listen {
        Some(addr) => bind(addr, "metrics").await.ok(),
        None => None,
    };
    let running = match app::start(&config, listener, metrics_listener, stop_signal()).await {
        Ok(r) => r,
        Err(e) => return fail(1, e),
    };
    let addr = running.addr();
    let metrics = running
        .metrics_addr()
        .map(|a| format!("http://{a}/metrics"))
        .unwrap_or_else(|| "off".into());
    outln!(
        "zoloz-verdict demo\n\
         \x20 service        {addr} (gRPC, plaintext; health and reflection on)\n\
         \x20 callers        anyone: allow_unauthenticated = true (the demo names no callers;\n\
         \x20                `serve` refuses to start that way unless told so)\n\
         \x20 ZOLOZ stand-in {} (the simulator; fresh keys in {})\n\
         \x20 metrics        {metrics}\n\
         \x20 audit records  {}\n\
         \n\
         Try, in another terminal:\n\
         \x20 cargo run --release -- get --addr http://{addr} --product connect --transaction-id sim-connect-approve\n\
         \x20 cargo run --release -- get --addr http://{addr} --product id-recognition --transaction-id sim-id-recognition-tampered\n\
         \x20 cargo run --release -- get --addr http://{addr} --product face-capture --transaction-id sim-face-capture-pending-then-approve --watch\n\
         \x20 cargo run --release -- health --addr http://{addr}\n\
         \x20 npx @bufbuild/buf curl --protocol grpc --http2-prior-knowledge \\\n\
         \x20   -d '{{\"product\":\"PRODUCT_FACE_COMPARE\",\"transactionId\":\"sim-face-compare-mismatch\"}}' \\\n\
         \x20   http://{addr}/zoloz.verdict.v1.VerdictService/GetVerificationResult\n\
         Every scenario: cargo run --release -- simulator --list-scenarios\n\
         Ctrl-C to stop.",
        simulator.base_url(),
        dir.display(),
        audit_file.display(),
    );
    let result = running.wait().await;
    simulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}
