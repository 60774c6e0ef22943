//! Wrappers usable on any [`Cable`]: seeded fault injection and a link model
//! (bandwidth cap, one-way latency). Both act on the sending side and keep
//! packet order (a delayed packet holds back the ones behind it).

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use super::{Cable, LinkState, MAX_PACKET, Packet};

/// Packets waiting to go out, in order, each with its release time and
/// whether it goes out quietly ([`Cable::try_send_quiet`]).
#[derive(Debug, Default)]
struct DelayLine {
    q: VecDeque<(Instant, Vec<u8>, bool)>,
    spare: Vec<Vec<u8>>,
}

impl DelayLine {
    fn push(&mut self, due: Instant, pkt: &Packet<'_>, edit: impl FnOnce(&mut [u8])) {
        self.push_as(due, pkt, false, edit);
    }

    fn push_as(
        &mut self,
        due: Instant,
        pkt: &Packet<'_>,
        quiet: bool,
        edit: impl FnOnce(&mut [u8]),
    ) {
        let mut v = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_PACKET));
        v.resize(pkt.encoded_len(), 0);
        if pkt.encode(&mut v).is_some() {
            edit(&mut v);
            self.q.push_back((due, v, quiet));
        }
    }

    fn release(&mut self, inner: &mut dyn Cable, now: Instant) {
        while let Some((due, v, quiet)) = self.q.front() {
            if *due > now {
                break;
            }
            let sent = match Packet::decode(v) {
                Some(p) if *quiet => inner.try_send_quiet(&p),
                Some(p) => inner.try_send(&p),
                None => true,
            };
            if !sent {
                break;
            }
            if let Some((_, v, _)) = self.q.pop_front() {
                self.spare.push(v);
            }
        }
    }

    fn next(&self) -> Option<Instant> {
        self.q.front().map(|(t, _, _)| *t)
    }

    fn clear(&mut self) {
        while let Some((_, v, _)) = self.q.pop_front() {
            self.spare.push(v);
        }
    }
}

/// Probabilities (0.0..=1.0) of each fault, applied to control and data
/// packets (credits and hellos pass untouched).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Drop the packet.
    pub drop: f64,
    /// Flip one payload bit (a data frame then arrives with a CRC error).
    pub corrupt: f64,
    /// Send the packet twice.
    pub duplicate: f64,
    /// Hold the packet (and those behind it) for `delay_by`.
    pub delay: f64,
    /// How long a delayed packet is held.
    pub delay_by: Duration,
}

/// What the injector did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Packets dropped.
    pub dropped: u64,
    /// Packets corrupted.
    pub corrupted: u64,
    /// Packets duplicated.
    pub duplicated: u64,
    /// Packets delayed.
    pub delayed: u64,
}

/// Seeded fault injection around a cable (the shape of smoltcp's
/// `phy::FaultInjector`).
#[derive(Debug)]
pub struct FaultInjector<C> {
    inner: C,
    faults: Faults,
    rng: u64,
    line: DelayLine,
    stats: FaultStats,
}

