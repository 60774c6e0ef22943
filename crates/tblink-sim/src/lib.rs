//! A deterministic simulator of Thunderbolt/USB4 fabrics for
//! [`tblink_proto::Host`].
//!
//! The fabric is a set of nodes — hosts (each a `Host`: host router +
//! ring 0) and device routers — joined by cables between adapter ports.
//! A device router belongs to the domain of the host above its upstream
//! port (port [`ROUTER_UPSTREAM`]). A cable whose two ends are in different
//! domains is an inter-domain link: each side sees the other as an XDomain
//! at its own route to the adapter facing the peer.
//!
//! A frame a host transmits is routed hop by hop (spec 01 §4): each route
//! byte names the adapter to leave the current router by; every hop but
//! the last must lead down into a router of the sender's own domain, the
//! last must cross into another domain. Frames with a bad route are
//! dropped and counted. On delivery DW0/DW1 are rewritten to the
//! receiver's own route to its ingress adapter, with the CM bit set, and
//! the CRC is recomputed so that a frame corrupted in flight stays
//! corrupted (the CRC error is carried over).
//!
//! Time is a manual clock: [`Sim::step`] jumps to the next frame delivery
//! or host timeout. Faults (drop, corrupt, duplicate, delay/reorder) are
//! drawn from a seeded generator per cable direction, so a run is a pure
//! function of its seed and inputs. The API follows quinn's test `Pair`:
//! [`Sim::step`], [`Sim::run_until`], per-host event logs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use tblink_proto::device::Key;
use tblink_proto::{Duration, Event, Host, HostConfig, Instant};
use tblink_wire::Route;
use tblink_wire::crc::crc32c;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::Uuid;

pub mod fuzzing;
mod rng;
pub mod scenario;

pub use rng::Rng;

/// Adapter number of every device router's upstream port.
pub const ROUTER_UPSTREAM: u8 = 1;

/// A node of the fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// A cable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CableId(pub usize);

/// Faults of one direction of a cable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability that a frame is lost.
    pub drop: f64,
    /// Probability that 1–3 bytes of a frame are flipped.
    pub corrupt: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Extra delay drawn uniformly from `0..=jitter` (reorders frames).
    pub jitter: Duration,
}

impl Faults {
    /// No faults.
    pub const NONE: Faults = Faults {
        drop: 0.0,
        corrupt: 0.0,
        duplicate: 0.0,
        jitter: Duration::ZERO,
    };
}

/// What a host did, with when.
pub type EventLog = Vec<(Instant, Event)>;

/// Why the fabric dropped a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FabricStats {
    /// Frames handed to the fabric.
    pub sent: u64,
    /// Frames delivered to a host.
    pub delivered: u64,
    /// Dropped: a route byte names no plugged cable, or the route does not
    /// end right after crossing into another domain (spec 01 §4).
    pub bad_route: u64,
    /// Dropped by fault injection.
    pub lost: u64,
    /// Corrupted by fault injection.
    pub corrupted: u64,
    /// Duplicated by fault injection.
    pub duplicated: u64,
    /// Dropped because a cable on the path was unplugged in flight.
    pub unplugged: u64,
}

#[derive(Debug)]
enum NodeKind {
    Host { host: Box<Host>, log: EventLog },
    Router,
}

#[derive(Debug)]
struct Node {
    kind: NodeKind,
    ports: BTreeMap<u8, CableId>,
}

#[derive(Debug, Clone)]
struct Cable {
    ends: [(NodeId, u8); 2],
    faults: [Faults; 2],
    plugged: bool,
}

#[derive(Debug, Clone)]
struct InFlight {
    dest: NodeId,
    frame: FrameBuf,
    path: Vec<CableId>,
}

/// One XDomain connection as each side sees it: (host, its route to the peer).
type Conn = ((NodeId, Route), (NodeId, Route));

/// The simulator.
#[derive(Debug)]
pub struct Sim {
    now: Instant,
    nodes: Vec<Node>,
    cables: Vec<Cable>,
    flights: BTreeMap<(Instant, u64), InFlight>,
    next_flight: u64,
    rng: Rng,
    latency: Duration,
    conns: BTreeSet<Conn>,
    /// Fabric counters.
    pub stats: FabricStats,
    /// When each host saw each connection plugged: (host, route) → instant.
    plugged_at: BTreeMap<(NodeId, Route), Instant>,
    /// When each host first enumerated each peer: (host, route) → instant.
    enumerated_at: BTreeMap<(NodeId, Route), Instant>,
}

