//! Property tests for control packets: value round trips for every packet
//! type, canonical byte round trips, and no panics on arbitrary input.

// A test crate: failing loudly is its job (library code keeps the workspace lints).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use tblink_wire::ctl::{
    Address, ConfigSpace, ControlPacket, ErrorCode, ErrorPacket, FrameBuf, HotPlugEvent, IcmPacket,
    MAX_ICM_PAYLOAD, NotifyAck, Pg, ReadRequest, ReadResponse, ResetRequest, ResetResponse,
    WriteRequest, WriteResponse,
};
use tblink_wire::uuid::{THUNDERBOLT_IP, uuid_to_dwords};
use tblink_wire::xdomain::{Message, Seq, XdPacket};
use tblink_wire::{Pdf, Route};

/// Routes a config packet can carry: bits 53:0.
fn config_route() -> impl Strategy<Value = Route> {
    (0u64..1 << 54).prop_map(Route::from_raw)
}

fn any_route() -> impl Strategy<Value = Route> {
    any::<u64>().prop_map(Route::from_raw)
}

fn address() -> impl Strategy<Value = Address> {
    (0u16..=0x1fff, 0u8..=60, 0u8..=0x3f, 0u8..4, 0u8..4).prop_map(
        |(offset, length, port, space, seq)| Address {
            offset,
            length,
            port,
            space: ConfigSpace::from_bits(space),
            seq: Seq::new(seq),
        },
    )
}

fn with_data() -> impl Strategy<Value = (Address, Vec<u32>)> {
    address().prop_flat_map(|a| (Just(a), vec(any::<u32>(), a.length as usize)))
}

fn control_packet() -> impl Strategy<Value = ControlPacket> {
    prop_oneof![
        (config_route(), address())
            .prop_map(|(route, addr)| ControlPacket::ReadRequest(ReadRequest { route, addr })),
        (config_route(), with_data()).prop_map(|(route, (addr, data))| {
            ControlPacket::ReadResponse(ReadResponse { route, addr, data })
        }),
        (config_route(), with_data()).prop_map(|(route, (addr, data))| {
            ControlPacket::WriteRequest(WriteRequest { route, addr, data })
        }),
        (config_route(), address())
            .prop_map(|(route, addr)| ControlPacket::WriteResponse(WriteResponse { route, addr })),
        (any_route(), any::<u8>(), 0u8..=0x3f, 0u8..4).prop_map(|(route, code, port, pg)| {
            ControlPacket::Error(ErrorPacket {
                route,
                code: ErrorCode::new(code),
                port,
                pg: Pg::new(pg),
            })
        }),
        any_route().prop_map(|route| ControlPacket::NotifyAck(NotifyAck { route })),
        (any_route(), 0u8..=0x3f, any::<bool>()).prop_map(|(route, port, unplug)| {
            ControlPacket::HotPlug(HotPlugEvent {
                route,
                port,
                unplug,
            })
        }),
        (any_route(), 0u8..4, any::<bool>(), 0u32..20).prop_map(|(route, seq, resp, t)| {
            let message = match t {
                0 => Message::UuidRequest,
                1 => Message::PropertiesChangedResponse,
                2 => Message::LinkStateChangeRequest { tlw: 3, tls: 0xc },
                t => Message::Unknown {
                    msg_type: tblink_wire::xdomain::MsgType::new(0x100 + t),
                    payload: vec![t; t as usize],
                },
            };
            ControlPacket::XDomain {
                pdf: if resp {
                    Pdf::XDOMAIN_RESP
                } else {
                    Pdf::XDOMAIN_REQ
                },
                packet: XdPacket::new(route, Seq::new(seq), message),
            }
        }),
        config_route().prop_map(|route| ControlPacket::ResetRequest(ResetRequest { route })),
        config_route().prop_map(|route| ControlPacket::ResetResponse(ResetResponse { route })),
        (
            0xau8..=0xc,
            any::<[u8; 4]>(),
            vec(any::<u32>(), 0..=MAX_ICM_PAYLOAD)
        )
            .prop_map(|(pdf, [code, flags, index, total], payload)| {
                ControlPacket::Icm {
                    pdf: Pdf::new(pdf),
                    packet: IcmPacket {
                        code,
                        flags,
                        index,
                        total,
                        payload,
                    },
                }
            }),
        (
            prop_oneof![Just(0u8), Just(8), Just(13), Just(14), Just(15)],
            vec(any::<u32>(), 0..=63),
        )
            .prop_map(|(pdf, words)| ControlPacket::Raw {
                pdf: Pdf::new(pdf),
                body: words.iter().flat_map(|w| w.to_be_bytes()).collect(),
            }),
        // An XDomain frame of another protocol stays raw.
        vec(any::<u32>(), 0..=56).prop_map(|rest| {
            let mut d = vec![0, 1, rest.len() as u32 + 4];
            d.extend(uuid_to_dwords(&THUNDERBOLT_IP));
            d.extend(rest);
            ControlPacket::Raw {
                pdf: Pdf::XDOMAIN_RESP,
                body: d.iter().flat_map(|w| w.to_be_bytes()).collect(),
            }
        }),
    ]
}

