//! `tblink`: Thunderbolt/USB4 host-to-host networking tools.

use clap::{CommandFactory, Parser, Subcommand};

mod props;
mod sim;
mod sysfs;
mod tbip;
mod trace;

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
    /// Simulate XDomain discovery between hosts and print what each enumerated.
    #[command(long_about = sim::LONG_ABOUT)]
    Sim(sim::SimArgs),
    /// Show Thunderbolt domains, hosts, XDomain peers and services from sysfs.
    #[command(long_about = sysfs::LONG_ABOUT)]
    Sysfs(sysfs::SysfsArgs),
    /// Decode Linux thunderbolt tracepoint output.
    #[command(subcommand)]
    Trace(trace::TraceCmd),
    /// ThunderboltIP tools: replay received DMA frames through the reassembler.
    #[command(subcommand)]
    Tbip(tbip::TbipCmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Props(cmd) => props::run(cmd),
        Command::Sysfs(args) => sysfs::run(&args),
        Command::Trace(cmd) => trace::run(cmd),
        Command::Tbip(cmd) => tbip::run(cmd),
        Command::Sim(args) => match sim::run(args) {
            Ok(code) => Ok(code),
            Err(sim::UsageError(msg)) => Cli::command()
                .error(clap::error::ErrorKind::ArgumentConflict, msg)
                .exit(),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tblink: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