impl Sim {
    /// An empty fabric with a seeded generator. Each cable hop takes 1 µs.
    pub fn new(seed: u64) -> Self {
        Sim {
            now: Instant::ZERO,
            nodes: Vec::new(),
            cables: Vec::new(),
            flights: BTreeMap::new(),
            next_flight: 0,
            rng: Rng::new(seed),
            latency: Duration::from_micros(1),
            conns: BTreeSet::new(),
            stats: FabricStats::default(),
            plugged_at: BTreeMap::new(),
            enumerated_at: BTreeMap::new(),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The generator (for scenario decisions that must stay deterministic).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Add a host.
    pub fn add_host(&mut self, cfg: HostConfig) -> NodeId {
        self.nodes.push(Node {
            kind: NodeKind::Host {
                host: Box::new(Host::new(cfg)),
                log: Vec::new(),
            },
            ports: BTreeMap::new(),
        });
        NodeId(self.nodes.len() - 1)
    }

    /// Add a device router (upstream port [`ROUTER_UPSTREAM`]).
    pub fn add_router(&mut self) -> NodeId {
        self.nodes.push(Node {
            kind: NodeKind::Router,
            ports: BTreeMap::new(),
        });
        NodeId(self.nodes.len() - 1)
    }

    /// Every host node, in creation order.
    pub fn hosts(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .map(NodeId)
            .filter(|&n| self.is_host(n))
            .collect()
    }

    fn is_host(&self, n: NodeId) -> bool {
        matches!(
            self.nodes.get(n.0).map(|x| &x.kind),
            Some(NodeKind::Host { .. })
        )
    }

    /// The host at `n`.
    ///
    /// # Panics
    /// If `n` is not a host (a scenario bug).
    #[allow(clippy::panic)]
    pub fn host(&self, n: NodeId) -> &Host {
        match &self.nodes[n.0].kind {
            NodeKind::Host { host, .. } => host,
            NodeKind::Router => panic!("node {n:?} is a router"),
        }
    }

    /// The host at `n`, mutably. Call [`Sim::flush`] (or step) afterwards so
    /// that what it queued is sent.
    ///
    /// # Panics
    /// If `n` is not a host.
    #[allow(clippy::panic)]
    pub fn host_mut(&mut self, n: NodeId) -> &mut Host {
        match &mut self.nodes[n.0].kind {
            NodeKind::Host { host, .. } => host,
            NodeKind::Router => panic!("node {n:?} is a router"),
        }
    }

    /// The event log of host `n`.
    pub fn log(&self, n: NodeId) -> &[(Instant, Event)] {
        match self.nodes.get(n.0).map(|x| &x.kind) {
            Some(NodeKind::Host { log, .. }) => log,
            _ => &[],
        }
    }

    /// Connect two adapter ports with a cable, plugged now.
    ///
    /// # Panics
    /// If a port is 0 or already has a cable (a scenario bug).
    #[allow(clippy::panic)]
    pub fn connect(&mut self, a: (NodeId, u8), b: (NodeId, u8)) -> CableId {
        for (n, p) in [a, b] {
            if p == 0 || p > 63 || self.nodes[n.0].ports.contains_key(&p) {
                panic!("port {p} of {n:?} unusable");
            }
        }
        let id = CableId(self.cables.len());
        self.cables.push(Cable {
            ends: [a, b],
            faults: [Faults::NONE; 2],
            plugged: true,
        });
        self.nodes[a.0.0].ports.insert(a.1, id);
        self.nodes[b.0.0].ports.insert(b.1, id);
        self.update_connections();
        id
    }

    /// Set the faults of both directions of a cable.
    pub fn set_faults(&mut self, c: CableId, f: Faults) {
        self.cables[c.0].faults = [f; 2];
    }

    /// Set the faults of every cable, both directions.
    pub fn set_all_faults(&mut self, f: Faults) {
        for c in &mut self.cables {
            c.faults = [f; 2];
        }
    }

    /// Unplug a cable: frames in flight over it are lost; both sides of
    /// every XDomain connection it carried see a disconnect.
    pub fn unplug(&mut self, c: CableId) {
        self.cables[c.0].plugged = false;
        let before = self.flights.len();
        self.flights.retain(|_, f| !f.path.contains(&c));
        self.stats.unplugged += (before - self.flights.len()) as u64;
        self.update_connections();
    }

    /// Plug an unplugged cable back in.
    pub fn replug(&mut self, c: CableId) {
        self.cables[c.0].plugged = true;
        self.update_connections();
    }

    /// Whether a cable is plugged.
    pub fn is_plugged(&self, c: CableId) -> bool {
        self.cables[c.0].plugged
    }

    /// Number of cables.
    pub fn cable_count(&self) -> usize {
        self.cables.len()
    }

    fn cable_at(&self, n: NodeId, port: u8) -> Option<(CableId, (NodeId, u8))> {
        let c = *self.nodes.get(n.0)?.ports.get(&port)?;
        let cable = &self.cables[c.0];
        if !cable.plugged {
            return None;
        }
        let far = if cable.ends[0] == (n, port) {
            cable.ends[1]
        } else {
            cable.ends[0]
        };
        Some((c, far))
    }

    /// The parent of a router: the node at the far end of its upstream cable.
    fn parent(&self, n: NodeId) -> Option<(NodeId, u8)> {
        if self.is_host(n) {
            return None;
        }
        let (_, far) = self.cable_at(n, ROUTER_UPSTREAM)?;
        // A router's upstream must face a downstream port (not another upstream).
        if !self.is_host(far.0) && far.1 == ROUTER_UPSTREAM {
            return None;
        }
        Some(far)
    }

    /// The host whose domain `n` belongs to, and `n`'s route in it.
    fn domain(&self, n: NodeId) -> Option<(NodeId, Route)> {
        let mut ports = Vec::new();
        let mut cur = n;
        for _ in 0..=tblink_wire::route::MAX_DEPTH {
            if self.is_host(cur) {
                ports.reverse();
                return Some((cur, Route::from_ports(&ports)?));
            }
            let (p, port) = self.parent(cur)?;
            ports.push(port);
            cur = p;
        }
        None
    }

    /// Whether the end `(n, port)` of a cable is a router's upstream side.
    fn is_upstream_end(&self, n: NodeId, port: u8) -> bool {
        !self.is_host(n) && port == ROUTER_UPSTREAM
    }

    fn connections(&self) -> BTreeSet<Conn> {
        let mut set = BTreeSet::new();
        for c in &self.cables {
            if !c.plugged {
                continue;
            }
            let [(na, pa), (nb, pb)] = c.ends;
            if self.is_upstream_end(na, pa) || self.is_upstream_end(nb, pb) {
                continue;
            }
            let (Some((ha, ra)), Some((hb, rb))) = (self.domain(na), self.domain(nb)) else {
                continue;
            };
            if ha == hb {
                continue;
            }
            let (Some(ra), Some(rb)) = (ra.push(pa), rb.push(pb)) else {
                continue;
            };
            set.insert(((ha, ra), (hb, rb)));
        }
        set
    }

    fn update_connections(&mut self) {
        let now = self.now;
        let next = self.connections();
        let gone: Vec<Conn> = self.conns.difference(&next).copied().collect();
        let new: Vec<Conn> = next.difference(&self.conns).copied().collect();
        self.conns = next;
        for ((ha, ra), (hb, rb)) in gone {
            self.host_mut(ha).handle_xdomain_disconnected(now, ra);
            self.host_mut(hb).handle_xdomain_disconnected(now, rb);
            self.enumerated_at.remove(&(ha, ra));
            self.enumerated_at.remove(&(hb, rb));
        }
        for ((ha, ra), (hb, rb)) in new {
            for (h, r) in [(ha, ra), (hb, rb)] {
                self.plugged_at.insert((h, r), now);
                self.enumerated_at.remove(&(h, r));
                // The simulator never exceeds a host's peer limit in its scenarios;
                // a refusal shows up as a missing connection in the checks.
                let _ = self.host_mut(h).handle_xdomain_connected(now, r);
            }
        }
        self.flush();
    }

    /// The XDomain connections of the fabric: ((host, route), (host, route)).
    pub fn xdomain_links(&self) -> Vec<Conn> {
        self.conns.iter().copied().collect()
    }

    /// Walk `route` from host `from` (spec 01 §4) and return the receiving
    /// host, its route to the ingress adapter, and the cables on the path.
    pub fn resolve(&self, from: NodeId, route: Route) -> Option<(NodeId, Route, Vec<CableId>)> {
        let route = route.without_cm();
        if route.depth() == 0 || !route.is_canonical() {
            return None;
        }
        let depth = route.depth();
        let mut node = from;
        let mut path = Vec::new();
        for (level, port) in route.ports().enumerate() {
            let (c, (n2, p2)) = self.cable_at(node, port)?;
            path.push(c);
            let last = level + 1 == usize::from(depth);
            if last {
                if self.is_upstream_end(n2, p2) {
                    return None;
                }
                let (dest, r) = self.domain(n2)?;
                if dest == from {
                    return None;
                }
                return Some((dest, r.push(p2)?, path));
            }
            if !self.is_upstream_end(n2, p2) {
                return None;
            }
            node = n2;
        }
        None
    }

    fn send(&mut self, from: NodeId, frame: FrameBuf) {
        self.stats.sent += 1;
        let b = frame.body();
        let (Some(hi), Some(lo)) = (
            tblink_wire::bytes::be32(b, 0),
            tblink_wire::bytes::be32(b, 4),
        ) else {
            self.stats.bad_route += 1;
            return;
        };
        let Some((dest, ingress, path)) = self.resolve(from, Route::from_dwords(hi, lo)) else {
            self.stats.bad_route += 1;
            return;
        };
        let mut frame = frame;
        let mut delay = Duration::ZERO;
        let mut copies = 1u32;
        for &c in &path {
            let cable = &self.cables[c.0];
            let dir = usize::from(cable.ends[0].0 != from);
            let f = cable.faults[dir];
            delay += self.latency;
            if f.jitter > Duration::ZERO {
                let j = self.rng.below(f.jitter.as_nanos() as u64 + 1);
                delay += Duration::from_nanos(j);
            }
            if self.rng.chance(f.drop) {
                self.stats.lost += 1;
                return;
            }
            if self.rng.chance(f.corrupt) {
                self.stats.corrupted += 1;
                let bytes = frame.as_mut_bytes();
                let n = 1 + self.rng.below(3) as usize;
                for _ in 0..n {
                    let i = self.rng.below(bytes.len() as u64) as usize;
                    let x = 1 + self.rng.below(255) as u8;
                    bytes[i] ^= x;
                }
            }
            if self.rng.chance(f.duplicate) {
                self.stats.duplicated += 1;
                copies += 1;
            }
        }
        rewrite_route(&mut frame, ingress.with_cm());
        for k in 0..copies {
            let at = self.now + delay + Duration::from_nanos(u64::from(k) * 500);
            self.flights.insert(
                (at, self.next_flight),
                InFlight {
                    dest,
                    frame: frame.clone(),
                    path: path.clone(),
                },
            );
            self.next_flight += 1;
        }
    }

    /// Inject a raw frame as if host `from` had transmitted it.
    pub fn inject(&mut self, from: NodeId, frame: FrameBuf) {
        self.send(from, frame);
    }

    /// Deliver a raw frame straight to host `to` (no routing, no faults),
    /// now. Used by scripted peers that are not `Host`s.
    pub fn deliver_raw(&mut self, to: NodeId, frame: &FrameBuf) {
        let now = self.now;
        self.host_mut(to).handle_frame(now, frame);
        self.flush();
    }

    /// Move every host's queued frames into the fabric and its events into its log.
    pub fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            loop {
                let (frame, events) = match &mut self.nodes[i].kind {
                    NodeKind::Host { host, log } => {
                        while let Some(e) = host.poll_event() {
                            log.push((self.now, e));
                        }
                        (host.poll_transmit(), ())
                    }
                    NodeKind::Router => (None, ()),
                };
                let () = events;
                match frame {
                    Some(f) => self.send(NodeId(i), f),
                    None => break,
                }
            }
            self.note_enumerations(NodeId(i));
        }
    }

