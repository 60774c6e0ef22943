//! Cables: what carries packets between two lane adapters.
//!
//! Every transport implements [`Cable`]: in-process ([`inproc`]), shared
//! memory between processes ([`shm`]), UDP between machines ([`udp`]); the
//! wrappers [`fault::FaultInjector`] and [`fault::LinkModel`] work on any of
//! them. A cable carries whole units as spec 05 §5.2 allows: control
//! packets with their PDF, data frames tagged by path HopID with SOF/EOF
//! PDFs, and E2E credits (which never reach a ring, spec 05 §8).

use std::os::fd::BorrowedFd;
use std::time::Instant;

use tblink_wire::Pdf;

use crate::desc::MAX_FRAME;

pub mod fault;
pub mod inproc;
pub(crate) mod link;
pub mod shm;
pub mod udp;

/// Bytes of the encoded packet header.
pub const PACKET_HEADER: usize = 8;
/// Largest encoded packet.
pub const MAX_PACKET: usize = PACKET_HEADER + MAX_FRAME;

/// What a cable end is attached to (sent in [`Packet::Hello`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A lane adapter of a host router.
    Host,
    /// The upstream port of a device router.
    RouterUpstream,
    /// A downstream port of a device router.
    RouterDownstream,
}

/// E2E credit updates (spec 05 §8; never visible in a ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credit {
    /// The receiver freed or posted this many RX descriptors.
    Grant(u32),
    /// The receiving ring has no E2E: never hold the sender back.
    Unlimited,
    /// The receiving ring stopped or its path went away: credits are 0.
    Reset,
}

/// One unit on a cable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Sent by each end when the link comes up.
    Hello {
        /// What the sender is.
        role: Role,
    },
    /// A control packet (ring 0): bytes including the CRC trailer.
    Control {
        /// Packet type (spec 01 §3).
        pdf: Pdf,
        /// Bytes, CRC included.
        bytes: &'a [u8],
    },
    /// A data frame on a DMA path.
    Data {
        /// Path HopID on this link.
        hop: u16,
        /// PDF of the first fabric packet.
        sof: Pdf,
        /// PDF of the last fabric packet.
        eof: Pdf,
        /// The frame CRC failed (set by corruption on the way).
        crc_error: bool,
        /// 1..=4096 bytes.
        bytes: &'a [u8],
    },
    /// E2E credits for the path with this HopID.
    Credit {
        /// Path HopID (the sender's out HopID).
        hop: u16,
        /// The update.
        credit: Credit,
    },
}

const K_HELLO: u8 = 1;
const K_CONTROL: u8 = 2;
const K_DATA: u8 = 3;
const K_CREDIT: u8 = 4;
/// Transport-internal kinds (never handed up).
pub(crate) const K_PING: u8 = 0x7e;
pub(crate) const K_BYE: u8 = 0x7f;

impl Packet<'_> {
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        PACKET_HEADER
            + match self {
                Packet::Hello { .. } => 0,
                Packet::Control { bytes, .. } | Packet::Data { bytes, .. } => bytes.len(),
                Packet::Credit { .. } => 4,
            }
    }

    /// Encode into `out`; returns the length, or `None` if `out` is too small
    /// or the payload is longer than 4096 bytes.
    ///
    /// Layout: kind, PDF/SOF, EOF, flags, HopID (LE u16), payload length
    /// (LE u16), payload.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let n = self.encoded_len();
        if n > out.len() || n > MAX_PACKET {
            return None;
        }
        let (kind, a, b, fl, hop, payload): (u8, u8, u8, u8, u16, &[u8]) = match *self {
            Packet::Hello { role } => (K_HELLO, role as u8, 0, 0, 0, &[]),
            Packet::Control { pdf, bytes } => (K_CONTROL, pdf.value(), 0, 0, 0, bytes),
            Packet::Data {
                hop,
                sof,
                eof,
                crc_error,
                bytes,
            } => (
                K_DATA,
                sof.value(),
                eof.value(),
                u8::from(crc_error),
                hop,
                bytes,
            ),
            Packet::Credit { hop, credit } => {
                let (c, v) = match credit {
                    Credit::Grant(g) => (0, g),
                    Credit::Unlimited => (1, 0),
                    Credit::Reset => (2, 0),
                };
                out[PACKET_HEADER..n].copy_from_slice(&v.to_le_bytes());
                (K_CREDIT, c, 0, 0, hop, &[])
            }
        };
        out[0] = kind;
        out[1] = a;
        out[2] = b;
        out[3] = fl;
        out[4..6].copy_from_slice(&hop.to_le_bytes());
        let plen = if kind == K_CREDIT {
            4u16
        } else {
            payload.len() as u16
        };
        out[6..8].copy_from_slice(&plen.to_le_bytes());
        if kind != K_CREDIT {
            out[PACKET_HEADER..n].copy_from_slice(payload);
        }
        Some(n)
    }

    /// Decode a packet; `None` for malformed or transport-internal ones.
    pub fn decode(b: &[u8]) -> Option<Packet<'_>> {
        let h = b.get(..PACKET_HEADER)?;
        let hop = u16::from_le_bytes([h[4], h[5]]);
        let plen = u16::from_le_bytes([h[6], h[7]]) as usize;
        let payload = b.get(PACKET_HEADER..PACKET_HEADER + plen)?;
        Some(match h[0] {
            K_HELLO => Packet::Hello {
                role: match h[1] {
                    0 => Role::Host,
                    1 => Role::RouterUpstream,
                    2 => Role::RouterDownstream,
                    _ => return None,
                },
            },
            K_CONTROL if plen <= tblink_wire::ctl::MAX_FRAME_LEN => Packet::Control {
                pdf: Pdf::new(h[1]),
                bytes: payload,
            },
            K_DATA if (1..=MAX_FRAME).contains(&plen) => Packet::Data {
                hop,
                sof: Pdf::new(h[1]),
                eof: Pdf::new(h[2]),
                crc_error: h[3] & 1 != 0,
                bytes: payload,
            },
            K_CREDIT if plen == 4 => {
                let v = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
                let credit = match h[1] {
                    0 => Credit::Grant(v),
                    1 => Credit::Unlimited,
                    2 => Credit::Reset,
                    _ => return None,
                };
                Packet::Credit { hop, credit }
            }
            _ => return None,
        })
    }
}

