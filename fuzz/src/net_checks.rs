#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Differential checks of the ThunderboltIP data path: the copying and the
//! zero-copy variant of each direction must agree byte for byte. Any panic
//! (including a failed assertion) is a finding.
//!
//! Input bytes are decoded by a small reader that yields zeros once the
//! input is exhausted, so every input is a valid (if short) scenario.

use tblink_net::csum::Offload;
use tblink_net::rx::{Gathered, Reassembler, RxConfig, RxFlags, RxOutcome};
use tblink_net::tx::{MAX_FRAMES, Transmitter, TxConfig};
use tblink_net::vnet;
use tblink_wire::tbip::{FRAME_HEADER_LEN, FRAME_PAYLOAD, FRAME_SIZE, RX_MAX_FRAME_COUNT};

/// Reads the fuzz input front to back; zeros after the end.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Up to `n` bytes of the input (fewer at its end).
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// Most DMA frames one RX input describes.
const MAX_RX_FRAMES: usize = 256;

/// Receive (spec 06 §9): a sequence of completed RX descriptors through
/// [`Reassembler::push`] and, with a receiver that keeps the buffers of the
/// packet in progress and writes their payloads out gathered (as the port
/// does), through [`Reassembler::push_gather`]. Both must accept, drop and
/// deliver alike: same outcome per frame, same packet bytes in the same
/// order, same counters, same pending bytes; the kept buffers never exceed
/// the 18 frames of check 6a.
///
/// Byte 0: bit 0 = `restart_on_first_frame`. Then per frame: a flags byte
/// (bit 0 CRC error, bit 1 overrun, bit 2 header from fields else 12 raw
/// bytes, bit 3 descriptor length field from the input else 12 +
/// `frame_size`, bit 4 short buffer), the header, optionally the 16-bit
/// length field, a fill byte for the payload.
pub fn tbip_rx_gather(data: &[u8]) {
    let mut inp = Input(data);
    let cfg = RxConfig {
        restart_on_first_frame: inp.u8() & 1 != 0,
    };
    let mut copying = Reassembler::new(cfg);
    let mut gathering = Reassembler::new(cfg);
    let mut kept: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut want: Vec<Vec<u8>> = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    for i in 0..MAX_RX_FRAMES {
        if inp.is_empty() {
            break;
        }
        let ctl = inp.u8();
        let flags = RxFlags {
            crc_error: ctl & 1 != 0,
            overrun: ctl & 2 != 0,
        };
        let mut header = [0u8; FRAME_HEADER_LEN];
        let frame_size;
        if ctl & 4 != 0 {
            // frame_size up to 8191 so that check 4 is reachable.
            frame_size = u32::from(inp.u16() & 0x1fff);
            let index = u16::from(inp.u8());
            let id = u16::from(inp.u8());
            let count = u32::from(inp.u8());
            header[0..4].copy_from_slice(&frame_size.to_le_bytes());
            header[4..6].copy_from_slice(&index.to_le_bytes());
            header[6..8].copy_from_slice(&id.to_le_bytes());
            header[8..12].copy_from_slice(&count.to_le_bytes());
        } else {
            let raw = inp.take(FRAME_HEADER_LEN);
            header[..raw.len()].copy_from_slice(raw);
            frame_size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        }
        let len_field = if ctl & 8 != 0 {
            inp.u16() & 0x0fff
        } else {
            // 4096 is encoded as 0 (spec 05 §3).
            (FRAME_HEADER_LEN as u64 + u64::from(frame_size)).min(FRAME_SIZE as u64) as u16 & 0x0fff
        };
        let fill = inp.u8();
        let mut buf: Vec<u8> = (0..FRAME_SIZE)
            .map(|j| fill ^ (i as u8) ^ (j as u8).wrapping_mul(31) ^ (j >> 8) as u8)
            .collect();
        buf[..FRAME_HEADER_LEN].copy_from_slice(&header);
        if ctl & 16 != 0 {
            buf.truncate(FRAME_HEADER_LEN + (frame_size as usize / 2).min(FRAME_PAYLOAD));
        }

        let a = match copying.push(&buf, len_field, flags) {
            RxOutcome::Pending => None,
            RxOutcome::Packet(p) => Some(Ok(p.to_vec())),
            RxOutcome::Dropped(d) => Some(Err(d)),
        };
        match gathering.push_gather(&buf, len_field, flags) {
            Gathered::Pending { payload, restarted } => {
                assert_eq!(a, None, "frame {i}: push did not keep it pending");
                if restarted {
                    kept.clear();
                }
                assert!(FRAME_HEADER_LEN + payload <= buf.len(), "frame {i}");
                kept.push((buf, payload));
            }
            Gathered::Packet {
                payload,
                restarted,
                len,
            } => {
                if restarted {
                    kept.clear();
                }
                assert!(FRAME_HEADER_LEN + payload <= buf.len(), "frame {i}");
                kept.push((buf, payload));
                let p: Vec<u8> = kept
                    .iter()
                    .flat_map(|(b, n)| &b[FRAME_HEADER_LEN..FRAME_HEADER_LEN + n])
                    .copied()
                    .collect();
                kept.clear();
                assert_eq!(p.len(), len, "frame {i}: announced length");
                match &a {
                    Some(Ok(w)) => assert!(*w == p, "frame {i}: packet bytes differ"),
                    other => panic!("frame {i}: gathered a packet, push gave {other:?}"),
                }
                got.push(p);
            }
            Gathered::Dropped(d) => {
                assert_eq!(a, Some(Err(d)), "frame {i}: drop reason");
                kept.clear();
            }
        }
        if let Some(Ok(p)) = a {
            want.push(p);
        }
        assert!(kept.len() <= RX_MAX_FRAME_COUNT as usize, "frame {i}");
        let held: usize = kept.iter().map(|(_, n)| n).sum();
        assert_eq!(copying.pending_bytes(), held, "frame {i}: pending bytes");
        assert_eq!(gathering.pending_bytes(), held, "frame {i}: pending bytes");
        assert_eq!(copying.stats(), gathering.stats(), "frame {i}: counters");
    }
    assert!(want == got, "packet sequences differ");
}

