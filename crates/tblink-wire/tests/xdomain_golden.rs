//! Golden vectors for XDomain discovery messages: every frame of spec 02
//! §11 (and 01 §9.4), both directions, CRC included, plus the Linux
//! tracepoint captures in `shared/vectors/linux-tracepoints.txt`.

// A test crate: failing loudly is its job (library code keeps the workspace lints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ctl_dump;

use ctl_dump::{be_bytes, dump};
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::Uuid;
use tblink_wire::xdomain::{ErrorCode, Message, MsgType, Seq, XdPacket};
use tblink_wire::{Error, Pdf, Route};

/// Host A of spec 02 §11: dwords `11223344 55667788 99aabbcc ddeeff00`.
const A: Uuid = Uuid::from_u128(0x44332211_8877_6655_ccbb_aa9900ffeedd);
/// Host B of spec 02 §11: dwords `8c1a2b3d 00004e5f ffffffff ffffffff`.
const B: Uuid = Uuid::from_u128(0x3d2b1a8c_5f4e_0000_ffff_ffffffffffff);

/// Parse the dump as a frame of `pdf` and compare with `expected`; emit
/// `expected` and compare with the dump byte for byte (CRC included).
fn golden(pdf: Pdf, text: &str, expected: &XdPacket) {
    let wire = dump(text);
    let frame = FrameBuf::from_wire(pdf, &wire).unwrap();
    assert_eq!(&XdPacket::from_frame(&frame).unwrap(), expected);
    assert_eq!(
        XdPacket::peek_type(frame.body()),
        Some(expected.message.msg_type())
    );

    let built = expected.to_frame().unwrap();
    assert_eq!(built.pdf(), pdf);
    assert_eq!(built.as_bytes(), &wire[..], "emitted {built:?}");
    assert_eq!(expected.buffer_len() + 4, wire.len());
}

/// The same frame as delivered to the peer: route rewritten to the
/// receiver's own route with bit 63 set (spec 01 §4, 02 §11 preamble).
fn delivered(pdf: Pdf, text: &str, expected: &XdPacket, rx_route: Route) {
    let mut frame = FrameBuf::from_wire(pdf, &dump(text)).unwrap();
    let raw = rx_route.with_cm();
    frame.as_mut_bytes()[..4].copy_from_slice(&raw.hi().to_be_bytes());
    frame.as_mut_bytes()[4..8].copy_from_slice(&raw.lo().to_be_bytes());
    assert!(matches!(
        XdPacket::from_frame(&frame),
        Err(Error::BadCrc { .. })
    ));
    frame.reseal().unwrap();
    let got = XdPacket::from_frame(&frame).unwrap();
    assert_eq!(got.route, raw);
    assert_eq!(got.route.without_cm(), rx_route);
    assert_eq!(got.seq, expected.seq);
    assert_eq!(got.message, expected.message);
}

const UUID_REQUEST: &str = "
0000: 00 00 00 00 00 00 00 01 10 00 00 05 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 0c
0020: 74 f5 7d b9
";

/// Spec 02 §11.1 = 01 §9.4.
#[test]
fn spec_02_11_1_uuid_request() {
    let p = XdPacket::new(Route::from_raw(1), Seq::new(2), Message::UuidRequest);
    golden(Pdf::XDOMAIN_REQ, UUID_REQUEST, &p);
    delivered(Pdf::XDOMAIN_REQ, UUID_REQUEST, &p, Route::from_raw(3));
}

const UUID_RESPONSE: &str = "
0000: 00 00 00 00 00 00 00 03 10 00 00 0b 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 02
0020: 8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
0030: 00 00 00 00 00 00 00 03 57 53 b4 95
";

/// Spec 02 §11.2.
#[test]
fn spec_02_11_2_uuid_response() {
    let p = XdPacket::new(
        Route::from_raw(3),
        Seq::new(2),
        Message::UuidResponse {
            src_uuid: B,
            src_route: Route::from_raw(3),
        },
    );
    golden(Pdf::XDOMAIN_RESP, UUID_RESPONSE, &p);
    delivered(Pdf::XDOMAIN_RESP, UUID_RESPONSE, &p, Route::from_raw(1));
}

