//! The receive path (spec 06 §9): DMA frames in, Ethernet frames out.
//!
//! [`Reassembler`] applies every check of spec 06 §9 in Linux's order,
//! through `tblink_wire::tbip::rx`, and keeps Linux's counters (§14).
//! It differs from Linux in one place, the improvement §9 recommends and
//! [`RxConfig::restart_on_first_frame`] controls (on by default): a frame
//! with `frame_index` 0 that arrives while a packet is in progress drops
//! the partial packet (one `rx_missed_errors`) and starts a new packet, so
//! a lost last frame costs one packet instead of two. A frame that fails
//! a check is never delivered and never becomes part of the next packet.
//!
//! Memory is bounded: one 65536-byte buffer, allocated once. A packet is
//! delivered as a slice of it, valid until the next [`Reassembler::push`].

use tblink_wire::tbip::{
    FrameHeader, MAX_PACKET, RxCounter, RxDrop, check_continuation, check_frame, check_start,
};

use crate::stats::RxStats;

/// The flags of a completed RX descriptor (spec 05 §3, 06 §9 checks 1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxFlags {
    /// The controller saw a frame CRC error.
    pub crc_error: bool,
    /// The frame overran the buffer.
    pub overrun: bool,
}

/// Receiver behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxConfig {
    /// A `frame_index` 0 frame in the middle of a packet abandons the
    /// partial packet and starts a new one (spec 06 §9 recommendation).
    /// Off: exactly Linux 6.1.y (the frame fails check 5a/5b and is dropped).
    pub restart_on_first_frame: bool,
}

impl Default for RxConfig {
    fn default() -> Self {
        RxConfig {
            restart_on_first_frame: true,
        }
    }
}

/// What one frame did.
#[derive(Debug, PartialEq, Eq)]
pub enum RxOutcome<'a> {
    /// Accepted; the packet is not complete yet.
    Pending,
    /// Accepted and completed a packet: the Ethernet frame.
    Packet(&'a [u8]),
    /// Dropped (with the partial packet, if any); counted in [`RxStats`].
    Dropped(RxDrop),
}

/// What one frame did in [`Reassembler::push_gather`], which checks like
/// [`Reassembler::push`] but copies nothing: the caller keeps the buffers
/// of the packet in progress (at most `RX_MAX_FRAME_COUNT` = 18, spec 06
/// §9 check 6a) and hands their payloads, `buf[12..12 + payload]`, to the
/// host in one gathered write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gathered {
    /// Accepted, the packet is not complete yet.
    Pending {
        /// Payload bytes of this frame.
        payload: usize,
        /// The frames kept so far belonged to a packet this frame
        /// abandoned (a `frame_index` 0 mid-packet): release them first.
        restarted: bool,
    },
    /// Accepted and completed a packet of `len` bytes.
    Packet {
        /// Payload bytes of this frame.
        payload: usize,
        /// As in `Pending`.
        restarted: bool,
        /// Length of the Ethernet frame.
        len: usize,
    },
    /// Dropped with the partial packet, if any (release every kept
    /// frame); counted in [`RxStats`].
    Dropped(RxDrop),
}

/// The reassembler of one interface's RX ring.
#[derive(Debug)]
pub struct Reassembler {
    cfg: RxConfig,
    buf: Buffer,
    len: usize,
    /// Header of the last accepted frame of the packet in progress.
    prev: Option<FrameHeader>,
    /// The buffer holds a delivered packet (cleared on the next push).
    delivered: bool,
    stats: RxStats,
}

/// The one packet buffer: 65536 bytes on the heap, allocated once.
struct Buffer(Box<[u8]>);

impl Buffer {
    fn new() -> Self {
        Buffer(vec![0u8; MAX_PACKET].into_boxed_slice())
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl core::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Buffer({} bytes)", self.0.len())
    }
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(RxConfig::default())
    }
}