/// Whether the other end of a cable is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No peer (not connected yet, vanished, or unplugged).
    Down,
    /// Connected to a live peer.
    Up,
}

/// One end of a cable.
///
/// Sending is batched: [`try_send`](Cable::try_send) queues, and
/// [`flush`](Cable::flush) makes the batch visible (and wakes a sleeping
/// peer). Receiving hands a batch to a callback. Packets sent while the link
/// is down are discarded; packets in flight when it goes down are lost.
pub trait Cable: Send + std::fmt::Debug {
    /// Drive connection set-up and liveness checks; report the link state.
    fn poll_link(&mut self) -> LinkState;
    /// Queue a packet. `false` if there is no room now (retry after a flush
    /// and a wait); `true` if queued, or discarded because the link is down.
    fn try_send(&mut self, pkt: &Packet<'_>) -> bool;
    /// [`try_send`](Cable::try_send) for a packet that need not wake a
    /// sleeping peer: the next flush publishes it, and the peer reads it
    /// the next time it wakes for another reason. The controller sends E2E
    /// grants this way while the sender still holds enough credits, so a
    /// returned credit does not cost the peer a wake-up (spec 05 §8 leaves
    /// the timing of credit returns to the receiver). Transports without
    /// wake-ups treat it as `try_send`.
    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        self.try_send(pkt)
    }
    /// Publish queued packets; wake the peer if it sleeps and one of them
    /// was not sent quietly.
    fn flush(&mut self);
    /// Hand up to `max` received packets to `f` in order. A packet for which
    /// `f` returns `false` is kept for the next call and ends the batch.
    /// Returns the number consumed.
    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize;
    /// About to sleep: arm wake-ups. `false` if something is ready already
    /// (then do not sleep). `want_send`: also wake when room frees up.
    fn prepare_wait(&mut self, want_send: bool) -> bool;
    /// Done sleeping (after a successful `prepare_wait`). `ready[i]` tells
    /// whether descriptor `i` of [`wait_fd`](Cable::wait_fd) was readable
    /// when the sleep ended (all `false` after a timeout, or when the caller
    /// did not sleep), so the cable reads only what has something to say.
    fn finish_wait(&mut self, ready: &[bool]);
    /// Descriptor `i` (0, 1, ...) that becomes readable when the cable needs
    /// attention; `None` past the last.
    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>>;
    /// When the cable next needs a call regardless of I/O (retries,
    /// keep-alives, delayed packets).
    fn next_timer(&self) -> Option<Instant>;
}

impl<C: Cable + ?Sized> Cable for Box<C> {
    fn poll_link(&mut self) -> LinkState {
        (**self).poll_link()
    }
    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        (**self).try_send(pkt)
    }
    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        (**self).try_send_quiet(pkt)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        (**self).recv(max, f)
    }
    fn prepare_wait(&mut self, want_send: bool) -> bool {
        (**self).prepare_wait(want_send)
    }
    fn finish_wait(&mut self, ready: &[bool]) {
        (**self).finish_wait(ready)
    }
    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        (**self).wait_fd(i)
    }
    fn next_timer(&self) -> Option<Instant> {
        (**self).next_timer()
    }
}

