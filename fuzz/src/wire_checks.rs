#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! One function per fuzz target: feed arbitrary bytes to a parser, and when
//! it accepts them, require that emitting the value and parsing it again
//! gives the same value. Any panic (including a failed assertion) is a finding.

use tblink_wire::tbip::{self, FrameHeader, TbipMessage};

/// ThunderboltIP: control messages and data frames (spec 06 §4, §8, §9).
/// Byte 0 selects the descriptor flags, bytes 1–2 the descriptor length
/// field; the rest is the buffer.
pub fn tbip_frame(data: &[u8]) {
    let (flags, rest) = match data.split_first() {
        Some((f, r)) => (*f, r),
        None => return,
    };
    let (len_field, buf) = match rest {
        [a, b, tail @ ..] => (u16::from_le_bytes([*a, *b]) & 0x0fff, tail),
        _ => return,
    };
    if let Ok(frame) = tbip::rx::check_frame(buf, len_field, flags & 1 != 0, flags & 2 != 0) {
        assert!(frame.payload.len() == frame.header.frame_size as usize);
        let _ = tbip::rx::check_start(&frame.header);
    }
    if let Ok(h) = FrameHeader::parse(buf) {
        let mut out = [0u8; 12];
        assert_eq!(h.emit(&mut out).ok(), Some(12));
        assert_eq!(&out[..], &buf[..12]);
    }
    if let Ok(msg) = TbipMessage::parse(buf) {
        let mut out = [0u8; 256];
        let n = msg.emit(&mut out).expect("a parsed message emits");
        assert_eq!(n, msg.buffer_len());
        let again = TbipMessage::parse(&out[..n]).expect("emitted bytes parse");
        assert_eq!(again, msg);
    }
    let _ = TbipMessage::parse_frame(buf);
}
