//! `tblink host`: run one emulated host in the foreground.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tblink_host::control::{ControlSocket, default_socket};
use tblink_host::{HostOptions, PortSpec, Runtime, adapter_for, daemon};

/// Long help of `tblink host`.
pub const LONG_ABOUT: &str = "\
Run one emulated Thunderbolt/USB4 host in the foreground: an emulated host \
controller (NHI) with ring 0, the XDomain discovery stack and its service \
drivers (for now the `echo` example driver, which publishes an `echo` \
service and binds to the peer's). Each --port adds a lane adapter with a \
cable; adapters are numbered 1, 3, 5, … in the order given (the first lane \
adapter of each port of a Linux host router), so the first peer is XDomain \
0-1.

Cables:
  listen:PATH      shared memory; this end listens on the Unix socket PATH
  connect:PATH     shared memory; this end connects to PATH (waits until the
                   listener is there, reconnects after it goes away)
  udp:LOCAL,PEER   UDP; each address is ADDR:PORT, or :PORT / PORT for
                   127.0.0.1 (bound to loopback unless an address is given)

A peer that goes away is an unplug; when it comes back it is a plug. \
`tblink port --host NAME ADAPTER unplug|plug` pulls and re-inserts a cable.

The domain UUID is derived from NAME, so a restarted host keeps it. The \
control socket (mode 0600, directory 0700) answers `tblink ls` and `tblink \
port`; by default it is the first usable of /run/tblink/NAME.sock, \
$XDG_RUNTIME_DIR/tblink/NAME.sock, /tmp/tblink-$UID/NAME.sock. A stale \
socket left by a crashed run is replaced; a second host with the same name \
is refused.

Networking (--net, off by default because it creates network interfaces \
and needs root or CAP_NET_ADMIN with /dev/net/tun): the ThunderboltIP \
`network` service is published and its driver (`thunderbolt-net`, \
byte-compatible with Linux) logs in with every peer that publishes one. \
Once both logins are done a TAP interface is created in the host's own \
network namespace (start it under `ip netns exec NS` to put it there), \
named thunderboltN (lowest free N) or, with --ifname-policy stable, \
tbXXXXXXXX from the peer's UUID; its MAC is derived from our UUID and the \
route (spec 06 §13), its MTU is --mtu (default 1500, at most 65521: the TAP \
limit); E2E flow control is advertised and used when the peer \
advertises it too. Carrier follows the login: off when the peer goes away or logs \
out, on again when it is back. The interface stays while the host runs, \
so addresses survive an unplug. It is not brought up administratively: \
`ip link set thunderbolt0 up`. Frames move between the TAP and the DMA \
rings in the host's one event loop. `tblink ls` shows the interface, its \
MAC, carrier and counters.

DMA test (on unless --no-dmatest): the `dma_test` service of Linux's \
thunderbolt_dma_test module is published and its driver binds to every \
peer's; `tblink dmatest` runs transfers over it (see its --help).

SIGINT or SIGTERM: every cable is unplugged (peers see the unplug), the \
socket is removed, exit status 0. Logs go to stderr; RUST_LOG sets the \
filter (default: info).";

fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.');
    if ok {
        Ok(s.to_string())
    } else {
        Err("a host name is 1-64 characters of A-Z a-z 0-9 - _ . (not starting with '.')".into())
    }
}

fn parse_port(s: &str) -> Result<PortSpec, String> {
    s.parse::<PortSpec>().map_err(|e| e.to_string())
}

