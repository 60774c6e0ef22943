//! The transmit path (spec 06 §8, §10, §11): one Ethernet frame → DMA
//! frames with the 12-byte header, written into caller-provided buffers,
//! with software checksum completion. No allocation per packet.

use tblink_wire::tbip::{
    FRAME_HEADER_LEN, FRAME_PAYLOAD, MAX_FRAMES_PER_PACKET, MAX_PACKET, Split, split,
};
use thiserror::Error;

use crate::csum::{self, CsumError, CsumPlan, ETHERTYPE_VLAN, Offload};
use crate::stats::TxStats;

/// Most frames of one packet: 17 (spec 06 §8.2).
pub const MAX_FRAMES: usize = MAX_FRAMES_PER_PACKET as usize;

/// What the transmitter knows about the peer and the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxConfig {
    /// The peer advertises `MATCH_FRAGS_ID`: increment `frame_id` after
    /// every packet; otherwise always send 0 (spec 06 §8.3).
    pub match_frags_id: bool,
    /// The peer advertises `64K_FRAMES`: packets up to 65536 bytes;
    /// otherwise at most the MTU (spec 06 §11).
    pub frames_64k: bool,
    /// Interface MTU (L3 bytes; the Ethernet header and one 802.1Q tag
    /// come on top).
    pub mtu: u32,
}

impl TxConfig {
    /// Towards a peer with `prtcstns`, at `mtu`.
    pub fn from_prtcstns(prtcstns: u32, mtu: u32) -> Self {
        TxConfig {
            match_frags_id: prtcstns & tblink_wire::tbip::PRTCSTNS_MATCH_FRAGS_ID != 0,
            frames_64k: prtcstns & tblink_wire::tbip::PRTCSTNS_64K_FRAMES != 0,
            mtu,
        }
    }
}

impl Default for TxConfig {
    /// Towards a Linux peer (`prtcstns` 0x7) at the default MTU of 1500.
    fn default() -> Self {
        TxConfig::from_prtcstns(
            tblink_wire::tbip::PRTCSTNS_LINUX,
            tblink_wire::tbip::MTU_DEFAULT,
        )
    }
}

/// Why a packet was not encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TxError {
    /// Back-pressure, not an error: the packet needs `needed` frame
    /// buffers and fewer were given. Nothing was written or counted
    /// (spec 06 §14).
    #[error("needs {needed} frame buffers")]
    Busy {
        /// Frames the packet needs.
        needed: usize,
    },
    /// An empty packet.
    #[error("empty packet")]
    Empty,
    /// Larger than the peer accepts (spec 06 §11).
    #[error("packet of {len} bytes exceeds {max}")]
    TooLong {
        /// Packet length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A frame buffer shorter than the frame it must hold.
    #[error("frame buffer too small")]
    BufferTooSmall,
    /// Checksum completion impossible (spec 06 §10).
    #[error("checksum: {0}")]
    Checksum(#[from] CsumError),
}

/// One encoded packet: which buffers hold it and their descriptor lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPacket {
    frames: usize,
    frame_id: u16,
    desc_lens: [u16; MAX_FRAMES],
}

impl TxPacket {
    /// Number of frames written (buffers `0..frames`).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The `frame_id` every frame carries.
    pub fn frame_id(&self) -> u16 {
        self.frame_id
    }

    /// Descriptor length in bytes (13..=4096) of each frame: 12 +
    /// `frame_size` (spec 06 §8.1). The ring encodes 4096 as 0.
    pub fn desc_lens(&self) -> &[u16] {
        &self.desc_lens[..self.frames]
    }
}

/// The transmitter of one interface: `frame_id` counter and TX statistics.
#[derive(Debug, Clone, Default)]
pub struct Transmitter {
    cfg: TxConfig,
    frame_id: u16,
    stats: TxStats,
}

