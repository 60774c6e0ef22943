//! One emulated host: an [`EmulatedNhi`] with ring 0 started, the
//! [`tblink_proto::Host`] discovery stack, its drivers, and the lane
//! adapters' cables, all driven by one caller (no threads inside).
//!
//! # Event loop
//! [`Runtime::turn`] does everything that can be done now without blocking:
//! link events become `handle_xdomain_connected/disconnected`, ring-0
//! completions become `handle_frame` (hot-plug EVENTs from device routers of
//! our domain are acknowledged; what a plug EVENT names is READ first: a
//! device router answers and is tracked as one, anything silent after
//! four READs is another host and XDomain discovery starts;
//! unplugs drop everything below), due timeouts run, extensions get their turn, and queued
//! frames go onto TX ring 0 while RX ring 0 keeps its buffers posted.
//! [`Runtime::wait`] then sleeps in the controller until a completion, a
//! link event, the next protocol timeout, a readable descriptor of an
//! extension ([`Extension::wait_fds`], e.g. a TAP) or a bound given by the
//! caller, all in one `poll`.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tblink_hostif::cable::{Cable, LinkState, Packet};
use tblink_hostif::{
    DmaBuf, EmulatedNhi, Error as HostIfError, HostInterface, LinkEvent, NhiConfig, PeerKind,
    Rejected, RingConfig, RingId, RingStats, TxFrame, WaitEnd,
};
use tblink_proto::device::{Key, device_name};
use tblink_proto::driver::{DriverId, ServiceDriver};
use tblink_proto::{DiscoveryState, Event, Host, HostConfig, Instant, LocalService, Timing};
use tblink_wire::Pdf;
use tblink_wire::Route;
use tblink_wire::crc::crc32c;
use tblink_wire::ctl::{
    Address, ConfigSpace, FrameBuf, Framed, HotPlugEvent, ReadRequest, ReadResponse,
};
use tblink_wire::uuid::Uuid;
use tblink_wire::xdomain::Seq;

use crate::capture::{CaptureHub, Direction, Tap};
use crate::port::CableSource;
use crate::snapshot::{
    LocalServiceInfo, PortInfo, PortLink, RingInfo, RingsInfo, ServiceInfo, Snapshot, StackInfo,
    TimelineEntry, XDomainInfo,
};

/// Ring 0 size (spec 05 §14): 10 descriptors, so 9 outstanding.
const CTL_RING: u16 = 10;
/// Frames taken from the stack ahead of ring 0.
const TX_BACKLOG: usize = 64;

/// Errors of the host runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The emulated controller refused a ring or adapter operation.
    #[error("host controller: {0}")]
    HostIf(#[from] HostIfError),
    /// The discovery stack refused a driver or service.
    #[error("discovery stack: {0:?}")]
    Proto(tblink_proto::ProtoError),
    /// No lane adapter with this number.
    #[error("no port {0} (adapters: {1})")]
    NoSuchPort(u8, String),
    /// A port with this adapter number exists already.
    #[error("adapter {0} is already in use")]
    PortTaken(u8),
    /// Adapter numbers are 1..=63.
    #[error("adapter number {0} out of range 1..=63")]
    BadAdapter(u8),
    /// The port's cable is already in / already out.
    #[error("port {0} is already {1}")]
    AlreadyThere(u8, &'static str),
    /// The cable could not be opened.
    #[error("port {0}: {1}")]
    Cable(u8, String),
}

impl From<tblink_proto::ProtoError> for RuntimeError {
    fn from(e: tblink_proto::ProtoError) -> Self {
        RuntimeError::Proto(e)
    }
}

/// Identity and parameters of one host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Host name, published as the root `deviceid` text.
    pub name: String,
    /// Domain UUID.
    pub uuid: Uuid,
    /// Controller parameters.
    pub nhi: NhiConfig,
    /// Discovery timing.
    pub timing: Timing,
    /// Seed of the initial property-block generation.
    pub seed: u64,
}

impl HostOptions {
    /// Options for a host called `name`, with the UUID derived from the name
    /// ([`uuid_from_name`]) so that a restarted host keeps its identity.
    pub fn new(name: &str) -> Self {
        let uuid = uuid_from_name(name);
        HostOptions {
            name: name.to_string(),
            uuid,
            nhi: NhiConfig::default(),
            timing: Timing::default(),
            seed: uuid.as_u128() as u64 ^ std::process::id() as u64,
        }
    }
}

