//! A cable connection over a shared-memory duplex channel with eventfd
//! wake-ups; used by the in-process and the shared-memory transports.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::event::{EventfdFlags, PollFd, Timespec};

use super::Packet;
use crate::sys::DuplexEnd;

/// Publish written slots / release consumed slots at least every this many,
/// so that producer and consumer work on the ring at the same time instead
/// of taking turns over whole ring-sized batches.
const STRIDE: u32 = 8;

/// A new eventfd used as a doorbell (non-blocking, close-on-exec).
pub(crate) fn bell() -> std::io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(
        0,
        EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
    )?)
}

/// Ring a doorbell (errors only mean the counter is saturated: still rung).
pub(crate) fn ring(fd: &OwnedFd) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Empty a doorbell.
pub(crate) fn drain(fd: &OwnedFd) {
    let mut b = [0u8; 8];
    let _ = rustix::io::read(fd, &mut b);
}

/// Sleep until one of `fds` is readable or `until`.
pub(crate) fn sleep_on(fds: &mut [PollFd<'_>], until: Instant) {
    let d = until.saturating_duration_since(Instant::now());
    if d.is_zero() {
        return;
    }
    let ts = Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    };
    if fds.is_empty() {
        std::thread::sleep(d);
    } else {
        let _ = rustix::event::poll(fds, Some(&ts));
    }
}

/// One connected end: the channel, my doorbell, the peer's doorbell.
#[derive(Debug)]
pub(crate) struct RingLink {
    end: DuplexEnd,
    mine: OwnedFd,
    peer: OwnedFd,
    /// A packet queued since the last flush must wake a sleeping peer.
    wake: bool,
    /// My doorbell may hold a count: empty it before the next sleep.
    rung: bool,
}

impl RingLink {
    pub(crate) fn new(end: DuplexEnd, mine: OwnedFd, peer: OwnedFd) -> Self {
        RingLink {
            end,
            mine,
            peer,
            wake: false,
            rung: true,
        }
    }

    /// The peer closed its end, or wrote impossible indices.
    pub(crate) fn is_dead(&self) -> bool {
        self.end.peer_closed() || self.end.is_corrupt()
    }

    pub(crate) fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        self.write(pkt, true)
    }

    pub(crate) fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        self.write(pkt, false)
    }

    fn write(&mut self, pkt: &Packet<'_>, wake: bool) -> bool {
        if pkt.encoded_len() > self.end.slot_size() {
            return true;
        }
        let ok = self.end.try_write(|s| {
            let _ = pkt.encode(s);
        });
        self.wake |= ok && wake;
        if ok && self.end.unpublished() >= STRIDE {
            self.flush();
        }
        ok
    }

    /// Publish what was written. Only a batch holding a packet sent with
    /// wake-up rings a sleeping peer; a quiet batch leaves the peer's sleep
    /// bit set, so the next loud batch still rings.
    pub(crate) fn flush(&mut self) {
        if std::mem::take(&mut self.wake) {
            if self.end.publish() {
                ring(&self.peer);
            }
        } else {
            self.end.publish_quiet();
        }
    }

    pub(crate) fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        let mut n = 0;
        while n < max {
            let r = self.end.try_read(|s| match Packet::decode(s) {
                Some(p) => f(p),
                None => true,
            });
            match r {
                Some(true) => n += 1,
                _ => break,
            }
            if self.end.unreleased() >= STRIDE && self.end.release() {
                ring(&self.peer);
            }
        }
        if self.end.release() {
            ring(&self.peer);
        }
        n
    }

    /// The doorbell is emptied only when the last sleep ended with it
    /// readable (a read saved per sleep). A count left by a ring that
    /// came while this side was awake ends the next sleep at once; that
    /// wake-up reports the bell and the one after drains it.
    pub(crate) fn prepare_wait(&mut self, want_send: bool) -> bool {
        if std::mem::take(&mut self.rung) {
            drain(&self.mine);
        }
        self.end.prepare_sleep(want_send)
    }

    /// `bell`: the doorbell was readable when the sleep ended.
    pub(crate) fn finish_wait(&mut self, bell: bool) {
        self.end.end_sleep();
        self.rung |= bell;
    }

    pub(crate) fn bell_fd(&self) -> BorrowedFd<'_> {
        self.mine.as_fd()
    }
}

impl Drop for RingLink {
    fn drop(&mut self) {
        self.end.close();
        ring(&self.peer);
    }
}
