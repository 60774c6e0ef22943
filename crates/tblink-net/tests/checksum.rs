//! Checksum completion on transmit (spec 06 §10, §12), verified after the
//! frames are reassembled with an independent, naive RFC 1071 sum.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tblink_net::csum::{CsumError, plan};
use tblink_net::{Offload, Transmitter, TxConfig, TxError};
use tblink_wire::tbip::FRAME_SIZE;

fn tx() -> Transmitter {
    // A Linux peer: MATCH_FRAGS_ID and 64K_FRAMES, MTU 1500.
    Transmitter::new(TxConfig::default())
}

fn check_all_modes(p: &[u8]) {
    let mut t = tx();
    let full = through(&mut t, p, Offload::Full);
    let c_full = verify(&full);
    let (l4, _) = l4(p);
    let proto_field = if full.len() > l4 && is_tcp(p) { 16 } else { 6 };
    let partial = through(
        &mut t,
        p,
        Offload::Partial {
            csum_start: l4 as u16,
            csum_offset: proto_field,
        },
    );
    assert_eq!(verify(&partial), c_full);
    assert_eq!(partial, full);
    // Apart from the checksum fields the packet is unchanged.
    let mut masked_in = p.to_vec();
    let mut masked_out = full.clone();
    for m in [&mut masked_in, &mut masked_out] {
        let f = l4 + proto_field as usize;
        m[f] = 0;
        m[f + 1] = 0;
        let (l3, et) = l3(p);
        if et == 0x0800 {
            m[l3 + 10] = 0;
            m[l3 + 11] = 0;
        }
    }
    assert_eq!(masked_in, masked_out);
    assert_eq!(t.stats().tx_errors, 0);
}

fn is_tcp(p: &[u8]) -> bool {
    let (l3, et) = l3(p);
    if et == 0x0800 {
        p[l3 + 9] == 6
    } else {
        let mut next = p[l3 + 6];
        let mut off = l3 + 40;
        while next == 60 {
            next = p[off];
            off += (p[off + 1] as usize + 1) * 8;
        }
        next == 6
    }
}

#[test]
fn ipv4_tcp_udp_small_and_odd() {
    for (i, len) in [8usize, 20, 21, 100, 1001, 1460].into_iter().enumerate() {
        if len >= 20 {
            check_all_modes(&ipv4(6, len, false, 0, i as u32));
            check_all_modes(&ipv4(6, len, true, 2, i as u32 + 50));
        }
        check_all_modes(&ipv4(17, len, false, 0, i as u32 + 100));
        check_all_modes(&ipv4(17, len, true, 1, i as u32 + 200));
    }
}

#[test]
fn ipv6_tcp_udp_with_vlan_and_extension_headers() {
    for (i, len) in [20usize, 33, 1440, 4000].into_iter().enumerate() {
        check_all_modes(&ipv6(6, len, false, 0, i as u32));
        check_all_modes(&ipv6(17, len, true, 0, i as u32 + 10));
        check_all_modes(&ipv6(6, len, false, 2, i as u32 + 20));
        check_all_modes(&ipv6(17, len, true, 1, i as u32 + 30));
    }
}

/// TSO-sized segments far above the MTU, spread across up to 17 frames
/// (spec 06 §12): the checksum covers the whole segment.
#[test]
fn tso_sized_segments_across_frames() {
    for (i, total) in [9000usize, 30001, 64000, 65536].into_iter().enumerate() {
        let p4 = ipv4(6, total - 34, false, 0, 300 + i as u32);
        assert_eq!(p4.len(), total);
        check_all_modes(&p4);
        let p6 = ipv6(6, total - 58, true, 0, 400 + i as u32);
        assert_eq!(p6.len(), total);
        check_all_modes(&p6);
    }
}

