//! `tblink port`: pull or re-insert the cable of a running host's port.

use std::path::PathBuf;
use std::process::ExitCode;

use tblink_host::control::{ControlError, PortAction, Request, request};

use crate::ls::{not_running, target};

/// Long help of `tblink port`.
pub const LONG_ABOUT: &str = "\
Emulate pulling (unplug) or re-inserting (plug) the cable of lane adapter \
PORT of a running `tblink host` (adapters are 1, 3, 5, … in --port order; \
`tblink ls` shows them). Unplug detaches the cable from the emulated \
controller and closes its end: a shared-memory peer sees the connection \
close, a UDP peer gets a goodbye datagram (or misses keep-alives for 1 s), \
so both sides report the link down and remove the XDomain. Plug opens a \
fresh cable end from the same --port specification (listening again, or \
connecting again), and discovery starts over on both sides.

Exit status: 0 done, 1 refused (no such port, already in that state), 2 \
host not running.";

/// Arguments of `tblink port`.
#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// Host name (its socket is looked up in the default places).
    #[arg(long, conflicts_with = "control", required_unless_present = "control")]
    pub host: Option<String>,
    /// Control socket path of the host.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Lane adapter number (1, 3, 5, …).
    #[arg(value_name = "PORT")]
    pub adapter: u8,
    /// What to do.
    #[arg(value_enum)]
    pub action: Action,
}

/// `unplug` or `plug`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Action {
    /// Pull the cable.
    Unplug,
    /// Re-insert the cable.
    Plug,
}

/// Run `tblink port`.
pub fn run(args: &PortArgs) -> anyhow::Result<ExitCode> {
    let (label, path) = match target(args.host.as_deref(), args.control.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(not_running(e)),
    };
    let action = match args.action {
        Action::Unplug => PortAction::Unplug,
        Action::Plug => PortAction::Plug,
    };
    let req = Request::Port {
        adapter: args.adapter,
        action,
    };
    let r = match request(&path, &req, &label) {
        Err(e @ ControlError::NotRunning { .. }) => return Ok(not_running(e)),
        r => r?,
    };
    if r.ok {
        println!("{label}: {}", r.message.unwrap_or_else(|| "done".into()));
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "tblink: {label}: {}",
            r.error.unwrap_or_else(|| "refused".into())
        );
        Ok(ExitCode::FAILURE)
    }
}
