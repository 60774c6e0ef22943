//! The emulated host controller: rings, interrupts, HopIDs, paths and the
//! host router's lane adapters, each with a [`Cable`].
//!
//! The emulated DMA engine runs inside the driver's calls (`poll_*`,
//! `wait`, [`EmulatedNhi::process`]): one call moves every TX descriptor it
//! can into the cables and every received packet into RX descriptors, then
//! publishes the batch. Nothing is allocated per frame.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use tblink_wire::crc::crc32c;
use tblink_wire::{Pdf, Route};

use crate::cable::{self, Cable, Credit, LinkState, Packet, Role};
use crate::clock::{Clock, SystemClock};
use crate::desc::{Descriptor, DmaBuf, MAX_FRAME, flags};
use crate::hopid::IdPool;
use crate::hostif::{
    Dir, DmaPaths, Error, FIRST_PATH_HOPID, HopDir, HostInterface, LinkEvent, PeerKind, Rejected,
    RingConfig, RingId, RingStats, RxCompletion, TxCompletion, TxFrame,
};
use crate::irq::{Irq, LINUX_THROTTLE};

/// Largest `HOP_COUNT` the Linux register layout allows (spec 05 §2).
pub const MAX_HOP_COUNT: u8 = 21;
/// Largest path HopID (11-bit field).
const MAX_HOPID: u16 = 2047;
const UNLIMITED: u32 = u32::MAX;
/// While [`EmulatedNhi::wait_with`] spins, how often it looks at the
/// caller's descriptors (one non-blocking `poll`).
pub const EXTRA_CHECK: Duration = Duration::from_micros(2);

/// How [`EmulatedNhi::wait_for`] ended, as far as the caller's
/// descriptors are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// One of them is readable.
    Extra,
    /// The last look at them found none readable.
    Quiet,
    /// They were not looked at (the controller had work at once).
    Unwatched,
}

/// Controller parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NhiConfig {
    /// `HOP_COUNT`: ring numbers per direction, ≤ 21 (spec 05 §2).
    pub hop_count: u8,
    /// First ring number for automatic and explicit allocation (1; 2 on
    /// Falcon Ridge, spec 05 §7.1).
    pub first_usable_ring: u8,
    /// Max input HopID of our lane adapters (the top of the in-HopID pool,
    /// spec 05 §12; Linux publishes it as `maxhopid`).
    pub max_in_hopid: u16,
    /// Interrupt throttling interval (spec 05 §10); Linux: 128 µs.
    pub throttle: Duration,
    /// How long [`HostInterface::wait`] spins before sleeping.
    pub spin: Duration,
    /// Packets taken from one cable per processing pass.
    pub rx_batch: usize,
}

