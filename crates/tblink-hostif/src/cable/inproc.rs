//! In-process cables: both ends in one process (threads, tests, a simulator).
//!
//! The two ends share an anonymous memory mapping holding the same lock-free
//! SPSC rings as the shared-memory transport. Dropping an end unplugs the
//! cable; the other end then reports [`LinkState::Down`] for good (plug a
//! new pair to reconnect).

use std::os::fd::BorrowedFd;
use std::time::Instant;

use super::link::{RingLink, bell};
use super::{Cable, LinkState, MAX_PACKET, Packet};
use crate::sys::{self, Region};

/// Default slots per direction.
pub const DEFAULT_SLOTS: u32 = 64;

/// Slot size: a whole packet rounded up to a cache line.
pub(crate) const SLOT_SIZE: usize = MAX_PACKET.div_ceil(64) * 64;

/// One end of an in-process cable.
#[derive(Debug)]
pub struct InProcCable {
    link: Option<RingLink>,
}

/// Why a cable could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot create cable: {0}")]
pub struct CableError(String);

impl CableError {
    pub(crate) fn new(e: impl std::fmt::Display) -> Self {
        CableError(e.to_string())
    }
}

/// A connected pair of in-process cable ends with `slots` slots per direction.
pub fn pair_with(slots: u32) -> Result<(InProcCable, InProcCable), CableError> {
    let region = Region::anonymous(sys::duplex_len(slots, SLOT_SIZE)).map_err(CableError::new)?;
    let (a, b) = sys::create_pair(region, slots, SLOT_SIZE).map_err(CableError::new)?;
    let (ba, bb) = (
        bell().map_err(CableError::new)?,
        bell().map_err(CableError::new)?,
    );
    let (ba2, bb2) = (
        ba.try_clone().map_err(CableError::new)?,
        bb.try_clone().map_err(CableError::new)?,
    );
    Ok((
        InProcCable {
            link: Some(RingLink::new(a, ba, bb2)),
        },
        InProcCable {
            link: Some(RingLink::new(b, bb, ba2)),
        },
    ))
}

/// A connected pair with [`DEFAULT_SLOTS`] slots per direction.
pub fn pair() -> Result<(InProcCable, InProcCable), CableError> {
    pair_with(DEFAULT_SLOTS)
}

impl Cable for InProcCable {
    fn poll_link(&mut self) -> LinkState {
        if self.link.as_ref().is_some_and(|l| l.is_dead()) {
            self.link = None;
        }
        if self.link.is_some() {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        match &mut self.link {
            Some(l) => l.try_send(pkt),
            None => true,
        }
    }

    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        match &mut self.link {
            Some(l) => l.try_send_quiet(pkt),
            None => true,
        }
    }

    fn flush(&mut self) {
        if let Some(l) = &mut self.link {
            l.flush();
        }
    }

    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        match &mut self.link {
            Some(l) => l.recv(max, f),
            None => 0,
        }
    }

    fn prepare_wait(&mut self, want_send: bool) -> bool {
        match &mut self.link {
            Some(l) => l.prepare_wait(want_send),
            None => true,
        }
    }

    fn finish_wait(&mut self, ready: &[bool]) {
        if let Some(l) = &mut self.link {
            l.finish_wait(ready.first().copied().unwrap_or(false));
        }
    }

    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        match (i, &self.link) {
            (0, Some(l)) => Some(l.bell_fd()),
            _ => None,
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        None
    }
}
