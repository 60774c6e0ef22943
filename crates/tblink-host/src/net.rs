//! ThunderboltIP in the daemon: the `network` service driver
//! ([`NetDriver`]) plus [`NetExtension`], which acts on its requests with
//! the controller itself — one [`NetPort`] and one interface per peer —
//! and pumps frames between them on every turn of the event loop.
//!
//! Where an interface's frames go is a [`Devices`] choice: a TAP
//! interface in the kernel ([`TapDevices`], [`enable_networking`], what
//! `tblink host --net` runs) or bounded in-memory queues for a network
//! stack in the same process
//! ([`QueueDevices`](tblink_net::queue::QueueDevices),
//! [`enable_networking_with`]). Driver events, bring-up, tear-down, carrier
//! and statistics are the same for both.
//!
//! An interface is created (a TAP: in the process's own network namespace)
//! when a peer first logs in (both logins done). It is named `thunderboltN`
//! (lowest free N) or, with [`NamePolicy::Stable`], from the peer's UUID,
//! and gets the MAC of the path request (spec 06 §13) and the configured
//! MTU. It stays while the daemon runs, so addresses survive an unplug:
//! carrier follows the login state (off on unplug or logout, on again
//! once the peer is back and both logins are done).

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;

use tblink_hostif::HostInterface;
use tblink_net::NetPort;
use tblink_net::device::{Devices, NetDevice, TapDevices};
use tblink_net::driver::{NetConfig, NetDriver, NetEvent, PathRequest, with_net_driver};
use tblink_net::name::{NamePolicy, interface_name};
use tblink_net::sys::TAP_MAX_MTU;
use tblink_proto::driver::DriverId;
use tblink_proto::{Host, Instant};
use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

use crate::runtime::{Extension, Runtime, RuntimeError, push_timeline};
use crate::snapshot::{NetIfInfo, Snapshot, TimelineEntry};

/// Frames moved per direction and peer in one turn.
const BUDGET: usize = 64;
/// Smallest MTU accepted (IPv4 minimum).
pub const MIN_MTU: u32 = 68;

/// Networking options of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetOptions {
    /// Interface MTU (68..=65521, the TAP limit).
    pub mtu: u32,
    /// How interfaces are named.
    pub policy: NamePolicy,
    /// Advertise and use E2E flow control (spec 06 §2, 05 §14): with a
    /// peer that advertises it too, a full RX ring holds the sender back
    /// instead of dropping frames.
    pub e2e: bool,
    /// Open the TAP with vnet headers and let the kernel leave checksums
    /// and TCP segmentation to us (spec 06 §10, §12): one read per 64 KiB
    /// TCP segment instead of one per MTU (see BENCHMARKS.md).
    pub offload: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            mtu: 1500,
            policy: NamePolicy::Linux,
            e2e: true,
            offload: true,
        }
    }
}

/// Register the `network` service driver and its [`NetExtension`] on `rt`,
/// with one TAP interface per peer.
pub fn enable_networking(rt: &mut Runtime, opts: NetOptions) -> Result<(), RuntimeError> {
    let devices = TapDevices::with_offload(opts.offload);
    enable_networking_with(rt, opts, devices)
}

/// Register the `network` service driver and a [`NetExtension`] whose
/// interfaces `devices` creates.
pub fn enable_networking_with<D: Devices + 'static>(
    rt: &mut Runtime,
    opts: NetOptions,
    devices: D,
) -> Result<(), RuntimeError> {
    let cfg = NetConfig {
        mtu: opts.mtu.clamp(MIN_MTU, TAP_MAX_MTU),
        e2e: opts.e2e,
        ..NetConfig::default()
    };
    let driver = NetDriver::new(cfg);
    let svc = driver.local_service();
    let id = rt.register_driver(Box::new(driver), vec![svc])?;
    rt.add_extension(Box::new(NetExtension::with_devices(id, opts, devices)));
    Ok(())
}

/// The interface towards one peer.
#[derive(Debug)]
struct Peer<T> {
    uuid: Uuid,
    mac: [u8; 6],
    port: NetPort,
    dev: T,
    /// The interface may have frames to read: cleared when a read finds
    /// none, set when the loop's poll reports a descriptor or a frame is
    /// written to it (the host may answer at once, as with a ping).
    /// Interfaces without a descriptor are always read.
    may_read: bool,
}