/// A stable UUID for a host name: two FNV-1a passes over the name, mixed,
/// with the version nibble set to 8 (custom, RFC 9562) and the RFC 4122
/// variant.
pub fn uuid_from_name(name: &str) -> Uuid {
    fn fnv(seed: u64, s: &[u8]) -> u64 {
        let mut h = seed;
        for &b in s {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // SplitMix64 finaliser.
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
    let mut input = b"tblink-host:".to_vec();
    input.extend_from_slice(name.as_bytes());
    let hi = fnv(0xcbf2_9ce4_8422_2325, &input);
    let lo = fnv(0x6c62_272e_07bb_0142, &input);
    let mut v = (u128::from(hi) << 64) | u128::from(lo);
    v = (v & !(0xf << 76)) | (0x8 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    Uuid::from_u128(v)
}

/// A component that needs the controller itself (rings, paths), e.g. a
/// data-path driver working alongside its [`ServiceDriver`]. It runs in the
/// event loop after the stack on every turn.
pub trait Extension: fmt::Debug {
    /// Name shown in logs.
    fn name(&self) -> &str;
    /// Do what can be done now; return whether anything happened.
    fn poll(&mut self, nhi: &mut dyn HostInterface, host: &mut Host, now: Instant) -> bool;
    /// When [`Extension::poll`] must run again at the latest.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Descriptors whose readability needs a turn of the loop (e.g. TAP
    /// devices with frames to send); [`Runtime::wait`] wakes on them.
    fn wait_fds(&self) -> Vec<BorrowedFd<'_>> {
        Vec::new()
    }
    /// The loop slept and woke. `readable`: one of the descriptors of
    /// [`Extension::wait_fds`] (or of the caller's) may be readable; when
    /// `false` none of them was, so reading them can wait for the next
    /// wake-up that says so.
    fn woken(&mut self, _readable: bool) {}
    /// Add what this component shows to `tblink ls`.
    fn describe(&self, _snap: &mut Snapshot) {}
}

/// Least time between two wake-ups of [`Runtime::wait`] by extension
/// descriptors (see there).
const FD_THROTTLE: Duration = Duration::from_micros(100);
/// Descriptor wake-ups closer together than this are a stream, which
/// [`FD_THROTTLE`] moderates.
const FD_STREAK: Duration = Duration::from_micros(400);
/// READ requests sent to whatever a hot-plug EVENT reports before it is
/// taken for another host (no answer) rather than a router (spec 04 §6).
const PROBE_ATTEMPTS: u8 = 8;
/// How long each of those READs waits for its answer at most (less if the
/// stack's request timeout is shorter). A router's config space answers
/// within a control round trip; the emulated controller, like a host
/// router of another domain, leaves the READ unanswered, so a host
/// behind device routers is recognised after `PROBE_ATTEMPTS` ×
/// `PROBE_TIMEOUT` (800 ms). More, shorter attempts also make it less
/// likely that a lossy link makes a router look like a host.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// A plugged adapter of a router of our domain whose far side is not known
/// yet: a router answers the READ of its config space, another host's
/// router does not.
#[derive(Debug, Clone, Copy)]
struct Probe {
    route: Route,
    deadline: Instant,
    attempts: u8,
}

/// Timeline entries kept.
const TIMELINE: usize = 256;

/// Checks the CRC of every control packet a cable delivers and drops the
/// ones that fail before the controller sees them, counting them per host
/// (`cable_crc_drops` in `tblink ls`) so a damaged cable shows up apart
/// from a misbehaving peer. (The controller's route rewrite keeps a
/// damaged packet detectably damaged, so the discovery stack would drop it
/// too; this only moves the drop earlier and names its cause.)
#[derive(Debug)]
///
/// It also holds the port's capture [`Tap`]: every control packet and
/// data frame sent or received on the port passes here (see
/// [`crate::capture`]).
struct CrcChecked {
    inner: Box<dyn Cable>,
    drops: Arc<AtomicU64>,
    tap: Tap,
}

impl CrcChecked {
    /// Show a packet the inner cable took to the capture tap.
    fn tapped(&self, sent: bool, pkt: &Packet<'_>) -> bool {
        if sent {
            self.tap.packet(Direction::Tx, pkt);
        }
        sent
    }
}

fn control_crc_ok(pdf: Pdf, bytes: &[u8]) -> bool {
    let n = bytes.len();
    if !pdf.crc_checked() || n < 8 || !n.is_multiple_of(4) {
        return true;
    }
    let want = u32::from_be_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
    crc32c(&bytes[..n - 4]) == want
}

impl Cable for CrcChecked {
    fn poll_link(&mut self) -> LinkState {
        self.inner.poll_link()
    }
    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        let sent = self.inner.try_send(pkt);
        self.tapped(sent, pkt)
    }
    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        let sent = self.inner.try_send_quiet(pkt);
        self.tapped(sent, pkt)
    }
    fn flush(&mut self) {
        self.inner.flush()
    }
    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        let (drops, tap) = (&self.drops, &self.tap);
        self.inner.recv(max, &mut |p| match p {
            Packet::Control { pdf, bytes } if !control_crc_ok(pdf, bytes) => {
                tap.packet(Direction::Rx, &p);
                drops.fetch_add(1, Ordering::Relaxed);
                true
            }
            p => {
                let taken = f(p);
                if taken {
                    tap.packet(Direction::Rx, &p);
                }
                taken
            }
        })
    }
    fn prepare_wait(&mut self, want_send: bool) -> bool {
        self.inner.prepare_wait(want_send)
    }
    fn finish_wait(&mut self, ready: &[bool]) {
        self.inner.finish_wait(ready)
    }
    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        self.inner.wait_fd(i)
    }
    fn next_timer(&self) -> Option<std::time::Instant> {
        self.inner.next_timer()
    }
}

