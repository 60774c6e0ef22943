//! Where the Ethernet frames of an interface go: the host side of a
//! [`NetPort`](crate::NetPort), as one interface ([`NetDevice`]) and as
//! the thing that creates one per peer ([`Devices`]).
//!
//! Two kinds exist: a TAP interface in the kernel ([`TapDevices`], what
//! `tblink host --net` uses) and an in-memory frame queue for a network
//! stack running in the same process
//! ([`QueueDevices`](crate::queue::QueueDevices)). The ThunderboltIP
//! extension of the host runtime is generic over [`Devices`], so both go
//! through the same driver-event handling, bring-up, tear-down and
//! statistics.

use std::fmt;
use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;

use crate::port::{FrameIo, PortConfig};

/// One interface towards one peer: frames in and out ([`FrameIo`]) plus
/// what the interface shows and how the event loop waits for it.
pub trait NetDevice: FrameIo + fmt::Debug {
    /// The interface name (e.g. `thunderbolt0`).
    fn name(&self) -> &str;
    /// Change the MAC address (spec 06 §13: it follows the path request).
    fn set_mac(&mut self, mac: [u8; 6]) -> io::Result<()>;
    /// Received frames the device dropped after taking them (e.g. too
    /// large for a TAP), on top of the port's own counters.
    fn host_dropped(&self) -> u64 {
        0
    }
    /// A descriptor that becomes readable when the device has frames to
    /// transmit, for an event loop that sleeps; `None` when the device is
    /// only ever polled.
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// Creates the interface towards a peer when it first logs in.
pub trait Devices: fmt::Debug {
    /// The interfaces made.
    type Device: NetDevice;
    /// Options of the [`NetPort`](crate::NetPort) in front of a device
    /// (e.g. whether frames carry a vnet header).
    fn port_config(&self) -> PortConfig {
        PortConfig::default()
    }
    /// Whether `name` is taken by something other than our own
    /// interfaces (those the caller checks itself).
    fn name_in_use(&self, name: &str) -> bool;
    /// Create interface `name` with `mac` and `mtu`, carrier off.
    fn create(&mut self, name: &str, mac: [u8; 6], mtu: u32) -> io::Result<Self::Device>;
}

/// Transmit queue of a TAP: room for bursts while the loop is busy (the
/// kernel's default for a TAP is 1000 frames).
#[cfg(target_os = "linux")]
pub const TAP_TX_QUEUE_LEN: u32 = 10_000;

/// TAP interfaces in the process's network namespace (Linux).
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TapDevices {
    /// How the TAPs are opened.
    pub options: crate::sys::TapOptions,
}

#[cfg(target_os = "linux")]
impl TapDevices {
    /// TAPs opened with vnet headers when `offload` is set, so the kernel
    /// may leave checksums and TCP segmentation to the data path (spec 06
    /// §10, §12); see [`crate::sys::Tap::set_offload`].
    pub fn with_offload(offload: bool) -> Self {
        TapDevices {
            options: crate::sys::TapOptions { vnet_hdr: offload },
        }
    }
}

#[cfg(target_os = "linux")]
impl NetDevice for crate::sys::Tap {
    fn name(&self) -> &str {
        crate::sys::Tap::name(self)
    }
    fn set_mac(&mut self, mac: [u8; 6]) -> io::Result<()> {
        crate::sys::Tap::set_mac(self, mac)
    }
    fn host_dropped(&self) -> u64 {
        self.oversize_drops()
    }
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

#[cfg(target_os = "linux")]
impl Devices for TapDevices {
    type Device = crate::sys::Tap;

    fn port_config(&self) -> PortConfig {
        PortConfig {
            vnet_hdr: self.options.vnet_hdr,
            ..PortConfig::default()
        }
    }

    fn name_in_use(&self, name: &str) -> bool {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }

    fn create(&mut self, name: &str, mac: [u8; 6], mtu: u32) -> io::Result<crate::sys::Tap> {
        let tap = crate::sys::Tap::open(name, self.options)?;
        tap.set_mac(mac)?;
        tap.set_mtu(mtu)?;
        tap.set_carrier(false)?;
        tap.set_nonblocking(true)?;
        // Best effort: a shorter queue only means earlier drops in bursts.
        let _ = tap.set_txqueuelen(TAP_TX_QUEUE_LEN);
        Ok(tap)
    }
}