/// Where the harness built the L4 header, for a `Partial` request that
/// points at it.
struct Built {
    l4: Option<(usize, u16)>,
}

/// Write IPv4/IPv6 + TCP/UDP headers into `p` as `tpl` asks (bits 0–1:
/// none, IPv4, IPv6, IPv6 with extension headers; bit 2: 802.1Q tag;
/// bit 3: UDP instead of TCP; bits 4–7: IPv4 options words or IPv6
/// extension header count and size).
fn build_headers(p: &mut [u8], tpl: u8, inp: &mut Input<'_>) -> Built {
    fn set(p: &mut [u8], off: usize, v: u8) {
        if let Some(b) = p.get_mut(off) {
            *b = v;
        }
    }
    let kind = tpl & 3;
    if kind == 0 {
        return Built { l4: None };
    }
    let mut l3 = 14;
    if tpl & 4 != 0 {
        set(p, 12, 0x81);
        set(p, 13, 0x00);
        l3 = 18;
    }
    let et: u16 = if kind == 1 { 0x0800 } else { 0x86dd };
    set(p, l3 - 2, (et >> 8) as u8);
    set(p, l3 - 1, et as u8);
    let (proto, field) = if tpl & 8 != 0 { (17u8, 6u16) } else { (6, 16) };
    let l4 = if kind == 1 {
        let ihl = (5 + usize::from(tpl >> 4)).min(15);
        set(p, l3, 0x40 | ihl as u8);
        // Not a fragment.
        set(p, l3 + 6, 0);
        set(p, l3 + 7, 0);
        set(p, l3 + 9, proto);
        l3 + ihl * 4
    } else {
        set(p, l3, 0x60);
        let mut off = l3 + 40;
        let mut next_at = l3 + 6;
        if kind == 3 {
            let n = usize::from(tpl >> 4 & 7) + 1;
            let big = tpl & 0x80 != 0;
            for _ in 0..n {
                // Hop-by-hop, routing or destination options.
                set(p, next_at, [0, 43, 60][usize::from(inp.u8()) % 3]);
                let units = if big { 255 } else { inp.u8() & 0x1f };
                set(p, off + 1, units);
                next_at = off;
                off += (usize::from(units) + 1) * 8;
            }
        }
        set(p, next_at, proto);
        off
    };
    Built {
        l4: Some((l4, field)),
    }
}