/// A UDP datagram whose checksum computes to 0 is sent as 0xFFFF
/// (spec 06 §10); over IPv4 and IPv6.
#[test]
fn udp_zero_becomes_ffff() {
    for v6 in [false, true] {
        let mut p = if v6 {
            ipv6(17, 200, false, 0, 7)
        } else {
            ipv4(17, 200, false, 0, 7)
        };
        let (l4, _) = l4(&p);
        // Zero the checksum field and the last word, then choose the last
        // word so that the full sum is 0xFFFF: the checksum is then 0.
        p[l4 + 6] = 0;
        p[l4 + 7] = 0;
        let n = p.len();
        p[n - 2] = 0;
        p[n - 1] = 0;
        let (l3, _) = l3(&p);
        let mut pseudo = if v6 {
            p[l3 + 8..l3 + 40].to_vec()
        } else {
            p[l3 + 12..l3 + 20].to_vec()
        };
        let len = (n - l4) as u32;
        if v6 {
            pseudo.extend_from_slice(&len.to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
        } else {
            pseudo.extend_from_slice(&[0, 17]);
            pseudo.extend_from_slice(&(len as u16).to_be_bytes());
        }
        let s = naive_sum(&[&pseudo, &p[l4..]]);
        p[n - 2..].copy_from_slice(&(!s).to_be_bytes());
        let out = through(&mut tx(), &p, Offload::Full);
        assert_eq!(verify(&out), 0xffff);
    }
}

#[test]
fn unsupported_offload_requests_are_tx_errors() {
    let mut t = tx();
    let mut bufs = vec![[0u8; FRAME_SIZE]; 17];
    // ICMP over IPv4.
    let icmp = ipv4(1, 64, false, 0, 1);
    assert_eq!(
        t.encode(&icmp, Offload::Full, &mut bufs),
        Err(TxError::Checksum(CsumError::NotTcpUdp(1)))
    );
    // ARP.
    let mut arp = eth(0x0806, false);
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(
        t.encode(&arp, Offload::Full, &mut bufs),
        Err(TxError::Checksum(CsumError::NotIp(0x0806)))
    );
    // Two VLAN tags: only one is looked through.
    let mut qinq = eth(0x8100, true);
    qinq.extend_from_slice(&[0, 1, 0x08, 0x00]);
    qinq.extend_from_slice(&[0x45; 40]);
    assert!(t.encode(&qinq, Offload::Full, &mut bufs).is_err());
    // IPv4 fragment.
    let mut frag = ipv4(17, 100, false, 0, 2);
    frag[20] = 0x20; // MF
    assert_eq!(
        t.encode(&frag, Offload::Full, &mut bufs),
        Err(TxError::Checksum(CsumError::Fragment))
    );
    // Partial offsets that do not point at the TCP checksum.
    let tcp = ipv4(6, 100, false, 0, 3);
    assert_eq!(
        t.encode(
            &tcp,
            Offload::Partial {
                csum_start: 34,
                csum_offset: 6
            },
            &mut bufs
        ),
        Err(TxError::Checksum(CsumError::BadOffsets))
    );
    // Truncated TCP header.
    let short = ipv4(6, 10, false, 0, 4);
    assert_eq!(
        t.encode(&short, Offload::Full, &mut bufs),
        Err(TxError::Checksum(CsumError::Truncated))
    );
    assert_eq!(t.stats().tx_errors, 6);
    assert_eq!(t.stats().tx_packets, 0);
    // Offload::None passes anything unchanged, checksums untouched.
    let out = through(&mut t, &icmp, Offload::None);
    assert_eq!(out, icmp);
}

/// A virtio-style request whose field holds the pseudo-header sum gives
/// the same result as computing from scratch.
#[test]
fn partial_with_seeded_pseudo_header() {
    let mut p = ipv4(6, 500, false, 0, 9);
    let full = plan(&p, Offload::Full).unwrap().unwrap();
    p[34 + 16..34 + 18].copy_from_slice(&[0x12, 0x34]);
    let part = plan(
        &p,
        Offload::Partial {
            csum_start: 34,
            csum_offset: 16,
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(full, part);
}
