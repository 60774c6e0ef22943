//! Bounded output queues shared by the stack and the drivers it calls.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use tblink_wire::ctl::FrameBuf;

use crate::device::Key;
use crate::driver::DriverId;
use crate::error::MisuseError;
use crate::event::Event;
use crate::local::LocalService;

/// A change to the local services requested from inside a driver callback,
/// applied by the host once the callback returns.
#[derive(Debug, Clone)]
pub(crate) enum LocalAction {
    Add(DriverId, LocalService),
    Remove(Key),
}

/// Counters of things the stack dropped or rejected (spec 01 §5, §7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Received frames whose CRC did not match (spec 01 §5: dropped silently).
    pub crc_errors: u64,
    /// Received frames that are not well-formed XDomain frames (spec 02 §7: dropped).
    pub malformed: u64,
    /// Responses that matched no outstanding request (spec 01 §7.1).
    pub unmatched: u64,
    /// Frames for a protocol nobody handles (spec 02 §7: dropped without reply).
    pub unclaimed: u64,
    /// Frames from routes with no connected peer.
    pub unknown_route: u64,
    /// Frames not queued because the transmit queue was full.
    pub tx_dropped: u64,
    /// Events discarded because the event queue was full.
    pub events_dropped: u64,
    /// Property reads restarted because pages disagreed on `data_length`
    /// or generation (spec 02 §8.3).
    pub inconsistent_reads: u64,
    /// Discovery attempts that failed (timeout, error response, bad page).
    pub failed_attempts: u64,
    /// Requests retransmitted after a timeout.
    pub retransmits: u64,
    /// Requests answered by the responder.
    pub requests_answered: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames received (any outcome).
    pub frames_received: u64,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    pub(crate) tx: VecDeque<FrameBuf>,
    pub(crate) tx_cap: usize,
    pub(crate) events: VecDeque<Event>,
    pub(crate) events_cap: usize,
    pub(crate) actions: Vec<LocalAction>,
    pub(crate) stats: Stats,
}

impl Outbox {
    pub(crate) fn new(tx_cap: usize, events_cap: usize) -> Self {
        Outbox {
            tx: VecDeque::new(),
            tx_cap,
            events: VecDeque::new(),
            events_cap,
            actions: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub(crate) fn transmit(&mut self, f: FrameBuf) -> Result<(), MisuseError> {
        if self.tx.len() >= self.tx_cap {
            self.stats.tx_dropped += 1;
            return Err(MisuseError::QueueFull);
        }
        self.stats.frames_sent += 1;
        self.tx.push_back(f);
        Ok(())
    }

    pub(crate) fn event(&mut self, e: Event) {
        if self.events.len() >= self.events_cap {
            self.stats.events_dropped += 1;
            return;
        }
        self.events.push_back(e);
    }
}
