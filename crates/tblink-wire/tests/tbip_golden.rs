//! Golden vectors of spec 06 §16: every worked ThunderboltIP control
//! message, both directions (value → bytes and bytes → value), CRC included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers unwrap known-good vectors

use tblink_wire::crc::crc32c;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::tbip::msg::{self, mac_to_dwords};
use tblink_wire::tbip::{
    Login, LoginResponse, Logout, Status, TbipHeader, TbipMessage, TbipType, Unknown,
};
use tblink_wire::uuid::Uuid;
use tblink_wire::xdomain::Seq;
use tblink_wire::{Error, Pdf, Route};

/// Bytes of a spec hex dump: each line's optional `NNNN:` offset is
/// skipped and reading stops at the first token that is not a hex byte.
fn hex(dump: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in dump.lines() {
        let line = line.trim();
        let line = match line.split_once(": ") {
            Some((off, rest)) if off.len() == 4 => rest,
            _ => line,
        };
        for tok in line.split_whitespace() {
            if tok.len() != 2 {
                break;
            }
            match u8::from_str_radix(tok, 16) {
                Ok(b) => out.push(b),
                Err(_) => break,
            }
        }
    }
    out
}

/// Host A of spec 06 §16.
const A: Uuid = Uuid::from_u128(0x4a7e2c1d_93b5_4f60_8d21_c0ffee123456);
/// Host B of spec 06 §16.
const B: Uuid = Uuid::from_u128(0x0b5e8f3a_7c2d_4e19_a6b4_5d3c2b1a0f9e);
/// B's MAC (spec 06 §16).
const B_MAC: [u8; 6] = [0x12, 0x08, 0x73, 0x8e, 0x7d, 0xd9];

/// Spec 06 §16.1, as A puts it on ring 0.
const LOGIN: &str = "
0000: 00 00 00 00 00 00 00 01 00 00 00 14 9e 58 8f 79   route_hi, route_lo=1, length 20 / SN 0, TBIP UUID…
0010: 47 8a 16 36 64 56 c6 97 dd c8 20 a9 1d 2c 7e 4a   …UUID, initiator = A…
0020: 60 4f b5 93 ff c0 21 8d 56 34 12 ee 3a 8f 5e 0b   …A, target = B…
0030: 19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 00 00 00 00   …B, type 0 (LOGIN)
0040: 00 00 00 01 00 00 00 01 00 00 00 08 00 00 00 00   command_id 1, proto_version 1, transmit_path 8, reserved
0050: 00 00 00 00 00 00 00 00 00 00 00 00               reserved
";
const LOGIN_CRC: &str = "77 bd 10 59";
const LOGIN_DELIVERED_CRC: &str = "d3 d2 49 7d";