/// Arguments of `tblink host`.
#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// Host name (published as the root `deviceid` text; the UUID is derived from it).
    #[arg(long, value_parser = parse_name)]
    pub name: String,
    /// A lane adapter and its cable: listen:PATH, connect:PATH or udp:LOCAL,PEER.
    /// Repeat for more adapters (numbered 1, 3, 5, …).
    #[arg(long = "port", value_name = "CABLE", value_parser = parse_port)]
    pub ports: Vec<PortSpec>,
    /// Control socket path [default: /run/tblink/NAME.sock, else
    /// $XDG_RUNTIME_DIR/tblink/NAME.sock, else /tmp/tblink-$UID/NAME.sock].
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Publish the `network` service and create a network interface per peer (needs root).
    #[arg(long)]
    pub net: bool,
    /// MTU of the network interfaces (68-65521).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(68..=65521), requires = "net")]
    pub mtu: u32,
    /// Read and write frames without vnet headers and offloads: every
    /// frame arrives complete and at most MTU-sized (by default the kernel
    /// hands over 64 KiB TCP segments with checksums left to us)
    #[arg(long, requires = "net")]
    pub no_offload: bool,
    /// Interface names: linux (thunderboltN) or stable (tbXXXXXXXX from the peer UUID).
    #[arg(long, value_enum, default_value_t = IfnamePolicy::Linux, requires = "net")]
    pub ifname_policy: IfnamePolicy,
    /// Do not publish the `dma_test` service (spec 07) nor run `tblink dmatest` transfers.
    #[arg(long)]
    pub no_dmatest: bool,
    /// Cap every cable like a real link: tb3 (20 Gbit/s), tb4 (40), tb5 (80) or none.
    #[arg(long, value_enum, default_value_t = crate::demo::LinkKind::None)]
    pub link: crate::demo::LinkKind,
}

/// How `--net` names interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IfnamePolicy {
    /// thunderboltN, lowest free N (like Linux).
    Linux,
    /// tb + 8 hex digits of a hash of the peer's UUID.
    Stable,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Run the host until SIGINT/SIGTERM.
pub fn run(args: HostArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    // A thread waits for the signals and triggers the shutdown, which wakes
    // the loop: an idle host sleeps without looking at a flag.
    let shutdown = daemon::Shutdown::new().context("cannot create the shutdown handle")?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("cannot install signal handler")?;
    let trigger = shutdown.clone();
    std::thread::Builder::new()
        .name("tblink-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                trigger.trigger();
            }
        })
        .context("cannot start the signal thread")?;
    let path = match args.control {
        Some(p) => p,
        None => default_socket(&args.name)?,
    };
    let sock = ControlSocket::bind(&path, &args.name)?;
    let mut opts = HostOptions::new(&args.name);
    if args.net {
        // The loop sleeps in one poll over the cables and the TAP devices;
        // spinning before each sleep takes CPU time from the network stack
        // on the same cores and did not lower the ping RTT (bench/netpath.sh).
        opts.nhi.spin = std::time::Duration::ZERO;
    }
    tracing::info!(name = %args.name, uuid = %opts.uuid, "host starting");
    let mut rt = Runtime::new(opts)?;
    tblink_host::register_default_drivers(&mut rt)?;
    let dmatest = if args.no_dmatest {
        None
    } else {
        Some(tblink_host::dmatest::enable(&mut rt)?)
    };
    if args.net {
        let policy = match args.ifname_policy {
            IfnamePolicy::Linux => tblink_net::name::NamePolicy::Linux,
            IfnamePolicy::Stable => tblink_net::name::NamePolicy::Stable,
        };
        let opts = tblink_host::net::NetOptions {
            mtu: args.mtu,
            policy,
            offload: !args.no_offload,
            ..Default::default()
        };
        tblink_host::net::enable_networking(&mut rt, opts)?;
        tracing::info!(mtu = args.mtu, "networking enabled");
    }
    for (i, spec) in args.ports.into_iter().enumerate() {
        let adapter = adapter_for(i).context("too many ports (at most 32)")?;
        match args.link.gbit() {
            Some(g) => rt.add_port(
                adapter,
                Box::new(tblink_host::port::Capped::new(Box::new(spec), g)),
            )?,
            None => rt.add_port(adapter, Box::new(spec))?,
        }
    }
    daemon::serve_with(rt, Some(sock), shutdown, daemon::Services { dmatest })
        .context("host loop")?;
    Ok(ExitCode::SUCCESS)
}
