//! Receive validation (spec 06 §9): bad frame sequences are dropped and
//! counted exactly as Linux counts them (§14), and the good packet that
//! follows is delivered intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::bytes;
use tblink_net::{Reassembler, RxConfig, RxFlags, RxOutcome, RxStats};
use tblink_wire::tbip::{FrameHeader, RxDrop};

/// One RX descriptor: buffer, length field, flags.
#[derive(Clone)]
struct D {
    buf: Vec<u8>,
    len_field: u16,
    flags: RxFlags,
}

fn hdr(size: u32, index: u16, id: u16, count: u32) -> FrameHeader {
    FrameHeader {
        frame_size: size,
        frame_index: index,
        frame_id: id,
        frame_count: count,
    }
}

/// A frame whose descriptor length is exactly header + payload.
fn f(size: u32, index: u16, id: u16, count: u32) -> D {
    let mut buf = vec![0u8; 12 + size as usize];
    hdr(size, index, id, count).emit(&mut buf).unwrap();
    for (i, b) in buf[12..].iter_mut().enumerate() {
        *b = (i as u8) ^ (index as u8);
    }
    let len_field = (buf.len() & 0xfff) as u16;
    D {
        buf,
        len_field,
        flags: RxFlags::default(),
    }
}

fn with_flags(mut d: D, crc: bool, over: bool) -> D {
    d.flags = RxFlags {
        crc_error: crc,
        overrun: over,
    };
    d
}

/// The frames of a good packet of `data` with `id`.
fn packet(data: &[u8], id: u16) -> Vec<D> {
    let n = data.len().div_ceil(4084);
    data.chunks(4084)
        .enumerate()
        .map(|(i, c)| {
            let mut buf = vec![0u8; 12 + c.len()];
            hdr(c.len() as u32, i as u16, id, n as u32)
                .emit(&mut buf)
                .unwrap();
            buf[12..].copy_from_slice(c);
            let len_field = (buf.len() & 0xfff) as u16;
            D {
                buf,
                len_field,
                flags: RxFlags::default(),
            }
        })
        .collect()
}

/// Feed `frames`, return the delivered packets and the drops.
fn run(r: &mut Reassembler, frames: &[D]) -> (Vec<Vec<u8>>, Vec<RxDrop>) {
    let mut got = Vec::new();
    let mut drops = Vec::new();
    for d in frames {
        match r.push(&d.buf, d.len_field, d.flags) {
            RxOutcome::Packet(p) => got.push(p.to_vec()),
            RxOutcome::Pending => {}
            RxOutcome::Dropped(x) => drops.push(x),
        }
    }
    (got, drops)
}

/// Feed `bad`, then a good 3-frame packet: the bad frames deliver nothing,
/// produce exactly `want` drops and counters, the good packet arrives intact.
fn case(cfg: RxConfig, bad: Vec<D>, want: &[RxDrop], stats: RxStats) {
    let mut r = Reassembler::new(cfg);
    let (got, drops) = run(&mut r, &bad);
    assert!(got.is_empty(), "bad sequence delivered a packet");
    assert_eq!(drops, want);
    assert_eq!(*r.stats(), stats);
    let good = bytes(9000, 77);
    let (got, drops) = run(&mut r, &packet(&good, 0x1234));
    assert!(drops.is_empty(), "good packet dropped: {drops:?}");
    assert_eq!(got, vec![good]);
    assert_eq!(r.stats().rx_packets, 1);
    assert_eq!(r.stats().rx_bytes, 9000);
}

fn tolerant() -> RxConfig {
    RxConfig::default()
}

fn linux() -> RxConfig {
    RxConfig {
        restart_on_first_frame: false,
    }
}

fn st(length: u64, over: u64, crc: u64, missed: u64) -> RxStats {
    RxStats {
        rx_length_errors: length,
        rx_over_errors: over,
        rx_crc_errors: crc,
        rx_missed_errors: missed,
        ..RxStats::default()
    }
}

#[test]
fn check_1_crc_and_2_overrun() {
    for cfg in [tolerant(), linux()] {
        // CRC beats overrun (check order).
        case(
            cfg,
            vec![with_flags(f(100, 0, 0, 1), true, true)],
            &[RxDrop::CrcError],
            st(0, 0, 1, 0),
        );
        // Overrun in the middle of a packet: the partial goes too, the
        // remaining frame fails 6b.
        case(
            cfg,
            vec![
                f(4084, 0, 1, 3),
                with_flags(f(4084, 1, 1, 3), false, true),
                f(100, 2, 1, 3),
            ],
            &[RxDrop::BufferOverrun, RxDrop::NotFirstFrame],
            st(0, 1, 0, 1),
        );
    }
}

#[test]
fn check_3_and_4_lengths_and_truncation() {
    let mut header_only = f(1, 0, 0, 1);
    header_only.len_field = 12;
    let mut zero_size = f(1, 0, 0, 1);
    hdr(0, 0, 0, 1).emit(&mut zero_size.buf).unwrap();
    let mut oversize = f(100, 0, 0, 1);
    oversize.len_field = 12 + 99;
    // Descriptor says 4096 (field 0) but the buffer holds 200 bytes.
    let mut truncated = f(4084, 0, 0, 1);
    truncated.buf.truncate(200);
    truncated.len_field = 0;
    case(
        tolerant(),
        vec![header_only, zero_size, oversize, truncated],
        &[
            RxDrop::NoPayload,
            RxDrop::BadFrameSize,
            RxDrop::BadFrameSize,
            RxDrop::BadFrameSize,
        ],
        st(4, 0, 0, 0),
    );
}

