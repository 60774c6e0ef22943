//! What XDomain discovery parsing accepts and rejects (spec 02 §2–4, §7):
//! typed errors for truncated or malformed frames, Linux's leniency for
//! extra dwords.

// A test crate: failing loudly is its job (library code keeps the workspace lints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ctl_dump;

use ctl_dump::be_bytes;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::{THUNDERBOLT_IP, Uuid, XDOMAIN_DISCOVERY, uuid_to_dwords};
use tblink_wire::xdomain::{ErrorCode, Message, MsgType, Seq, XdPacket};
use tblink_wire::{Error, Pdf, Route};

/// A discovery body to route 1, SN 2, with the given dwords from DW7 on and
/// a correct length field.
fn body(msg: &[u32]) -> Vec<u8> {
    body_with(XDOMAIN_DISCOVERY, msg)
}

fn body_with(protocol: Uuid, msg: &[u32]) -> Vec<u8> {
    let mut d = vec![0, 1, (2 << 27) | (msg.len() as u32 + 4)];
    d.extend(uuid_to_dwords(&protocol));
    d.extend_from_slice(msg);
    be_bytes(&d)
}

const U1: [u32; 4] = [0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00];

#[test]
fn header_only_types_ignore_extra_dwords() {
    // Spec 02 §7: Linux answers types 1, 12, 15 whatever their length.
    for (ty, m) in [
        (12, Message::UuidRequest),
        (1, Message::UuidRequestOld),
        (15, Message::LinkStateStatusRequest),
    ] {
        let p = XdPacket::parse(&body(&[ty, 0xdead_beef, 7])).unwrap();
        assert_eq!(p.message, m);
        assert_eq!(p.buffer_len(), 32);
    }
}

#[test]
fn properties_changed_response_any_length() {
    // Spec 02 §3: accept any length ≥ 5; emit Linux's 36 bytes.
    let short = body(&[6]);
    let p = XdPacket::parse(&short).unwrap();
    assert_eq!(p.message, Message::PropertiesChangedResponse);
    let mut out = [0xffu8; 64];
    assert_eq!(p.emit(&mut out), Ok(36));
    assert_eq!(out[11], 6, "length field 6");
    assert_eq!(out[32..36], [0, 0, 0, 0], "trailing zero dword");
    let long = body(&[6, 5, 6, 7]);
    assert_eq!(
        XdPacket::parse(&long).unwrap().message,
        Message::PropertiesChangedResponse
    );
}

#[test]
fn reserved_bits_and_extra_dwords_are_ignored() {
    // DW16 bits 31:16 of PROPERTIES_REQUEST are reserved (spec 02 §4.3).
    let mut m = vec![3];
    m.extend(U1);
    m.extend(U1);
    m.extend([0xabcd_0010, 0x1234]);
    let p = XdPacket::parse(&body(&m)).unwrap();
    assert!(matches!(
        p.message,
        Message::PropertiesRequest { offset: 0x10, .. }
    ));
    assert_eq!(p.buffer_len(), 68);
    // DW8 bits 31:16 of LINK_STATE_CHANGE_REQUEST are reserved (spec 02 §4.9).
    let p = XdPacket::parse(&body(&[17, 0xffff_0c03, 9])).unwrap();
    assert_eq!(
        p.message,
        Message::LinkStateChangeRequest { tlw: 3, tls: 0xc }
    );
    // Reserved DW2 bits (spec 02 §2).
    let mut b = body(&[12]);
    b[8] |= 0xe0;
    b[10] |= 0x01;
    assert_eq!(XdPacket::parse(&b).unwrap().seq, Seq::new(2));
    // Extra dwords after fixed-size responses and the error code.
    let p = XdPacket::parse(&body(&[7, 4, 0])).unwrap();
    assert_eq!(
        p.message,
        Message::ErrorResponse {
            code: ErrorCode::NOT_READY
        }
    );
    let p = XdPacket::parse(&body(&[18, 0, 0])).unwrap();
    assert_eq!(p.message, Message::LinkStateChangeResponse { status: 0 });
}

#[test]
fn properties_response_keeps_every_dword() {
    let mut m = vec![4];
    m.extend(U1);
    m.extend(U1);
    m.extend([0x0002_0000, 1]);
    // Zero data dwords: valid on the wire (Linux 6.1 would reject it, 02 §4.4).
    let p = XdPacket::parse(&body(&m)).unwrap();
    assert!(
        matches!(&p.message, Message::PropertiesResponse { data, data_length: 2, .. } if data.is_empty())
    );
    m.extend([0x5555_4401, 2, 3]);
    let p = XdPacket::parse(&body(&m)).unwrap();
    assert!(
        matches!(&p.message, Message::PropertiesResponse { data, .. } if data == &[0x5555_4401, 2, 3])
    );
}

