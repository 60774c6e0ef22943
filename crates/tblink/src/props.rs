//! `tblink props`: decode and encode property blocks (spec 03).

use std::process::ExitCode;

/// `tblink props` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PropsCmd {
    /// Decode a property block.
    Decode,
}

/// Run a `tblink props` subcommand.
pub fn run(cmd: PropsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PropsCmd::Decode => anyhow::bail!("not implemented"),
    }
}