#[derive(Debug)]
struct Port {
    adapter: u8,
    source: Box<dyn CableSource>,
    plugged: bool,
    peer: Option<(PeerKind, Route)>,
    error: Option<String>,
}

/// One emulated host (see the module docs).
#[derive(Debug)]
pub struct Runtime {
    name: String,
    nhi: EmulatedNhi,
    host: Host,
    epoch: std::time::Instant,
    ports: Vec<Port>,
    txq: VecDeque<FrameBuf>,
    spare: Vec<DmaBuf>,
    drivers: Vec<String>,
    extensions: Vec<Box<dyn Extension>>,
    hotplug_events: u64,
    crc_drops: Arc<AtomicU64>,
    /// Where the ports' capture taps publish.
    capture: Arc<CaptureHub>,
    /// Local services published on behalf of a driver: (key, driver index).
    published: Vec<(String, usize)>,
    timeline: VecDeque<TimelineEntry>,
    /// Device routers of our domain (routes), first hop and deeper.
    routers: Vec<Route>,
    /// Adapters behind a hot-plug EVENT being told apart (router or host).
    probes: Vec<Probe>,
    /// Last time an extension descriptor ended a wait.
    fd_wake: std::time::Instant,
    /// That wake-up came less than [`FD_STREAK`] after the one before: the
    /// descriptors carry a stream, so the next wake-up is moderated.
    fd_streak: bool,
}

fn kind_name(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Host => "host",
        PeerKind::Router => "router",
        PeerKind::ForeignRouter => "foreign_router",
    }
}

fn state_name(s: DiscoveryState) -> &'static str {
    match s {
        DiscoveryState::Uuid => "uuid",
        DiscoveryState::Properties => "properties",
        DiscoveryState::Enumerated => "enumerated",
        DiscoveryState::Error => "error",
    }
}

fn ring_info(s: Option<RingStats>) -> RingInfo {
    let s = s.unwrap_or_default();
    RingInfo {
        frames: s.frames,
        bytes: s.bytes,
        dropped_no_desc: s.dropped_no_desc,
        dropped_no_path: s.dropped_no_path,
    }
}

impl Runtime {
    /// A host with ring 0 running and no ports.
    pub fn new(opts: HostOptions) -> Result<Self, RuntimeError> {
        let cfg = HostConfig {
            uuid: opts.uuid,
            host_name: opts.name.clone(),
            max_hop_id: u32::from(opts.nhi.max_in_hopid),
            timing: opts.timing,
            seed: opts.seed,
            ..HostConfig::default()
        };
        let mut nhi = EmulatedNhi::new(opts.nhi);
        let tx = nhi.alloc_ring(RingConfig::control(tblink_hostif::Dir::Tx))?;
        let rx = nhi.alloc_ring(RingConfig::control(tblink_hostif::Dir::Rx))?;
        nhi.start_ring(tx)?;
        nhi.start_ring(rx)?;
        for _ in 1..CTL_RING {
            nhi.post_rx(0, DmaBuf::new()).map_err(|r| r.error)?;
        }
        Ok(Runtime {
            name: opts.name,
            nhi,
            host: Host::new(cfg),
            epoch: std::time::Instant::now(),
            ports: Vec::new(),
            txq: VecDeque::new(),
            spare: Vec::new(),
            drivers: Vec::new(),
            extensions: Vec::new(),
            hotplug_events: 0,
            crc_drops: Arc::new(AtomicU64::new(0)),
            capture: Arc::new(CaptureHub::default()),
            published: Vec::new(),
            timeline: VecDeque::new(),
            routers: Vec::new(),
            probes: Vec::new(),
            fd_wake: std::time::Instant::now(),
            fd_streak: false,
        })
    }

    /// Host name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The discovery stack.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The discovery stack, mutably (drain nothing from it: the loop does).
    pub fn host_mut(&mut self) -> &mut Host {
        &mut self.host
    }

    /// The capture hub every port's cable is tapped into (see
    /// [`crate::capture`]).
    pub fn capture_hub(&self) -> Arc<CaptureHub> {
        self.capture.clone()
    }

    /// The emulated controller.
    pub fn nhi(&self) -> &EmulatedNhi {
        &self.nhi
    }

