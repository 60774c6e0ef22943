//! Spec 06 §13: Linux `jhash2` and the interface MAC, both worked rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers unwrap known-good vectors

use tblink_wire::Route;
use tblink_wire::tbip::derive_mac;
use tblink_wire::tbip::mac::{jhash2, uuid_hashes};
use tblink_wire::uuid::{Uuid, WireUuid, uuid_to_dwords};

struct Row {
    uuid: Uuid,
    wire: [u8; 16],
    k: [u32; 4],
    h1: u32,
    h2: u32,
    port: u64,
    mac: [u8; 6],
}

fn rows() -> [Row; 2] {
    [
        Row {
            uuid: Uuid::from_u128(0x4a7e2c1d_93b5_4f60_8d21_c0ffee123456),
            wire: [
                0x1d, 0x2c, 0x7e, 0x4a, 0x60, 0x4f, 0xb5, 0x93, 0xff, 0xc0, 0x21, 0x8d, 0x56, 0x34,
                0x12, 0xee,
            ],
            k: [0x1d2c7e4a, 0x604fb593, 0xffc0218d, 0x563412ee],
            h1: 0xdecb45c5,
            h2: 0x8a2b3401,
            port: 1,
            mac: [0x02, 0xc5, 0x45, 0xcb, 0xde, 0x01],
        },
        Row {
            uuid: Uuid::from_u128(0x0b5e8f3a_7c2d_4e19_a6b4_5d3c2b1a0f9e),
            wire: [
                0x3a, 0x8f, 0x5e, 0x0b, 0x19, 0x4e, 0x2d, 0x7c, 0x3c, 0x5d, 0xb4, 0xa6, 0x9e, 0x0f,
                0x1a, 0x2b,
            ],
            k: [0x3a8f5e0b, 0x194e2d7c, 0x3c5db4a6, 0x9e0f1a2b],
            h1: 0x7d8e7308,
            h2: 0x81bca8d9,
            port: 3,
            mac: [0x12, 0x08, 0x73, 0x8e, 0x7d, 0xd9],
        },
    ]
}

#[test]
fn worked_values() {
    for r in rows() {
        assert_eq!(WireUuid::from_uuid(&r.uuid).0, r.wire);
        assert_eq!(uuid_to_dwords(&r.uuid), r.k);
        assert_eq!(jhash2(&r.k, 0), r.h1);
        assert_eq!(jhash2(&r.k, r.h1), r.h2);
        assert_eq!(uuid_hashes(&r.uuid), (r.h1, r.h2));
        assert_eq!(derive_mac(&r.uuid, Route::from_raw(r.port)), r.mac);
    }
}

/// Only the first byte depends on the port: two interfaces of one host
/// differ there alone (spec 06 §13).
#[test]
fn port_changes_first_byte_only() {
    let r = &rows()[0];
    let firsts: Vec<u8> = (1..=8)
        .map(|p| derive_mac(&r.uuid, Route::from_raw(p)))
        .inspect(|m| assert_eq!(m[1..], r.mac[1..]))
        .map(|m| m[0])
        .collect();
    assert_eq!(firsts, [0x02, 0x02, 0x12, 0x12, 0x22, 0x22, 0x32, 0x32]);
    // Only the level-0 adapter counts.
    assert_eq!(
        derive_mac(&r.uuid, Route::from_raw(0x0503)),
        derive_mac(&r.uuid, Route::from_raw(3))
    );
}

/// Tail lengths other than 1 exercise the remaining branches (values from
/// the lookup3 algorithm as specified, checked for consistency only).
#[test]
fn tail_lengths_differ() {
    let k = [1u32, 2, 3, 4, 5, 6, 7];
    let hs: Vec<u32> = (0..=k.len()).map(|n| jhash2(&k[..n], 0)).collect();
    for i in 0..hs.len() {
        for j in i + 1..hs.len() {
            assert_ne!(hs[i], hs[j], "len {i} vs {j}");
        }
    }
}
