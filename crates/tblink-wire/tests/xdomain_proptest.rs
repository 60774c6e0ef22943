//! Property tests for XDomain discovery messages: value round trips,
//! canonical byte round trips, and no panics on arbitrary input.

// A test crate: failing loudly is its job (library code keeps the workspace lints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::{Uuid, XDOMAIN_DISCOVERY, uuid_to_dwords};
use tblink_wire::xdomain::{
    ErrorCode, MAX_PROPERTIES_DATA, MAX_UNKNOWN_PAYLOAD, Message, MsgType, Seq, XdPacket,
};
use tblink_wire::{Pdf, Route};

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn unknown_type() -> impl Strategy<Value = MsgType> {
    any::<u32>()
        .prop_map(MsgType::new)
        .prop_filter("unnamed", |t| !t.is_known())
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::UuidRequest),
        Just(Message::UuidRequestOld),
        (uuid(), any::<u64>()).prop_map(|(src_uuid, r)| Message::UuidResponse {
            src_uuid,
            src_route: Route::from_raw(r)
        }),
        (uuid(), uuid(), any::<u16>()).prop_map(|(src_uuid, dst_uuid, offset)| {
            Message::PropertiesRequest {
                src_uuid,
                dst_uuid,
                offset,
            }
        }),
        (
            uuid(),
            uuid(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            vec(any::<u32>(), 0..=MAX_PROPERTIES_DATA)
        )
            .prop_map(
                |(src_uuid, dst_uuid, offset, data_length, generation, data)| {
                    Message::PropertiesResponse {
                        src_uuid,
                        dst_uuid,
                        offset,
                        data_length,
                        generation,
                        data,
                    }
                }
            ),
        uuid().prop_map(|src_uuid| Message::PropertiesChangedRequest { src_uuid }),
        Just(Message::PropertiesChangedResponse),
        any::<u32>().prop_map(|c| Message::ErrorResponse {
            code: ErrorCode::new(c)
        }),
        Just(Message::LinkStateStatusRequest),
        (any::<u32>(), any::<[u8; 4]>()).prop_map(|(status, [slw, tlw, sls, tls])| {
            Message::LinkStateStatusResponse {
                status,
                slw,
                tlw,
                sls,
                tls,
            }
        }),
        (any::<u8>(), any::<u8>())
            .prop_map(|(tlw, tls)| Message::LinkStateChangeRequest { tlw, tls }),
        any::<u32>().prop_map(|status| Message::LinkStateChangeResponse { status }),
        (unknown_type(), vec(any::<u32>(), 0..=MAX_UNKNOWN_PAYLOAD))
            .prop_map(|(msg_type, payload)| Message::Unknown { msg_type, payload }),
    ]
}

fn packet() -> impl Strategy<Value = XdPacket> {
    (any::<u64>(), 0u8..4, message())
        .prop_map(|(r, s, m)| XdPacket::new(Route::from_raw(r), Seq::new(s), m))
}

/// Canonical body bytes built field by field from the spec 02 §2–4 tables
/// (reserved bits zero, no extra dwords), independently of the emitter.
fn canonical_body() -> impl Strategy<Value = Vec<u8>> {
    let types = prop_oneof![
        Just(1u32),
        Just(2),
        Just(3),
        Just(4),
        Just(5),
        Just(6),
        Just(7),
        Just(12),
        Just(15),
        Just(16),
        Just(17),
        Just(18),
        unknown_type().prop_map(|t| t.value()),
    ];
    (
        any::<u64>(),
        0u32..4,
        types,
        vec(any::<u32>(), 56),
        0..=MAX_PROPERTIES_DATA,
        0..=MAX_UNKNOWN_PAYLOAD,
    )
        .prop_map(|(route, sn, ty, r, n, u)| {
            let mut msg = vec![ty];
            match ty {
                1 | 12 | 15 => {}
                2 => msg.extend_from_slice(&r[..6]),
                3 => {
                    msg.extend_from_slice(&r[..8]);
                    msg.push(r[8] & 0xffff);
                }
                4 => msg.extend_from_slice(&r[..10 + n]),
                5 => msg.extend_from_slice(&r[..4]),
                6 => msg.push(0),
                7 | 18 => msg.push(r[0]),
                16 => msg.extend_from_slice(&r[..2]),
                17 => msg.push(r[0] & 0xffff),
                _ => msg.extend_from_slice(&r[..u]),
            }
            let mut d = vec![
                (route >> 32) as u32,
                route as u32,
                (sn << 27) | (msg.len() as u32 + 4),
            ];
            d.extend(uuid_to_dwords(&XDOMAIN_DISCOVERY));
            d.extend(msg);
            d.iter().flat_map(|x| x.to_be_bytes()).collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn value_round_trip(p in packet()) {
        let mut buf = [0u8; 252];
        let n = p.emit(&mut buf).unwrap();
        prop_assert_eq!(n, p.buffer_len());
        prop_assert_eq!(XdPacket::parse(&buf[..n]).unwrap(), p.clone());
        let msg_len = p.message.buffer_len();
        prop_assert_eq!(Message::parse(&buf[28..28 + msg_len]).unwrap(), p.message.clone());
        let f = p.to_frame().unwrap();
        prop_assert_eq!(f.pdf(), p.message.pdf());
        prop_assert_eq!(XdPacket::from_frame(&f).unwrap(), p);
    }

    #[test]
    fn canonical_bytes_round_trip(b in canonical_body()) {
        let p = XdPacket::parse(&b).unwrap();
        let mut out = vec![0u8; b.len()];
        prop_assert_eq!(p.emit(&mut out), Ok(b.len()));
        prop_assert_eq!(out, b);
    }

    #[test]
    fn emit_into_short_buffer_fails_cleanly(p in packet(), cut in 0usize..252) {
        let mut buf = vec![0u8; cut.min(p.buffer_len().saturating_sub(1))];
        prop_assert!(p.emit(&mut buf).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..300), pdf in 0u8..16) {
        let _ = XdPacket::parse(&b);
        let _ = XdPacket::peek_type(&b);
        let _ = Message::parse(&b);
        if let Ok(f) = FrameBuf::from_wire(Pdf::new(pdf), &b) {
            let _ = XdPacket::from_frame(&f);
        }
    }

    /// Random payloads behind a valid header reach every message parser.
    #[test]
    fn arbitrary_payload_never_panics(
        route in any::<u64>(),
        ty in prop_oneof![0u32..20, any::<u32>()],
        rest in vec(any::<u32>(), 0..=55),
    ) {
        let mut d = vec![(route >> 32) as u32, route as u32, rest.len() as u32 + 5];
        d.extend(uuid_to_dwords(&XDOMAIN_DISCOVERY));
        d.push(ty);
        d.extend(rest);
        let b: Vec<u8> = d.iter().flat_map(|x| x.to_be_bytes()).collect();
        if let Ok(p) = XdPacket::parse(&b) {
            let mut out = [0u8; 252];
            prop_assert!(p.emit(&mut out).is_ok());
        }
    }
}