/// B's answer to A's request of §11.1 is built by `reply`: the received
/// route with bit 63 cleared and the SN echoed (spec 02 §2, §7).
#[test]
fn spec_02_11_2_reply_to_delivered_request() {
    let mut frame = FrameBuf::from_wire(Pdf::XDOMAIN_REQ, &dump(UUID_REQUEST)).unwrap();
    // As delivered at B: B's route to A (0x3), CM bit set.
    frame.as_mut_bytes()[..8].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 3]);
    frame.reseal().unwrap();
    let req = XdPacket::from_frame(&frame).unwrap();
    let resp = req.reply(Message::UuidResponse {
        src_uuid: B,
        src_route: req.route.without_cm(),
    });
    assert_eq!(
        resp.to_frame().unwrap().as_bytes(),
        &dump(UUID_RESPONSE)[..]
    );
}

fn properties_request(offset: u16) -> XdPacket {
    XdPacket::new(
        Route::from_raw(1),
        Seq::new(2),
        Message::PropertiesRequest {
            src_uuid: A,
            dst_uuid: B,
            offset,
        },
    )
}

/// Spec 02 §11.3.
#[test]
fn spec_02_11_3_properties_request_offset_0() {
    let text = "
0000: 00 00 00 00 00 00 00 01 10 00 00 0e 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 03
0020: 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00
0030: 8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
0040: 00 00 00 00 35 ba 81 84
";
    golden(Pdf::XDOMAIN_REQ, text, &properties_request(0));
}

const PROPERTIES_PAGE_1: &str = "
0000: 00 00 00 00 00 00 00 03 10 00 00 3c 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 04
0020: 8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
0030: 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00
0040: 00 39 00 00 5a 3c 9e 17 55 58 44 01 00 00 00 1c
0050: 76 65 6e 64 6f 72 69 64 76 00 00 01 00 00 80 86
0060: 76 65 6e 64 6f 72 69 64 74 00 00 03 00 00 00 1e
0070: 64 65 76 69 63 65 69 64 76 00 00 01 00 00 00 01
0080: 64 65 76 69 63 65 72 76 76 00 00 01 80 00 01 00
0090: 6e 65 74 77 6f 72 6b 00 44 00 00 14 00 00 00 25
00a0: 64 65 76 69 63 65 69 64 74 00 00 03 00 00 00 21
00b0: 6d 61 78 68 6f 70 69 64 76 00 00 01 00 00 00 13
00c0: 49 6e 74 65 6c 20 43 6f 72 70 2e 00 6c 69 6e 75
00d0: 78 62 6f 78 00 00 00 00 00 00 00 00 ca 89 61 c6
00e0: 95 41 ce 1c 59 49 b8 bd 4f 5a 5f 2e 70 72 74 63
00f0: 69 64 00 00 76 00 00 01 00 00 00 01 25 c9 21 2c
";

/// Block dwords 0–44 of host B (spec 02 §11.4, 03 §6).
const BLOCK_0_44: [u32; 45] = [
    0x55584401, 0x0000001c, 0x76656e64, 0x6f726964, 0x76000001, 0x00008086, 0x76656e64, 0x6f726964,
    0x74000003, 0x0000001e, 0x64657669, 0x63656964, 0x76000001, 0x00000001, 0x64657669, 0x63657276,
    0x76000001, 0x80000100, 0x6e657477, 0x6f726b00, 0x44000014, 0x00000025, 0x64657669, 0x63656964,
    0x74000003, 0x00000021, 0x6d617868, 0x6f706964, 0x76000001, 0x00000013, 0x496e7465, 0x6c20436f,
    0x72702e00, 0x6c696e75, 0x78626f78, 0x00000000, 0x00000000, 0xca8961c6, 0x9541ce1c, 0x5949b8bd,
    0x4f5a5f2e, 0x70727463, 0x69640000, 0x76000001, 0x00000001,
];

/// Block dwords 45–56 of host B (spec 02 §11.6).
const BLOCK_45_56: [u32; 12] = [
    0x70727463, 0x76657273, 0x76000001, 0x00000001, 0x70727463, 0x72657673, 0x76000001, 0x00000001,
    0x70727463, 0x73746e73, 0x76000001, 0x00000007,
];

fn properties_response(offset: u16, data: &[u32]) -> XdPacket {
    XdPacket::new(
        Route::from_raw(3),
        Seq::new(2),
        Message::PropertiesResponse {
            src_uuid: B,
            dst_uuid: A,
            offset,
            data_length: 57,
            generation: 0x5a3c9e17,
            data: data.to_vec(),
        },
    )
}