impl Transmitter {
    /// A transmitter starting at `frame_id` 0, like Linux (spec 06 §8.3).
    pub fn new(cfg: TxConfig) -> Self {
        Transmitter {
            cfg,
            frame_id: 0,
            stats: TxStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TxConfig {
        &self.cfg
    }

    /// Change the MTU (the peer's bits are fixed for a connection).
    pub fn set_mtu(&mut self, mtu: u32) {
        self.cfg.mtu = mtu;
    }

    /// The `frame_id` the next packet will carry.
    pub fn next_frame_id(&self) -> u16 {
        self.frame_id
    }

    /// Statistics so far.
    pub fn stats(&self) -> &TxStats {
        &self.stats
    }

    /// The largest Ethernet frame accepted for `packet` (spec 06 §11):
    /// 65536 towards a `64K_FRAMES` peer, else MTU + 14 (+ 4 with an
    /// 802.1Q tag), never above 65536.
    pub fn max_len(&self, packet: &[u8]) -> usize {
        if self.cfg.frames_64k {
            return MAX_PACKET;
        }
        let tagged = packet.get(12..14) == Some(&ETHERTYPE_VLAN.to_be_bytes()[..]);
        let hdr = if tagged { 18 } else { 14 };
        (self.cfg.mtu as usize).saturating_add(hdr).min(MAX_PACKET)
    }

    /// Frames a packet of `len` bytes needs: `ceil(len / 4084)` (spec 06 §8.2).
    pub fn frames_needed(len: usize) -> usize {
        len.div_ceil(FRAME_PAYLOAD)
    }

    /// Encode `packet` (a complete Ethernet frame, no FCS) into `bufs`,
    /// completing checksums per `offload` (spec 06 §8.2, §10). Each
    /// buffer used must hold 12 + its payload (4096 always suffices).
    ///
    /// On success `tx_packets`/`tx_bytes` count the packet and the
    /// `frame_id` advances if the peer advertises `MATCH_FRAGS_ID`.
    /// [`TxError::Busy`] changes nothing; every other error counts one
    /// `tx_errors` (spec 06 §14).
    pub fn encode<B: AsMut<[u8]>>(
        &mut self,
        packet: &[u8],
        offload: Offload,
        bufs: &mut [B],
    ) -> Result<TxPacket, TxError> {
        let r = self.encode_inner(packet, offload, bufs);
        self.count(r, packet.len())
    }

    /// Counts the outcome of encoding a packet of `len` bytes as
    /// [`Transmitter::encode`] documents, and advances the `frame_id` on
    /// success when the peer matches fragments by it.
    #[inline]
    fn count(&mut self, r: Result<TxPacket, TxError>, len: usize) -> Result<TxPacket, TxError> {
        match r {
            Ok(p) => {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += len as u64;
                if self.cfg.match_frags_id {
                    self.frame_id = self.frame_id.wrapping_add(1);
                }
                Ok(p)
            }
            Err(e @ TxError::Busy { .. }) => Err(e),
            Err(e) => {
                self.stats.tx_errors += 1;
                Err(e)
            }
        }
    }

    /// The frames of a packet of `len` bytes starting with `head` (at least
    /// its Ethernet header when there is one), or [`TxError::TooLong`]
    /// when it is longer than [`Transmitter::max_len`] allows.
    #[inline]
    fn split_checked(&self, len: usize, head: &[u8]) -> Result<Split, TxError> {
        let max = self.max_len(head);
        if len > max {
            return Err(TxError::TooLong { len, max });
        }
        split(len).map_err(|_| TxError::TooLong {
            len,
            max: MAX_PACKET,
        })
    }

    fn encode_inner<B: AsMut<[u8]>>(
        &self,
        packet: &[u8],
        offload: Offload,
        bufs: &mut [B],
    ) -> Result<TxPacket, TxError> {
        if packet.is_empty() {
            return Err(TxError::Empty);
        }
        let frames = self.split_checked(packet.len(), packet)?;
        let needed = frames.len();
        if bufs.len() < needed {
            return Err(TxError::Busy { needed });
        }
        let plan = csum::plan(packet, offload)?;
        let mut out = TxPacket {
            frames: needed,
            frame_id: self.frame_id,
            desc_lens: [0; MAX_FRAMES],
        };
        for (f, (buf, len)) in frames.zip(bufs.iter_mut().zip(out.desc_lens.iter_mut())) {
            let n = f
                .write(packet, self.frame_id, buf.as_mut())
                .map_err(|_| TxError::BufferTooSmall)?;
            *len = n as u16;
        }
        if let Some(plan) = plan {
            patch(bufs, &plan);
        }
        Ok(out)
    }
}

impl Transmitter {
    /// [`Transmitter::encode`] for a packet of `len` bytes already in
    /// place: packet offset `o` at byte `12 + o % 4084` of `bufs[o / 4084]`
    /// (where a vectored read from the host device put it). Writes the
    /// frame headers and completes the checksums in the buffers (headers
    /// and checksum fields may lie in any frame). Given the buffers the
    /// packet needs, same frames, errors and counting as `encode`; with
    /// too few it reports [`TxError::Busy`] before checking the length.
    pub fn encode_in_place<B: AsMut<[u8]>>(
        &mut self,
        len: usize,
        offload: Offload,
        bufs: &mut [B],
    ) -> Result<TxPacket, TxError> {
        let r = self.encode_in_place_inner(len, offload, bufs);
        self.count(r, len)
    }

    fn encode_in_place_inner<B: AsMut<[u8]>>(
        &self,
        len: usize,
        offload: Offload,
        bufs: &mut [B],
    ) -> Result<TxPacket, TxError> {
        if len == 0 {
            return Err(TxError::Empty);
        }
        let needed = Self::frames_needed(len);
        if bufs.len() < needed {
            return Err(TxError::Busy { needed });
        }
        let head_len = len.min(FRAME_PAYLOAD);
        let frames = {
            let head = bufs
                .first_mut()
                .and_then(|b| {
                    b.as_mut()
                        .get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + head_len)
                })
                .ok_or(TxError::BufferTooSmall)?;
            self.split_checked(len, head)?
        };
        let plan = {
            let mut frags: [&[u8]; MAX_FRAMES] = [&[]; MAX_FRAMES];
            for (f, (slot, buf)) in split(len)
                .map_err(|_| TxError::BufferTooSmall)?
                .zip(frags.iter_mut().zip(bufs.iter_mut()))
            {
                *slot = buf
                    .as_mut()
                    .get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + f.size)
                    .ok_or(TxError::BufferTooSmall)?;
            }
            csum::plan_gathered(frags.get(..needed).unwrap_or(&[]), offload)?
        };
        let mut out = TxPacket {
            frames: needed,
            frame_id: self.frame_id,
            desc_lens: [0; MAX_FRAMES],
        };
        for (f, (buf, dl)) in frames.zip(bufs.iter_mut().zip(out.desc_lens.iter_mut())) {
            let b = buf.as_mut();
            f.header(self.frame_id)
                .emit(
                    b.get_mut(..FRAME_HEADER_LEN)
                        .ok_or(TxError::BufferTooSmall)?,
                )
                .map_err(|_| TxError::BufferTooSmall)?;
            *dl = (FRAME_HEADER_LEN + f.size) as u16;
        }
        if let Some(plan) = plan {
            patch(bufs, &plan);
        }
        Ok(out)
    }
}

