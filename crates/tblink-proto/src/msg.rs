//! Discovery messages as this stack sends and accepts them (spec 02 §3–4,
//! §7). The encoding and parsing are the wire crate's
//! ([`XdPacket`], [`Message`]); this module only adds the stack's receive
//! policy, which is deliberately more lenient than [`XdPacket::parse`]:
//!
//! * A frame that passes the header checks (exact length field ≥ 5, spec
//!   02 §7) but is too short for its type's fields still counts as a
//!   message of that type ([`Received::message`] is `None`): a response is
//!   matched to its request by type, and a request gets the same answer as
//!   any other request the stack cannot use (see `Host::respond`).
//! * A UUID_RESPONSE of 48–55 bytes (src_uuid present, src_route cut off)
//!   is accepted; its route reads as [`Route::HOST`] (the stack never uses
//!   it).
//!
//! Neither has a counterpart in the wire crate, whose parser follows
//! Linux's minimum sizes.

use tblink_wire::Route;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::XDOMAIN_DISCOVERY;
use tblink_wire::xdomain::{ErrorCode, Header, Message, MsgType, Packet, Seq, XdPacket};

/// A discovery frame body that passed the header checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) header: Header,
    /// The type dword (DW7).
    pub(crate) msg_type: MsgType,
    /// The message, `None` if the frame is too short for its type's fields.
    pub(crate) message: Option<Message>,
}

/// Why a frame body is not a discovery message we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Header broken or length field not exact (spec 02 §7: dropped silently).
    Malformed,
    /// Another protocol UUID (dispatched to protocol handlers).
    OtherProtocol(Header),
}

/// Decode a frame body (CRC already stripped and verified).
pub(crate) fn decode(body: &[u8]) -> Result<Received, Reject> {
    let header = Header::parse(body).map_err(|_| Reject::Malformed)?;
    if header.protocol != XDOMAIN_DISCOVERY {
        return Err(Reject::OtherProtocol(header));
    }
    // Spec 02 §7, 01 §8.3: length field ≥ 5 (the type dword must exist).
    let msg_type = XdPacket::peek_type(body).ok_or(Reject::Malformed)?;
    let packet = Packet::new_unchecked(body);
    let payload = packet.payload();
    let message = Message::parse(payload)
        .ok()
        .or_else(|| short_uuid_response(msg_type, payload));
    Ok(Received {
        header,
        msg_type,
        message,
    })
}

/// A UUID_RESPONSE without (all of) its src_route, parsed by the wire
/// crate after zero-filling the route dwords.
fn short_uuid_response(msg_type: MsgType, payload: &[u8]) -> Option<Message> {
    const UUID_END: usize = 4 + 16;
    const FULL: usize = UUID_END + 8;
    if msg_type != MsgType::UUID_RESPONSE || payload.len() < UUID_END {
        return None;
    }
    let mut padded = [0u8; FULL];
    padded[..UUID_END].copy_from_slice(payload.get(..UUID_END)?);
    match Message::parse(&padded).ok()? {
        Message::UuidResponse { src_uuid, .. } => Some(Message::UuidResponse {
            src_uuid,
            src_route: Route::HOST,
        }),
        _ => None,
    }
}

/// A sealed discovery frame to `route` (bit 63 cleared, spec 02 §2) with
/// the PDF of the message type.
pub(crate) fn frame(route: Route, seq: Seq, message: Message) -> Option<FrameBuf> {
    XdPacket::new(route.without_cm(), seq, message)
        .to_frame()
        .ok()
}

/// Our answer to LINK_STATE_STATUS_REQUEST: single lane (spec 02 §4.8,
/// §6: slw = 0x1, tlw = 0x1, tls = 0xc).
pub(crate) const LINK_STATE_SINGLE_LANE: Message = Message::LinkStateStatusResponse {
    status: 0,
    slw: 0x1,
    tlw: 0x1,
    sls: 0x0,
    tls: 0xc,
};

