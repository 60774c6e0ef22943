//! Ring interrupts: status, enable, throttling (spec 05 §9, §10, §11).
//!
//! Every ring has its own MSI-X vector (spec 05 §9.3). Status bits are sticky
//! until the interrupt is delivered (auto-clear, the Intel behaviour); a
//! status pending while the ring's interrupt is disabled fires as soon as it
//! is enabled again (§9.3 "pending-on-unmask"). After a delivery on a vector
//! the next one waits for the throttling interval; conditions in between
//! coalesce into one interrupt at the end of the window (§10).

use std::time::Duration;

use crate::hostif::{Dir, RingId};

/// Linux 6.1's throttling value: 500 × 256 ns = 128 µs (spec 05 §10).
pub const LINUX_THROTTLE: Duration = Duration::from_nanos(500 * 256);

/// Convert an interval to the 16-bit register value in 256 ns units,
/// rounding up as Linux does (spec 05 §10, §15).
pub fn throttle_register(interval: Duration) -> u16 {
    let units = interval.as_nanos().div_ceil(256);
    units.min(0xffff) as u16
}

#[derive(Debug, Clone, Copy, Default)]
struct Vector {
    status: bool,
    overflow: bool,
    enabled: bool,
    last: Option<Duration>,
}

/// Interrupt state of all rings: index `number` for TX, `hc + number` for RX
/// (the enable-register bit index of spec 05 §2).
#[derive(Debug, Clone)]
pub(crate) struct Irq {
    hc: usize,
    interval: Duration,
    vec: Vec<Vector>,
    cursor: usize,
}

impl Irq {
    pub(crate) fn new(hc: u8, interval: Duration) -> Self {
        // The register holds 256 ns units; keep what hardware would apply.
        let interval = Duration::from_nanos(u64::from(throttle_register(interval)) * 256);
        Irq {
            hc: hc as usize,
            interval,
            vec: vec![Vector::default(); 2 * hc as usize],
            cursor: 0,
        }
    }

    fn idx(&self, r: RingId) -> usize {
        match r.dir {
            Dir::Tx => r.number as usize,
            Dir::Rx => self.hc + r.number as usize,
        }
    }

    fn ring(&self, i: usize) -> RingId {
        if i < self.hc {
            RingId {
                dir: Dir::Tx,
                number: i as u8,
            }
        } else {
            RingId {
                dir: Dir::Rx,
                number: (i - self.hc) as u8,
            }
        }
    }

    /// A descriptor that requested an interrupt completed.
    pub(crate) fn raise(&mut self, r: RingId) {
        let i = self.idx(r);
        if let Some(v) = self.vec.get_mut(i) {
            v.status = true;
        }
    }

    /// RX overflow status (no descriptor); only logged by Linux (spec 05 §9.3).
    pub(crate) fn raise_overflow(&mut self, number: u8) {
        let i = self.hc + number as usize;
        if let Some(v) = self.vec.get_mut(i) {
            v.overflow = true;
        }
    }

    /// Read and clear the overflow status of an RX ring.
    pub(crate) fn take_overflow(&mut self, number: u8) -> bool {
        let i = self.hc + number as usize;
        self.vec
            .get_mut(i)
            .is_some_and(|v| std::mem::take(&mut v.overflow))
    }

    pub(crate) fn set_enabled(&mut self, r: RingId, on: bool) {
        let i = self.idx(r);
        if let Some(v) = self.vec.get_mut(i) {
            v.enabled = on;
        }
    }

    /// Forget everything about a ring (stop).
    pub(crate) fn reset(&mut self, r: RingId) {
        let i = self.idx(r);
        if let Some(v) = self.vec.get_mut(i) {
            *v = Vector::default();
        }
    }

    fn due(&self, v: &Vector, now: Duration) -> bool {
        v.status && v.enabled && v.last.is_none_or(|t| now >= t + self.interval)
    }

    /// Deliver the next due interrupt (round robin over rings).
    pub(crate) fn poll(&mut self, now: Duration) -> Option<RingId> {
        let n = self.vec.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let due = self.vec.get(i).is_some_and(|v| self.due(v, now));
            if due {
                if let Some(v) = self.vec.get_mut(i) {
                    v.status = false;
                    v.last = Some(now);
                }
                self.cursor = (i + 1) % n;
                return Some(self.ring(i));
            }
        }
        None
    }

    /// Whether any enabled interrupt is pending, due or throttled (no clock
    /// needed: lets callers skip reading the time when nothing is pending).
    pub(crate) fn any_pending(&self) -> bool {
        self.vec.iter().any(|v| v.status && v.enabled)
    }

    /// Whether an interrupt can be delivered now.
    pub(crate) fn any_due(&self, now: Duration) -> bool {
        self.vec.iter().any(|v| self.due(v, now))
    }

    /// When the earliest pending, enabled but throttled interrupt becomes due.
    pub(crate) fn next_due(&self) -> Option<Duration> {
        self.vec
            .iter()
            .filter(|v| v.status && v.enabled)
            .filter_map(|v| v.last.map(|t| t + self.interval))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_units() {
        assert_eq!(throttle_register(Duration::from_nanos(128_000)), 500);
        assert_eq!(throttle_register(Duration::from_nanos(8192)), 32);
        assert_eq!(throttle_register(Duration::from_nanos(1)), 1);
        assert_eq!(throttle_register(Duration::from_secs(1)), 0xffff);
    }

    #[test]
    fn throttle_coalesces_within_window() {
        let rx1 = RingId {
            dir: Dir::Rx,
            number: 1,
        };
        let mut irq = Irq::new(12, LINUX_THROTTLE);
        irq.set_enabled(rx1, true);
        let mut t = Duration::ZERO;
        irq.raise(rx1);
        assert_eq!(irq.poll(t), Some(rx1));
        // 100 completions within the window: no interrupt until it ends.
        for _ in 0..100 {
            t += Duration::from_micros(1);
            irq.raise(rx1);
            assert_eq!(irq.poll(t), None);
        }
        assert_eq!(irq.next_due(), Some(LINUX_THROTTLE));
        t = LINUX_THROTTLE;
        assert_eq!(irq.poll(t), Some(rx1));
        assert_eq!(irq.poll(t), None);
    }

    #[test]
    fn pending_fires_on_unmask() {
        let rx1 = RingId {
            dir: Dir::Rx,
            number: 1,
        };
        let mut irq = Irq::new(12, Duration::ZERO);
        irq.raise(rx1);
        assert_eq!(irq.poll(Duration::ZERO), None);
        irq.set_enabled(rx1, true);
        assert_eq!(irq.poll(Duration::ZERO), Some(rx1));
    }
}