impl Default for NhiConfig {
    fn default() -> Self {
        NhiConfig {
            hop_count: 12,
            first_usable_ring: 1,
            max_in_hopid: 15,
            throttle: LINUX_THROTTLE,
            spin: Duration::from_micros(20),
            rx_batch: 64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Partial {
    len: usize,
    sof: Pdf,
    eof: Pdf,
    overrun: bool,
    crc: bool,
}

#[derive(Debug)]
struct EmuRing {
    cfg: RingConfig,
    running: bool,
    size: usize,
    desc: Vec<Descriptor>,
    bufs: Vec<Option<DmaBuf>>,
    /// Software index: one past the last posted descriptor.
    sw: usize,
    /// Hardware index: next descriptor to process.
    hw: usize,
    /// Driver index: next completion to hand out.
    tail: usize,
    partial: Option<Partial>,
    /// Path of a TX ring / the path feeding an RX ring: (adapter, HopID).
    path: Option<(u8, u16)>,
    /// RX with E2E: credits not yet returned to the sender.
    grant: u32,
    /// RX with E2E: credits returned quietly since the last grant that
    /// woke the sender (see [`EmuRing::grant_wakes`]).
    quiet: u32,
    /// RX with E2E: the credits the sender holds as far as this end knows
    /// (granted minus frames received; frames lost on the way make it
    /// high).
    balance: u32,
    stats: RingStats,
}

impl EmuRing {
    fn new(cfg: RingConfig) -> Self {
        let size = cfg.size as usize;
        let mut bufs = Vec::with_capacity(size);
        bufs.resize_with(size, || None);
        EmuRing {
            cfg,
            running: false,
            size,
            desc: vec![Descriptor::default(); size],
            bufs,
            sw: 0,
            hw: 0,
            tail: 0,
            partial: None,
            path: None,
            grant: 0,
            quiet: 0,
            balance: 0,
            stats: RingStats::default(),
        }
    }

    fn id(&self) -> RingId {
        RingId {
            dir: self.cfg.dir,
            number: self.cfg.number.unwrap_or(0),
        }
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.size { 0 } else { i + 1 }
    }

    fn full(&self) -> bool {
        self.next(self.sw) == self.tail
    }

    /// Posted descriptors hardware has not processed yet.
    fn available(&self) -> usize {
        (self.sw + self.size - self.hw) % self.size
    }

    /// Take back every buffer, reset indices (spec 05 §7.2, §7.3).
    fn reset(&mut self, out: &mut Vec<DmaBuf>) {
        for b in self.bufs.iter_mut() {
            if let Some(b) = b.take() {
                out.push(b);
            }
        }
        self.desc.fill(Descriptor::default());
        self.sw = 0;
        self.hw = 0;
        self.tail = 0;
        self.partial = None;
        self.forget_credits();
    }

    /// Forget the credit state of the path (it went away or starts over).
    fn forget_credits(&mut self) {
        self.grant = 0;
        self.quiet = 0;
        self.balance = 0;
    }

    /// A quarter of the ring, at least 1 (see [`EmuRing::grant_wakes`]).
    fn quarter(&self) -> u32 {
        (self.size.saturating_sub(1) / 4).max(1) as u32
    }

    /// Whether the pending grant must wake a sleeping sender: when the
    /// sender may be low on credits (below a quarter of the ring), or once
    /// a quarter of the ring has been returned quietly. Otherwise the
    /// sender holds credits for most of the ring and is not waiting for
    /// these; it reads them the next time it wakes.
    ///
    /// `balance` counts frames still in the cable as credits the sender
    /// holds; when they arrive and it drops below the quarter, credits
    /// already returned quietly are followed by a wake-up
    /// ([`EmuRing::owes_wake`]). Frames lost on the way keep `balance` too
    /// high for good; the quarter returned quietly then still wakes the
    /// sender, as long as a quarter of the ring's credits are left in
    /// circulation (every lost frame costs a credit, spec 05 §8, and a
    /// real link does not lose frames).
    fn grant_wakes(&self) -> bool {
        self.balance < self.quarter() || self.quiet.saturating_add(self.grant) >= self.quarter()
    }

    /// Credits went back quietly and the sender has turned out to be low:
    /// wake it (an empty grant) so it reads them.
    fn owes_wake(&self) -> bool {
        self.quiet > 0 && self.balance < self.quarter()
    }

    /// Complete the descriptor at `hw` with `word` flags; true if it asked
    /// for an interrupt.
    fn complete_rx(&mut self, p: Partial) -> bool {
        let mut fl = flags::DONE;
        if p.crc {
            fl |= flags::CRC_ERROR;
        }
        if p.overrun {
            fl |= flags::OVERRUN;
            self.stats.overruns += 1;
        }
        let hw = self.hw;
        let Some(d) = self.desc.get_mut(hw) else {
            return false;
        };
        let irq = d.flags() & flags::INTERRUPT != 0;
        d.set_word(p.len, p.sof, p.eof, fl);
        self.hw = self.next(hw);
        self.stats.frames += 1;
        self.stats.bytes += p.len as u64;
        irq
    }

    /// Frame-mode reception of one unit (spec 05 §5.1). Returns
    /// `(descriptor claimed, interrupt requested)`.
    fn rx_unit(&mut self, sof: Pdf, eof: Pdf, crc: bool, bytes: &[u8]) -> (bool, bool) {
        let mut claimed = false;
        if self.cfg.sof_mask & (1 << sof.value()) != 0 {
            // A new frame starts; an unfinished one is abandoned and its
            // descriptor reused.
            if self.partial.is_none() {
                if self.hw == self.sw {
                    self.stats.dropped_no_desc += 1;
                    return (false, false);
                }
                claimed = true;
            }
            self.partial = Some(Partial {
                len: 0,
                sof,
                eof,
                overrun: false,
                crc: false,
            });
        }
        let Some(mut p) = self.partial else {
            self.stats.dropped_unframed += 1;
            return (false, false);
        };
        let cap = self.cfg.buffer_size();
        let room = cap.saturating_sub(p.len);
        let n = bytes.len().min(room);
        if let Some(Some(b)) = self.bufs.get_mut(self.hw) {
            b.as_mut_slice()[p.len..p.len + n].copy_from_slice(&bytes[..n]);
        }
        p.len += n;
        p.overrun |= n < bytes.len();
        p.crc |= crc;
        p.eof = eof;
        if self.cfg.eof_mask & (1 << eof.value()) != 0 {
            self.partial = None;
            let irq = self.complete_rx(p);
            (claimed, irq)
        } else {
            self.partial = Some(p);
            (claimed, false)
        }
    }

    /// Raw-mode reception of one control packet (spec 05 §5: EOF = PDF, SOF = 0).
    fn rx_raw(&mut self, pdf: Pdf, bytes: &[u8], rewrite: Option<Route>) -> Option<bool> {
        if self.hw == self.sw {
            self.stats.dropped_no_desc += 1;
            return None;
        }
        let cap = self.cfg.buffer_size();
        let n = bytes.len().min(cap);
        if let Some(Some(b)) = self.bufs.get_mut(self.hw) {
            let s = &mut b.as_mut_slice()[..n];
            s.copy_from_slice(&bytes[..n]);
            if let Some(r) = rewrite {
                rewrite_route(s, r);
            }
        }
        let p = Partial {
            len: n,
            sof: Pdf::new(0),
            eof: pdf,
            overrun: n < bytes.len(),
            crc: false,
        };
        Some(self.complete_rx(p))
    }
}

/// Replace the route of an inter-domain control packet with `route` and
/// recompute the CRC (spec 01 §4, 06 §3.4).
///
/// A packet that arrived damaged stays damaged: the new trailer carries the
/// same error syndrome (trailer XOR computed CRC) as the old one, so the
/// receiver's CRC check still catches corruption that happened before the
/// rewrite, as a router that checks before forwarding would.
pub(crate) fn rewrite_route(frame: &mut [u8], route: Route) {
    let n = frame.len();
    if n < 12 || !n.is_multiple_of(4) {
        return;
    }
    let trailer = |f: &[u8]| u32::from_be_bytes([f[n - 4], f[n - 3], f[n - 2], f[n - 1]]);
    let syndrome = trailer(frame) ^ crc32c(&frame[..n - 4]);
    frame[..4].copy_from_slice(&route.hi().to_be_bytes());
    frame[4..8].copy_from_slice(&route.lo().to_be_bytes());
    let crc = crc32c(&frame[..n - 4]) ^ syndrome;
    frame[n - 4..].copy_from_slice(&crc.to_be_bytes());
}

/// Whether a PDF is an inter-domain (XDomain) packet (spec 01 §3).
pub(crate) fn is_xdomain(pdf: Pdf) -> bool {
    pdf == Pdf::XDOMAIN_REQ || pdf == Pdf::XDOMAIN_RESP
}

/// Route of a control packet (DW0/DW1, big-endian), CM bit cleared.
pub(crate) fn packet_route(bytes: &[u8]) -> Option<Route> {
    let b = bytes.get(..8)?;
    let hi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let lo = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    Some(Route::from_dwords(hi, lo).without_cm())
}

#[derive(Debug)]
struct Adapter {
    number: u8,
    cable: Box<dyn Cable>,
    up: bool,
    peer: Option<Role>,
    out_pool: IdPool,
    in_pool: IdPool,
    /// In HopID → RX ring number.
    rx_map: Vec<Option<u8>>,
    /// Out HopID → E2E credits from the receiver.
    credits: Vec<u32>,
    /// Credit state changes to send, in order.
    credit_msgs: Vec<(u16, Credit)>,
}

fn peer_kind(r: Role) -> PeerKind {
    match r {
        Role::Host => PeerKind::Host,
        Role::RouterUpstream => PeerKind::Router,
        Role::RouterDownstream => PeerKind::ForeignRouter,
    }
}

/// The emulated NHI plus its host router's lane adapters.
#[derive(Debug)]
pub struct EmulatedNhi {
    cfg: NhiConfig,
    clock: Box<dyn Clock>,
    tx: Vec<Option<EmuRing>>,
    rx: Vec<Option<EmuRing>>,
    irq: Irq,
    adapters: Vec<Adapter>,
    events: std::collections::VecDeque<LinkEvent>,
    tx_blocked: bool,
    scratch: Vec<DmaBuf>,
}

impl EmulatedNhi {
    /// A controller with `cfg` and real time.
    pub fn new(cfg: NhiConfig) -> Self {
        Self::with_clock(cfg, SystemClock::new())
    }

    /// A controller reading time from `clock` (interrupt throttling).
    pub fn with_clock(cfg: NhiConfig, clock: impl Clock + 'static) -> Self {
        let hc = cfg.hop_count.clamp(1, MAX_HOP_COUNT);
        let cfg = NhiConfig {
            hop_count: hc,
            ..cfg
        };
        let mut tx = Vec::new();
        tx.resize_with(hc as usize, || None);
        let mut rx = Vec::new();
        rx.resize_with(hc as usize, || None);
        EmulatedNhi {
            irq: Irq::new(hc, cfg.throttle),
            cfg,
            clock: Box::new(clock),
            tx,
            rx,
            adapters: Vec::new(),
            events: Default::default(),
            tx_blocked: false,
            scratch: Vec::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &NhiConfig {
        &self.cfg
    }

    /// Plug `cable` into lane adapter `adapter` (1..=63), replacing any cable there.
    pub fn attach(&mut self, adapter: u8, cable: impl Cable + 'static) -> Result<(), Error> {
        if adapter == 0 || adapter > 63 {
            return Err(Error::NoSuchAdapter(adapter));
        }
        let _ = self.detach(adapter);
        let n = self.cfg.max_in_hopid.min(MAX_HOPID) as usize + 1;
        self.adapters.push(Adapter {
            number: adapter,
            cable: Box::new(cable),
            up: false,
            peer: None,
            out_pool: IdPool::default(),
            in_pool: IdPool::default(),
            rx_map: vec![None; n],
            credits: vec![0; MAX_HOPID as usize + 1],
            credit_msgs: Vec::new(),
        });
        Ok(())
    }

    /// Unplug the cable of `adapter` (a link-down event follows if it was up).
    pub fn detach(&mut self, adapter: u8) -> Option<Box<dyn Cable>> {
        let i = self.adapters.iter().position(|a| a.number == adapter)?;
        self.link_down(i);
        let a = self.adapters.swap_remove(i);
        Some(a.cable)
    }

    /// Read and clear the RX-overflow status of an RX ring (spec 05 §9.1).
    pub fn take_rx_overflow(&mut self, ring: u8) -> bool {
        self.irq.take_overflow(ring)
    }

    fn ring_mut(&mut self, id: RingId) -> Result<&mut EmuRing, Error> {
        let v = match id.dir {
            Dir::Tx => &mut self.tx,
            Dir::Rx => &mut self.rx,
        };
        v.get_mut(id.number as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::NoSuchRing(id.dir, id.number))
    }

    fn adapter_idx(&self, n: u8) -> Result<usize, Error> {
        self.adapters
            .iter()
            .position(|a| a.number == n)
            .ok_or(Error::NoSuchAdapter(n))
    }

    fn link_down(&mut self, i: usize) {
        let Some(a) = self.adapters.get_mut(i) else {
            return;
        };
        let was_up = std::mem::replace(&mut a.up, false);
        if a.peer.take().is_some() {
            self.events.push_back(LinkEvent::Down {
                adapter: a.number,
                route: Route::from_ports(&[a.number]).unwrap_or_default(),
            });
        }
        if !was_up && a.rx_map.iter().all(Option::is_none) {
            return;
        }
        // The tunnels through this link are gone (spec 05 §13).
        let n = a.number;
        a.rx_map.fill(None);
        a.credits.fill(0);
        a.credit_msgs.clear();
        a.out_pool.clear();
        a.in_pool.clear();
        for r in self.tx.iter_mut().chain(self.rx.iter_mut()).flatten() {
            if r.path.is_some_and(|(ad, _)| ad == n) {
                r.path = None;
                r.forget_credits();
            }
        }
    }

    /// Run the emulated hardware once: link changes, reception, transmission,
    /// credits; publish the batch.
    pub fn process(&mut self) {
        for i in 0..self.adapters.len() {
            self.poll_link(i);
        }
        self.receive();
        self.tx_blocked = false;
        for r in 0..self.tx.len() {
            self.transmit(r);
        }
        self.send_credits();
        for a in self.adapters.iter_mut().filter(|a| a.up) {
            a.cable.flush();
        }
    }

    fn poll_link(&mut self, i: usize) {
        let Some(a) = self.adapters.get_mut(i) else {
            return;
        };
        let st = a.cable.poll_link();
        match (a.up, st) {
            (false, LinkState::Up) => {
                a.up = true;
                a.credits.fill(0);
                let _ = a.cable.try_send(&Packet::Hello { role: Role::Host });
                let n = a.number;
                // Paths configured while down: tell the sender their credit state.
                for r in self.rx.iter_mut().flatten() {
                    if let Some((ad, hop)) = r.path.filter(|(ad, _)| *ad == n) {
                        let _ = ad;
                        a.credit_msgs.push((hop, initial_credit(r)));
                    }
                }
            }
            (true, LinkState::Down) => self.link_down(i),
            _ => {}
        }
    }

    fn receive(&mut self) {
        let EmulatedNhi {
            adapters,
            rx,
            irq,
            events,
            cfg,
            ..
        } = self;
        for a in adapters.iter_mut().filter(|a| a.up) {
            let Adapter {
                number,
                cable,
                peer,
                rx_map,
                credits,
                ..
            } = a;
            let number = *number;
            cable.recv(cfg.rx_batch, &mut |p| {
                match p {
                    Packet::Hello { role } => {
                        if peer.replace(role).is_none() {
                            events.push_back(LinkEvent::Up {
                                adapter: number,
                                route: Route::from_ports(&[number]).unwrap_or_default(),
                                peer: peer_kind(role),
                            });
                        }
                    }
                    Packet::Control { pdf, bytes } => {
                        let foreign = *peer != Some(Role::RouterUpstream);
                        let rewrite = (foreign && is_xdomain(pdf))
                            .then(|| Route::from_ports(&[number]).unwrap_or_default());
                        if let Some(r) =
                            rx.get_mut(0).and_then(Option::as_mut).filter(|r| r.running)
                        {
                            match r.rx_raw(pdf, bytes, rewrite) {
                                Some(true) => irq.raise(RingId::CTL_RX),
                                Some(false) => {}
                                None => irq.raise_overflow(0),
                            }
                        }
                    }
                    Packet::Data {
                        hop,
                        sof,
                        eof,
                        crc_error,
                        bytes,
                    } => {
                        let ring = rx_map.get(hop as usize).copied().flatten();
                        let r = ring
                            .and_then(|n| rx.get_mut(n as usize))
                            .and_then(Option::as_mut);
                        if let Some(r) = r.filter(|r| r.running && !r.cfg.raw) {
                            let before = r.stats.dropped_no_desc;
                            let (claimed, want_irq) = r.rx_unit(sof, eof, crc_error, bytes);
                            if want_irq {
                                irq.raise(r.id());
                            }
                            if r.stats.dropped_no_desc != before {
                                irq.raise_overflow(r.id().number);
                            }
                            if r.cfg.e2e {
                                r.balance = r.balance.saturating_sub(1);
                                if !claimed {
                                    r.grant += 1;
                                }
                            }
                        }
                    }
                    Packet::Credit { hop, credit } => {
                        if let Some(c) = credits.get_mut(hop as usize) {
                            *c = match credit {
                                Credit::Grant(g) if *c != UNLIMITED => c.saturating_add(g),
                                Credit::Grant(_) | Credit::Unlimited => UNLIMITED,
                                Credit::Reset => 0,
                            };
                        }
                    }
                }
                true
            });
        }
    }

    fn transmit(&mut self, r: usize) {
        let EmulatedNhi {
            tx,
            adapters,
            irq,
            tx_blocked,
            ..
        } = self;
        let Some(ring) = tx.get_mut(r).and_then(Option::as_mut).filter(|r| r.running) else {
            return;
        };
        while ring.hw != ring.sw {
            let hw = ring.hw;
            let (Some(d), Some(Some(buf))) = (ring.desc.get(hw).copied(), ring.bufs.get(hw)) else {
                break;
            };
            let len = d.len();
            let bytes = &buf.as_slice()[..len];
            let (target, hop) = if r == 0 {
                match packet_route(bytes).and_then(|rt| rt.port(0)) {
                    Some(p) => (Some(p), 0),
                    None => (None, 0),
                }
            } else {
                match ring.path {
                    Some((a, h)) => (Some(a), h),
                    None => (None, 0),
                }
            };
            let a = target.and_then(|n| adapters.iter_mut().find(|a| a.number == n && a.up));
            match a {
                None => ring.stats.dropped_no_path += 1,
                Some(a) => {
                    let e2e = r != 0 && ring.cfg.e2e;
                    let credit = a.credits.get(hop as usize).copied().unwrap_or(0);
                    if e2e && credit == 0 {
                        break;
                    }
                    let pkt = if r == 0 {
                        Packet::Control {
                            pdf: d.eof(),
                            bytes,
                        }
                    } else {
                        Packet::Data {
                            hop,
                            sof: d.sof(),
                            eof: d.eof(),
                            crc_error: false,
                            bytes,
                        }
                    };
                    if !a.cable.try_send(&pkt) {
                        *tx_blocked = true;
                        break;
                    }
                    if e2e
                        && credit != UNLIMITED
                        && let Some(c) = a.credits.get_mut(hop as usize)
                    {
                        *c -= 1;
                    }
                    ring.stats.frames += 1;
                    ring.stats.bytes += len as u64;
                }
            }
            if let Some(d) = ring.desc.get_mut(hw) {
                if d.flags() & flags::INTERRUPT != 0 {
                    irq.raise(RingId {
                        dir: Dir::Tx,
                        number: r as u8,
                    });
                }
                d.word |= u32::from(flags::DONE) << 20;
            }
            ring.hw = ring.next(hw);
        }
    }

    fn send_credits(&mut self) {
        let EmulatedNhi { rx, adapters, .. } = self;
        for a in adapters.iter_mut().filter(|a| a.up) {
            let mut sent = 0;
            for &(hop, c) in &a.credit_msgs {
                if !a.cable.try_send(&Packet::Credit { hop, credit: c }) {
                    break;
                }
                sent += 1;
                let feeds = |r: &&mut EmuRing| r.path == Some((a.number, hop));
                if let Some(r) = rx.iter_mut().flatten().find(feeds) {
                    r.balance = match c {
                        Credit::Grant(g) => r.balance.saturating_add(g),
                        Credit::Unlimited | Credit::Reset => 0,
                    };
                    r.quiet = 0;
                }
            }
            a.credit_msgs.drain(..sent);
            if !a.credit_msgs.is_empty() {
                continue;
            }
            for r in rx.iter_mut().flatten() {
                match r.path {
                    Some((ad, hop))
                        if ad == a.number && r.cfg.e2e && (r.grant > 0 || r.owes_wake()) =>
                    {
                        let g = Packet::Credit {
                            hop,
                            credit: Credit::Grant(r.grant),
                        };
                        let wake = r.grant_wakes();
                        let sent = if wake {
                            a.cable.try_send(&g)
                        } else {
                            a.cable.try_send_quiet(&g)
                        };
                        if sent {
                            r.quiet = if wake { 0 } else { r.quiet + r.grant };
                            r.balance = r.balance.saturating_add(r.grant);
                            r.grant = 0;
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn ready(&self) -> bool {
        !self.events.is_empty() || (self.irq.any_pending() && self.irq.any_due(self.clock.now()))
    }

    /// [`HostInterface::wait`] that also returns when one of `extra`
    /// becomes readable (descriptors of the caller, e.g. TAP devices): the
    /// controller's cables and `extra` are watched by one `poll`, so an idle
    /// caller sleeps without periodic wake-ups. While spinning (see
    /// [`NhiConfig::spin`]) `extra` is looked at every [`EXTRA_CHECK`].
    /// Returns whether one of `extra` is readable.
    pub fn wait_with(&mut self, timeout: Duration, extra: &[BorrowedFd<'_>]) -> bool {
        self.wait_for(timeout, extra) == WaitEnd::Extra
    }

    /// [`EmulatedNhi::wait_with`], telling also whether `extra` was looked
    /// at: a caller that reads its descriptors only when they are reported
    /// readable must read them after [`WaitEnd::Unwatched`].
    pub fn wait_for(&mut self, timeout: Duration, extra: &[BorrowedFd<'_>]) -> WaitEnd {
        let start = Instant::now();
        let deadline = start + timeout;
        let spin_until = start + self.cfg.spin;
        let mut next_extra = start;
        // Whether the last look at `extra` found it quiet.
        let mut quiet = false;
        loop {
            self.process();
            let now = Instant::now();
            if self.ready() || now >= deadline {
                return if quiet {
                    WaitEnd::Quiet
                } else {
                    WaitEnd::Unwatched
                };
            }
            if now < spin_until {
                if !extra.is_empty() && now >= next_extra {
                    if cable::any_readable(extra) {
                        return WaitEnd::Extra;
                    }
                    quiet = true;
                    next_extra = now + EXTRA_CHECK;
                }
                std::hint::spin_loop();
                continue;
            }
            let mut until = deadline;
            if let Some(due) = self.irq.next_due() {
                let left = due.saturating_sub(self.clock.now());
                until = until.min(now + left.max(Duration::from_micros(1)));
            }
            let want_send = self.tx_blocked;
            let mut cables: Vec<&mut dyn Cable> = self
                .adapters
                .iter_mut()
                .map(|a| &mut a.cable as &mut dyn Cable)
                .collect();
            match cable::wait_any_watched(&mut cables, want_send, until, extra) {
                Some(true) => return WaitEnd::Extra,
                Some(false) => quiet = true,
                // A cable was ready at once: nothing was watched, and an
                // earlier look is stale.
                None => quiet = false,
            }
            if Instant::now() >= until && until < deadline {
                // Throttle window over: loop once more to deliver.
                continue;
            }
        }
    }

    fn queue_credit(&mut self, adapter: u8, hop: u16, c: Credit) {
        if let Some(a) = self.adapters.iter_mut().find(|a| a.number == adapter) {
            a.credit_msgs.push((hop, c));
        }
    }
}

fn initial_credit(r: &EmuRing) -> Credit {
    if r.cfg.e2e {
        Credit::Grant(r.available() as u32)
    } else {
        Credit::Unlimited
    }
}

impl HostInterface for EmulatedNhi {
    fn hop_count(&self) -> u8 {
        self.cfg.hop_count
    }

    fn alloc_ring(&mut self, cfg: RingConfig) -> Result<RingId, Error> {
        if !(2..=4096).contains(&cfg.size) {
            return Err(Error::BadRingSize(cfg.size));
        }
        let hc = self.cfg.hop_count;
        let first = self.cfg.first_usable_ring;
        let v = match cfg.dir {
            Dir::Tx => &mut self.tx,
            Dir::Rx => &mut self.rx,
        };
        let number = match cfg.number {
            Some(n) if n >= hc => {
                return Err(Error::RingOutOfRange {
                    number: n,
                    hop_count: hc,
                });
            }
            Some(0) if cfg.raw => 0,
            Some(n) if n < first => return Err(Error::RingReserved(n)),
            Some(n) if v.get(n as usize).is_some_and(Option::is_some) => {
                return Err(Error::RingTaken(cfg.dir, n));
            }
            Some(n) => n,
            None => (first..hc)
                .find(|&n| v.get(n as usize).is_some_and(Option::is_none))
                .ok_or(Error::NoFreeRing(cfg.dir))?,
        };
        if v.get(number as usize).is_some_and(Option::is_some) {
            return Err(Error::RingTaken(cfg.dir, number));
        }
        let cfg = RingConfig {
            number: Some(number),
            ..cfg
        };
        if let Some(slot) = v.get_mut(number as usize) {
            *slot = Some(EmuRing::new(cfg));
        }
        Ok(RingId {
            dir: cfg.dir,
            number,
        })
    }

    fn free_ring(&mut self, ring: RingId) -> Result<(), Error> {
        if self.ring_mut(ring)?.running {
            return Err(Error::RingRunning);
        }
        if ring.dir == Dir::Rx {
            for a in &mut self.adapters {
                for m in a.rx_map.iter_mut().filter(|m| **m == Some(ring.number)) {
                    *m = None;
                }
            }
        }
        let v = match ring.dir {
            Dir::Tx => &mut self.tx,
            Dir::Rx => &mut self.rx,
        };
        if let Some(s) = v.get_mut(ring.number as usize) {
            *s = None;
        }
        Ok(())
    }

    fn start_ring(&mut self, ring: RingId) -> Result<(), Error> {
        let r = self.ring_mut(ring)?;
        if r.running {
            return Err(Error::RingRunning);
        }
        let mut old = std::mem::take(&mut self.scratch);
        let r = self.ring_mut(ring)?;
        r.reset(&mut old);
        r.running = true;
        self.scratch = old;
        self.scratch.clear();
        self.irq.reset(ring);
        self.irq.set_enabled(ring, true);
        Ok(())
    }

    fn stop_ring(&mut self, ring: RingId) -> Result<Vec<DmaBuf>, Error> {
        let mut out = Vec::new();
        let r = self.ring_mut(ring)?;
        let was_running = std::mem::replace(&mut r.running, false);
        r.reset(&mut out);
        let path = r.path;
        let e2e = r.cfg.e2e;
        self.irq.reset(ring);
        if was_running
            && ring.dir == Dir::Rx
            && e2e
            && let Some((ad, hop)) = path
        {
            self.queue_credit(ad, hop, Credit::Reset);
        }
        Ok(out)
    }

    fn post_tx(&mut self, ring: u8, frame: TxFrame) -> Result<(), Rejected<TxFrame>> {
        let Ok(r) = self.ring_mut(RingId {
            dir: Dir::Tx,
            number: ring,
        }) else {
            return Err(Rejected {
                error: Error::NoSuchRing(Dir::Tx, ring),
                item: frame,
            });
        };
        let error = if !r.running {
            Error::RingStopped
        } else if frame.len == 0 || frame.len > MAX_FRAME || (r.cfg.raw && frame.len > 256) {
            Error::BadLength(frame.len)
        } else if r.full() {
            Error::RingFull
        } else {
            let sw = r.sw;
            if let (Some(d), Some(b)) = (r.desc.get_mut(sw), r.bufs.get_mut(sw)) {
                *d = Descriptor::posted(sw as u64, frame.len, frame.sof, frame.eof);
                *b = Some(frame.buf);
            }
            r.sw = r.next(sw);
            return Ok(());
        };
        Err(Rejected { error, item: frame })
    }

    fn post_rx(&mut self, ring: u8, buf: DmaBuf) -> Result<(), Rejected<DmaBuf>> {
        let Ok(r) = self.ring_mut(RingId {
            dir: Dir::Rx,
            number: ring,
        }) else {
            return Err(Rejected {
                error: Error::NoSuchRing(Dir::Rx, ring),
                item: buf,
            });
        };
        if !r.running {
            return Err(Rejected {
                error: Error::RingStopped,
                item: buf,
            });
        }
        if r.full() {
            return Err(Rejected {
                error: Error::RingFull,
                item: buf,
            });
        }
        let sw = r.sw;
        if let (Some(d), Some(b)) = (r.desc.get_mut(sw), r.bufs.get_mut(sw)) {
            // Linux rewrites only address and flags; stale length/PDFs stay (spec 05 §3).
            d.addr = sw as u64;
            d.word = (d.word & 0x000f_ffff) | (u32::from(flags::POSTED | flags::INTERRUPT) << 20);
            d.time = 0;
            *b = Some(buf);
        }
        r.sw = r.next(sw);
        if r.cfg.e2e && r.path.is_some() {
            r.grant += 1;
        }
        Ok(())
    }

    fn poll_tx(&mut self, ring: u8) -> Option<TxCompletion> {
        let id = RingId {
            dir: Dir::Tx,
            number: ring,
        };
        if let Some(c) = take_done(self.ring_mut(id).ok()?) {
            return Some(TxCompletion {
                buf: c.0,
                desc: c.1,
            });
        }
        self.process();
        take_done(self.ring_mut(id).ok()?).map(|(buf, desc)| TxCompletion { buf, desc })
    }

    fn poll_rx(&mut self, ring: u8) -> Option<RxCompletion> {
        let id = RingId {
            dir: Dir::Rx,
            number: ring,
        };
        if let Some(c) = take_done(self.ring_mut(id).ok()?) {
            return Some(RxCompletion {
                buf: c.0,
                desc: c.1,
            });
        }
        self.process();
        take_done(self.ring_mut(id).ok()?).map(|(buf, desc)| RxCompletion { buf, desc })
    }

    fn set_interrupt(&mut self, ring: RingId, enabled: bool) {
        self.irq.set_enabled(ring, enabled);
    }

    fn poll_interrupt(&mut self) -> Option<RingId> {
        self.process();
        if !self.irq.any_pending() {
            return None;
        }
        self.irq.poll(self.clock.now())
    }

    fn wait(&mut self, timeout: Duration) {
        self.wait_with(timeout, &[]);
    }

    fn alloc_hopid(&mut self, adapter: u8, dir: HopDir, hop: Option<u16>) -> Result<u16, Error> {
        let max_in = self.cfg.max_in_hopid;
        let i = self.adapter_idx(adapter)?;
        let a = self
            .adapters
            .get_mut(i)
            .ok_or(Error::NoSuchAdapter(adapter))?;
        match dir {
            HopDir::Out { remote_max } => {
                a.out_pool
                    .alloc(FIRST_PATH_HOPID, remote_max.min(MAX_HOPID), hop)
            }
            HopDir::In => a
                .in_pool
                .alloc(FIRST_PATH_HOPID, max_in.min(MAX_HOPID), hop),
        }
    }

    fn release_hopid(&mut self, adapter: u8, dir: HopDir, hop: u16) {
        if let Some(a) = self.adapters.iter_mut().find(|a| a.number == adapter) {
            match dir {
                HopDir::Out { .. } => a.out_pool.release(hop),
                HopDir::In => a.in_pool.release(hop),
            }
        }
    }

    fn enable_paths(&mut self, adapter: u8, p: DmaPaths) -> Result<(), Error> {
        let i = self.adapter_idx(adapter)?;
        let max_in = self.cfg.max_in_hopid.min(MAX_HOPID);
        // Ring 0 can never carry a DMA path (spec 05 §13).
        let tx_ring = p.transmit_ring.filter(|&r| r > 0);
        let rx_ring = p.receive_ring.filter(|&r| r > 0);
        if let Some(t) = tx_ring {
            if p.transmit_path < FIRST_PATH_HOPID || p.transmit_path > MAX_HOPID {
                return Err(Error::HopIdOutOfRange {
                    hop: p.transmit_path,
                    min: FIRST_PATH_HOPID,
                    max: MAX_HOPID,
                });
            }
            let r = self.ring_mut(RingId {
                dir: Dir::Tx,
                number: t,
            })?;
            if r.path.is_some_and(|x| x != (adapter, p.transmit_path)) {
                return Err(Error::PathInUse);
            }
        }
        if let Some(rr) = rx_ring {
            if p.receive_path < FIRST_PATH_HOPID || p.receive_path > max_in {
                return Err(Error::HopIdOutOfRange {
                    hop: p.receive_path,
                    min: FIRST_PATH_HOPID,
                    max: max_in,
                });
            }
            let r = self.ring_mut(RingId {
                dir: Dir::Rx,
                number: rr,
            })?;
            if r.path.is_some_and(|x| x != (adapter, p.receive_path)) {
                return Err(Error::PathInUse);
            }
            let taken = self
                .adapters
                .get(i)
                .and_then(|a| a.rx_map.get(p.receive_path as usize).copied().flatten());
            if taken.is_some_and(|t| t != rr) {
                return Err(Error::PathInUse);
            }
        }
        if let Some(t) = tx_ring {
            self.ring_mut(RingId {
                dir: Dir::Tx,
                number: t,
            })?
            .path = Some((adapter, p.transmit_path));
        }
        if let Some(rr) = rx_ring {
            let r = self.ring_mut(RingId {
                dir: Dir::Rx,
                number: rr,
            })?;
            r.path = Some((adapter, p.receive_path));
            r.forget_credits();
            let c = initial_credit(r);
            if let Some(a) = self.adapters.get_mut(i) {
                if let Some(m) = a.rx_map.get_mut(p.receive_path as usize) {
                    *m = Some(rr);
                }
                if a.up {
                    a.credit_msgs.push((p.receive_path, Credit::Reset));
                    a.credit_msgs.push((p.receive_path, c));
                }
            }
        }
        self.process();
        Ok(())
    }

    fn disable_paths(&mut self, adapter: u8, p: DmaPaths) -> Result<(), Error> {
        let Ok(i) = self.adapter_idx(adapter) else {
            return Ok(());
        };
        let matches = |want: Option<u8>, n: u8| want.is_none_or(|w| w == n);
        for (n, r) in self.tx.iter_mut().enumerate() {
            if let Some(r) = r
                && r.path == Some((adapter, p.transmit_path))
                && matches(p.transmit_ring, n as u8)
            {
                r.path = None;
            }
        }
        let mut reset = None;
        for (n, r) in self.rx.iter_mut().enumerate() {
            if let Some(r) = r
                && r.path == Some((adapter, p.receive_path))
                && matches(p.receive_ring, n as u8)
            {
                r.path = None;
                r.forget_credits();
                reset = Some(p.receive_path);
            }
        }
        if let (Some(hop), Some(a)) = (reset, self.adapters.get_mut(i)) {
            if let Some(m) = a.rx_map.get_mut(hop as usize) {
                *m = None;
            }
            if a.up {
                a.credit_msgs.push((hop, Credit::Reset));
            }
        }
        self.process();
        Ok(())
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        if self.events.is_empty() {
            self.process();
        }
        self.events.pop_front()
    }

    fn stats(&self, ring: RingId) -> Option<RingStats> {
        let v = match ring.dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        };
        v.get(ring.number as usize)?.as_ref().map(|r| r.stats)
    }
}

/// The completion at the driver index if hardware is past it.
fn take_done(r: &mut EmuRing) -> Option<(DmaBuf, Descriptor)> {
    if !r.running || r.tail == r.hw {
        return None;
    }
    let t = r.tail;
    let d = *r.desc.get(t)?;
    if !d.done() {
        return None;
    }
    let b = r.bufs.get_mut(t)?.take()?;
    r.tail = r.next(t);
    Some((b, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tblink_wire::ctl::{Frame, FrameBuf};

    /// Spec 02 §11.1: a UUID request sent on route 0x1.
    fn uuid_request() -> FrameBuf {
        let mut body = [0u8; 32];
        body[7] = 1;
        body[8..12].copy_from_slice(&0x1000_0005u32.to_be_bytes());
        body[12..28].copy_from_slice(&[
            0x0e, 0xd7, 0x38, 0xb6, 0xbb, 0x40, 0xff, 0x42, 0xe2, 0x90, 0xc2, 0x97, 0x07, 0xff,
            0xb2, 0xc0,
        ]);
        body[31] = 12;
        FrameBuf::seal(Pdf::XDOMAIN_REQ, &body).unwrap()
    }

    #[test]
    fn rewrite_reseals_a_good_frame() {
        let mut f = uuid_request();
        assert_eq!(&f.as_bytes()[32..], &[0x74, 0xf5, 0x7d, 0xb9]);
        rewrite_route(f.as_mut_bytes(), Route::from_raw(3).with_cm());
        assert_eq!(packet_route(f.as_bytes()), Some(Route::from_raw(3)));
        Frame::new_checked(f.as_bytes())
            .unwrap()
            .verify_crc()
            .unwrap();
    }

    #[test]
    fn rewrite_keeps_corruption_detectable() {
        for byte in [9usize, 20, 31, 33] {
            let mut f = uuid_request();
            f.as_mut_bytes()[byte] ^= 0x40;
            rewrite_route(f.as_mut_bytes(), Route::from_raw(3));
            assert!(
                Frame::new_checked(f.as_bytes())
                    .unwrap()
                    .verify_crc()
                    .is_err(),
                "corruption at byte {byte} laundered by the rewrite"
            );
        }
    }
}
