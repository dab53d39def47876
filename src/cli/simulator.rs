//! `simulator`: the ZOLOZ stand-in alone, on its own tokio runtime, until Ctrl-C or SIGTERM.
//! Without key flags it generates both key pairs and writes them where the caller can hand
//! them to the service.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{EXIT_BAD_CONFIG, fail, read_secret, stop_signal};
use crate::simulator::{
    DEFAULT_CLIENT_ID, Simulator, SimulatorConfig, SimulatorKeys, markdown_table,
};
use crate::zoloz::keys::{PrivateKey, PublicKey};

/// Arguments of `simulator`.
#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Address to listen on, e.g. 127.0.0.1:8980 (port 0 picks a free port; the bound address
    /// is printed). Plain HTTP: keep it on loopback.
    #[arg(long, value_name = "ADDR", required_unless_present = "list_scenarios")]
    pub listen: Option<String>,
    /// A directory of recorded responses, <transactionId>.json, served verbatim (signed);
    /// they take precedence over the built-in scenarios.
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// The only Client-Id accepted.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// The merchant public key that request signatures must verify with (PEM or bare Base64
    /// DER). With --zoloz-private-key; without both, fresh keys are generated.
    #[arg(long, value_name = "FILE", requires = "zoloz_private_key")]
    pub merchant_public_key: Option<PathBuf>,
    /// The simulator's ZOLOZ private key, which signs every answer.
    #[arg(long, value_name = "FILE", requires = "merchant_public_key")]
    pub zoloz_private_key: Option<PathBuf>,
    /// Generate both key pairs and write them here (merchant_private.pem and zoloz_public.pem
    /// are for the service). Required unless the key flags are given.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present_any = ["merchant_public_key", "list_scenarios"],
        conflicts_with = "merchant_public_key"
    )]
    pub write_keys: Option<PathBuf>,
    /// Also accept AK/SK authentication with this access key (with --secret-key).
    #[arg(long, requires = "secret_key")]
    pub access_key: Option<String>,
    /// The AK/SK secret key file (base64url text).
    #[arg(long, value_name = "FILE", requires = "access_key")]
    pub secret_key: Option<PathBuf>,
    /// A further ZOLOZ private key with its keyVersion, VERSION=FILE (repeatable), as the
    /// gateway holds them while it rotates. Answers use it with --sign-with-key-version.
    #[arg(long = "zoloz-key-version", value_name = "VERSION=FILE")]
    pub zoloz_key_versions: Vec<String>,
    /// Sign every RSA answer with the key of this keyVersion (one of --zoloz-key-version) and
    /// name it in the Signature header, as the gateway does after a rotation.
    #[arg(long, value_name = "VERSION", requires = "zoloz_key_versions")]
    pub sign_with_key_version: Option<String>,
    /// How long the `slow` scenarios wait before answering, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub slow_delay_ms: u64,
    /// Print the scenario table (Markdown, as in docs/simulator.md) and exit.
    #[arg(long)]
    pub list_scenarios: bool,
}

/// Runs the simulator until Ctrl-C or SIGTERM (exit 0), or prints the scenarios.
pub fn simulator(args: &SimulatorArgs) -> ExitCode {
    if args.list_scenarios {
        outln!("{}", markdown_table().trim_end());
        return ExitCode::SUCCESS;
    }
    let Some(listen) = args.listen.clone() else {
        return fail(2, "--listen is required");
    };
    let config = match config(args) {
        Ok(config) => config,
        Err(message) => return fail(EXIT_BAD_CONFIG, message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let running = match Simulator::bind(config, listen.as_str()).await {
            Ok(running) => running,
            Err(e) => return fail(EXIT_BAD_CONFIG, e),
        };
        outln!("client id: {}", args.client_id);
        outln!("listening on {}", running.base_url());
        stop_signal().await;
        eprintln!("stopping");
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// The configuration from the flags; generates and writes keys when none are given.
fn config(args: &SimulatorArgs) -> Result<SimulatorConfig, String> {
    let mut config = match (&args.merchant_public_key, &args.zoloz_private_key) {
        (Some(merchant), Some(zoloz)) => SimulatorConfig::new(
            &args.client_id,
            PublicKey::from_file(merchant).map_err(|e| format!("--merchant-public-key: {e}"))?,
            Arc::new(
                PrivateKey::from_file(zoloz).map_err(|e| format!("--zoloz-private-key: {e}"))?,
            ),
        ),
        _ => {
            let Some(dir) = &args.write_keys else {
                return Err("--write-keys DIR is required when no keys are given".into());
            };
            let keys = SimulatorKeys::generate().map_err(|e| e.to_string())?;
            let files = keys.write_to(dir).map_err(|e| e.to_string())?;
            outln!("keys written to {}:", dir.display());
            outln!(
                "  {}  merchant private key: the service signs requests with it",
                files.merchant_private.display()
            );
            outln!(
                "  {}  ZOLOZ public key: the service verifies answers with it",
                files.zoloz_public.display()
            );
            outln!(
                "  {}  merchant public key (the simulator's copy)",
                files.merchant_public.display()
            );
            outln!(
                "  {}  ZOLOZ private key (the simulator signs with it)",
                files.zoloz_private.display()
            );
            keys.config(&args.client_id)
        }
    };
    if let (Some(access_key), Some(path)) = (&args.access_key, &args.secret_key) {
        let secret = read_secret(path).map_err(|e| format!("--secret-key: {e}"))?;
        config.aksk = Some((access_key.clone(), secret));
    }
    for entry in &args.zoloz_key_versions {
        let Some((version, path)) = entry
            .split_once('=')
            .filter(|(v, p)| !v.is_empty() && !p.is_empty())
        else {
            return Err(format!(
                "--zoloz-key-version {entry:?}: expected VERSION=FILE"
            ));
        };
        let key = PrivateKey::from_file(std::path::Path::new(path))
            .map_err(|e| format!("--zoloz-key-version {version}: {e}"))?;
        config
            .zoloz_versioned_keys
            .insert(version.to_string(), Arc::new(key));
    }
    if let Some(version) = &args.sign_with_key_version {
        if !config.zoloz_versioned_keys.contains_key(version) {
            return Err(format!(
                "--sign-with-key-version {version}: no --zoloz-key-version {version}=FILE"
            ));
        }
        config.signing_key_version = Some(version.clone());
    }
    config.scenarios_dir = args.scenarios.clone();
    config.slow_delay = Duration::from_millis(args.slow_delay_ms);
    Ok(config)
}
