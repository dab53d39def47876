//! The `zoloz-verdict` binary: parse the command line, run the command, map the outcome to an
//! exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = zoloz_verdict::cli::Cli::parse();
    zoloz_verdict::cli::run(cli)
}