#[test]
fn truncation_is_typed() {
    // Header only, length 4: no type dword (spec 01 §8.3, length < 5).
    let b = body_with(XDOMAIN_DISCOVERY, &[]);
    assert_eq!(
        XdPacket::parse(&b),
        Err(Error::Truncated {
            needed: 32,
            got: 28
        })
    );
    // Per-type minimums, in frame bytes (spec 02 §3).
    for (ty, total) in [
        (2u32, 56usize),
        (3, 68),
        (4, 72),
        (5, 48),
        (7, 36),
        (16, 40),
        (17, 36),
        (18, 36),
    ] {
        let mut m = vec![ty];
        m.resize((total - 28) / 4 - 1, 0);
        assert_eq!(
            XdPacket::parse(&body(&m)),
            Err(Error::Truncated {
                needed: total,
                got: total - 4
            }),
            "type {ty}"
        );
    }
    assert!(matches!(
        XdPacket::parse(&[0u8; 27]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(XdPacket::parse(&[]), Err(Error::Truncated { .. })));
}

#[test]
fn garbage_is_typed() {
    // Length field must be exact (spec 01 §8.3).
    let mut b = body(&[12]);
    b[11] = 6;
    assert_eq!(
        XdPacket::parse(&b),
        Err(Error::LengthMismatch {
            field: 6,
            actual: 5
        })
    );
    // Unaligned body.
    let mut b = body(&[12]);
    b.push(0);
    assert!(matches!(XdPacket::parse(&b), Err(Error::Unaligned { .. })));
    // Another protocol's frame.
    assert_eq!(
        XdPacket::parse(&body_with(THUNDERBOLT_IP, &[12])),
        Err(Error::WrongProtocol)
    );
}

#[test]
fn frames_check_pdf_and_crc() {
    let p = XdPacket::new(Route::from_raw(1), Seq::new(2), Message::UuidRequest);
    let f = p.to_frame().unwrap();
    assert_eq!(f.pdf(), Pdf::XDOMAIN_REQ);
    let wrong = FrameBuf::from_wire(Pdf::ERROR, f.as_bytes()).unwrap();
    assert_eq!(
        XdPacket::from_frame(&wrong),
        Err(Error::InvalidField {
            field: "pdf",
            value: 3
        })
    );
    let mut bad = f.clone();
    bad.as_mut_bytes()[31] ^= 1;
    assert!(matches!(
        XdPacket::from_frame(&bad),
        Err(Error::BadCrc { .. })
    ));
    // An explicit PDF: a response type sent as a request (spec 02 §7).
    let odd = XdPacket::new(
        Route::from_raw(1),
        Seq::new(0),
        Message::PropertiesChangedResponse,
    )
    .to_frame_with_pdf(Pdf::XDOMAIN_REQ)
    .unwrap();
    assert_eq!(odd.pdf(), Pdf::XDOMAIN_REQ);
    assert_eq!(
        XdPacket::from_frame(&odd).unwrap().message,
        Message::PropertiesChangedResponse
    );
}

#[test]
fn unknown_types_round_trip() {
    let b = body(&[9, 1, 2, 3]);
    let p = XdPacket::parse(&b).unwrap();
    assert_eq!(
        p.message,
        Message::Unknown {
            msg_type: MsgType::new(9),
            payload: vec![1, 2, 3]
        }
    );
    assert!(p.message.is_request());
    let mut out = vec![0u8; b.len()];
    assert_eq!(p.emit(&mut out), Ok(b.len()));
    assert_eq!(out, b);
}

#[test]
fn emit_rejects_what_cannot_be_sent() {
    let p = XdPacket::new(
        Route::from_raw(1),
        Seq::new(0),
        Message::Unknown {
            msg_type: MsgType::new(0x99),
            payload: vec![0; 56],
        },
    );
    assert!(matches!(p.to_frame(), Err(Error::TooLong { .. })));
    let p = XdPacket::new(
        Route::from_raw(1),
        Seq::new(0),
        Message::PropertiesResponse {
            src_uuid: Uuid::nil(),
            dst_uuid: Uuid::nil(),
            offset: 0,
            data_length: 46,
            generation: 1,
            data: vec![0; 46],
        },
    );
    assert!(matches!(p.to_frame(), Err(Error::TooLong { .. })));
    let mut small = [0u8; 31];
    assert!(matches!(
        XdPacket::new(Route::HOST, Seq::new(0), Message::UuidRequest).emit(&mut small),
        Err(Error::Truncated {
            needed: 32,
            got: 31
        })
    ));
}

#[test]
fn request_and_response_pdfs() {
    let reqs = [1u32, 3, 5, 12, 15, 17];
    let resps = [2u32, 4, 6, 7, 16, 18];
    for t in reqs {
        assert_eq!(MsgType::new(t).is_request(), Some(true));
    }
    for t in resps {
        assert_eq!(MsgType::new(t).is_request(), Some(false));
    }
    assert_eq!(Message::UuidRequest.pdf(), Pdf::XDOMAIN_REQ);
    assert_eq!(
        Message::ErrorResponse {
            code: ErrorCode::SUCCESS
        }
        .pdf(),
        Pdf::XDOMAIN_RESP
    );
}
