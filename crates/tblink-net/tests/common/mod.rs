//! Test helpers: packet builders and an independent checksum verifier.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tblink_net::{Offload, Reassembler, RxFlags, RxOutcome, Transmitter};
use tblink_wire::tbip::FRAME_SIZE;

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Naive RFC 1071 sum, word by word, no tricks.
pub fn naive_sum(parts: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for p in parts {
        assert!(all.len() % 2 == 0, "only the last part may be odd");
        all.extend_from_slice(p);
    }
    let mut s: u32 = 0;
    let mut i = 0;
    while i < all.len() {
        let hi = all[i] as u32;
        let lo = if i + 1 < all.len() {
            all[i + 1] as u32
        } else {
            0
        };
        s += (hi << 8) | lo;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        i += 2;
    }
    s as u16
}

pub const MAC_A: [u8; 6] = [0x02, 0xc5, 0x45, 0xcb, 0xde, 0x01];
pub const MAC_B: [u8; 6] = [0x12, 0x08, 0x73, 0x8e, 0x7d, 0xd9];

pub fn eth(ethertype: u16, vlan: bool) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&MAC_B);
    p.extend_from_slice(&MAC_A);
    if vlan {
        p.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    p
}

/// Ethernet + IPv4 (options: `opt_words` extra dwords) + L4 header + payload.
/// Checksum fields are filled with garbage.
pub fn ipv4(proto: u8, l4_len: usize, vlan: bool, opt_words: usize, seed: u32) -> Vec<u8> {
    let mut p = eth(0x0800, vlan);
    let ihl = 5 + opt_words;
    let total = (ihl * 4 + l4_len) as u16;
    p.push(0x40 | ihl as u8);
    p.push(0);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0xde, 0xad]);
    p.extend_from_slice(&[192, 168, 7, 1, 192, 168, 7, 2]);
    p.extend(std::iter::repeat_n(1u8, opt_words * 4));
    p.extend_from_slice(&bytes(l4_len, seed));
    fix_l4_header(&mut p, proto, ihl * 4 + if vlan { 18 } else { 14 });
    p
}

/// Ethernet + IPv6 (+ `ext` destination-options headers of 8 bytes) + L4.
pub fn ipv6(proto: u8, l4_len: usize, vlan: bool, ext: usize, seed: u32) -> Vec<u8> {
    let mut p = eth(0x86dd, vlan);
    let plen = (ext * 8 + l4_len) as u16;
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&plen.to_be_bytes());
    p.push(if ext > 0 { 60 } else { proto });
    p.push(64);
    p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    for i in 0..ext {
        let next = if i + 1 == ext { proto } else { 60 };
        p.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    let l4 = p.len();
    p.extend_from_slice(&bytes(l4_len, seed));
    fix_l4_header(&mut p, proto, l4);
    p
}

fn fix_l4_header(p: &mut [u8], proto: u8, l4: usize) {
    if proto == 17 {
        let len = (p.len() - l4) as u16;
        p[l4 + 4..l4 + 6].copy_from_slice(&len.to_be_bytes());
    } else if proto == 6 && p.len() > l4 + 12 {
        p[l4 + 12] = 0x50;
    }
}

/// Where the L3 header starts and its EtherType.
pub fn l3(p: &[u8]) -> (usize, u16) {
    let et = u16::from_be_bytes([p[12], p[13]]);
    if et == 0x8100 {
        (18, u16::from_be_bytes([p[16], p[17]]))
    } else {
        (14, et)
    }
}

/// Where the L4 header starts and its protocol number (IPv6: after the
/// destination-options headers the builders add).
pub fn l4(p: &[u8]) -> (usize, u8) {
    let (l3, et) = l3(p);
    if et == 0x0800 {
        (l3 + (p[l3] & 0xf) as usize * 4, p[l3 + 9])
    } else {
        let mut next = p[l3 + 6];
        let mut off = l3 + 40;
        while next == 60 {
            next = p[off];
            off += (p[off + 1] as usize + 1) * 8;
        }
        (off, next)
    }
}

/// Verify every checksum of a packet with the naive sum; returns the L4
/// checksum value found.
pub fn verify(p: &[u8]) -> u16 {
    let (l3, et) = l3(p);
    let (l4, proto) = l4(p);
    let pseudo_addr = if et == 0x0800 {
        assert_eq!(naive_sum(&[&p[l3..l4]]), 0xffff, "IPv4 header checksum");
        p[l3 + 12..l3 + 20].to_vec()
    } else {
        p[l3 + 8..l3 + 40].to_vec()
    };
    let len = (p.len() - l4) as u32;
    let mut pseudo = pseudo_addr;
    if et == 0x0800 {
        pseudo.extend_from_slice(&[0, proto]);
        pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        pseudo.extend_from_slice(&len.to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, proto]);
    }
    assert_eq!(naive_sum(&[&pseudo, &p[l4..]]), 0xffff, "L4 checksum");
    let field = if proto == 6 { 16 } else { 6 };
    u16::from_be_bytes([p[l4 + field], p[l4 + field + 1]])
}

/// Encode with `tx`, then reassemble with a fresh reassembler.
pub fn through(tx: &mut Transmitter, packet: &[u8], offload: Offload) -> Vec<u8> {
    let mut bufs = vec![[0u8; FRAME_SIZE]; 17];
    let enc = tx.encode(packet, offload, &mut bufs).unwrap();
    let mut rx = Reassembler::default();
    let mut out = None;
    for (i, &len) in enc.desc_lens().iter().enumerate() {
        let field = len & 0xfff;
        match rx.push(&bufs[i][..len as usize], field, RxFlags::default()) {
            RxOutcome::Packet(p) => out = Some(p.to_vec()),
            RxOutcome::Pending => {}
            RxOutcome::Dropped(d) => panic!("dropped: {d}"),
        }
    }
    out.unwrap()
}