impl<C: Cable> FaultInjector<C> {
    /// Wrap `inner`; the same `seed` gives the same faults.
    pub fn new(inner: C, faults: Faults, seed: u64) -> Self {
        FaultInjector {
            inner,
            faults,
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            line: DelayLine::default(),
            stats: FaultStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    /// The wrapped cable.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Change the faults.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((r >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn bit(&mut self, len: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % (len.max(1) as u64 * 8)) as usize
    }
}

impl<C: Cable> Cable for FaultInjector<C> {
    fn poll_link(&mut self) -> LinkState {
        let s = self.inner.poll_link();
        if s == LinkState::Down {
            self.line.clear();
        }
        s
    }

    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        let payload_len = match pkt {
            Packet::Control { bytes, .. } | Packet::Data { bytes, .. } => bytes.len(),
            _ => return self.send_plain(pkt, false),
        };
        if self.chance(self.faults.drop) {
            self.stats.dropped += 1;
            return true;
        }
        let corrupt = self.chance(self.faults.corrupt);
        let dup = self.chance(self.faults.duplicate);
        let delay = self.chance(self.faults.delay);
        let now = Instant::now();
        let due = if delay {
            self.stats.delayed += 1;
            now + self.faults.delay_by
        } else {
            now
        };
        if !corrupt && !delay && self.line.q.is_empty() && !dup {
            return self.inner.try_send(pkt);
        }
        let bit = if corrupt {
            self.stats.corrupted += 1;
            Some(self.bit(payload_len))
        } else {
            None
        };
        let is_data = matches!(pkt, Packet::Data { .. });
        let edit = |v: &mut [u8]| {
            if let Some(b) = bit {
                if let Some(x) = v.get_mut(super::PACKET_HEADER + b / 8) {
                    *x ^= 1 << (b % 8);
                }
                if is_data {
                    v[3] |= 1;
                }
            }
        };
        self.line.push(due, pkt, edit);
        if dup {
            self.stats.duplicated += 1;
            self.line.push(due, pkt, edit);
        }
        self.line.release(&mut self.inner, now);
        true
    }

    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        // Faults apply to control and data packets only.
        if matches!(pkt, Packet::Credit { .. }) {
            self.send_plain(pkt, true)
        } else {
            self.try_send(pkt)
        }
    }

    fn flush(&mut self) {
        self.line.release(&mut self.inner, Instant::now());
        self.inner.flush();
    }

    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        self.inner.recv(max, f)
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

    fn next_timer(&self) -> Option<Instant> {
        min_opt(self.inner.next_timer(), self.line.next())
    }
}

impl<C: Cable> FaultInjector<C> {
    /// Send a packet faults do not apply to, behind what the line holds.
    fn send_plain(&mut self, pkt: &Packet<'_>, quiet: bool) -> bool {
        match (self.line.q.is_empty(), quiet) {
            (true, false) => self.inner.try_send(pkt),
            (true, true) => self.inner.try_send_quiet(pkt),
            (false, _) => {
                self.line.push_as(Instant::now(), pkt, quiet, |_| {});
                true
            }
        }
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A link model around a cable: serialisation at a bandwidth cap plus a
/// fixed one-way latency, FIFO.
#[derive(Debug)]
pub struct LinkModel<C> {
    inner: C,
    bits_per_sec: Option<f64>,
    latency: Duration,
    wire_free: Instant,
    line: DelayLine,
    max_queued: usize,
}

impl<C: Cable> LinkModel<C> {
    /// Wrap `inner` with an optional cap in Gbit/s (e.g. 20, 40, 80) and a latency.
    pub fn new(inner: C, gbit_per_sec: Option<f64>, latency: Duration) -> Self {
        LinkModel {
            inner,
            bits_per_sec: gbit_per_sec.map(|g| g * 1e9),
            latency,
            wire_free: Instant::now(),
            line: DelayLine::default(),
            max_queued: 1024,
        }
    }

    /// Queue `pkt` behind what the wire still carries.
    fn send(&mut self, pkt: &Packet<'_>, quiet: bool) -> bool {
        let now = Instant::now();
        self.line.release(&mut self.inner, now);
        if self.line.q.len() >= self.max_queued {
            return false;
        }
        let start = self.wire_free.max(now);
        let ser = match self.bits_per_sec {
            Some(bps) => Duration::from_secs_f64(pkt.encoded_len() as f64 * 8.0 / bps),
            None => Duration::ZERO,
        };
        self.wire_free = start + ser;
        self.line
            .push_as(self.wire_free + self.latency, pkt, quiet, |_| {});
        true
    }
}

impl<C: Cable> Cable for LinkModel<C> {
    fn poll_link(&mut self) -> LinkState {
        let s = self.inner.poll_link();
        if s == LinkState::Down {
            self.line.clear();
        }
        s
    }

    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        self.send(pkt, false)
    }

    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        self.send(pkt, true)
    }

    fn flush(&mut self) {
        self.line.release(&mut self.inner, Instant::now());
        self.inner.flush();
    }

    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        self.inner.recv(max, f)
    }

    fn prepare_wait(&mut self, want_send: bool) -> bool {
        let room = self.line.q.len() < self.max_queued;
        if want_send && room {
            return false;
        }
        self.inner.prepare_wait(false)
    }

    fn finish_wait(&mut self, ready: &[bool]) {
        self.inner.finish_wait(ready)
    }

    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        self.inner.wait_fd(i)
    }

    fn next_timer(&self) -> Option<Instant> {
        min_opt(self.inner.next_timer(), self.line.next())
    }
}