/// Store the planned checksums into the frame copies: packet offset `o`
/// lives in frame `o / 4084` at byte `12 + o % 4084`. A field may straddle
/// two frames.
fn patch<B: AsMut<[u8]>>(bufs: &mut [B], plan: &CsumPlan) {
    for (off, v) in plan.ip.into_iter().chain([plan.l4]) {
        for (i, b) in v.to_be_bytes().into_iter().enumerate() {
            let o = off + i;
            if let Some(slot) = bufs
                .get_mut(o / FRAME_PAYLOAD)
                .and_then(|buf| buf.as_mut().get_mut(FRAME_HEADER_LEN + o % FRAME_PAYLOAD))
            {
                *slot = b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tblink_wire::tbip::{FRAME_SIZE, FrameHeader};

    fn bufs() -> Vec<[u8; FRAME_SIZE]> {
        vec![[0u8; FRAME_SIZE]; MAX_FRAMES]
    }

    /// Encoding in place gives the same frames as encoding a copy.
    #[test]
    fn in_place_matches_encode() {
        // A TCP/IPv4 packet of 10 000 bytes with a partial checksum.
        let mut pkt: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        pkt[12..14].copy_from_slice(&[0x08, 0x00]);
        pkt[14] = 0x45;
        pkt[20..22].copy_from_slice(&[0, 0]);
        pkt[23] = 6;
        let offload = Offload::Partial {
            csum_start: 34,
            csum_offset: 16,
        };
        let cfg = TxConfig {
            frames_64k: true,
            ..TxConfig::default()
        };
        let mut a = Transmitter::new(cfg);
        let mut b = Transmitter::new(cfg);
        let mut x = bufs();
        let want = a.encode(&pkt, offload, &mut x).unwrap();
        let mut y = bufs();
        for (i, c) in pkt.chunks(FRAME_PAYLOAD).enumerate() {
            y[i][FRAME_HEADER_LEN..FRAME_HEADER_LEN + c.len()].copy_from_slice(c);
        }
        let got = b.encode_in_place(pkt.len(), offload, &mut y).unwrap();
        assert_eq!(got, want);
        for (i, &dl) in want.desc_lens().iter().enumerate() {
            assert_eq!(
                x[i][..usize::from(dl)],
                y[i][..usize::from(dl)],
                "frame {i}"
            );
        }
        assert_eq!(a.stats(), b.stats());
        // Busy changes nothing; a non-IP packet with a checksum request counts.
        assert_eq!(
            b.encode_in_place(pkt.len(), offload, &mut y[..2]),
            Err(TxError::Busy { needed: 3 })
        );
        y[0][FRAME_HEADER_LEN + 12] = 0x86;
        y[0][FRAME_HEADER_LEN + 13] = 0x00;
        assert!(b.encode_in_place(pkt.len(), offload, &mut y).is_err());
        assert_eq!(b.stats().tx_errors, 1);
    }

    /// Fuzz finding (`tbip_tx_gather`): a UDP/IPv6 packet whose eight
    /// 2048-byte extension headers put the UDP header at offset 16438, in
    /// the fifth DMA frame. The in-place path refused it as truncated;
    /// spec 06 §10 wants its checksum completed like any UDP packet.
    #[test]
    fn in_place_headers_past_first_frame() {
        let mut pkt: Vec<u8> = (0..20_000u32).map(|i| (i * 13) as u8).collect();
        // Ethernet (EtherType IPv6), IPv6 with next header hop-by-hop.
        pkt[12..14].copy_from_slice(&[0x86, 0xdd]);
        pkt[14] = 0x60;
        pkt[20] = 0;
        // Eight extension headers: (next header, length 255 = 2048 bytes).
        let chain = [60, 43, 0, 60, 43, 0, 60, 17];
        for (k, next) in chain.into_iter().enumerate() {
            let at = 54 + k * 2048;
            pkt[at..at + 2].copy_from_slice(&[next, 255]);
        }
        let l4 = 54 + 8 * 2048;
        assert_eq!(l4, 16438);
        let offload = Offload::Partial {
            csum_start: l4 as u16,
            csum_offset: 6,
        };
        let cfg = TxConfig {
            frames_64k: true,
            ..TxConfig::default()
        };
        let mut x = bufs();
        let want = Transmitter::new(cfg).encode(&pkt, offload, &mut x).unwrap();
        let mut y = bufs();
        for (i, c) in pkt.chunks(FRAME_PAYLOAD).enumerate() {
            y[i][FRAME_HEADER_LEN..FRAME_HEADER_LEN + c.len()].copy_from_slice(c);
        }
        let got = Transmitter::new(cfg)
            .encode_in_place(pkt.len(), offload, &mut y)
            .unwrap();
        assert_eq!(got, want);
        let mut sent = Vec::new();
        for (i, &dl) in want.desc_lens().iter().enumerate() {
            let dl = usize::from(dl);
            assert_eq!(x[i][..dl], y[i][..dl], "frame {i}");
            sent.extend_from_slice(&x[i][FRAME_HEADER_LEN..dl]);
        }
        // The UDP checksum verifies: pseudo-header + segment sum to 0xffff.
        let seg = &sent[l4..];
        let sum = csum::fold(
            u64::from(csum::ones_sum(&sent[22..54]))
                + 17
                + seg.len() as u64
                + u64::from(csum::ones_sum(seg)),
        );
        assert_eq!(sum, 0xffff);
        assert_ne!(&sent[l4 + 6..l4 + 8], &pkt[l4 + 6..l4 + 8]);
    }

    /// Spec 06 §8.4: a 10 000-byte frame with frame_id 0x2a.
    #[test]
    fn spec_8_4_example() {
        let mut tx = Transmitter::new(TxConfig::default());
        tx.frame_id = 0x2a;
        let pkt: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut b = bufs();
        let p = tx.encode(&pkt, Offload::None, &mut b).unwrap();
        assert_eq!(p.frames(), 3);
        assert_eq!(p.desc_lens(), &[4096, 4096, 1844]);
        assert_eq!(&b[0][..12], &[0xf4, 0x0f, 0, 0, 0, 0, 0x2a, 0, 3, 0, 0, 0]);
        assert_eq!(&b[1][..12], &[0xf4, 0x0f, 0, 0, 1, 0, 0x2a, 0, 3, 0, 0, 0]);
        assert_eq!(&b[2][..12], &[0x28, 0x07, 0, 0, 2, 0, 0x2a, 0, 3, 0, 0, 0]);
        assert_eq!(&b[1][12..16], &pkt[4084..4088]);
        assert_eq!(tx.next_frame_id(), 0x2b);
        assert_eq!(tx.stats().tx_packets, 1);
        assert_eq!(tx.stats().tx_bytes, 10_000);
    }

    #[test]
    fn frame_id_only_with_match_frags_id() {
        let mut tx = Transmitter::new(TxConfig::from_prtcstns(0x4, 1500));
        let mut b = bufs();
        for _ in 0..3 {
            let p = tx.encode(&[1u8; 60], Offload::None, &mut b).unwrap();
            assert_eq!(p.frame_id(), 0);
            assert_eq!(FrameHeader::parse(&b[0]).unwrap().frame_id, 0);
        }
        let mut tx = Transmitter::new(TxConfig::from_prtcstns(0x2, 1500));
        for id in 0..3 {
            assert_eq!(
                tx.encode(&[1u8; 60], Offload::None, &mut b)
                    .unwrap()
                    .frame_id(),
                id
            );
        }
    }

    #[test]
    fn limits_and_backpressure() {
        let mut tx = Transmitter::new(TxConfig::from_prtcstns(0x2, 1500));
        let mut b = bufs();
        assert_eq!(tx.encode(&[], Offload::None, &mut b), Err(TxError::Empty));
        let big = vec![0u8; 1515];
        assert_eq!(
            tx.encode(&big, Offload::None, &mut b),
            Err(TxError::TooLong {
                len: 1515,
                max: 1514
            })
        );
        let mut tagged = vec![0u8; 1518];
        tagged[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(tx.encode(&tagged, Offload::None, &mut b).is_ok());
        assert_eq!(tx.stats().tx_errors, 2);
        // 64K_FRAMES: up to 65536 whatever the MTU.
        let mut tx = Transmitter::new(TxConfig::from_prtcstns(0x6, 1500));
        let huge = vec![7u8; 65536];
        assert_eq!(
            tx.encode(&huge, Offload::None, &mut b).unwrap().frames(),
            17
        );
        assert!(matches!(
            tx.encode(&vec![0u8; 65537], Offload::None, &mut b),
            Err(TxError::TooLong { .. })
        ));
        // Busy: nothing counted, frame_id unchanged.
        let before = tx.clone();
        assert_eq!(
            tx.encode(&huge, Offload::None, &mut b[..16]),
            Err(TxError::Busy { needed: 17 })
        );
        assert_eq!(tx.stats(), before.stats());
        assert_eq!(tx.next_frame_id(), before.next_frame_id());
        // Short buffers.
        let mut small = vec![[0u8; 100]; 2];
        assert_eq!(
            tx.encode(&[0u8; 200], Offload::None, &mut small),
            Err(TxError::BufferTooSmall)
        );
    }
}
