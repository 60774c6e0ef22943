//! Property tests for spec 06 wire formats: `parse(emit(x)) == x` for every
//! message type and the frame header, `emit(parse(b)) == b` for canonical
//! bytes, and no panics on arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers unwrap known-good vectors

use proptest::prelude::*;
use tblink_wire::Route;
use tblink_wire::tbip::msg::MAX_PAYLOAD_DWORDS;
use tblink_wire::tbip::{
    DataFrame, FrameHeader, Login, LoginResponse, Logout, Status, TbipHeader, TbipMessage,
    TbipType, Unknown, check_continuation, check_frame, check_start, derive_mac, split,
};
use tblink_wire::uuid::{THUNDERBOLT_IP, Uuid, WireUuid};
use tblink_wire::xdomain::Seq;

fn arb_header(ty: TbipType) -> impl Strategy<Value = TbipHeader> {
    (
        any::<u64>(),
        0u8..4,
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u32>(),
    )
        .prop_map(move |(route, seq, i, t, command_id)| TbipHeader {
            route: Route::from_raw(route),
            seq: Seq::new(seq),
            initiator_uuid: Uuid::from_bytes(i),
            target_uuid: Uuid::from_bytes(t),
            msg_type: ty,
            command_id,
        })
}

fn arb_login() -> impl Strategy<Value = Login> {
    (arb_header(TbipType::LOGIN), any::<u32>(), any::<u32>()).prop_map(|(header, pv, tp)| Login {
        header,
        proto_version: pv,
        transmit_path: tp,
    })
}

fn arb_login_response() -> impl Strategy<Value = LoginResponse> {
    (
        arb_header(TbipType::LOGIN_RESPONSE),
        any::<u32>(),
        any::<[u8; 6]>(),
        any::<u32>(),
    )
        .prop_map(|(header, status, mac, len)| LoginResponse {
            header,
            status,
            receiver_mac: mac,
            receiver_mac_len: len,
        })
}

fn arb_logout() -> impl Strategy<Value = Logout> {
    arb_header(TbipType::LOGOUT).prop_map(|header| Logout { header })
}

fn arb_status() -> impl Strategy<Value = Status> {
    (arb_header(TbipType::STATUS), any::<u32>())
        .prop_map(|(header, status)| Status { header, status })
}

fn arb_unknown() -> impl Strategy<Value = Unknown> {
    (
        4u32..,
        proptest::collection::vec(any::<u32>(), 0..=MAX_PAYLOAD_DWORDS),
    )
        .prop_flat_map(|(ty, payload)| {
            arb_header(TbipType::new(ty)).prop_map(move |h| Unknown::new(h, &payload).unwrap())
        })
}

fn arb_message() -> impl Strategy<Value = TbipMessage> {
    prop_oneof![
        arb_login().prop_map(TbipMessage::from),
        arb_login_response().prop_map(TbipMessage::from),
        arb_logout().prop_map(TbipMessage::from),
        arb_status().prop_map(TbipMessage::from),
        arb_unknown().prop_map(TbipMessage::from),
    ]
}

/// Canonical bytes of a message of type `ty` and `len` bytes: random
/// field contents, exact length field, ThunderboltIP UUID, reserved bits
/// and fields zero.
fn arb_canonical(ty: u32, len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), len).prop_map(move |mut b| {
        let dw2 = (len as u32 / 4 - 3) | (u32::from(b[8] & 3) << 27);
        b[8..12].copy_from_slice(&dw2.to_be_bytes());
        b[12..28].copy_from_slice(&WireUuid::from_uuid(&THUNDERBOLT_IP).0);
        b[60..64].copy_from_slice(&ty.to_be_bytes());
        match ty {
            0 => b[76..92].fill(0),
            1 => {
                b[76..78].fill(0);
                b[84..100].fill(0);
            }
            _ => {}
        }
        b
    })
}