/// Spec 02 §11.4: a full 256-byte frame, 45 data dwords.
#[test]
fn spec_02_11_4_properties_response_page_1() {
    let p = properties_response(0, &BLOCK_0_44);
    golden(Pdf::XDOMAIN_RESP, PROPERTIES_PAGE_1, &p);
    delivered(Pdf::XDOMAIN_RESP, PROPERTIES_PAGE_1, &p, Route::from_raw(1));
    assert_eq!(p.to_frame().unwrap().len(), 256);
}

/// Spec 02 §11.5.
#[test]
fn spec_02_11_5_properties_request_offset_45() {
    let text = "
0000: 00 00 00 00 00 00 00 01 10 00 00 0e 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 03
0020: 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00
0030: 8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
0040: 00 00 00 2d aa 2f 43 89
";
    golden(Pdf::XDOMAIN_REQ, text, &properties_request(45));
}

const PROPERTIES_PAGE_2: &str = "
0000: 00 00 00 00 00 00 00 03 10 00 00 1b 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 04
0020: 8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
0030: 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00
0040: 00 39 00 2d 5a 3c 9e 17 70 72 74 63 76 65 72 73
0050: 76 00 00 01 00 00 00 01 70 72 74 63 72 65 76 73
0060: 76 00 00 01 00 00 00 01 70 72 74 63 73 74 6e 73
0070: 76 00 00 01 00 00 00 07 0b 94 94 d3
";

/// Spec 02 §11.6: 12 data dwords, 124 bytes.
#[test]
fn spec_02_11_6_properties_response_page_2() {
    let p = properties_response(45, &BLOCK_45_56);
    golden(Pdf::XDOMAIN_RESP, PROPERTIES_PAGE_2, &p);
    delivered(Pdf::XDOMAIN_RESP, PROPERTIES_PAGE_2, &p, Route::from_raw(1));
    assert_eq!(p.to_frame().unwrap().len(), 124);
}

const PROPERTIES_CHANGED_REQUEST: &str = "
0000: 00 00 00 00 00 00 00 03 08 00 00 09 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 05
0020: 8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
0030: 46 ab 72 79
";

const PROPERTIES_CHANGED_RESPONSE: &str = "
0000: 00 00 00 00 00 00 00 01 08 00 00 06 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 06
0020: 00 00 00 00 35 70 61 e0
";

/// Spec 02 §11.7, both frames.
#[test]
fn spec_02_11_7_properties_changed() {
    let req = XdPacket::new(
        Route::from_raw(3),
        Seq::new(1),
        Message::PropertiesChangedRequest { src_uuid: B },
    );
    golden(Pdf::XDOMAIN_REQ, PROPERTIES_CHANGED_REQUEST, &req);
    delivered(
        Pdf::XDOMAIN_REQ,
        PROPERTIES_CHANGED_REQUEST,
        &req,
        Route::from_raw(1),
    );

    let resp = XdPacket::new(
        Route::from_raw(1),
        Seq::new(1),
        Message::PropertiesChangedResponse,
    );
    golden(Pdf::XDOMAIN_RESP, PROPERTIES_CHANGED_RESPONSE, &resp);
    assert_eq!(resp.to_frame().unwrap().len(), 40);
}

/// Spec 02 §11.8: ERROR_RESPONSE NOT_SUPPORTED.
#[test]
fn spec_02_11_8_error_response() {
    let text = "
0000: 00 00 00 00 00 00 00 03 00 00 00 06 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 07
0020: 00 00 00 03 f6 9b e9 96
";
    let p = XdPacket::new(
        Route::from_raw(3),
        Seq::new(0),
        Message::ErrorResponse {
            code: ErrorCode::NOT_SUPPORTED,
        },
    );
    golden(Pdf::XDOMAIN_RESP, text, &p);
}

/// Spec 02 §11.8: LINK_STATE_STATUS_REQUEST.
#[test]
fn spec_02_11_8_link_state_status_request() {
    let text = "
0000: 00 00 00 00 00 00 00 01 10 00 00 05 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 0f
0020: 67 a5 8e 4d
";
    let p = XdPacket::new(
        Route::from_raw(1),
        Seq::new(2),
        Message::LinkStateStatusRequest,
    );
    golden(Pdf::XDOMAIN_REQ, text, &p);
}