    /// The current time on the stack's clock (monotonic, from start).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Register a service driver and publish the local services it serves
    /// (e.g. [`tblink_proto::example::EchoDriver`] with its `echo` service).
    pub fn register_driver(
        &mut self,
        driver: Box<dyn ServiceDriver>,
        publish: Vec<LocalService>,
    ) -> Result<DriverId, RuntimeError> {
        let name = driver.name().to_string();
        let id = self.host.register_driver(driver)?;
        self.drivers.push(name);
        let now = self.now();
        for s in publish {
            let key = s.key.escaped();
            self.host.add_local_service(now, s)?;
            self.published.push((key, self.drivers.len() - 1));
        }
        self.host.reprobe(now);
        Ok(id)
    }

    /// Add a component that drives the controller itself.
    pub fn add_extension(&mut self, ext: Box<dyn Extension>) {
        self.extensions.push(ext);
    }

    /// Add lane adapter `adapter` and plug a cable from `source` into it. A
    /// cable that cannot be opened leaves the port unplugged (shown with
    /// the reason); `plug` tries again.
    pub fn add_port(
        &mut self,
        adapter: u8,
        source: Box<dyn CableSource>,
    ) -> Result<(), RuntimeError> {
        if adapter == 0 || adapter > 63 {
            return Err(RuntimeError::BadAdapter(adapter));
        }
        if self.ports.iter().any(|p| p.adapter == adapter) {
            return Err(RuntimeError::PortTaken(adapter));
        }
        self.ports.push(Port {
            adapter,
            source,
            plugged: false,
            peer: None,
            error: None,
        });
        if let Err(e) = self.plug(adapter) {
            tracing::warn!(adapter, "{e}");
        }
        Ok(())
    }

    fn port_idx(&self, adapter: u8) -> Result<usize, RuntimeError> {
        self.ports
            .iter()
            .position(|p| p.adapter == adapter)
            .ok_or_else(|| {
                let list: Vec<String> = self.ports.iter().map(|p| p.adapter.to_string()).collect();
                RuntimeError::NoSuchPort(adapter, list.join(", "))
            })
    }

    /// Plug a fresh cable from the port's source into it.
    pub fn plug(&mut self, adapter: u8) -> Result<(), RuntimeError> {
        let i = self.port_idx(adapter)?;
        let p = &mut self.ports[i];
        if p.plugged {
            return Err(RuntimeError::AlreadyThere(adapter, "plugged"));
        }
        let cable = match p.source.open() {
            Ok(c) => c,
            Err(e) => {
                p.error = Some(e.clone());
                return Err(RuntimeError::Cable(adapter, e));
            }
        };
        p.error = None;
        self.attach(i, cable)
    }

    /// Plug `cable` into the port (in-process fabrics).
    pub fn plug_cable(
        &mut self,
        adapter: u8,
        cable: impl Cable + 'static,
    ) -> Result<(), RuntimeError> {
        let i = self.port_idx(adapter)?;
        if self.ports[i].plugged {
            return Err(RuntimeError::AlreadyThere(adapter, "plugged"));
        }
        self.attach(i, Box::new(cable))
    }

    fn attach(&mut self, i: usize, cable: Box<dyn Cable>) -> Result<(), RuntimeError> {
        let p = &mut self.ports[i];
        let cable = CrcChecked {
            inner: cable,
            drops: self.crc_drops.clone(),
            tap: Tap::new(self.capture.clone(), p.adapter),
        };
        self.nhi.attach(p.adapter, cable)?;
        p.plugged = true;
        tracing::info!(adapter = p.adapter, cable = %p.source.describe(), "port plugged");
        Ok(())
    }

    /// Pull the port's cable: the cable end is closed, so the peer sees
    /// its link go down; our side sees a link-down event.
    pub fn unplug(&mut self, adapter: u8) -> Result<(), RuntimeError> {
        let i = self.port_idx(adapter)?;
        if !self.ports[i].plugged {
            return Err(RuntimeError::AlreadyThere(adapter, "unplugged"));
        }
        drop(self.nhi.detach(adapter));
        self.ports[i].plugged = false;
        tracing::info!(adapter, "port unplugged");
        // The link-down event is queued in the controller: handle it now.
        self.turn();
        Ok(())
    }

    /// Unplug every port (shutdown: peers see the cable ends go away).
    pub fn unplug_all(&mut self) {
        let plugged: Vec<u8> = self
            .ports
            .iter()
            .filter(|p| p.plugged)
            .map(|p| p.adapter)
            .collect();
        for a in plugged {
            let _ = self.unplug(a);
        }
    }