    fn note_enumerations(&mut self, n: NodeId) {
        if !self.is_host(n) {
            return;
        }
        let now = self.now;
        let routes: Vec<Route> = self.host(n).xdomains().map(|x| x.route).collect();
        for r in routes {
            self.enumerated_at.entry((n, r)).or_insert(now);
        }
    }

    /// The earliest pending frame delivery or host timeout.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let flight = self.flights.keys().next().map(|k| k.0);
        let timers = self.nodes.iter().filter_map(|n| match &n.kind {
            NodeKind::Host { host, .. } => host.poll_timeout(),
            NodeKind::Router => None,
        });
        flight.into_iter().chain(timers).min()
    }

    /// Advance to the next event and process everything due then. Returns
    /// `false` when nothing is pending (the fabric is idle).
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        while let Some(entry) = self.flights.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let f = entry.remove();
            self.stats.delivered += 1;
            self.host_mut(f.dest).handle_frame(now, &f.frame);
            self.flush();
        }
        for i in 0..self.nodes.len() {
            if let NodeKind::Host { host, .. } = &mut self.nodes[i].kind
                && host.poll_timeout().is_some_and(|t| t <= now)
            {
                host.handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Step until `pred` holds, the fabric is idle, or simulated time passes
    /// `now + max`. Returns whether `pred` held.
    pub fn run_until(&mut self, mut pred: impl FnMut(&Sim) -> bool, max: Duration) -> bool {
        let deadline = self.now + max;
        loop {
            self.flush();
            if pred(self) {
                return true;
            }
            match self.next_wakeup() {
                Some(t) if t <= deadline => {
                    self.step();
                }
                _ => return pred(self),
            }
        }
    }

    /// Advance the clock by `d`, processing everything due on the way.
    pub fn advance(&mut self, d: Duration) {
        let deadline = self.now + d;
        self.flush();
        while let Some(t) = self.next_wakeup() {
            if t > deadline {
                break;
            }
            self.step();
        }
        self.now = self.now.max(deadline);
        self.flush();
    }

    /// When host `h` first enumerated the peer at `route` since it was
    /// plugged, as time since the plug.
    pub fn time_to_enumerate(&self, h: NodeId, route: Route) -> Option<Duration> {
        let p = self.plugged_at.get(&(h, route))?;
        let e = self.enumerated_at.get(&(h, route))?;
        Some(*e - *p)
    }

    /// Compare what every host enumerated with the truth (the peer's UUID,
    /// host name, generation and local services). `Ok` when every
    /// connection is enumerated on both sides and matches exactly.
    pub fn check_truth(&self) -> Result<(), String> {
        for &((ha, ra), (hb, rb)) in &self.conns {
            self.check_side(ha, ra, hb)?;
            self.check_side(hb, rb, ha)?;
        }
        Ok(())
    }

    fn check_side(&self, h: NodeId, route: Route, peer: NodeId) -> Result<(), String> {
        let host = self.host(h);
        let truth = self.host(peer);
        let xd = host
            .xdomain(route)
            .ok_or_else(|| format!("{h:?} has not enumerated {route}"))?;
        if host.discovery_state(route) != Some(tblink_proto::DiscoveryState::Enumerated) {
            return Err(format!("{h:?}: {route} is not idle"));
        }
        if xd.uuid != truth.uuid() {
            return Err(format!(
                "{h:?}: {route} has UUID {} not {}",
                xd.uuid,
                truth.uuid()
            ));
        }
        if xd.generation != truth.generation() {
            return Err(format!(
                "{h:?}: {route} generation {:#x} != {:#x}",
                xd.generation,
                truth.generation()
            ));
        }
        let cfg = truth.config();
        if xd.device_name.as_deref() != Some(cfg.host_name.as_str())
            || xd.vendor != cfg.vendor_id
            || xd.device != cfg.device_id
            || xd.maxhopid != cfg.max_hop_id
        {
            return Err(format!("{h:?}: {route} identity differs: {xd:?}"));
        }
        let want: Vec<(Key, [u32; 4])> = truth
            .local_services()
            .map(|s| {
                (
                    s.key,
                    [
                        s.dir.prtcid(),
                        s.dir.prtcvers(),
                        s.dir.prtcrevs(),
                        s.dir.prtcstns(),
                    ],
                )
            })
            .collect();
        let mut have: Vec<(Key, [u32; 4])> = xd
            .services
            .iter()
            .map(|s| {
                let i = s.identity;
                (s.key, [i.prtcid, i.prtcvers, i.prtcrevs, i.prtcstns])
            })
            .collect();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        have.sort();
        if have != want_sorted {
            return Err(format!("{h:?}: {route} services {have:?} != {want:?}"));
        }
        if xd.block_len != truth.local_block().len() {
            return Err(format!("{h:?}: {route} block length differs"));
        }
        Ok(())
    }

    /// Whether every connection is enumerated and matches the truth.
    pub fn converged(&self) -> bool {
        self.check_truth().is_ok()
    }

    /// UUID of host `n`.
    pub fn uuid(&self, n: NodeId) -> Uuid {
        self.host(n).uuid()
    }
}

/// Rewrite DW0/DW1 and recompute the CRC, carrying over any CRC error the
/// frame already had (so corruption stays detectable).
fn rewrite_route(frame: &mut FrameBuf, route: Route) {
    let len = frame.len();
    if len < 12 {
        return;
    }
    let bytes = frame.as_mut_bytes();
    let body = len - 4;
    let old = u32::from_be_bytes([
        bytes[body],
        bytes[body + 1],
        bytes[body + 2],
        bytes[body + 3],
    ]);
    let err = old ^ crc32c(&bytes[..body]);
    bytes[0..4].copy_from_slice(&route.hi().to_be_bytes());
    bytes[4..8].copy_from_slice(&route.lo().to_be_bytes());
    let new = crc32c(&bytes[..body]) ^ err;
    bytes[body..].copy_from_slice(&new.to_be_bytes());
}
