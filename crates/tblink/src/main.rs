//! `tblink`: Thunderbolt/USB4 host-to-host networking tools.

use clap::{CommandFactory, Parser, Subcommand};

mod capture;
mod demo;
mod dmatest;
mod host;
mod ls;
mod port;
mod props;
mod sim;
mod sysfs;
mod tbip;
mod top;
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
    /// Two hosts, one cable, a real network link between two namespaces: ping, throughput, report.
    #[command(long_about = demo::LONG_ABOUT)]
    Demo(demo::DemoArgs),
    /// The demo's built-in TCP throughput test (one end).
    #[command(hide = true)]
    TcpTest(demo::TcpTestArgs),
    /// Run one emulated host in the foreground (controller, discovery, drivers, control socket).
    #[command(long_about = host::LONG_ABOUT)]
    Host(host::HostArgs),
    /// Show what a running host sees: ports, XDomain peers, services, drivers.
    #[command(long_about = ls::LONG_ABOUT)]
    Ls(ls::LsArgs),
    /// A live terminal view of a running host: ports, peers, login state, throughput, errors.
    #[command(long_about = top::LONG_ABOUT)]
    Top(top::TopArgs),
    /// Unplug or plug the cable of a running host's port.
    #[command(long_about = port::LONG_ABOUT)]
    Port(port::PortArgs),
    /// Record a running host's cable traffic (control packets, Ethernet frames) into a pcapng file.
    #[command(long_about = capture::LONG_ABOUT)]
    Capture(capture::CaptureArgs),
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
    /// DMA test (Linux's dma_test service): push frames to the peer, report errors and Gbit/s.
    #[command(long_about = dmatest::LONG_ABOUT)]
    Dmatest(dmatest::DmatestArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Host(args) => host::run(args),
        Command::Demo(args) => demo::run(args),
        Command::TcpTest(args) => demo::tcp_test(&args),
        Command::Ls(args) => ls::run(&args),
        Command::Port(args) => port::run(&args),
        Command::Top(args) => top::run(&args),
        Command::Capture(args) => capture::run(&args),
        Command::Props(cmd) => props::run(cmd),
        Command::Sysfs(args) => sysfs::run(&args),
        Command::Trace(cmd) => trace::run(cmd),
        Command::Tbip(cmd) => tbip::run(cmd),
        Command::Dmatest(args) => dmatest::run(&args),
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
