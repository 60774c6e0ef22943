//! Spec 06 §8.4: splitting a 10 000-byte (and 10 014-byte) Ethernet frame
//! with frame_id 0x002A, and the header bytes of each frame.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers unwrap known-good vectors

use tblink_wire::tbip::frame::{decode_desc_len, encode_desc_len};
use tblink_wire::tbip::{DataFrame, FRAME_SIZE, FrameHeader, split, write_frame};

/// (payload range, descriptor length, descriptor length field, header bytes)
type Row = (core::ops::Range<usize>, usize, u16, [u8; 12]);

fn table_10000() -> [Row; 3] {
    [
        (
            0..4084,
            4096,
            0x000,
            [
                0xf4, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x03, 0x00, 0x00, 0x00,
            ],
        ),
        (
            4084..8168,
            4096,
            0x000,
            [
                0xf4, 0x0f, 0x00, 0x00, 0x01, 0x00, 0x2a, 0x00, 0x03, 0x00, 0x00, 0x00,
            ],
        ),
        (
            8168..10000,
            1844,
            0x734,
            [
                0x28, 0x07, 0x00, 0x00, 0x02, 0x00, 0x2a, 0x00, 0x03, 0x00, 0x00, 0x00,
            ],
        ),
    ]
}

fn packet(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn check_split(len: usize, table: &[Row]) {
    let s = split(len).unwrap();
    assert_eq!(s.frame_count() as usize, table.len());
    assert_eq!(s.len(), table.len());
    let pkt = packet(len);
    let mut buf = [0xeeu8; FRAME_SIZE];
    let mut frames = 0;
    for (f, (range, desc_len, field, hdr)) in s.zip(table) {
        frames += 1;
        assert_eq!(f.range(), *range);
        assert_eq!(f.descriptor_len(), *desc_len);
        assert_eq!(encode_desc_len(f.descriptor_len()), *field);
        assert_eq!(decode_desc_len(*field), *desc_len);
        let h = f.header(0x2a);
        assert_eq!(h.to_bytes(), *hdr);
        assert_eq!(FrameHeader::parse(hdr).unwrap(), h);
        assert_eq!(FrameHeader::from_bytes(hdr), h);
        assert_eq!(h.is_last(), f.index as u32 == f.count - 1);

        let n = f.write(&pkt, 0x2a, &mut buf).unwrap();
        assert_eq!(n, *desc_len);
        assert_eq!(&buf[..12], hdr);
        assert_eq!(&buf[12..n], &pkt[range.clone()]);
        let view = DataFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!(view.header(), h);
        assert_eq!(view.payload(), Some(&pkt[range.clone()]));
    }
    assert_eq!(frames, table.len());
}

#[test]
fn worked_example_10000() {
    check_split(10_000, &table_10000());
}

#[test]
fn worked_example_10014() {
    let mut t = table_10000();
    t[2] = (
        8168..10014,
        1858,
        0x742,
        [
            0x36, 0x07, 0x00, 0x00, 0x02, 0x00, 0x2a, 0x00, 0x03, 0x00, 0x00, 0x00,
        ],
    );
    check_split(10_014, &t);
}

#[test]
fn header_fields_little_endian() {
    let h = FrameHeader {
        frame_size: 0x0102_0304,
        frame_index: 0x0506,
        frame_id: 0x0708,
        frame_count: 0x090a_0b0c,
    };
    assert_eq!(
        h.to_bytes(),
        [
            0x04, 0x03, 0x02, 0x01, 0x06, 0x05, 0x08, 0x07, 0x0c, 0x0b, 0x0a, 0x09
        ]
    );
    let mut b = [0u8; 12];
    let mut v = DataFrame::new_unchecked(&mut b[..]);
    assert!(v.set_frame_size(h.frame_size));
    assert!(v.set_frame_index(h.frame_index));
    assert!(v.set_frame_id(h.frame_id));
    assert!(v.set_frame_count(h.frame_count));
    assert_eq!(b, h.to_bytes());
    assert!(FrameHeader::parse(&b[..11]).is_err());
    let mut out = [0u8; 11];
    assert!(h.emit(&mut out).is_err());
}

#[test]
fn every_length_covers_the_packet() {
    for len in (1..=65536)
        .step_by(97)
        .chain([4083, 4084, 4085, 65535, 65536])
    {
        let s = split(len).unwrap();
        let count = s.frame_count();
        assert!(count <= 17);
        let mut next = 0;
        for f in s {
            assert_eq!(f.offset, next);
            assert_eq!(f.count, count);
            assert!(f.size >= 1 && f.size <= 4084);
            if f.index as u32 + 1 < count {
                assert_eq!(f.size, 4084);
            }
            next += f.size;
        }
        assert_eq!(next, len);
    }
}

#[test]
fn write_frame_rejects_mismatch() {
    let mut buf = [0u8; FRAME_SIZE];
    let h = FrameHeader {
        frame_size: 10,
        frame_index: 0,
        frame_id: 0,
        frame_count: 1,
    };
    assert!(write_frame(&mut buf, &h, &[0; 9]).is_err());
    assert_eq!(write_frame(&mut buf, &h, &[0; 10]), Ok(22));
    let f = split(100).unwrap().next().unwrap();
    assert!(f.write(&[0u8; 50], 0, &mut buf).is_err());
}