/// Spec 06 §16.2, as B puts it on ring 0.
const LOGIN_RESPONSE: &str = "
0000: 00 00 00 00 00 00 00 03 00 00 00 16 9e 58 8f 79   route_lo=3 (B's route), length 22 / SN 0
0010: 47 8a 16 36 64 56 c6 97 dd c8 20 a9 3a 8f 5e 0b   initiator = B…
0020: 19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 1d 2c 7e 4a   …target = A…
0030: 60 4f b5 93 ff c0 21 8d 56 34 12 ee 00 00 00 01   …type 1
0040: 00 00 00 01 00 00 00 00 8e 73 08 12 00 00 d9 7d   command_id 1, status 0, MAC 12:08:73:8e:7d:d9 (swapped)
0050: 00 00 00 06 00 00 00 00 00 00 00 00 00 00 00 00   receiver_mac_len 6, reserved
0060: 00 00 00 00
";
const LOGIN_RESPONSE_CRC: &str = "fc 71 bc 6a";
const LOGIN_RESPONSE_DELIVERED_CRC: &str = "e8 5e 00 b6";

/// Spec 06 §16.3 LOGOUT, A → B.
const LOGOUT: &str = "
0000: 00 00 00 00 00 00 00 01 00 00 00 0e 9e 58 8f 79
0010: 47 8a 16 36 64 56 c6 97 dd c8 20 a9 1d 2c 7e 4a
0020: 60 4f b5 93 ff c0 21 8d 56 34 12 ee 3a 8f 5e 0b
0030: 19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 00 00 00 02
0040: 00 00 00 05
";
const LOGOUT_CRC: &str = "50 9f ea b5";

/// Spec 06 §16.3 STATUS, B → A.
const STATUS: &str = "
0000: 00 00 00 00 00 00 00 03 00 00 00 0f 9e 58 8f 79
0010: 47 8a 16 36 64 56 c6 97 dd c8 20 a9 3a 8f 5e 0b
0020: 19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 1d 2c 7e 4a
0030: 60 4f b5 93 ff c0 21 8d 56 34 12 ee 00 00 00 03
0040: 00 00 00 02 00 00 00 00
";
const STATUS_CRC: &str = "a2 a5 29 22";

fn wire(body: &str, crc: &str) -> Vec<u8> {
    let mut w = hex(body);
    w.extend(hex(crc));
    w
}

/// The same body with `route_lo` replaced (what the receiving router does,
/// spec 06 §3.4).
fn with_route_lo(body: &str, lo: u8) -> Vec<u8> {
    let mut b = hex(body);
    b[7] = lo;
    b
}

fn header(route: u64, initiator: Uuid, target: Uuid, ty: TbipType, command_id: u32) -> TbipHeader {
    TbipHeader {
        route: Route::from_raw(route),
        seq: Seq::new(0),
        initiator_uuid: initiator,
        target_uuid: target,
        msg_type: ty,
        command_id,
    }
}

fn login(route: u64) -> Login {
    Login::new(header(route, A, B, TbipType::LOGIN, 1), 8)
}

fn login_response(route: u64) -> LoginResponse {
    LoginResponse::new(header(route, B, A, TbipType::LOGIN_RESPONSE, 1), B_MAC)
}

fn logout() -> Logout {
    Logout::new(header(1, A, B, TbipType::LOGOUT, 5))
}

fn status() -> Status {
    Status::new(header(3, B, A, TbipType::STATUS, 2))
}

/// Value → bytes and bytes → value for one frame, with its descriptor
/// length and PDF.
fn golden(msg: TbipMessage, expected: &[u8]) {
    let frame = msg.to_frame().unwrap();
    assert_eq!(frame.as_bytes(), expected, "emit of {msg:?}");
    assert_eq!(frame.pdf(), Pdf::XDOMAIN_RESP);
    assert_eq!(frame.len(), msg.buffer_len() + 4);
    frame.verify_crc().unwrap();
    assert_eq!(TbipMessage::parse_frame(expected).unwrap(), msg);
    assert_eq!(
        TbipMessage::parse(&expected[..expected.len() - 4]).unwrap(),
        msg
    );
}

#[test]
fn login_as_sent() {
    let w = wire(LOGIN, LOGIN_CRC);
    assert_eq!(w.len(), 96, "TX descriptor length 96");
    let m = login(1);
    assert_eq!(m.buffer_len(), 92);
    golden(m.into(), &w);
    assert_eq!(Login::parse(&w[..92]).unwrap(), m);
    let mut buf = [0xffu8; 92];
    assert_eq!(m.emit(&mut buf), Ok(92));
    assert_eq!(&buf[..], &w[..92]);
}

#[test]
fn login_as_delivered() {
    let body = with_route_lo(LOGIN, 3);
    let mut w = body.clone();
    w.extend(hex(LOGIN_DELIVERED_CRC));
    golden(login(3).into(), &w);
    assert_eq!(crc32c(&body), 0xd3d2_497d);

    // The router's rewrite: change route_lo in place and reseal.
    let mut f = login(1).to_frame().unwrap();
    f.as_mut_bytes()[7] = 3;
    f.reseal().unwrap();
    assert_eq!(f.as_bytes(), &w[..]);
}

#[test]
fn login_response_as_sent() {
    let w = wire(LOGIN_RESPONSE, LOGIN_RESPONSE_CRC);
    assert_eq!(w.len(), 104, "TX descriptor length 104");
    let m = login_response(3);
    assert_eq!(m.buffer_len(), 100);
    golden(m.into(), &w);
    let parsed = LoginResponse::parse(&w[..100]).unwrap();
    assert_eq!(parsed.receiver_mac, B_MAC);
    assert_eq!(parsed.receiver_mac_len, 6);
    assert_eq!(parsed.status, 0);
    assert_eq!(
        &w[72..80],
        &[0x8e, 0x73, 0x08, 0x12, 0x00, 0x00, 0xd9, 0x7d]
    );
    assert_eq!(mac_to_dwords(B_MAC), [0x8e73_0812, 0x0000_d97d]);
}

#[test]
fn login_response_as_delivered() {
    let mut w = with_route_lo(LOGIN_RESPONSE, 1);
    w.extend(hex(LOGIN_RESPONSE_DELIVERED_CRC));
    golden(login_response(1).into(), &w);
}

#[test]
fn logout_golden() {
    let w = wire(LOGOUT, LOGOUT_CRC);
    assert_eq!(w.len(), 72);
    golden(logout().into(), &w);
    assert_eq!(Logout::parse(&w[..68]).unwrap(), logout());
}

#[test]
fn status_golden() {
    let w = wire(STATUS, STATUS_CRC);
    assert_eq!(w.len(), 76);
    golden(status().into(), &w);
    assert_eq!(Status::parse(&w[..72]).unwrap(), status());
}

/// B answers the LOGIN it received (route 3) with the §16.2 header, and
/// the LOGOUT it received with the §16.3 STATUS header.
#[test]
fn reply_headers() {
    let delivered = TbipMessage::parse(&with_route_lo(LOGIN, 3)).unwrap();
    let h = delivered
        .header()
        .reply(TbipType::LOGIN_RESPONSE, delivered.header().command_id);
    assert_eq!(LoginResponse::new(h, B_MAC), login_response(3));

    let mut logout_at_b = with_route_lo(LOGOUT, 3);
    logout_at_b[0] = 0x80; // CM bit set by hardware is not echoed
    let l = Logout::parse(&logout_at_b).unwrap();
    assert!(l.header.route.cm());
    assert_eq!(Status::new(l.header.reply(TbipType::STATUS, 2)), status());
}

#[test]
fn frames_as_framebuf() {
    let w = wire(LOGOUT, LOGOUT_CRC);
    let f = FrameBuf::from_wire(Pdf::XDOMAIN_RESP, &w).unwrap();
    assert_eq!(TbipMessage::parse(f.body()).unwrap(), logout().into());
}

#[test]
fn rejects() {
    // Bad CRC.
    let mut w = wire(STATUS, STATUS_CRC);
    w[75] ^= 1;
    assert!(matches!(
        TbipMessage::parse_frame(&w),
        Err(Error::BadCrc { .. })
    ));

    // Length field not exact.
    let mut b = hex(STATUS);
    b[11] = 0x10;
    assert!(matches!(
        TbipMessage::parse(&b),
        Err(Error::LengthMismatch {
            field: 16,
            actual: 15
        })
    ));

    // Other protocol UUID.
    let mut b = hex(STATUS);
    b[12] ^= 0xff;
    assert_eq!(TbipMessage::parse(&b), Err(Error::WrongProtocol));

    // Shorter than the 68-byte header (length field consistent).
    let mut b = hex(STATUS)[..64].to_vec();
    b[11] = 13;
    assert!(matches!(
        TbipMessage::parse(&b),
        Err(Error::Truncated {
            needed: 68,
            got: 64
        })
    ));

    // Per-type parsers check the type.
    assert_eq!(
        Login::parse(&hex(STATUS)),
        Err(Error::WrongType {
            expected: 0,
            got: 3
        })
    );
    // ... and emit refuses a header of another type.
    let mut bad = status();
    bad.header.msg_type = TbipType::LOGOUT;
    let mut buf = [0u8; 72];
    assert_eq!(
        bad.emit(&mut buf),
        Err(Error::WrongType {
            expected: 3,
            got: 2
        })
    );

    // Buffer too small to emit into.
    let mut small = [0u8; 91];
    assert!(matches!(
        login(1).emit(&mut small),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn reserved_fields_ignored_on_parse() {
    let mut b = hex(LOGIN);
    b[76..92].fill(0xaa);
    b[10] = 0x07; // DW2 reserved bits
    assert_eq!(Login::parse(&b).unwrap(), login(1));
    let mut b = hex(LOGIN_RESPONSE);
    b[76] = 0x55; // MAC padding
    b[77] = 0x66;
    b[84..100].fill(0xaa);
    assert_eq!(LoginResponse::parse(&b).unwrap(), login_response(3));
}

#[test]
fn short_known_type_is_unknown() {
    // A LOGIN_RESPONSE carrying only the header (Linux's matcher accepts it).
    let mut b = hex(LOGOUT);
    b[63] = 1;
    match TbipMessage::parse(&b).unwrap() {
        TbipMessage::Unknown(u) => {
            assert_eq!(u.header.msg_type, TbipType::LOGIN_RESPONSE);
            assert!(u.payload().is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        LoginResponse::parse(&b),
        Err(Error::Truncated { needed: 100, .. })
    ));
}

#[test]
fn unknown_type_round_trips() {
    let u = Unknown::new(header(1, A, B, TbipType::new(9), 77), &[1, 2, 0xdead_beef]).unwrap();
    let f = TbipMessage::from(u).to_frame().unwrap();
    assert_eq!(f.len(), 68 + 12 + 4);
    assert_eq!(&f.as_bytes()[60..64], &[0, 0, 0, 9]);
    assert_eq!(&f.as_bytes()[76..80], &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(
        TbipMessage::parse_frame(f.as_bytes()).unwrap(),
        TbipMessage::Unknown(u)
    );
    assert!(Unknown::new(u.header, &[0; msg::MAX_PAYLOAD_DWORDS + 1]).is_err());
    assert!(
        Unknown::new(u.header, &[0; msg::MAX_PAYLOAD_DWORDS])
            .unwrap()
            .to_frame()
            .is_ok()
    );
}