/// Block until one of `cables` needs attention, `deadline`, or a timer.
/// Returns immediately if any cable is ready.
pub fn wait_any(cables: &mut [&mut dyn Cable], want_send: bool, deadline: Instant) {
    wait_any_with(cables, want_send, deadline, &[]);
}

/// [`wait_any`] that also wakes when one of `extra` becomes readable (e.g.
/// a TAP device with frames to send), all in one `poll`. Returns whether
/// one of `extra` is readable.
pub fn wait_any_with(
    cables: &mut [&mut dyn Cable],
    want_send: bool,
    deadline: Instant,
    extra: &[BorrowedFd<'_>],
) -> bool {
    wait_any_watched(cables, want_send, deadline, extra).unwrap_or(false)
}

/// [`wait_any_with`] that tells whether `extra` was watched: `None` when a
/// cable was ready at once and nothing slept, else whether one of `extra`
/// was readable.
pub fn wait_any_watched(
    cables: &mut [&mut dyn Cable],
    want_send: bool,
    deadline: Instant,
    extra: &[BorrowedFd<'_>],
) -> Option<bool> {
    let mut armed = 0;
    let mut ready = false;
    for c in cables.iter_mut() {
        if c.prepare_wait(want_send) {
            armed += 1;
        } else {
            ready = true;
            break;
        }
    }
    // After a poll: which descriptors ended it (`extra` first, then each
    // cable's), and how many each cable has.
    let mut woke: Vec<bool> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    if !ready {
        let mut until = deadline;
        for c in cables.iter() {
            if let Some(t) = c.next_timer() {
                until = until.min(t);
            }
        }
        let mut fds: Vec<rustix::event::PollFd<'_>> = extra
            .iter()
            .map(|fd| rustix::event::PollFd::from_borrowed_fd(*fd, rustix::event::PollFlags::IN))
            .collect();
        for c in cables.iter() {
            let mut i = 0;
            while let Some(fd) = c.wait_fd(i) {
                fds.push(rustix::event::PollFd::from_borrowed_fd(
                    fd,
                    rustix::event::PollFlags::IN,
                ));
                i += 1;
            }
            counts.push(i);
        }
        link::sleep_on(&mut fds, until);
        woke = fds.iter().map(|p| !p.revents().is_empty()).collect();
    }
    let (head, mut rest) = woke.split_at(extra.len().min(woke.len()));
    let extra_ready = head.contains(&true);
    for (k, c) in cables.iter_mut().take(armed).enumerate() {
        let n = counts.get(k).copied().unwrap_or(0);
        let (mine, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        c.finish_wait(mine);
    }
    (!ready).then_some(extra_ready)
}

/// Whether one of `fds` is readable now (a `poll` that does not block).
pub fn any_readable(fds: &[BorrowedFd<'_>]) -> bool {
    if fds.is_empty() {
        return false;
    }
    let mut p: Vec<rustix::event::PollFd<'_>> = fds
        .iter()
        .map(|fd| rustix::event::PollFd::from_borrowed_fd(*fd, rustix::event::PollFlags::IN))
        .collect();
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut p, Some(&zero)).is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_round_trip() {
        let data = [7u8; 4096];
        let pkts = [
            Packet::Hello {
                role: Role::RouterDownstream,
            },
            Packet::Control {
                pdf: Pdf::XDOMAIN_REQ,
                bytes: &data[..16],
            },
            Packet::Data {
                hop: 8,
                sof: Pdf::new(1),
                eof: Pdf::new(2),
                crc_error: true,
                bytes: &data,
            },
            Packet::Credit {
                hop: 9,
                credit: Credit::Grant(255),
            },
            Packet::Credit {
                hop: 9,
                credit: Credit::Unlimited,
            },
            Packet::Credit {
                hop: 9,
                credit: Credit::Reset,
            },
        ];
        let mut buf = [0u8; MAX_PACKET];
        for p in pkts {
            let n = p.encode(&mut buf).unwrap();
            assert_eq!(n, p.encoded_len());
            assert_eq!(Packet::decode(&buf[..n]), Some(p));
        }
        assert_eq!(Packet::decode(&[K_DATA, 1, 2, 0, 8, 0, 0, 0]), None);
        assert_eq!(Packet::decode(&[0xee; 8]), None);
    }
}