/// Canonical READ/WRITE/ERROR/EVENT bodies built from the spec 01 §6
/// tables (reserved bits zero), independently of the emitters.
fn canonical_body() -> impl Strategy<Value = (Pdf, Vec<u8>)> {
    let config = (
        prop_oneof![Just(Pdf::READ), Just(Pdf::WRITE)],
        any::<bool>(),
        0u32..1 << 22,
        any::<u32>(),
        0u32..1 << 29,
        vec(any::<u32>(), 60),
    )
        .prop_filter_map("length ≤ 60", |(pdf, resp, hi, lo, dw2, data)| {
            let len = ((dw2 >> 13) & 0x3f) as usize;
            if len > 60 {
                return None;
            }
            let mut d = vec![hi | if resp { 0x8000_0000 } else { 0 }, lo, dw2];
            let with_data = (pdf == Pdf::READ) == resp;
            if with_data {
                d.extend_from_slice(&data[..len]);
            }
            Some((pdf, d))
        });
    let error = (any::<u64>(), any::<u8>(), 0u32..64, 0u32..4).prop_map(|(r, code, port, pg)| {
        (
            Pdf::ERROR,
            vec![
                (r >> 32) as u32,
                r as u32,
                code as u32 | port << 8 | pg << 30,
            ],
        )
    });
    let event = (any::<u64>(), 0u32..64, any::<bool>()).prop_map(|(r, port, unplug)| {
        (
            Pdf::EVENT,
            vec![(r >> 32) as u32, r as u32, port | (unplug as u32) << 31],
        )
    });
    let reset = (0u32..1 << 22, any::<u32>(), any::<bool>()).prop_map(|(hi, lo, resp)| {
        (
            Pdf::RESET,
            vec![hi | if resp { 0x8000_0000 } else { 0 }, lo],
        )
    });
    prop_oneof![config, error, event, reset]
        .prop_map(|(pdf, d)| (pdf, d.iter().flat_map(|w| w.to_be_bytes()).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn value_round_trip(p in control_packet()) {
        let mut buf = [0u8; 252];
        let n = p.emit(&mut buf).unwrap();
        prop_assert_eq!(n, p.buffer_len());
        prop_assert_eq!(ControlPacket::parse(p.pdf(), &buf[..n]).unwrap(), p.clone());
        let f = p.to_frame().unwrap();
        prop_assert_eq!(f.pdf(), p.pdf());
        prop_assert_eq!(ControlPacket::from_frame(&f).unwrap(), p);
    }

    #[test]
    fn canonical_bytes_round_trip((pdf, b) in canonical_body()) {
        let p = ControlPacket::parse(pdf, &b).unwrap();
        let mut out = vec![0u8; b.len()];
        prop_assert_eq!(p.emit(&mut out), Ok(b.len()));
        prop_assert_eq!(out, b);
    }

    #[test]
    fn emit_into_short_buffer_fails_cleanly(p in control_packet()) {
        let mut buf = vec![0u8; p.buffer_len().saturating_sub(1)];
        if p.buffer_len() > 0 {
            prop_assert!(p.emit(&mut buf).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..300), pdf in 0u8..16) {
        let pdf = Pdf::new(pdf);
        if let Ok(p) = ControlPacket::parse(pdf, &b) {
            let mut out = [0u8; 252];
            prop_assert!(p.emit(&mut out).is_ok());
        }
        let _ = XdPacket::parse(&b);
        if let Ok(f) = FrameBuf::from_wire(pdf, &b) {
            let _ = ControlPacket::from_frame(&f);
            let _ = XdPacket::from_frame(&f);
        }
    }
}
