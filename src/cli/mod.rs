//! The command line (docs/design.md): one binary, one subcommand per job. Each command
//! lives in its own file and returns an [`ExitCode`]; `main` only parses and runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that ignores a closed standard output (`zoloz-verdict get … | head`) instead of
/// panicking: the output is for whoever still reads it.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod client;
mod explain;
mod serve;
mod sign;
mod simulator;

pub use explain::{error_json, explain_body};

/// Exit code for a configuration that cannot be used (sysexits `EX_CONFIG`-style, as the
/// design fixes it).
pub const EXIT_BAD_CONFIG: u8 = 64;
/// Exit code for an input file that cannot be read (sysexits `EX_NOINPUT`).
pub const EXIT_NO_INPUT: u8 = 66;
/// Exit code when a server cannot be reached (sysexits `EX_UNAVAILABLE`).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code for arguments that do not go together (what clap exits with for bad arguments).
pub const EXIT_USAGE: u8 = 2;

/// One verdict for ZOLOZ eKYC transactions.
#[derive(Debug, Parser)]
#[command(name = "zoloz-verdict", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the content to sign and the `Signature` header value of a request (debugging).
    Sign(sign::SignArgs),
    /// Check a response signature: exit 0 when valid, 1 when not (debugging).
    Verify(sign::VerifyArgs),
    /// Run the service (configuration from a file, flags and ZOLOZ_VERDICT_* variables).
    #[command(after_long_help = concat!(
        "The configuration file, every key with its default:\n\n",
        include_str!("../config/reference.toml")
    ))]
    Serve(serve::ServeArgs),
    /// Run the ZOLOZ simulator and the service together on loopback, with fresh keys.
    Demo(serve::DemoArgs),
    /// Ask a running service for a verdict; prints proto3 JSON.
    Get(client::GetArgs),
    /// gRPC health check: exit 0 when the server is SERVING.
    Health(client::HealthArgs),
    /// Print the verdict for a saved checkresult response as proto3 JSON (offline).
    Explain(explain::ExplainArgs),
    /// Run the ZOLOZ simulator: the real gateway protocol with scenarios picked by
    /// transaction id, for tests and demos without ZOLOZ credentials.
    Simulator(simulator::SimulatorArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Sign(args) => sign::sign(&args),
        Command::Verify(args) => sign::verify(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Demo(args) => serve::demo(&args),
        Command::Get(args) => client::get(&args),
        Command::Health(args) => client::health(&args),
        Command::Explain(args) => explain::explain(&args),
        Command::Simulator(args) => simulator::simulator(&args),
    }
}

/// Prints `error: message` on standard error and returns the exit code.
pub(crate) fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Pretty JSON with two-space indentation.
pub(crate) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Reads a file named on the command line, or standard input for `-`.
pub(crate) fn read_input(path: &PathBuf) -> Result<Vec<u8>, String> {
    if path.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(buffer);
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Reads an AK/SK secret key file (base64url text).
pub(crate) fn read_secret(path: &PathBuf) -> Result<crate::zoloz::aksk::SecretKey, String> {
    let text = read_input(path)?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("{}: the secret key file is not text", path.display()))?;
    crate::zoloz::aksk::SecretKey::parse(&text)
        .ok_or_else(|| format!("{}: the secret key is not base64url", path.display()))
}

/// Resolves at Ctrl-C or, on Unix, SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
