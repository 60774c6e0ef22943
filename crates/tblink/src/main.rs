//! `tblink`: Thunderbolt/USB4 host-to-host networking tools.

use clap::{Parser, Subcommand};

mod props;

/// Thunderbolt/USB4 host-to-host networking, in software.
#[derive(Debug, Parser)]
#[command(name = "tblink", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode and encode XDomain property blocks.
    #[command(subcommand)]
    Props(props::PropsCmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Props(cmd) => props::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tblink: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