/// Spec 02 §11.8: LINK_STATE_STATUS_RESPONSE "single lane only".
#[test]
fn spec_02_11_8_link_state_status_response() {
    let text = "
0000: 00 00 00 00 00 00 00 03 10 00 00 07 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 10
0020: 00 00 00 00 0c 00 01 01 0a bf 91 90
";
    let p = XdPacket::new(
        Route::from_raw(3),
        Seq::new(2),
        Message::LinkStateStatusResponse {
            status: 0,
            slw: 0x1,
            tlw: 0x1,
            sls: 0,
            tls: 0xc,
        },
    );
    golden(Pdf::XDOMAIN_RESP, text, &p);
}

/// Spec 02 §11.8: LINK_STATE_CHANGE_REQUEST tlw 0x3 tls 0xc.
#[test]
fn spec_02_11_8_link_state_change_request() {
    let text = "
0000: 00 00 00 00 00 00 00 01 10 00 00 06 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 11
0020: 00 00 0c 03 d5 f8 42 58
";
    let p = XdPacket::new(
        Route::from_raw(1),
        Seq::new(2),
        Message::LinkStateChangeRequest { tlw: 0x3, tls: 0xc },
    );
    golden(Pdf::XDOMAIN_REQ, text, &p);
}

/// Spec 02 §11.8: UUID_REQUEST_OLD.
#[test]
fn spec_02_11_8_uuid_request_old() {
    let text = "
0000: 00 00 00 00 00 00 00 01 00 00 00 05 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 01
0020: 4e 76 35 11
";
    let p = XdPacket::new(Route::from_raw(1), Seq::new(0), Message::UuidRequestOld);
    golden(Pdf::XDOMAIN_REQ, text, &p);
}

/// Linux tracepoints captured on real hardware (`shared/vectors`): a
/// UUID_RESPONSE and a UUID_REQUEST sent by Linux, dwords without CRC.
#[test]
fn linux_tracepoint_uuid_exchange() {
    let resp = be_bytes(&[
        0x00000000, 0x00000001, 0x0000000b, 0x0ed738b6, 0xbb40ff42, 0xe290c297, 0x07ffb2c0,
        0x00000002, 0x80877f49, 0x256a86f1, 0xffffffff, 0xffffffff, 0x00000000, 0x00000001,
    ]);
    let p = XdPacket::parse(&resp).unwrap();
    assert_eq!(p.route, Route::from_raw(1));
    assert_eq!(p.seq, Seq::new(0));
    assert_eq!(
        p.message,
        Message::UuidResponse {
            src_uuid: tblink_wire::uuid::uuid_from_dwords([
                0x80877f49, 0x256a86f1, 0xffffffff, 0xffffffff
            ]),
            src_route: Route::from_raw(1),
        }
    );
    let mut out = [0u8; 252];
    assert_eq!(p.emit(&mut out), Ok(resp.len()));
    assert_eq!(&out[..resp.len()], &resp[..]);

    let req = be_bytes(&[
        0x00000000, 0x00000001, 0x10000005, 0x0ed738b6, 0xbb40ff42, 0xe290c297, 0x07ffb2c0,
        0x0000000c,
    ]);
    let p = XdPacket::parse(&req).unwrap();
    assert_eq!(
        p,
        XdPacket::new(Route::from_raw(1), Seq::new(2), Message::UuidRequest)
    );
}

/// The ThunderboltIP LOGIN of the same capture rides the XDomain header
/// with another protocol UUID: not a discovery message.
#[test]
fn linux_tracepoint_other_protocol() {
    let login = be_bytes(&[
        0x80000000, 0x00000001, 0x08000014, 0x9e588f79, 0x478a1636, 0x6456c697, 0xddc820a9,
        0x000003d7, 0x186f7000, 0x4a0d7aa3, 0x1d925063, 0x80877f49, 0x256a86f1, 0xffffffff,
        0xffffffff, 0x00000000, 0x00000002, 0x00000001, 0x00000008, 0x00000000, 0x00000000,
        0x00000000, 0x00000000,
    ]);
    assert_eq!(XdPacket::parse(&login), Err(Error::WrongProtocol));
    assert_eq!(XdPacket::peek_type(&login), None);
}

#[test]
fn msg_type_names() {
    assert_eq!(MsgType::new(12), MsgType::UUID_REQUEST);
    assert_eq!(
        format!("{}", MsgType::PROPERTIES_RESPONSE),
        "PROPERTIES_RESPONSE"
    );
    assert_eq!(format!("{:?}", MsgType::new(9)), "MsgType(0x9)");
    assert_eq!(format!("{}", ErrorCode::new(77)), "ERROR_0x4d");
}