impl Reassembler {
    /// An idle reassembler.
    pub fn new(cfg: RxConfig) -> Self {
        Reassembler {
            cfg,
            buf: Buffer::new(),
            len: 0,
            prev: None,
            delivered: false,
            stats: RxStats::default(),
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> &RxStats {
        &self.stats
    }

    /// Bytes of the packet in progress (0 when idle).
    pub fn pending_bytes(&self) -> usize {
        if self.delivered { 0 } else { self.len }
    }

    /// Forget a packet in progress without counting it (ring stopped).
    pub fn reset(&mut self) {
        self.len = 0;
        self.prev = None;
        self.delivered = false;
    }

    /// Feed one completed RX descriptor: `buf` is its buffer as written by
    /// the controller (header then payload), `desc_len_field` the 12-bit
    /// length field (0 = 4096), `flags` its error flags.
    pub fn push(&mut self, buf: &[u8], desc_len_field: u16, flags: RxFlags) -> RxOutcome<'_> {
        if self.delivered {
            self.reset();
        }
        match self.accept(buf, desc_len_field, flags, true) {
            Ok((true, _)) => {
                self.delivered = true;
                self.prev = None;
                self.stats.rx_packets += 1;
                self.stats.rx_bytes += self.len as u64;
                RxOutcome::Packet(self.buf.bytes().get(..self.len).unwrap_or(&[]))
            }
            Ok((false, _)) => RxOutcome::Pending,
            Err(drop) => {
                self.count(drop.counter());
                self.reset();
                RxOutcome::Dropped(drop)
            }
        }
    }

    /// Check one completed RX descriptor like [`Reassembler::push`]
    /// without copying its payload (see [`Gathered`]).
    pub fn push_gather(&mut self, buf: &[u8], desc_len_field: u16, flags: RxFlags) -> Gathered {
        if self.delivered {
            self.reset();
        }
        let missed = self.stats.rx_missed_errors;
        match self.accept(buf, desc_len_field, flags, false) {
            Ok((complete, payload)) => {
                let restarted = self.stats.rx_missed_errors != missed;
                if complete {
                    self.delivered = true;
                    self.prev = None;
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += self.len as u64;
                    Gathered::Packet {
                        payload,
                        restarted,
                        len: self.len,
                    }
                } else {
                    Gathered::Pending { payload, restarted }
                }
            }
            Err(drop) => {
                self.count(drop.counter());
                self.reset();
                Gathered::Dropped(drop)
            }
        }
    }

    fn count(&mut self, c: RxCounter) {
        let s = &mut self.stats;
        match c {
            RxCounter::Crc => s.rx_crc_errors += 1,
            RxCounter::Over => s.rx_over_errors += 1,
            RxCounter::Length => s.rx_length_errors += 1,
            RxCounter::Missed => s.rx_missed_errors += 1,
        }
    }

    /// The checks of spec 06 §9 in order; `Ok((true, _))` when the packet
    /// is complete, with the frame's payload length. `copy`: move the
    /// payload into the packet buffer.
    fn accept(
        &mut self,
        buf: &[u8],
        desc_len_field: u16,
        flags: RxFlags,
        copy: bool,
    ) -> Result<(bool, usize), RxDrop> {
        let f = check_frame(buf, desc_len_field, flags.crc_error, flags.overrun)?;
        let h = f.header;
        if self.prev.is_some() && h.frame_index == 0 && self.cfg.restart_on_first_frame {
            // The packet in progress lost its tail: drop it, start anew.
            self.stats.rx_missed_errors += 1;
            self.reset();
        }
        match self.prev {
            Some(prev) => check_continuation(&prev, self.len, &h)?,
            None => check_start(&h)?,
        }
        let end = self.len + f.payload.len();
        // Checks 4 and 5c bound `end` by 65536; this guard keeps it so.
        if end > MAX_PACKET {
            return Err(RxDrop::PacketTooLong);
        }
        if copy {
            let dst = self
                .buf
                .bytes_mut()
                .get_mut(self.len..end)
                .ok_or(RxDrop::PacketTooLong)?;
            dst.copy_from_slice(f.payload);
        }
        self.len = end;
        self.prev = Some(h);
        Ok((h.is_last(), f.payload.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tblink_wire::tbip::FRAME_SIZE;

    fn frame(size: u32, index: u16, id: u16, count: u32, fill: u8) -> Vec<u8> {
        let mut b = vec![fill; 12 + size as usize];
        FrameHeader {
            frame_size: size,
            frame_index: index,
            frame_id: id,
            frame_count: count,
        }
        .emit(&mut b)
        .unwrap();
        b
    }

    fn push(r: &mut Reassembler, b: &[u8]) -> Option<Vec<u8>> {
        match r.push(b, (b.len() & 0xfff) as u16, RxFlags::default()) {
            RxOutcome::Packet(p) => Some(p.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn single_and_multi() {
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, &frame(42, 0, 0, 1, 9)), Some(vec![9; 42]));
        assert_eq!(push(&mut r, &frame(4084, 0, 5, 2, 1)), None);
        assert_eq!(r.pending_bytes(), 4084);
        let p = push(&mut r, &frame(10, 1, 5, 2, 2)).unwrap();
        assert_eq!(p.len(), 4094);
        assert_eq!(r.stats().rx_packets, 2);
        assert_eq!(r.stats().rx_bytes, 42 + 4094);
        assert_eq!(r.stats().rx_errors(), 0);
        assert_eq!(FRAME_SIZE, 4096);
    }

    /// Gathering sees the same packets, drops and counters as copying,
    /// and says which kept frames to release.
    #[test]
    fn gather_matches_push() {
        let frames = [
            frame(4084, 0, 5, 2, 1),
            frame(10, 1, 5, 2, 2),
            frame(4084, 0, 6, 3, 3),
            // Restart: packet 6 loses its tail.
            frame(4084, 0, 7, 2, 4),
            frame(7, 1, 7, 2, 5),
            // Out of sequence: dropped.
            frame(7, 1, 8, 2, 6),
        ];
        let mut a = Reassembler::default();
        let mut b = Reassembler::default();
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut got = Vec::new();
        for f in &frames {
            let want = push(&mut a, f);
            match b.push_gather(f, (f.len() & 0xfff) as u16, RxFlags::default()) {
                Gathered::Pending { payload, restarted } => {
                    if restarted {
                        kept.clear();
                    }
                    kept.push(f[12..12 + payload].to_vec());
                    assert_eq!(want, None);
                }
                Gathered::Packet {
                    payload,
                    restarted,
                    len,
                } => {
                    if restarted {
                        kept.clear();
                    }
                    kept.push(f[12..12 + payload].to_vec());
                    let p = kept.concat();
                    kept.clear();
                    assert_eq!(p.len(), len);
                    assert_eq!(Some(p.clone()), want);
                    got.push(p);
                }
                Gathered::Dropped(_) => {
                    kept.clear();
                    assert_eq!(want, None);
                }
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(a.stats(), b.stats());
        // The restart and the frame without a start.
        assert_eq!(b.stats().rx_missed_errors, 2);
    }

    #[test]
    fn linux_mode_loses_two() {
        let mut r = Reassembler::new(RxConfig {
            restart_on_first_frame: false,
        });
        assert_eq!(push(&mut r, &frame(4084, 0, 1, 2, 1)), None);
        // Last frame of packet 1 lost; packet 2 (ids 2) arrives.
        assert_eq!(push(&mut r, &frame(4084, 0, 2, 2, 2)), None);
        assert_eq!(push(&mut r, &frame(5, 1, 2, 2, 2)), None);
        assert_eq!(r.stats().rx_missed_errors, 2);
        assert_eq!(r.stats().rx_packets, 0);
        assert_eq!(push(&mut r, &frame(5, 0, 3, 1, 3)), Some(vec![3; 5]));
    }
}
