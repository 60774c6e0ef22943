#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! One function per fuzz target: feed arbitrary bytes to a parser, and when
//! it accepts them, require that emitting the value and parsing it again
//! gives the same value. Any panic (including a failed assertion) is a finding.

use tblink_wire::Pdf;
use tblink_wire::ctl::{ControlPacket, FrameBuf};
use tblink_wire::property::Directory;
use tblink_wire::tbip::{self, FrameHeader, TbipMessage};
use tblink_wire::xdomain::{Message, XdPacket};

/// Control packets of every PDF (spec 01 §6). Byte 0 is the PDF; the rest
/// is parsed both as a frame body and as a whole frame with CRC trailer.
pub fn ctl_packet(data: &[u8]) {
    let Some((&pdf, body)) = data.split_first() else {
        return;
    };
    let pdf = Pdf::new(pdf);
    if let Ok(pkt) = ControlPacket::parse(pdf, body) {
        assert_eq!(pkt.pdf(), pdf);
        let mut out = [0u8; 256];
        let n = pkt.emit(&mut out).expect("a parsed packet emits");
        assert_eq!(n, pkt.buffer_len());
        let again = ControlPacket::parse(pdf, &out[..n]).expect("emitted bytes parse");
        assert_eq!(again, pkt);
        let frame = pkt.to_frame().expect("a parsed packet frames");
        assert_eq!(
            ControlPacket::from_frame(&frame).expect("own frame parses"),
            pkt
        );
    }
    if let Ok(frame) = FrameBuf::from_wire(pdf, body) {
        let _ = ControlPacket::from_frame(&frame);
    }
}

/// XDomain discovery messages (spec 02 §2–4): a frame body without CRC.
pub fn xdomain_message(data: &[u8]) {
    if let Ok(pkt) = XdPacket::parse(data) {
        let mut out = [0u8; 256];
        let n = pkt.emit(&mut out).expect("a parsed packet emits");
        assert_eq!(n, pkt.buffer_len());
        let again = XdPacket::parse(&out[..n]).expect("emitted bytes parse");
        assert_eq!(again, pkt);
    }
    if let Some(Ok(msg)) = data.get(28..).map(Message::parse) {
        let mut out = [0u8; 256];
        let n = msg.emit(&mut out).expect("a parsed message emits");
        assert_eq!(Message::parse(&out[..n]).expect("emitted bytes parse"), msg);
    }
}

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

/// Property blocks (spec 03 §5–6): a block of big-endian dwords. Whatever
/// parses and fits the formatter must format to a block that parses back
/// to the same tree, and formatting is stable from then on.
pub fn property_block(data: &[u8]) {
    let Ok(tree) = Directory::parse(data) else {
        return;
    };
    let _ = tree.check_xdomain_root();
    if let Ok(block) = tree.format_bytes() {
        let again = Directory::parse(&block).expect("formatted block parses");
        assert_eq!(again, tree);
        assert_eq!(again.format_bytes().expect("formats again"), block);
    }
}
