//! Timers as a closed enum plus a deadline table (quinn-proto style).

use crate::time::Instant;

/// The timers of one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Run the next discovery attempt (spec 02 §5: delay before a retry).
    Discovery = 0,
    /// Send (or resend) PROPERTIES_CHANGED (spec 02 §5.4).
    Notify = 1,
}

impl Timer {
    pub(crate) const ALL: [Timer; 2] = [Timer::Discovery, Timer::Notify];
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; 2],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.data[t as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.data[t as usize] = None;
    }

    #[cfg(test)]
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.data[t as usize]
    }

    /// Earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// Clear and return whether `t` has expired at `now`.
    pub(crate) fn take_expired(&mut self, t: Timer, now: Instant) -> bool {
        match self.data[t as usize] {
            Some(at) if at <= now => {
                self.data[t as usize] = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Notify, Instant::from_nanos(5));
        t.set(Timer::Discovery, Instant::from_nanos(9));
        assert_eq!(t.next_timeout(), Some(Instant::from_nanos(5)));
        assert!(!t.take_expired(Timer::Discovery, Instant::from_nanos(5)));
        assert!(t.take_expired(Timer::Notify, Instant::from_nanos(5)));
        assert_eq!(t.get(Timer::Notify), None);
        t.stop(Timer::Discovery);
        assert_eq!(t.next_timeout(), None);
    }
}