    /// Do everything that can be done now; returns whether anything happened.
    pub fn turn(&mut self) -> bool {
        let mut busy = false;
        for _ in 0..16 {
            let now = self.now();
            let mut progress = false;
            while let Some(ev) = self.nhi.poll_event() {
                self.link_event(now, ev);
                progress = true;
            }
            while self.nhi.poll_interrupt().is_some() {}
            while let Some(c) = self.nhi.poll_rx(0) {
                progress = true;
                match c.control_frame() {
                    Ok(f) => self.control_frame(now, &f),
                    Err(e) => tracing::debug!("malformed ring-0 frame: {e}"),
                }
                if let Err(r) = self.nhi.post_rx(0, c.buf) {
                    tracing::warn!("cannot repost ring-0 RX buffer: {}", r.error);
                    self.spare.push(r.item);
                }
            }
            while let Some(c) = self.nhi.poll_tx(0) {
                self.spare.push(c.buf);
            }
            if self.host.poll_timeout().is_some_and(|t| t <= now) {
                self.host.handle_timeout(now);
                progress = true;
            }
            progress |= self.poll_probes(now);
            for ext in &mut self.extensions {
                progress |= ext.poll(&mut self.nhi, &mut self.host, now);
            }
            progress |= self.flush_tx();
            while let Some(e) = self.host.poll_event() {
                self.log_event(&e);
                match &e {
                    Event::UuidLearned { route, .. } => self.record("uuid", Some(*route)),
                    Event::Connected { route, .. } => self.record("properties", Some(*route)),
                    Event::Disconnected { route, .. } => self.record("disconnected", Some(*route)),
                    _ => {}
                }
                progress = true;
            }
            busy |= progress;
            if !progress {
                break;
            }
        }
        self.nhi.process();
        busy
    }

    /// Sleep in the controller until something is ready, the next timeout,
    /// or `max`.
    pub fn wait(&mut self, max: Duration) {
        self.wait_with(max, &[]);
    }

