//! What control-packet parsing accepts and rejects (spec 01 §4, §6): exact
//! sizes, the CM-bit tag of responses, field ranges, PDFs and CRCs, each
//! failure a typed error.

// A test crate: failing loudly is its job (library code keeps the workspace lints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ctl_dump;

use ctl_dump::be_bytes;
use tblink_wire::ctl::{
    Address, ConfigSpace, ControlPacket, ErrorCode, ErrorPacket, FrameBuf, Framed, HotPlugEvent,
    IcmPacket, NotifyAck, Pg, ReadRequest, ReadResponse, ResetRequest, ResetResponse, WriteRequest,
    WriteResponse,
};
use tblink_wire::xdomain::Seq;
use tblink_wire::{Error, Pdf, Route};

fn addr(length: u8) -> Address {
    Address {
        offset: 0x10,
        length,
        port: 2,
        space: ConfigSpace::Port,
        seq: Seq::new(1),
    }
}

#[test]
fn config_sizes_are_exact() {
    let dw2 = addr(1).to_dword().unwrap();
    assert_eq!(
        ReadRequest::parse(&be_bytes(&[0, 1])),
        Err(Error::Truncated { needed: 12, got: 8 })
    );
    assert_eq!(
        ReadRequest::parse(&be_bytes(&[0, 1, dw2, 0])),
        Err(Error::TooLong { max: 12, got: 16 })
    );
    assert_eq!(
        WriteResponse::parse(&be_bytes(&[0x8000_0000, 1, dw2, 0])),
        Err(Error::TooLong { max: 12, got: 16 })
    );
    // READ response: data dwords must equal the length field (spec 01 §6.1).
    let dw2_len2 = addr(2).to_dword().unwrap();
    assert_eq!(
        ReadResponse::parse(&be_bytes(&[0x8000_0000, 1, dw2_len2, 7])),
        Err(Error::LengthMismatch {
            field: 2,
            actual: 1
        })
    );
    assert_eq!(
        WriteRequest::parse(&be_bytes(&[0, 1, dw2_len2, 7, 8, 9])),
        Err(Error::LengthMismatch {
            field: 2,
            actual: 3
        })
    );
    let mut unaligned = be_bytes(&[0x8000_0000, 1, dw2, 7]);
    unaligned.push(0);
    assert!(matches!(
        ReadResponse::parse(&unaligned),
        Err(Error::Unaligned { .. })
    ));
    assert!(matches!(
        ReadResponse::parse(&[0x80, 0, 0]),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn cm_tag_is_checked() {
    let dw2 = addr(0).to_dword().unwrap();
    // A response must carry DW0[31:22] = 1000000000b (spec 01 §6.1).
    for hi in [0u32, 0xc000_0000, 0x8040_0000] {
        assert!(matches!(
            WriteResponse::parse(&be_bytes(&[hi, 1, dw2])),
            Err(Error::InvalidField { field: "route", .. })
        ));
    }
    // A request must not carry the CM bit or bits 30:22.
    for hi in [0x8000_0000u32, 0x0040_0000] {
        assert!(matches!(
            ReadRequest::parse(&be_bytes(&[hi, 1, dw2])),
            Err(Error::InvalidField { field: "route", .. })
        ));
    }
    // Route bits 53:32 are kept.
    let r = ReadRequest::parse(&be_bytes(&[0x003f_ffff, 1, dw2])).unwrap();
    assert_eq!(r.route, Route::from_dwords(0x003f_ffff, 1));
    // Emitting a route the header cannot hold fails.
    let bad = ReadRequest {
        route: Route::from_raw(1).with_cm(),
        addr: addr(0),
    };
    assert!(matches!(
        bad.to_frame(),
        Err(Error::InvalidField { field: "route", .. })
    ));
    // ControlPacket tells requests from responses by the CM bit.
    let p = ControlPacket::parse(Pdf::WRITE, &be_bytes(&[0x8000_0000, 1, dw2])).unwrap();
    assert!(matches!(p, ControlPacket::WriteResponse(_)));
    let p = ControlPacket::parse(Pdf::RESET, &be_bytes(&[0x8000_0000, 1])).unwrap();
    assert_eq!(
        p,
        ControlPacket::ResetResponse(ResetResponse {
            route: Route::from_raw(1)
        })
    );
    let p = ControlPacket::parse(Pdf::RESET, &be_bytes(&[0, 1])).unwrap();
    assert_eq!(
        p,
        ControlPacket::ResetRequest(ResetRequest {
            route: Route::from_raw(1)
        })
    );
    assert_eq!(
        ResetResponse::parse(&be_bytes(&[0x8000_0000, 1, 0])),
        Err(Error::TooLong { max: 8, got: 12 })
    );
}

#[test]
fn address_fields_are_checked() {
    // Reserved bits 31:29 (spec 01 §6.1).
    assert!(matches!(
        ReadRequest::parse(&be_bytes(&[0, 1, 0x2000_0000])),
        Err(Error::InvalidField {
            field: "address reserved",
            ..
        })
    ));
    // Length above 60.
    assert!(matches!(
        ReadRequest::parse(&be_bytes(&[0, 1, 63 << 13])),
        Err(Error::InvalidField {
            field: "length",
            ..
        })
    ));
    // Emit: data must match the length field.
    let w = WriteRequest {
        route: Route::from_raw(1),
        addr: addr(2),
        data: vec![1],
    };
    assert_eq!(
        w.to_frame(),
        Err(Error::LengthMismatch {
            field: 2,
            actual: 1
        })
    );
}

#[test]
fn notification_sizes_and_fields() {
    assert_eq!(
        ErrorPacket::parse(&be_bytes(&[0, 0])),
        Err(Error::Truncated { needed: 12, got: 8 })
    );
    assert_eq!(
        HotPlugEvent::parse(&be_bytes(&[0, 0, 3, 0])),
        Err(Error::TooLong { max: 12, got: 16 })
    );
    assert_eq!(
        NotifyAck::parse(&be_bytes(&[0, 0, 0])),
        Err(Error::TooLong { max: 8, got: 12 })
    );
    let e = ErrorPacket {
        route: Route::HOST,
        code: ErrorCode::LOOP,
        port: 64,
        pg: Pg::NONE,
    };
    assert!(matches!(
        e.to_frame(),
        Err(Error::InvalidField { field: "port", .. })
    ));
    let ev = HotPlugEvent {
        route: Route::HOST,
        port: 0x40,
        unplug: true,
    };
    assert!(matches!(
        ev.to_frame(),
        Err(Error::InvalidField { field: "port", .. })
    ));
    // USB4 notification codes use bits 7:4 (spec 01 §6.2).
    let p = ErrorPacket::parse(&be_bytes(&[0x8000_0000, 1, 0x0000_0520])).unwrap();
    assert_eq!(p.code, ErrorCode::DP_BW);
    assert_eq!(p.port, 5);
    assert!(p.code.is_async());
    // Unplug ack (PG 3).
    let ack = HotPlugEvent {
        route: Route::from_raw(0x301).with_cm(),
        port: 1,
        unplug: true,
    }
    .ack();
    assert_eq!(ack.pg, Pg::UNPLUG);
    assert_eq!(ack.route, Route::from_raw(0x301));
    let f = ack.to_frame().unwrap();
    assert_eq!(&f.as_bytes()[8..12], &[0xc0, 0x00, 0x01, 0x07]);
}

#[test]
fn frames_check_pdf_and_crc() {
    let req = ReadRequest {
        route: Route::from_raw(1),
        addr: addr(1),
    };
    let f = req.to_frame().unwrap();
    let wrong = FrameBuf::from_wire(Pdf::WRITE, f.as_bytes()).unwrap();
    assert_eq!(
        ReadRequest::from_frame(&wrong),
        Err(Error::InvalidField {
            field: "pdf",
            value: 2
        })
    );
    let mut bad = f.clone();
    bad.as_mut_bytes()[3] = 1;
    assert!(matches!(
        ReadRequest::from_frame(&bad),
        Err(Error::BadCrc { .. })
    ));
    assert!(matches!(
        ControlPacket::from_frame(&bad),
        Err(Error::BadCrc { .. })
    ));

    // Linux checks no CRC on ICM (10, 12) or unknown PDFs (spec 01 §5).
    let icm = IcmPacket {
        code: 0x06,
        flags: 0,
        index: 0,
        total: 1,
        payload: vec![1, 2],
    };
    let mut f = icm.to_frame(Pdf::ICM_EVENT).unwrap();
    assert_eq!(&f.as_bytes()[..4], &[1, 0, 0, 6]);
    f.as_mut_bytes()[15] ^= 0xff;
    assert_eq!(IcmPacket::from_frame(&f), Ok(icm.clone()));
    assert_eq!(
        ControlPacket::from_frame(&f),
        Ok(ControlPacket::Icm {
            pdf: Pdf::ICM_EVENT,
            packet: icm.clone()
        })
    );
    assert!(matches!(
        icm.to_frame(Pdf::ERROR),
        Err(Error::InvalidField { field: "pdf", .. })
    ));
    let raw = FrameBuf::from_wire(Pdf::new(14), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(
        ControlPacket::from_frame(&raw),
        Ok(ControlPacket::Raw {
            pdf: Pdf::new(14),
            body: vec![1, 2, 3, 4]
        })
    );
}

#[test]
fn garbage_is_typed() {
    assert!(matches!(
        ControlPacket::parse(Pdf::READ, &[0u8; 253]),
        Err(Error::TooLong { .. })
    ));
    assert!(matches!(
        ControlPacket::parse(Pdf::READ, &[]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        ControlPacket::parse(Pdf::ICM_RESP, &[]),
        Err(Error::Truncated { .. })
    ));
    // Alignment is Linux's first receive check (spec 01 §7.5 step 1).
    assert!(matches!(
        ControlPacket::parse(Pdf::ICM_RESP, &[1, 2]),
        Err(Error::Unaligned { len: 2 })
    ));
    assert!(matches!(
        ControlPacket::parse(Pdf::ICM_RESP, &[1, 2, 3, 4, 5]),
        Err(Error::Unaligned { .. })
    ));
    assert!(matches!(
        ControlPacket::parse(Pdf::XDOMAIN_REQ, &[0u8; 12]),
        Err(Error::Truncated { .. })
    ));
    let too_big = IcmPacket {
        code: 0,
        flags: 0,
        index: 0,
        total: 0,
        payload: vec![0; 63],
    };
    assert!(matches!(
        too_big.to_frame(Pdf::ICM_CMD),
        Err(Error::TooLong { .. })
    ));
    let raw = ControlPacket::Raw {
        pdf: Pdf::OVERRIDE,
        body: vec![0; 253],
    };
    assert!(matches!(raw.to_frame(), Err(Error::TooLong { .. })));
    let mut small = [0u8; 11];
    assert!(matches!(
        ControlPacket::ReadRequest(ReadRequest {
            route: Route::HOST,
            addr: addr(0)
        })
        .emit(&mut small),
        Err(Error::Truncated {
            needed: 12,
            got: 11
        })
    ));
}

/// Found by fuzzing: a non-discovery XDomain body of 86 bytes parsed as
/// `Raw` and then could not be framed. Linux drops any frame that is not a
/// whole number of dwords (spec 01 §7.5 step 1), whatever its PDF.
#[test]
fn unaligned_bodies_are_refused_for_every_pdf() {
    for pdf in 0u8..16 {
        for len in [1usize, 2, 3, 29, 86, 251] {
            let body = vec![0u8; len];
            assert!(
                matches!(
                    ControlPacket::parse(Pdf::new(pdf), &body),
                    Err(Error::Unaligned { .. })
                ),
                "pdf {pdf} len {len}"
            );
        }
    }
}