/// Bytes that pass the common header checks (exact length field,
/// ThunderboltIP UUID) with random type and contents, so parsing goes deep.
fn arb_plausible() -> impl Strategy<Value = Vec<u8>> {
    (7usize..=63, 0u32..6).prop_flat_map(|(dwords, ty)| {
        proptest::collection::vec(any::<u8>(), dwords * 4).prop_map(move |mut b| {
            let dw2 = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) & !0x3f | (dwords as u32 - 3);
            b[8..12].copy_from_slice(&dw2.to_be_bytes());
            b[12..28].copy_from_slice(&WireUuid::from_uuid(&THUNDERBOLT_IP).0);
            if b.len() >= 64 {
                b[60..64].copy_from_slice(&ty.to_be_bytes());
            }
            b
        })
    })
}

fn emit_vec(m: &TbipMessage) -> Vec<u8> {
    let mut buf = vec![0xa5u8; m.buffer_len()];
    assert_eq!(m.emit(&mut buf).unwrap(), m.buffer_len());
    buf
}

proptest! {
    #[test]
    fn login_round_trip(m in arb_login()) {
        let mut buf = [0xffu8; 92];
        prop_assert_eq!(m.emit(&mut buf).unwrap(), 92);
        prop_assert_eq!(Login::parse(&buf).unwrap(), m);
    }

    #[test]
    fn login_response_round_trip(m in arb_login_response()) {
        let mut buf = [0xffu8; 100];
        prop_assert_eq!(m.emit(&mut buf).unwrap(), 100);
        prop_assert_eq!(LoginResponse::parse(&buf).unwrap(), m);
    }

    #[test]
    fn logout_round_trip(m in arb_logout()) {
        let mut buf = [0xffu8; 68];
        prop_assert_eq!(m.emit(&mut buf).unwrap(), 68);
        prop_assert_eq!(Logout::parse(&buf).unwrap(), m);
    }

    #[test]
    fn status_round_trip(m in arb_status()) {
        let mut buf = [0xffu8; 72];
        prop_assert_eq!(m.emit(&mut buf).unwrap(), 72);
        prop_assert_eq!(Status::parse(&buf).unwrap(), m);
    }

    #[test]
    fn unknown_round_trip(m in arb_unknown()) {
        let mut buf = [0xffu8; 252];
        let n = m.emit(&mut buf).unwrap();
        prop_assert_eq!(n, m.buffer_len());
        prop_assert_eq!(Unknown::parse(&buf[..n]).unwrap(), m);
    }

    #[test]
    fn message_round_trip_through_frame(m in arb_message()) {
        let f = m.to_frame().unwrap();
        prop_assert_eq!(f.len(), m.buffer_len() + 4);
        prop_assert_eq!(TbipMessage::parse_frame(f.as_bytes()).unwrap(), m);
        prop_assert_eq!(TbipMessage::parse(&emit_vec(&m)).unwrap(), m);
    }

    #[test]
    fn canonical_login_bytes(b in arb_canonical(0, 92)) {
        prop_assert_eq!(emit_vec(&TbipMessage::parse(&b).unwrap()), b);
    }

    #[test]
    fn canonical_login_response_bytes(b in arb_canonical(1, 100)) {
        prop_assert_eq!(emit_vec(&TbipMessage::parse(&b).unwrap()), b);
    }

    #[test]
    fn canonical_logout_bytes(b in arb_canonical(2, 68)) {
        prop_assert_eq!(emit_vec(&TbipMessage::parse(&b).unwrap()), b);
    }

    #[test]
    fn canonical_status_bytes(b in arb_canonical(3, 72)) {
        prop_assert_eq!(emit_vec(&TbipMessage::parse(&b).unwrap()), b);
    }

    #[test]
    fn canonical_unknown_bytes(
        b in (4u32.., 0usize..=MAX_PAYLOAD_DWORDS)
            .prop_flat_map(|(ty, dwords)| arb_canonical(ty, 68 + 4 * dwords))
    ) {
        prop_assert_eq!(emit_vec(&TbipMessage::parse(&b).unwrap()), b);
    }

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = TbipMessage::parse(&b);
        let _ = TbipMessage::parse_frame(&b);
        let _ = TbipHeader::parse(&b);
        let _ = Login::parse(&b);
        let _ = LoginResponse::parse(&b);
        let _ = Logout::parse(&b);
        let _ = Status::parse(&b);
        let _ = Unknown::parse(&b);
        let _ = FrameHeader::parse(&b);
        let v = DataFrame::new_unchecked(&b[..]);
        let _ = (v.header(), v.payload());
    }

    #[test]
    fn plausible_bytes_parse_consistently(b in arb_plausible()) {
        if let Ok(m) = TbipMessage::parse(&b) {
            let again = emit_vec(&m);
            prop_assert_eq!(TbipMessage::parse(&again).unwrap(), m);
        }
        let _ = Login::parse(&b);
        let _ = LoginResponse::parse(&b);
        let _ = Unknown::parse(&b);
    }

    #[test]
    fn frame_header_round_trip(
        frame_size in any::<u32>(),
        frame_index in any::<u16>(),
        frame_id in any::<u16>(),
        frame_count in any::<u32>(),
    ) {
        let h = FrameHeader { frame_size, frame_index, frame_id, frame_count };
        let mut buf = [0u8; 12];
        prop_assert_eq!(h.emit(&mut buf).unwrap(), 12);
        prop_assert_eq!(FrameHeader::parse(&buf).unwrap(), h);
    }

    #[test]
    fn frame_header_bytes_round_trip(b in any::<[u8; 12]>()) {
        prop_assert_eq!(FrameHeader::parse(&b).unwrap().to_bytes(), b);
    }

    #[test]
    fn rx_checks_never_panic(
        b in proptest::collection::vec(any::<u8>(), 0..4200),
        field in any::<u16>(),
        crc in any::<bool>(),
        over in any::<bool>(),
        prev in any::<[u8; 12]>(),
        so_far in any::<usize>(),
    ) {
        if let Ok(f) = check_frame(&b, field, crc, over) {
            prop_assert_eq!(f.payload.len(), f.header.frame_size as usize);
            let _ = check_start(&f.header);
            let _ = check_continuation(&FrameHeader::from_bytes(&prev), so_far, &f.header);
        }
    }

    /// Everything our splitter produces passes Linux's receive checks and
    /// reassembles to the packet (spec 06 §8.2, §9).
    #[test]
    fn split_frames_pass_rx_checks(len in 1usize..=65536, frame_id in any::<u16>()) {
        let pkt: Vec<u8> = (0..len).map(|i| (i ^ (i >> 8)) as u8).collect();
        let s = split(len).unwrap();
        prop_assert!(s.frame_count() <= 17);
        let mut out = Vec::with_capacity(len);
        let mut prev: Option<FrameHeader> = None;
        let mut buf = [0u8; 4096];
        for f in s {
            let n = f.write(&pkt, frame_id, &mut buf).unwrap();
            let field = (n & 0xfff) as u16;
            let rx = check_frame(&buf, field, false, false).unwrap();
            match prev {
                None => check_start(&rx.header).unwrap(),
                Some(p) => check_continuation(&p, out.len(), &rx.header).unwrap(),
            }
            out.extend_from_slice(rx.payload);
            prev = Some(rx.header);
        }
        prop_assert!(prev.unwrap().is_last());
        prop_assert_eq!(out, pkt);
    }

    #[test]
    fn derive_mac_is_local_unicast(u in any::<[u8; 16]>(), route in any::<u64>()) {
        let mac = derive_mac(&Uuid::from_bytes(u), Route::from_raw(route));
        prop_assert_eq!(mac[0] & 0x03, 0x02);
    }
}