#[test]
fn check_5a_frame_count_changed() {
    case(
        tolerant(),
        vec![f(4084, 0, 1, 3), f(4084, 1, 1, 4), f(10, 2, 1, 3)],
        &[RxDrop::FrameCountChanged, RxDrop::NotFirstFrame],
        st(1, 0, 0, 1),
    );
}

#[test]
fn check_5b_index_and_id() {
    case(
        tolerant(),
        vec![f(4084, 0, 1, 3), f(10, 2, 1, 3)],
        &[RxDrop::IndexOutOfSequence],
        st(0, 0, 0, 1),
    );
    case(
        tolerant(),
        vec![f(4084, 0, 1, 3), f(4084, 1, 2, 3), f(10, 2, 1, 3)],
        &[RxDrop::FrameIdChanged, RxDrop::NotFirstFrame],
        st(0, 0, 0, 2),
    );
    // A repeated frame is out of sequence too.
    case(
        tolerant(),
        vec![f(4084, 0, 1, 3), f(4084, 1, 1, 3), f(4084, 1, 1, 3)],
        &[RxDrop::IndexOutOfSequence],
        st(0, 0, 0, 1),
    );
}

#[test]
fn check_5c_packet_too_long() {
    // 18 frames are allowed at the start (6a) but 17 × 4084 > 65536.
    let mut frames: Vec<D> = (0..17).map(|i| f(4084, i, 9, 18)).collect();
    frames.push(f(4084, 17, 9, 18));
    case(
        tolerant(),
        frames,
        &[RxDrop::PacketTooLong, RxDrop::NotFirstFrame],
        st(1, 0, 0, 1),
    );
}

#[test]
fn check_6a_and_6b_first_frame() {
    case(
        tolerant(),
        vec![f(10, 0, 0, 0), f(10, 0, 0, 19), f(10, 1, 0, 2)],
        &[
            RxDrop::BadFrameCount,
            RxDrop::BadFrameCount,
            RxDrop::NotFirstFrame,
        ],
        st(2, 0, 0, 1),
    );
}

/// Spec 06 §9: Linux loses two packets for one lost last frame; the
/// recommended receiver loses one.
#[test]
fn lost_last_frame_costs_one_packet() {
    let a = bytes(3 * 4084 - 5, 1);
    let b = bytes(3 * 4084 - 7, 2);
    let mut frames = packet(&a, 1);
    frames.pop();
    frames.extend(packet(&b, 2));

    let mut r = Reassembler::new(tolerant());
    let (got, drops) = run(&mut r, &frames);
    assert_eq!(got, vec![b.clone()]);
    assert!(drops.is_empty());
    assert_eq!(
        *r.stats(),
        RxStats {
            rx_packets: 1,
            rx_bytes: b.len() as u64,
            ..st(0, 0, 0, 1)
        }
    );

    let mut r = Reassembler::new(linux());
    let (got, drops) = run(&mut r, &frames);
    assert!(got.is_empty());
    assert_eq!(
        drops,
        [
            RxDrop::IndexOutOfSequence,
            RxDrop::NotFirstFrame,
            RxDrop::NotFirstFrame
        ]
    );
    assert_eq!(r.stats().rx_missed_errors, 3);
    // The next packet is fine in both modes.
    let c = bytes(100, 3);
    assert_eq!(run(&mut r, &packet(&c, 3)).0, vec![c]);
}

/// Everything Linux may send is accepted: 65536-byte frames in 17 frames,
/// 18 short frames, short non-last frames, 42-byte ARP, any frame_id.
#[test]
fn accepts_what_linux_sends() {
    let mut r = Reassembler::default();
    let big = bytes(65536, 5);
    assert_eq!(run(&mut r, &packet(&big, 0xffff)).0, vec![big]);
    let frames: Vec<D> = (0..18).map(|i| f(100, i, 7, 18)).collect();
    let (got, _) = run(&mut r, &frames);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), 1800);
    assert_eq!(&got[0][100..103], &[1, 0, 3]);
    let arp = bytes(42, 6);
    assert_eq!(run(&mut r, &packet(&arp, 0)).0, vec![arp]);
    assert_eq!(r.stats().rx_packets, 3);
    assert_eq!(r.stats().rx_bytes, 65536 + 1800 + 42);
    assert_eq!(r.stats().rx_errors(), 0);
    // A full 4096-byte descriptor is encoded as length 0.
    let full = packet(&bytes(4084, 8), 1);
    assert_eq!(full[0].len_field, 0);
}

/// A frame with trailing bytes beyond frame_size (descriptor longer than
/// the header says) is accepted; only frame_size bytes are used.
#[test]
fn descriptor_longer_than_frame_size() {
    let mut r = Reassembler::default();
    let mut d = f(10, 0, 0, 1);
    d.buf.extend_from_slice(&[0xee; 50]);
    d.len_field = d.buf.len() as u16;
    let (got, _) = run(&mut r, &[d]);
    assert_eq!(got[0].len(), 10);
}