/// An ERROR_RESPONSE with `code`.
pub(crate) const fn error(code: ErrorCode) -> Message {
    Message::ErrorResponse { code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use tblink_wire::Pdf;
    use tblink_wire::uuid::{Uuid, uuid_from_dwords};

    fn a() -> Uuid {
        uuid_from_dwords([0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00])
    }
    fn b() -> Uuid {
        uuid_from_dwords([0x8c1a2b3d, 0x00004e5f, 0xffffffff, 0xffffffff])
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .filter(|w| !w.ends_with(':'))
            .map(|w| u8::from_str_radix(w, 16).unwrap())
            .collect()
    }

    fn properties_request(offset: u16) -> FrameBuf {
        let m = Message::PropertiesRequest {
            src_uuid: a(),
            dst_uuid: b(),
            offset,
        };
        frame(Route::from_raw(1), Seq::new(2), m).unwrap()
    }

    /// Spec 02 §11.1.
    #[test]
    fn golden_uuid_request() {
        let f = frame(Route::from_raw(1), Seq::new(2), Message::UuidRequest).unwrap();
        assert_eq!(
            f.as_bytes(),
            &hex("00 00 00 00 00 00 00 01 10 00 00 05 0e d7 38 b6
                  bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 0c 74 f5 7d b9")[..]
        );
        assert_eq!(f.pdf(), Pdf::XDOMAIN_REQ);
    }

    /// Spec 02 §11.2.
    #[test]
    fn golden_uuid_response() {
        let m = Message::UuidResponse {
            src_uuid: b(),
            src_route: Route::from_raw(3),
        };
        let f = frame(Route::from_raw(3).with_cm(), Seq::new(2), m.clone()).unwrap();
        assert_eq!(
            f.as_bytes(),
            &hex("00 00 00 00 00 00 00 03 10 00 00 0b 0e d7 38 b6
                  bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 02
                  8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
                  00 00 00 00 00 00 00 03 57 53 b4 95")[..]
        );
        let r = decode(f.body()).unwrap();
        assert_eq!((r.header.seq, r.msg_type), (Seq::new(2), MsgType::new(2)));
        assert_eq!(r.message, Some(m));
    }

    /// Spec 02 §11.3 and §11.5.
    #[test]
    fn golden_properties_requests() {
        let f = properties_request(0);
        assert_eq!(&f.as_bytes()[0x40..], &hex("00 00 00 00 35 ba 81 84")[..]);
        let f = properties_request(45);
        assert_eq!(&f.as_bytes()[0x40..], &hex("00 00 00 2d aa 2f 43 89")[..]);
        assert_eq!(
            decode(f.body()).unwrap().message,
            Some(Message::PropertiesRequest {
                src_uuid: a(),
                dst_uuid: b(),
                offset: 45
            })
        );
    }

    /// Spec 02 §11.6 (page 2 of the 57-dword block).
    #[test]
    fn golden_properties_response_page_2() {
        let data = [
            0x70727463, 0x76657273, 0x76000001, 0x00000001, 0x70727463, 0x72657673, 0x76000001,
            0x00000001, 0x70727463, 0x73746e73, 0x76000001, 0x00000007,
        ];
        let m = Message::PropertiesResponse {
            src_uuid: b(),
            dst_uuid: a(),
            offset: 45,
            data_length: 57,
            generation: 0x5a3c9e17,
            data: data.to_vec(),
        };
        let f = frame(Route::from_raw(3), Seq::new(2), m).unwrap();
        assert_eq!(f.len(), 124);
        assert_eq!(
            &f.as_bytes()[0x40..0x48],
            &hex("00 39 00 2d 5a 3c 9e 17")[..]
        );
        assert_eq!(&f.as_bytes()[0x78..], &hex("0b 94 94 d3")[..]);
        match decode(f.body()).unwrap().message {
            Some(Message::PropertiesResponse {
                offset,
                data_length,
                generation,
                data,
                ..
            }) => {
                assert_eq!(
                    (offset, data_length, generation, data.len() * 4),
                    (45, 57, 0x5a3c9e17, 48)
                );
            }
            m => panic!("{m:?}"),
        }
    }

    /// Spec 02 §11.7 and §11.8.
    #[test]
    fn golden_small_messages() {
        let m = Message::PropertiesChangedRequest { src_uuid: b() };
        let f = frame(Route::from_raw(3), Seq::new(1), m).unwrap();
        assert_eq!(&f.as_bytes()[0x30..], &hex("46 ab 72 79")[..]);
        let m = Message::PropertiesChangedResponse;
        let f = frame(Route::from_raw(1), Seq::new(1), m).unwrap();
        assert_eq!(f.len(), 40);
        assert_eq!(&f.as_bytes()[0x24..], &hex("35 70 61 e0")[..]);
        let f = frame(
            Route::from_raw(3),
            Seq::new(0),
            error(ErrorCode::NOT_SUPPORTED),
        )
        .unwrap();
        assert_eq!(&f.as_bytes()[0x20..], &hex("00 00 00 03 f6 9b e9 96")[..]);
        let f = frame(Route::from_raw(3), Seq::new(2), LINK_STATE_SINGLE_LANE).unwrap();
        assert_eq!(
            &f.as_bytes()[0x20..],
            &hex("00 00 00 00 0c 00 01 01 0a bf 91 90")[..]
        );
    }

    #[test]
    fn decode_rejects() {
        let f = frame(Route::from_raw(1), Seq::new(2), Message::UuidRequest).unwrap();
        assert_eq!(decode(&f.body()[..28]), Err(Reject::Malformed));
        let mut body = f.body().to_vec();
        body[11] = 6; // length field disagrees with the size
        assert_eq!(decode(&body), Err(Reject::Malformed));
    }

    /// Frames too short for their type keep the type (see the module docs).
    #[test]
    fn decode_short_messages() {
        let f = frame(Route::from_raw(1), Seq::new(0), error(ErrorCode::NOT_READY)).unwrap();
        // Cut DW8 and fix the length field: an ERROR_RESPONSE without a code.
        let mut body = f.body()[..32].to_vec();
        body[11] = 5;
        let r = decode(&body).unwrap();
        assert_eq!((r.msg_type, r.message), (MsgType::ERROR_RESPONSE, None));
        // A UUID_RESPONSE without its src_route still yields src_uuid.
        let m = Message::UuidResponse {
            src_uuid: b(),
            src_route: Route::from_raw(3),
        };
        let f = frame(Route::from_raw(3), Seq::new(2), m).unwrap();
        for (len, field) in [(48, 9), (52, 10)] {
            let mut body = f.body()[..len].to_vec();
            body[11] = field;
            assert_eq!(
                decode(&body).unwrap().message,
                Some(Message::UuidResponse {
                    src_uuid: b(),
                    src_route: Route::HOST
                })
            );
        }
        let mut body = f.body()[..44].to_vec();
        body[11] = 8;
        assert_eq!(decode(&body).unwrap().message, None);
    }
}