/// Transmit (spec 06 §8, §10–§12): one Ethernet frame through the staged
/// path ([`Transmitter::encode`], which copies the packet into the DMA
/// buffers and patches the checksums) and through the in-place path (the
/// packet read straight into the buffers' payload areas, then
/// [`Transmitter::encode_in_place`]). Both must produce the same DMA
/// frames byte for byte, or refuse with the same error, and count alike.
///
/// Byte 0: bit 0 `MATCH_FRAGS_ID`, bit 1 `64K_FRAMES`, bit 2 a
/// `virtio_net_hdr` follows (else bits 3–4 pick None, Full, Partial from
/// the input, Partial at the built L4 header). Then the MTU, the packet
/// length (up to what 17 frames hold), a header template byte, and the
/// packet's leading bytes (the rest is a pattern).
pub fn tbip_tx_gather(data: &[u8]) {
    let mut inp = Input(data);
    let ctl = inp.u8();
    let cfg = TxConfig {
        match_frags_id: ctl & 1 != 0,
        frames_64k: ctl & 2 != 0,
        mtu: u32::from(inp.u16()).max(68),
    };
    let first_id = inp.u16();
    let len = usize::from(inp.u16()) + (usize::from(inp.u8() & 1) << 16);
    let len = len.min(MAX_FRAMES * FRAME_PAYLOAD);
    let tpl = inp.u8();
    let mut vnet_hdr = [0u8; vnet::VNET_HDR_LEN];
    if ctl & 4 != 0 {
        let raw = inp.take(vnet::VNET_HDR_LEN);
        vnet_hdr[..raw.len()].copy_from_slice(raw);
    }
    let mut packet: Vec<u8> = (0..len)
        .map(|j| (j as u8).wrapping_mul(13) ^ (j >> 8) as u8 ^ tpl)
        .collect();
    let built = build_headers(&mut packet, tpl, &mut inp);
    let lead = inp.take(packet.len());
    // The input overrides the leading bytes, but not the template's
    // headers unless the template is off.
    if tpl & 3 == 0 {
        packet[..lead.len()].copy_from_slice(lead);
    } else if let Some((l4, _)) = built.l4 {
        // Input bytes go to the L4 header and beyond.
        for (d, s) in packet.iter_mut().skip(l4).zip(lead) {
            *d = *s;
        }
    }
    let offload = if ctl & 4 != 0 {
        match vnet::parse(&vnet_hdr) {
            Ok((o, _)) => o,
            // Refused before either path runs.
            Err(()) => return,
        }
    } else {
        match ctl >> 3 & 3 {
            0 => Offload::None,
            1 => Offload::Full,
            2 => Offload::Partial {
                csum_start: inp.u16(),
                csum_offset: inp.u16(),
            },
            _ => match built.l4 {
                Some((l4, field)) => Offload::Partial {
                    csum_start: l4.min(usize::from(u16::MAX)) as u16,
                    csum_offset: field,
                },
                None => Offload::Full,
            },
        }
    };

    // Distinct filler in each buffer of each path: a byte either path
    // leaves unwritten inside a frame shows up as a difference.
    let garbage = |k: u8| -> Vec<[u8; FRAME_SIZE]> {
        (0..MAX_FRAMES)
            .map(|i| [k.wrapping_add((i as u8).wrapping_mul(7)); FRAME_SIZE])
            .collect()
    };
    // Advance both transmitters to the same starting frame_id.
    let mut staged = Transmitter::new(cfg);
    let mut in_place = Transmitter::new(cfg);
    if cfg.match_frags_id {
        let mut scratch = garbage(0);
        for _ in 0..first_id % 4 {
            staged
                .encode(&[0u8; 60], Offload::None, &mut scratch)
                .unwrap();
            in_place
                .encode(&[0u8; 60], Offload::None, &mut scratch)
                .unwrap();
        }
    }
    let base_staged = *staged.stats();
    let base_in_place = *in_place.stats();

    let mut a = garbage(1);
    let want = staged.encode(&packet, offload, &mut a);

    let mut b = garbage(2);
    for (i, chunk) in packet.chunks(FRAME_PAYLOAD).enumerate() {
        b[i][FRAME_HEADER_LEN..FRAME_HEADER_LEN + chunk.len()].copy_from_slice(chunk);
    }
    let got = in_place.encode_in_place(packet.len(), offload, &mut b);

    assert_eq!(
        got, want,
        "len {len} offload {offload:?}: in-place vs staged result"
    );
    if let Ok(p) = want {
        for (i, &dl) in p.desc_lens().iter().enumerate() {
            let dl = usize::from(dl);
            assert!(a[i][..dl] == b[i][..dl], "frame {i} differs");
        }
    }
    assert_eq!(staged.stats(), in_place.stats(), "counters");
    assert_eq!(staged.next_frame_id(), in_place.next_frame_id());
    assert_eq!(base_staged, base_in_place);
}
