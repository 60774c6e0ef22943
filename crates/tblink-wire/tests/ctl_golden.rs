//! Golden vectors for control packets: every worked example of spec 01 §9,
//! both directions, CRC included, and the config/event packets of the Linux
//! tracepoint captures in `shared/vectors/linux-tracepoints.txt`.

// A test crate: failing loudly is its job (library code keeps the workspace lints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ctl_dump;

use std::fmt::Debug;

use ctl_dump::{be_bytes, dump};
use tblink_wire::ctl::{
    Address, ConfigSpace, ControlPacket, ErrorCode, ErrorPacket, FrameBuf, Framed, HotPlugEvent,
    Pg, ReadRequest, ReadResponse, WriteRequest,
};
use tblink_wire::xdomain::{Message, Seq, XdPacket};
use tblink_wire::{Error, Pdf, Route};

/// Check `expected` against the dump both ways, as its own type and as a
/// [`ControlPacket`].
fn golden<T: Framed + PartialEq + Debug>(
    pdf: Pdf,
    text: &str,
    expected: &T,
    as_packet: ControlPacket,
) {
    let wire = dump(text);
    let frame = FrameBuf::from_wire(pdf, &wire).unwrap();
    assert_eq!(&T::from_frame(&frame).unwrap(), expected);
    assert_eq!(ControlPacket::from_frame(&frame).unwrap(), as_packet);

    let built = expected.to_frame().unwrap();
    assert_eq!(built.pdf(), pdf);
    assert_eq!(built.as_bytes(), &wire[..], "emitted {built:?}");
    assert_eq!(as_packet.to_frame().unwrap().as_bytes(), &wire[..]);
    assert_eq!(as_packet.pdf(), pdf);
}

fn addr(offset: u16, length: u8, port: u8, space: ConfigSpace, seq: u8) -> Address {
    Address {
        offset,
        length,
        port,
        space,
        seq: Seq::new(seq),
    }
}

/// Spec 01 §9.1: READ request to route 0x1, SWITCH space, offset 0, 1 dword.
#[test]
fn spec_01_9_1_read_request() {
    let text = "
0000: 00 00 00 00 00 00 00 01 04 00 20 00 17 d8 08 00
";
    let p = ReadRequest {
        route: Route::from_raw(1),
        addr: addr(0, 1, 0, ConfigSpace::Switch, 0),
    };
    golden(Pdf::READ, text, &p, ControlPacket::ReadRequest(p.clone()));
}

/// Spec 01 §9.2: the matching READ response, upstream adapter 1.
#[test]
fn spec_01_9_2_read_response() {
    let text = "
0000: 80 00 00 00 00 00 00 01 04 08 20 00 15 d3 80 86
0010: 2b e2 26 95
";
    let p = ReadResponse {
        route: Route::from_raw(1),
        addr: addr(0, 1, 1, ConfigSpace::Switch, 0),
        data: vec![0x15d3_8086],
    };
    golden(Pdf::READ, text, &p, ControlPacket::ReadResponse(p.clone()));
}

/// Spec 01 §9.3: hot-plug EVENT from route 0, adapter 3 plugged.
#[test]
fn spec_01_9_3_hot_plug_event() {
    let text = "
0000: 80 00 00 00 00 00 00 00 00 00 00 03 f1 7e 86 31
";
    let p = HotPlugEvent {
        route: Route::from_raw(0).with_cm(),
        port: 3,
        unplug: false,
    };
    golden(Pdf::EVENT, text, &p, ControlPacket::HotPlug(p));
}

/// Spec 01 §9.3: the CM's acknowledgement (ERROR code 7, port 3, PG 2).
#[test]
fn spec_01_9_3_plug_ack() {
    let text = "
0000: 00 00 00 00 00 00 00 00 80 00 03 07 99 ed b0 10
";
    let p = ErrorPacket {
        route: Route::HOST,
        code: ErrorCode::ACK_PLUG_EVENT,
        port: 3,
        pg: Pg::PLUG,
    };
    golden(Pdf::ERROR, text, &p, ControlPacket::Error(p));
    let event = HotPlugEvent {
        route: Route::HOST.with_cm(),
        port: 3,
        unplug: false,
    };
    assert_eq!(event.ack(), p);
}

/// Spec 01 §9.4: the XDomain UUID request, through [`ControlPacket`].
#[test]
fn spec_01_9_4_xdomain_uuid_request() {
    let wire = dump(
        "
0000: 00 00 00 00 00 00 00 01 10 00 00 05 0e d7 38 b6
0010: bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 0c
0020: 74 f5 7d b9
",
    );
    let frame = FrameBuf::from_wire(Pdf::XDOMAIN_REQ, &wire).unwrap();
    let p = ControlPacket::XDomain {
        pdf: Pdf::XDOMAIN_REQ,
        packet: XdPacket::new(Route::from_raw(1), Seq::new(2), Message::UuidRequest),
    };
    assert_eq!(ControlPacket::from_frame(&frame).unwrap(), p);
    assert_eq!(p.to_frame().unwrap().as_bytes(), &wire[..]);
}