    /// [`Runtime::wait`] that also ends when one of `wake` is readable: the
    /// read end of a self-pipe other threads write to when they hand the
    /// loop work (the caller empties it). Unlike the extensions'
    /// descriptors, `wake` is never held back by the moderation below.
    pub fn wait_with(&mut self, max: Duration, wake: &[BorrowedFd<'_>]) {
        let now = self.now();
        let mut d = max;
        let ext = self.extensions.iter().filter_map(|e| e.poll_timeout());
        let probes = self.probes.iter().map(|p| p.deadline);
        if let Some(t) = self
            .host
            .poll_timeout()
            .into_iter()
            .chain(ext)
            .chain(probes)
            .min()
        {
            d = d.min(t.saturating_duration_since(now));
        }
        if !self.txq.is_empty() {
            d = d.min(Duration::from_millis(1));
        }
        if d.is_zero() {
            return;
        }
        // One poll covers the controller's cables, the extensions'
        // descriptors and `wake`: no periodic wake-ups while idle.
        let mut fds: Vec<BorrowedFd<'_>> = wake.to_vec();
        fds.extend(self.extensions.iter().flat_map(|e| e.wait_fds()));
        if fds.len() > wake.len() && self.fd_streak {
            // Moderation, like the controller's interrupt throttling (spec
            // 05 §10): while descriptors wake the loop in quick succession,
            // the next such wake-up comes FD_THROTTLE after the last at the
            // earliest, so a stream of small frames is read in batches
            // instead of one wake-up each. A lone frame (a ping, a
            // request) is not held back and costs no timer wake-up. Cable
            // and ring events (and `wake`) still wake at once.
            let since = self.fd_wake.elapsed();
            if since < FD_THROTTLE {
                self.nhi.wait_with(d.min(FD_THROTTLE - since), wake);
                // The descriptors were not watched: anything may be there.
                drop(fds);
                self.wake_extensions(true);
                return;
            }
        }
        let end = self.nhi.wait_for(d, &fds);
        drop(fds);
        if end == WaitEnd::Extra {
            let now = std::time::Instant::now();
            // A moderated stream wakes about FD_THROTTLE apart: still a
            // stream. Lone frames (a ping every few ms) are not.
            self.fd_streak = now.duration_since(self.fd_wake) < FD_STREAK;
            self.fd_wake = now;
        }
        // Unless the poll said the descriptors are quiet, they may hold
        // something.
        self.wake_extensions(end != WaitEnd::Quiet);
    }

    fn wake_extensions(&mut self, readable: bool) {
        for e in &mut self.extensions {
            e.woken(readable);
        }
    }

    /// Record an event in the timeline `tblink ls --json` shows.
    pub fn record(&mut self, event: &str, route: Option<Route>) {
        let t_ms = self.epoch.elapsed().as_secs_f64() * 1000.0;
        push_timeline(&mut self.timeline, t_ms, event, route);
    }

    /// Move frames from the stack onto TX ring 0 while it has room.
    fn flush_tx(&mut self) -> bool {
        let mut moved = false;
        loop {
            while self.txq.len() < TX_BACKLOG {
                match self.host.poll_transmit() {
                    Some(f) => self.txq.push_back(f),
                    None => break,
                }
            }
            let Some(f) = self.txq.pop_front() else {
                return moved;
            };
            let buf = self.spare.pop().unwrap_or_default();
            match self.nhi.post_tx(0, TxFrame::control(buf, &f)) {
                Ok(()) => moved = true,
                Err(Rejected {
                    error: HostIfError::RingFull,
                    item,
                }) => {
                    self.spare.push(item.buf);
                    self.txq.push_front(f);
                    return moved;
                }
                Err(Rejected { error, item }) => {
                    tracing::warn!("ring-0 frame dropped: {error}");
                    self.spare.push(item.buf);
                }
            }
        }
    }

    fn link_event(&mut self, now: Instant, ev: LinkEvent) {
        match ev {
            LinkEvent::Up {
                adapter,
                route,
                peer,
            } => {
                if let Some(p) = self.ports.iter_mut().find(|p| p.adapter == adapter) {
                    p.peer = Some((peer, route));
                }
                tracing::info!(adapter, route = %route, peer = kind_name(peer), "link up");
                self.record("link_up", Some(route));
                match peer {
                    PeerKind::Host | PeerKind::ForeignRouter => {
                        if let Err(e) = self.host.handle_xdomain_connected(now, route) {
                            tracing::warn!(route = %route, "cannot start discovery: {e:?}");
                        }
                    }
                    // A device router of our domain: XDomains behind it are
                    // reported by its hot-plug EVENTs.
                    PeerKind::Router => {
                        if !self.routers.contains(&route) {
                            self.routers.push(route);
                        }
                    }
                }
            }
            LinkEvent::Down { adapter, route } => {
                if let Some(p) = self.ports.iter_mut().find(|p| p.adapter == adapter) {
                    p.peer = None;
                }
                tracing::info!(adapter, route = %route, "link down");
                self.record("link_down", Some(route));
                let gone: Vec<Route> = self
                    .host
                    .peer_routes()
                    .filter(|r| r.port(0) == Some(adapter))
                    .collect();
                for r in gone {
                    self.host.handle_xdomain_disconnected(now, r);
                }
                self.routers.retain(|r| r.port(0) != Some(adapter));
                self.probes.retain(|p| p.route.port(0) != Some(adapter));
            }
        }
    }

    /// Send the READ of router config space dword 0 to `route`.
    fn send_probe(&mut self, route: Route) {
        let req = ReadRequest {
            route,
            addr: Address {
                offset: 0,
                length: 1,
                port: 0,
                space: ConfigSpace::Switch,
                seq: Seq::new(0),
            },
        };
        match req.to_frame() {
            Ok(f) => self.txq.push_back(f),
            Err(e) => tracing::warn!(route = %route, "cannot build READ: {e}"),
        }
    }

    /// Start telling apart what a plug EVENT reported at `route`.
    fn start_probe(&mut self, now: Instant, route: Route) {
        if self.routers.contains(&route) || self.probes.iter().any(|p| p.route == route) {
            return;
        }
        self.send_probe(route);
        self.probes.push(Probe {
            route,
            deadline: now + self.probe_timeout(),
            attempts: 1,
        });
    }

    fn probe_timeout(&self) -> Duration {
        self.host.config().timing.request_timeout.min(PROBE_TIMEOUT)
    }

    /// Resend due READs; a route that never answered is another host:
    /// start XDomain discovery there. Returns whether anything happened.
    fn poll_probes(&mut self, now: Instant) -> bool {
        let due: Vec<Probe> = self
            .probes
            .iter()
            .filter(|p| p.deadline <= now)
            .copied()
            .collect();
        if due.is_empty() {
            return false;
        }
        let timeout = self.probe_timeout();
        for d in due {
            if d.attempts < PROBE_ATTEMPTS {
                self.send_probe(d.route);
                if let Some(p) = self.probes.iter_mut().find(|p| p.route == d.route) {
                    p.attempts += 1;
                    p.deadline = now + timeout;
                }
                continue;
            }
            self.probes.retain(|p| p.route != d.route);
            tracing::info!(route = %d.route, "no router answers: XDomain");
            if let Err(e) = self.host.handle_xdomain_connected(now, d.route) {
                tracing::warn!(route = %d.route, "cannot start discovery: {e:?}");
            }
        }
        true
    }

    /// A READ response: the probed route is a router of our domain.
    fn read_response(&mut self, f: &FrameBuf) {
        let Ok(resp) = ReadResponse::from_frame(f) else {
            tracing::debug!("malformed READ response");
            return;
        };
        let Some(i) = self.probes.iter().position(|p| p.route == resp.route) else {
            return;
        };
        self.probes.swap_remove(i);
        tracing::info!(route = %resp.route, "device router");
        self.routers.push(resp.route);
        self.record("router", Some(resp.route));
    }

    fn control_frame(&mut self, now: Instant, f: &FrameBuf) {
        if f.pdf() == Pdf::READ {
            self.read_response(f);
            return;
        }
        if f.pdf() != Pdf::EVENT {
            self.host.handle_frame(now, f);
            return;
        }
        let Ok(ev) = HotPlugEvent::from_frame(f) else {
            tracing::debug!("malformed hot-plug EVENT");
            return;
        };
        self.hotplug_events += 1;
        // Acknowledge first, as Linux does (spec 01 §6.3).
        if let Ok(ack) = ev.ack().to_frame() {
            self.txq.push_back(ack);
        }
        let router = ev.route.without_cm();
        // A router of our domain: reached through a first-hop device
        // router. Each router's EVENTs are taken on their own: one may
        // arrive before the READ that recognises its sender is answered.
        let ours = router.port(0).is_some_and(|a| {
            self.ports
                .iter()
                .any(|p| p.adapter == a && matches!(p.peer, Some((PeerKind::Router, _))))
        });
        let Some(route) = router.push(ev.port).filter(|_| ours) else {
            tracing::debug!(router = %router, port = ev.port, "hot-plug EVENT from an unknown router");
            return;
        };
        tracing::info!(route = %route, unplug = ev.unplug, "hot-plug EVENT");
        if ev.unplug {
            let gone: Vec<Route> = self
                .host
                .peer_routes()
                .filter(|r| is_below(*r, route))
                .collect();
            for r in gone {
                self.host.handle_xdomain_disconnected(now, r);
            }
            self.routers.retain(|r| !is_below(*r, route));
            self.probes.retain(|p| !is_below(p.route, route));
        } else {
            // Another host's router or a device router of our domain: only
            // a router answers a config READ (spec 04 §6).
            self.start_probe(now, route);
        }
    }

    fn driver_name(&self, id: DriverId) -> String {
        self.drivers
            .get(usize::from(id.0))
            .cloned()
            .unwrap_or_else(|| format!("driver{}", id.0))
    }

    fn log_event(&self, e: &Event) {
        match e {
            Event::Plugged { route } => tracing::debug!(route = %route, "discovery started"),
            Event::UuidLearned { route, uuid } => {
                tracing::debug!(route = %route, uuid = %uuid, "peer UUID learned")
            }
            Event::Connected {
                route, name, uuid, ..
            } => {
                let host = self
                    .host
                    .xdomain(*route)
                    .and_then(|x| x.device_name.clone())
                    .unwrap_or_default();
                tracing::info!(device = %name, peer = %host, uuid = %uuid, "XDomain connected");
            }
            Event::Changed { route, generation } => {
                tracing::info!(route = %route, generation, "XDomain properties changed")
            }
            Event::Disconnected { name, reason, .. } => {
                tracing::info!(device = %name, ?reason, "XDomain disconnected")
            }
            Event::ServiceAdded { name, modalias, .. } => {
                tracing::info!(service = %name, %modalias, "service added")
            }
            Event::ServiceRemoved { name, .. } => {
                tracing::info!(service = %name, "service removed")
            }
            Event::DriverBound {
                service, driver, ..
            } => {
                tracing::info!(service = %service, driver = %self.driver_name(*driver), "driver bound")
            }
            Event::DriverUnbound {
                service, driver, ..
            } => {
                tracing::info!(service = %service, driver = %self.driver_name(*driver), "driver unbound")
            }
            Event::DriverProbeFailed {
                service,
                driver,
                reason,
                ..
            } => {
                tracing::warn!(service = %service, driver = %self.driver_name(*driver), %reason, "probe failed")
            }
            Event::DiscoveryFailed { route, error } => {
                tracing::warn!(route = %route, "discovery failed: {error:?}")
            }
            Event::NotifyFailed { route, error } => {
                tracing::warn!(route = %route, "PROPERTIES_CHANGED not acknowledged: {error:?}")
            }
            Event::LocalGenerationChanged { generation } => {
                tracing::debug!(generation, "local properties changed")
            }
            Event::DriverNotice {
                driver,
                route,
                code,
            } => {
                tracing::debug!(driver = %self.driver_name(*driver), route = %route, code, "driver notice")
            }
            other => tracing::debug!("{other:?}"),
        }
    }

    /// What `tblink ls` shows.
    pub fn snapshot(&self) -> Snapshot {
        let h = &self.host;
        let local_services = h
            .local_services()
            .map(|s| {
                let key = s.key.escaped();
                let by_us = self.published.iter().find(|(k, _)| *k == key);
                let driver = h
                    .local_service_owner(&s.key)
                    .map(|d| self.driver_name(d))
                    .or_else(|| by_us.and_then(|(_, i)| self.drivers.get(*i).cloned()));
                LocalServiceInfo { key, driver }
            })
            .collect();
        let ports = self
            .ports
            .iter()
            .map(|p| self.port_info(p))
            .collect::<Vec<_>>();
        let st = h.stats();
        let mut snap = Snapshot {
            name: self.name.clone(),
            uuid: h.uuid().to_string(),
            generation: h.generation(),
            pid: std::process::id(),
            uptime_s: self.epoch.elapsed().as_secs_f64(),
            local_services,
            drivers: self.drivers.clone(),
            ports,
            rings: RingsInfo {
                tx0: ring_info(self.nhi.stats(RingId::CTL_TX)),
                rx0: ring_info(self.nhi.stats(RingId::CTL_RX)),
            },
            stack: StackInfo {
                frames_sent: st.frames_sent,
                frames_received: st.frames_received,
                crc_errors: st.crc_errors,
                retransmits: st.retransmits,
                failed_attempts: st.failed_attempts,
                requests_answered: st.requests_answered,
                hotplug_events: self.hotplug_events,
                cable_crc_drops: self.crc_drops.load(Ordering::Relaxed),
            },
            net: Vec::new(),
            timeline: self.timeline.iter().cloned().collect(),
        };
        for e in &self.extensions {
            e.describe(&mut snap);
        }
        snap.timeline.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        snap
    }

    fn port_info(&self, p: &Port) -> PortInfo {
        let h = &self.host;
        let mut routes: Vec<Route> = h
            .peer_routes()
            .filter(|r| r.port(0) == Some(p.adapter))
            .collect();
        routes.sort();
        let xdomains = routes
            .into_iter()
            .map(|r| {
                let dev = h.xdomain(r);
                let services = dev
                    .map(|x| {
                        x.services
                            .iter()
                            .map(|s| ServiceInfo {
                                device: s.name.clone(),
                                key: s.key.escaped(),
                                prtcid: s.identity.prtcid,
                                prtcvers: s.identity.prtcvers,
                                prtcrevs: s.identity.prtcrevs,
                                prtcstns: s.prtcstns_string(),
                                modalias: s.modalias(),
                                driver: h
                                    .bound_driver(r, s.key.as_bytes())
                                    .map(|d| self.driver_name(d)),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                XDomainInfo {
                    device: dev
                        .map(|x| x.name.clone())
                        .unwrap_or_else(|| device_name(h.config().domain, r)),
                    route: r.to_string(),
                    state: h
                        .discovery_state(r)
                        .map(state_name)
                        .unwrap_or("unknown")
                        .to_string(),
                    uuid: h.peer_uuid(r).map(|u| u.to_string()),
                    host_name: dev.and_then(|x| x.device_name.clone()),
                    vendor: dev.map(|x| x.vendor),
                    vendor_name: dev.and_then(|x| x.vendor_name.clone()),
                    maxhopid: dev.map(|x| x.maxhopid),
                    generation: dev.map(|x| x.generation),
                    services,
                }
            })
            .collect();
        PortInfo {
            adapter: p.adapter,
            cable: p.source.describe(),
            link: match (p.plugged, p.peer) {
                (false, _) => PortLink::Unplugged,
                (true, None) => PortLink::Down,
                (true, Some(_)) => PortLink::Up,
            },
            peer_kind: p.peer.map(|(k, _)| kind_name(k).to_string()),
            peer_route: p.peer.map(|(_, r)| r.to_string()),
            error: p.error.clone(),
            xdomains,
        }
    }

    /// Whether the service `key` of the XDomain at `route` has a driver bound.
    pub fn is_bound(&self, route: Route, key: &str) -> bool {
        Key::new(key.as_bytes())
            .is_some_and(|k| self.host.bound_driver(route, k.as_bytes()).is_some())
    }
}

/// Append to a bounded timeline.
pub fn push_timeline(
    timeline: &mut VecDeque<TimelineEntry>,
    t_ms: f64,
    event: &str,
    route: Option<Route>,
) {
    if timeline.len() >= TIMELINE {
        timeline.pop_front();
    }
    timeline.push_back(TimelineEntry {
        t_ms,
        event: event.to_string(),
        route: route.map(|r| r.to_string()),
    });
}

/// Whether `r` is `top` or lies below it.
fn is_below(r: Route, top: Route) -> bool {
    let d = top.depth();
    r.depth() >= d && (0..d).all(|l| r.port(l) == top.port(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_stable_and_distinct() {
        let a = uuid_from_name("alice");
        assert_eq!(a, uuid_from_name("alice"));
        assert_ne!(a, uuid_from_name("bob"));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.as_bytes()[8] >> 6, 0b10);
    }

    #[test]
    fn routes_below() {
        let r = Route::from_raw(0x301);
        assert!(is_below(r, Route::from_raw(1)));
        assert!(is_below(r, r));
        assert!(!is_below(Route::from_raw(0x303), r));
        assert!(!is_below(Route::from_raw(3), Route::from_raw(1)));
    }
}