/// Acts on the [`NetDriver`]'s requests and runs the data pumps (see the
/// module docs); `D` makes the interfaces (TAPs by default).
#[derive(Debug)]
pub struct NetExtension<D: Devices = TapDevices> {
    driver: DriverId,
    opts: NetOptions,
    devices: D,
    peers: Vec<Peer<D::Device>>,
    timeline: VecDeque<TimelineEntry>,
}

fn mac_string(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn ms(now: Instant) -> f64 {
    now.as_nanos() as f64 / 1e6
}

impl NetExtension<TapDevices> {
    /// An extension for the [`NetDriver`] registered as `driver`, with
    /// TAP interfaces.
    pub fn new(driver: DriverId, opts: NetOptions) -> Self {
        let devices = TapDevices::with_offload(opts.offload);
        NetExtension::with_devices(driver, opts, devices)
    }
}

impl<D: Devices> NetExtension<D> {
    /// An extension for the [`NetDriver`] registered as `driver`, whose
    /// interfaces `devices` creates.
    pub fn with_devices(driver: DriverId, opts: NetOptions, devices: D) -> Self {
        NetExtension {
            driver,
            opts,
            devices,
            peers: Vec::new(),
            timeline: VecDeque::new(),
        }
    }

    fn mtu(&self) -> u32 {
        self.opts.mtu.clamp(MIN_MTU, TAP_MAX_MTU)
    }

    fn record(&mut self, now: Instant, event: &str, route: Route) {
        push_timeline(&mut self.timeline, ms(now), event, Some(route));
    }

    fn new_device(&mut self, req: &PathRequest) -> std::io::Result<D::Device> {
        let name = {
            let ours: Vec<&str> = self.peers.iter().map(|p| p.dev.name()).collect();
            let devices = &self.devices;
            interface_name(self.opts.policy, &req.peer_uuid, |n| {
                ours.contains(&n) || devices.name_in_use(n)
            })
        };
        let mtu = self.mtu();
        self.devices.create(&name, req.mac, mtu)
    }

    /// Paths up for `req`: the peer's interface (created on first login),
    /// a port on the request's route, rings and paths.
    fn bring_up(&mut self, nhi: &mut dyn HostInterface, req: &PathRequest) -> bool {
        let route = req.route.without_cm();
        let i = match self.peers.iter().position(|p| p.uuid == req.peer_uuid) {
            Some(i) => i,
            None => match self.new_device(req) {
                Ok(dev) => {
                    tracing::info!(ifname = dev.name(), mac = %mac_string(req.mac), peer = %req.peer_uuid, "interface created");
                    self.peers.push(Peer {
                        uuid: req.peer_uuid,
                        mac: req.mac,
                        port: NetPort::new(route, self.devices.port_config()),
                        dev,
                        may_read: true,
                    });
                    self.peers.len() - 1
                }
                Err(e) => {
                    tracing::warn!(peer = %req.peer_uuid, "cannot create the network interface: {e}");
                    return false;
                }
            },
        };
        let port_config = self.devices.port_config();
        let p = &mut self.peers[i];
        if p.port.is_up()
            && let Err(e) = p.port.tear_down(nhi)
        {
            tracing::warn!(ifname = p.dev.name(), "tear-down before bring-up: {e}");
        }
        if p.port.route() != route {
            p.port = NetPort::new(route, port_config);
        }
        if p.mac != req.mac {
            match p.dev.set_mac(req.mac) {
                Ok(()) => p.mac = req.mac,
                Err(e) => tracing::warn!(ifname = p.dev.name(), "cannot change MAC: {e}"),
            }
        }
        let adapter = route.port(0).unwrap_or(1);
        match p.port.bring_up(nhi, req, adapter) {
            Ok(()) => {
                tracing::info!(ifname = p.dev.name(), route = %route, in_hopid = req.in_hopid, out_hopid = req.out_hopid, "data paths up");
                true
            }
            Err(e) => {
                tracing::warn!(ifname = p.dev.name(), route = %route, "data paths: {e}");
                false
            }
        }
    }

    fn peer_on(&mut self, route: Route) -> Option<&mut Peer<D::Device>> {
        let route = route.without_cm();
        self.peers.iter_mut().find(|p| p.port.route() == route)
    }

    fn apply(&mut self, nhi: &mut dyn HostInterface, host: &mut Host, now: Instant, e: NetEvent) {
        match e {
            NetEvent::BringUp(req) => {
                self.record(now, "login", req.route);
                let ok = self.bring_up(nhi, &req);
                let route = req.route;
                with_net_driver(host, now, self.driver, |d, _| {
                    if ok {
                        d.paths_up(route)
                    } else {
                        d.paths_failed(now, route)
                    }
                });
            }
            NetEvent::TearDown { route } => {
                if let Some(p) = self.peer_on(route) {
                    if let Err(e) = p.port.tear_down(nhi) {
                        tracing::warn!(ifname = p.dev.name(), "tear-down: {e}");
                    }
                    if p.port.carrier() {
                        let _ = p.port.set_carrier(&mut p.dev, false);
                    }
                    tracing::info!(ifname = p.dev.name(), route = %route, "data paths down");
                }
            }
            NetEvent::Carrier { route, on } => {
                if let Some(p) = self.peer_on(route) {
                    match p.port.set_carrier(&mut p.dev, on) {
                        Ok(()) => tracing::info!(ifname = p.dev.name(), on, "carrier"),
                        Err(e) => tracing::warn!(ifname = p.dev.name(), "carrier: {e}"),
                    }
                }
                self.record(now, if on { "carrier_on" } else { "carrier_off" }, route);
            }
            NetEvent::LoginTimedOut { route } => {
                tracing::warn!(route = %route, "ThunderboltIP login timed out");
                self.record(now, "login_timed_out", route);
            }
        }
    }
}

impl<D: Devices> Extension for NetExtension<D> {
    fn name(&self) -> &str {
        "thunderbolt-net"
    }

    fn poll(&mut self, nhi: &mut dyn HostInterface, host: &mut Host, now: Instant) -> bool {
        let mut busy = false;
        loop {
            let events: Vec<NetEvent> = with_net_driver(host, now, self.driver, |d, _| {
                std::iter::from_fn(|| d.poll_event()).collect()
            })
            .unwrap_or_default();
            if events.is_empty() {
                break;
            }
            busy = true;
            for e in events {
                self.apply(nhi, host, now, e);
            }
        }
        for p in &mut self.peers {
            if !p.port.is_up() {
                continue;
            }
            let polled = p.dev.wait_fd().is_some();
            if p.may_read || !polled {
                let t = p.port.pump_tx(nhi, &mut p.dev, BUDGET);
                p.may_read = !(t.drained && polled);
                busy |= t.packets > 0 || t.more;
            }
            let r = p.port.pump_rx(nhi, &mut p.dev, BUDGET);
            p.may_read |= r.packets > 0;
            busy |= r.frames > 0 || r.more;
        }
        busy
    }

    fn wait_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.peers
            .iter()
            .filter(|p| p.port.is_up() && !p.port.tx_blocked())
            .filter_map(|p| p.dev.wait_fd())
            .collect()
    }

    fn woken(&mut self, readable: bool) {
        if readable {
            for p in &mut self.peers {
                p.may_read = true;
            }
        }
    }

    fn describe(&self, snap: &mut Snapshot) {
        for p in &self.peers {
            let s = p.port.stats();
            snap.net.push(NetIfInfo {
                ifname: p.dev.name().to_string(),
                mac: mac_string(p.mac),
                mtu: self.mtu(),
                peer_uuid: p.uuid.to_string(),
                route: p.port.route().to_string(),
                carrier: p.port.carrier(),
                tx_packets: s.tx.tx_packets,
                tx_bytes: s.tx.tx_bytes,
                tx_errors: s.tx.tx_errors,
                rx_packets: s.rx.rx_packets,
                rx_bytes: s.rx.rx_bytes,
                rx_errors: s.rx.rx_errors(),
                rx_length_errors: s.rx.rx_length_errors,
                rx_over_errors: s.rx.rx_over_errors,
                rx_crc_errors: s.rx.rx_crc_errors,
                rx_missed_errors: s.rx.rx_missed_errors,
                rx_host_dropped: s.rx_host_dropped + p.dev.host_dropped(),
                rx_no_desc: s.rx_no_desc,
                bring_ups: s.bring_ups,
            });
        }
        snap.timeline.extend(self.timeline.iter().cloned());
    }
}
