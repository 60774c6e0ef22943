//! One emulated Thunderbolt/USB4 host as a running process.
//!
//! | Module | What |
//! |---|---|
//! | [`runtime`] | [`Runtime`]: emulated controller + ring 0 + discovery stack + drivers, one event loop |
//! | [`port`] | `--port` specifications and cable sources (shared memory, UDP, handed-in cables) |
//! | [`control`] | the control socket: path rules, binding, line-delimited JSON requests |
//! | [`capture`] | taps on every port's cable, the streaming `capture` request and its client |
//! | [`daemon`] | [`daemon::serve`]: the loop, the control thread, graceful shutdown |
//! | [`snapshot`] | what `tblink ls` shows |
//! | `net` | ThunderboltIP: the `network` driver, one TAP interface and data path per peer |
//! | [`dmatest`] | the `dma_test` service (spec 07): driver, test runs in the loop, control handle |
//!
//! Lane adapters are numbered 1, 3, 5, … like the first lane adapter of
//! each port of a Linux host router; the first XDomain is then `0-1`.
//!
//! Drivers are pluggable: [`Runtime::register_driver`] takes any
//! [`tblink_proto::driver::ServiceDriver`] with the local services it
//! publishes, and [`runtime::Extension`] gives a component the controller
//! itself (rings, paths) on every turn of the loop.
//!
//! `dma_test` is not among [`register_default_drivers`]: it comes with a
//! handle for the control socket, so [`dmatest::enable`] returns one and
//! [`daemon::serve_with`] takes it (`tblink host` enables it unless told
//! `--no-dmatest`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod control;
pub mod daemon;
pub mod dmatest;
#[cfg(target_os = "linux")]
pub mod net;
pub mod port;
pub mod runtime;
pub mod snapshot;

pub use port::{CableSource, Handed, PortSpec};
pub use runtime::{HostOptions, Runtime, RuntimeError, uuid_from_name};
pub use snapshot::Snapshot;

/// Adapter number of the `i`-th port (0-based): 1, 3, 5, …
pub fn adapter_for(i: usize) -> Option<u8> {
    u8::try_from(2 * i + 1).ok().filter(|a| *a <= 63)
}

/// Register the drivers every `tblink host` runs: for now the `echo`
/// example driver with its `echo` service.
pub fn register_default_drivers(rt: &mut Runtime) -> Result<(), RuntimeError> {
    use tblink_proto::example::EchoDriver;
    rt.register_driver(
        Box::new(EchoDriver::default()),
        vec![EchoDriver::local_service()],
    )?;
    Ok(())
}