/// Spec 01 §9 self-test vector: CRC-32C of the §9.1 body.
#[test]
fn spec_01_9_crc_self_test() {
    let body = [0, 0, 0, 0, 0, 0, 0, 1, 0x04, 0, 0x20, 0];
    assert_eq!(tblink_wire::crc::crc32c(&body), 0x17d8_0800);
}

/// Parse tracepoint dwords (no CRC) and emit them back.
fn trace(pdf: Pdf, dwords: &[u32], expected: ControlPacket) {
    let body = be_bytes(dwords);
    assert_eq!(ControlPacket::parse(pdf, &body).unwrap(), expected);
    let mut out = [0u8; 252];
    assert_eq!(expected.emit(&mut out), Ok(body.len()));
    assert_eq!(&out[..body.len()], &body[..]);
}

/// Linux tracepoints of config traffic captured on real hardware.
#[test]
fn linux_tracepoint_config_packets() {
    // tb_tx WRITE route=0 offset=0x1 len=4 port=0 config=0x2 seq=0
    trace(
        Pdf::WRITE,
        &[0, 0, 0x04008001, 0x1003471b, 0, 0x80000000, 0x2000100a],
        ControlPacket::WriteRequest(WriteRequest {
            route: Route::HOST,
            addr: addr(1, 4, 0, ConfigSpace::Switch, 0),
            data: vec![0x1003471b, 0, 0x80000000, 0x2000100a],
        }),
    );
    // tb_tx READ route=0 offset=0xae len=1 port=1 / port=3 config=0x1
    for (dw2, port) in [(0x020820ae, 1), (0x021820ae, 3)] {
        trace(
            Pdf::READ,
            &[0, 0, dw2],
            ControlPacket::ReadRequest(ReadRequest {
                route: Route::HOST,
                addr: addr(0xae, 1, port, ConfigSpace::Port, 0),
            }),
        );
    }
    // tb_rx READ response route=0 offset=0x1b len=1 port=7 config=0x2
    trace(
        Pdf::READ,
        &[0x80000000, 0, 0x0438201b, 0x4320033e],
        ControlPacket::ReadResponse(ReadResponse {
            route: Route::HOST,
            addr: addr(0x1b, 1, 7, ConfigSpace::Switch, 0),
            data: vec![0x4320033e],
        }),
    );
    // tb_tx READ route=1 offset=0 len=5 config=0x2
    trace(
        Pdf::READ,
        &[0, 1, 0x0400a000],
        ControlPacket::ReadRequest(ReadRequest {
            route: Route::from_raw(1),
            addr: addr(0, 5, 0, ConfigSpace::Switch, 0),
        }),
    );
    // tb_tx WRITE route=0 offset=0x39 len=1 port=9 config=0x1
    trace(
        Pdf::WRITE,
        &[0, 0, 0x02482039, 0x80000000],
        ControlPacket::WriteRequest(WriteRequest {
            route: Route::HOST,
            addr: addr(0x39, 1, 9, ConfigSpace::Port, 0),
            data: vec![0x80000000],
        }),
    );
}

/// Linux tracepoints: a hot-plug event and Linux's acknowledgement of it.
#[test]
fn linux_tracepoint_plug_event_and_ack() {
    let event = HotPlugEvent {
        route: Route::HOST.with_cm(),
        port: 5,
        unplug: false,
    };
    trace(
        Pdf::EVENT,
        &[0x80000000, 0, 5],
        ControlPacket::HotPlug(event),
    );
    trace(
        Pdf::ERROR,
        &[0, 0, 0x80000507],
        ControlPacket::Error(event.ack()),
    );
}

/// The ThunderboltIP LOGIN of the capture is an XDomain frame of another
/// protocol: kept raw, byte for byte.
#[test]
fn linux_tracepoint_other_xdomain_protocol_is_raw() {
    let body = be_bytes(&[
        0x80000000, 0x00000001, 0x08000014, 0x9e588f79, 0x478a1636, 0x6456c697, 0xddc820a9,
        0x000003d7, 0x186f7000, 0x4a0d7aa3, 0x1d925063, 0x80877f49, 0x256a86f1, 0xffffffff,
        0xffffffff, 0x00000000, 0x00000002, 0x00000001, 0x00000008, 0x00000000, 0x00000000,
        0x00000000, 0x00000000,
    ]);
    let p = ControlPacket::parse(Pdf::XDOMAIN_RESP, &body).unwrap();
    assert_eq!(
        p,
        ControlPacket::Raw {
            pdf: Pdf::XDOMAIN_RESP,
            body: body.clone()
        }
    );
    let f = p.to_frame().unwrap();
    assert_eq!(f.body(), &body[..]);
    assert!(matches!(
        ControlPacket::parse(Pdf::XDOMAIN_RESP, &body[..20]),
        Err(Error::Truncated { .. })
    ));
}
