//! Discovery messages (spec 02 §3–4): encoding into sealed frames and
//! decoding of received frame bodies.

use tblink_wire::bytes::be32;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::{Uuid, WireUuid, XDOMAIN_DISCOVERY};
use tblink_wire::xdomain::{HEADER_LEN, Header, Seq};
use tblink_wire::{Pdf, Route};

/// Message types (spec 02 §3).
pub(crate) mod ty {
    pub(crate) const UUID_REQUEST_OLD: u32 = 1;
    pub(crate) const UUID_RESPONSE: u32 = 2;
    pub(crate) const PROPERTIES_REQUEST: u32 = 3;
    pub(crate) const PROPERTIES_RESPONSE: u32 = 4;
    pub(crate) const PROPERTIES_CHANGED_REQUEST: u32 = 5;
    pub(crate) const PROPERTIES_CHANGED_RESPONSE: u32 = 6;
    pub(crate) const ERROR_RESPONSE: u32 = 7;
    pub(crate) const UUID_REQUEST: u32 = 12;
    pub(crate) const LINK_STATE_STATUS_REQUEST: u32 = 15;
    pub(crate) const LINK_STATE_STATUS_RESPONSE: u32 = 16;
    pub(crate) const LINK_STATE_CHANGE_REQUEST: u32 = 17;
}

/// ERROR_RESPONSE codes (spec 02 §4.7).
pub(crate) mod code {
    pub(crate) const UNKNOWN_DOMAIN: u32 = 2;
    pub(crate) const NOT_SUPPORTED: u32 = 3;
    pub(crate) const NOT_READY: u32 = 4;
}

/// Most data dwords in one PROPERTIES_RESPONSE (spec 02 §4.4).
pub(crate) const MAX_PAGE_DWORDS: usize = 45;
/// Largest `data_length` a receiver accepts (spec 02 §4.4).
pub(crate) const MAX_BLOCK_DWORDS: usize = 500;

/// A decoded discovery message; borrowed data points into the frame body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg<'a> {
    UuidRequest,
    UuidResponse {
        src_uuid: Uuid,
    },
    PropertiesRequest {
        src_uuid: Uuid,
        dst_uuid: Uuid,
        offset: u16,
    },
    PropertiesResponse {
        offset: u16,
        data_length: u16,
        generation: u32,
        data: &'a [u8],
    },
    PropertiesChangedRequest {
        src_uuid: Uuid,
    },
    PropertiesChangedResponse,
    ErrorResponse {
        code: u32,
    },
    LinkStateStatusRequest,
    LinkStateChangeRequest,
    /// Any other type, or a known type too short for its fields.
    Other {
        msg_type: u32,
    },
}

/// Why a frame body is not a discovery message we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Header broken or length field not exact (spec 02 §7: dropped silently).
    Malformed,
    /// Another protocol UUID (dispatched to protocol handlers).
    OtherProtocol(Header),
}

const DW: usize = 4;

fn dw(body: &[u8], n: usize) -> Option<u32> {
    be32(body, n * DW)
}

fn uuid_at(body: &[u8], n: usize) -> Option<Uuid> {
    WireUuid::read(body, n * DW)
}

/// Decode a frame body (CRC already stripped and verified).
pub(crate) fn decode(body: &[u8]) -> Result<(Header, u32, Msg<'_>), Reject> {
    let hdr = Header::parse(body).map_err(|_| Reject::Malformed)?;
    if hdr.protocol != XDOMAIN_DISCOVERY {
        return Err(Reject::OtherProtocol(hdr));
    }
    // Spec 02 §7, 01 §8.3: length field ≥ 5 (the type dword must exist).
    if hdr.length < 5 {
        return Err(Reject::Malformed);
    }
    let t = dw(body, 7).ok_or(Reject::Malformed)?;
    let other = Msg::Other { msg_type: t };
    let msg = match t {
        ty::UUID_REQUEST | ty::UUID_REQUEST_OLD => Msg::UuidRequest,
        ty::UUID_RESPONSE => {
            uuid_at(body, 8).map_or(other, |src_uuid| Msg::UuidResponse { src_uuid })
        }
        ty::PROPERTIES_REQUEST => match (uuid_at(body, 8), uuid_at(body, 12), dw(body, 16)) {
            (Some(src_uuid), Some(dst_uuid), Some(o)) => Msg::PropertiesRequest {
                src_uuid,
                dst_uuid,
                offset: o as u16,
            },
            _ => other,
        },
        ty::PROPERTIES_RESPONSE => match (dw(body, 16), dw(body, 17)) {
            (Some(w), Some(generation)) => Msg::PropertiesResponse {
                offset: w as u16,
                data_length: (w >> 16) as u16,
                generation,
                data: body.get(18 * DW..).unwrap_or(&[]),
            },
            _ => other,
        },
        ty::PROPERTIES_CHANGED_REQUEST => {
            uuid_at(body, 8).map_or(other, |src_uuid| Msg::PropertiesChangedRequest { src_uuid })
        }
        ty::PROPERTIES_CHANGED_RESPONSE => Msg::PropertiesChangedResponse,
        ty::ERROR_RESPONSE => dw(body, 8).map_or(other, |code| Msg::ErrorResponse { code }),
        ty::LINK_STATE_STATUS_REQUEST => Msg::LinkStateStatusRequest,
        ty::LINK_STATE_CHANGE_REQUEST => Msg::LinkStateChangeRequest,
        _ => other,
    };
    Ok((hdr, t, msg))
}

/// Build a sealed discovery frame: header, type, then `payload` bytes.
/// `payload` must be a whole number of dwords and fit in 252 − 32 bytes.
pub(crate) fn build(
    pdf: Pdf,
    route: Route,
    seq: Seq,
    msg_type: u32,
    payload: &[u8],
) -> Option<FrameBuf> {
    let total = HEADER_LEN + DW + payload.len();
    let hdr = Header::for_body(route.without_cm(), seq, XDOMAIN_DISCOVERY, total).ok()?;
    FrameBuf::build(pdf, |buf| {
        hdr.emit(buf)?;
        let body = buf.get_mut(..total).ok_or(tblink_wire::Error::TooLong {
            max: tblink_wire::ctl::MAX_BODY_LEN,
            got: total,
        })?;
        body[HEADER_LEN..HEADER_LEN + DW].copy_from_slice(&msg_type.to_be_bytes());
        body[HEADER_LEN + DW..].copy_from_slice(payload);
        Ok(total)
    })
    .ok()
}

/// A small dword writer for payloads.
#[derive(Debug)]
pub(crate) struct Payload {
    buf: [u8; 224],
    len: usize,
}

impl Default for Payload {
    fn default() -> Self {
        Payload {
            buf: [0; 224],
            len: 0,
        }
    }
}

impl Payload {
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + DW) {
            dst.copy_from_slice(&v.to_be_bytes());
            self.len += DW;
        }
        self
    }

    pub(crate) fn uuid(&mut self, u: &Uuid) -> &mut Self {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + 16) {
            dst.copy_from_slice(&WireUuid::from_uuid(u).0);
            self.len += 16;
        }
        self
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
        self
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

pub(crate) fn uuid_request(route: Route, seq: Seq) -> Option<FrameBuf> {
    build(Pdf::XDOMAIN_REQ, route, seq, ty::UUID_REQUEST, &[])
}

pub(crate) fn uuid_response(
    route: Route,
    seq: Seq,
    own: &Uuid,
    src_route: Route,
) -> Option<FrameBuf> {
    let mut p = Payload::default();
    let r = src_route.without_cm();
    p.uuid(own).u32(r.hi()).u32(r.lo());
    build(
        Pdf::XDOMAIN_RESP,
        route,
        seq,
        ty::UUID_RESPONSE,
        p.as_bytes(),
    )
}

pub(crate) fn properties_request(
    route: Route,
    seq: Seq,
    src: &Uuid,
    dst: &Uuid,
    offset: u16,
) -> Option<FrameBuf> {
    let mut p = Payload::default();
    p.uuid(src).uuid(dst).u32(u32::from(offset));
    build(
        Pdf::XDOMAIN_REQ,
        route,
        seq,
        ty::PROPERTIES_REQUEST,
        p.as_bytes(),
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn properties_response(
    route: Route,
    seq: Seq,
    src: &Uuid,
    dst: &Uuid,
    offset: u16,
    data_length: u16,
    generation: u32,
    data: &[u32],
) -> Option<FrameBuf> {
    let mut p = Payload::default();
    p.uuid(src)
        .uuid(dst)
        .u32((u32::from(data_length) << 16) | u32::from(offset))
        .u32(generation);
    for &d in data.iter().take(MAX_PAGE_DWORDS) {
        p.u32(d);
    }
    build(
        Pdf::XDOMAIN_RESP,
        route,
        seq,
        ty::PROPERTIES_RESPONSE,
        p.as_bytes(),
    )
}

pub(crate) fn properties_changed_request(route: Route, seq: Seq, src: &Uuid) -> Option<FrameBuf> {
    let mut p = Payload::default();
    p.uuid(src);
    build(
        Pdf::XDOMAIN_REQ,
        route,
        seq,
        ty::PROPERTIES_CHANGED_REQUEST,
        p.as_bytes(),
    )
}

/// Linux's 36-byte form with one zero dword (spec 02 §3, §4.6).
pub(crate) fn properties_changed_response(route: Route, seq: Seq) -> Option<FrameBuf> {
    build(
        Pdf::XDOMAIN_RESP,
        route,
        seq,
        ty::PROPERTIES_CHANGED_RESPONSE,
        &[0; 4],
    )
}

pub(crate) fn error_response(route: Route, seq: Seq, code: u32) -> Option<FrameBuf> {
    build(
        Pdf::XDOMAIN_RESP,
        route,
        seq,
        ty::ERROR_RESPONSE,
        &code.to_be_bytes(),
    )
}

/// Single-lane link state (spec 02 §4.8, §6: slw = 0x1, tlw = 0x1, tls = 0xc).
pub(crate) fn link_state_status_response(route: Route, seq: Seq) -> Option<FrameBuf> {
    let mut p = Payload::default();
    p.u32(0).bytes(&[0x0c, 0x00, 0x01, 0x01]);
    build(
        Pdf::XDOMAIN_RESP,
        route,
        seq,
        ty::LINK_STATE_STATUS_RESPONSE,
        p.as_bytes(),
    )
}

/// Chunk size for serving `offset` of a `len`-dword block: at most 45
/// dwords, never leaving a final page of 1–2 dwords (spec 02 §4.4).
pub(crate) fn page_len(len: usize, offset: usize) -> usize {
    let rest = len.saturating_sub(offset);
    if rest <= MAX_PAGE_DWORDS {
        return rest;
    }
    let after = rest - MAX_PAGE_DWORDS;
    if after < 3 { rest - 3 } else { MAX_PAGE_DWORDS }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tblink_wire::uuid::uuid_from_dwords;

    fn a() -> Uuid {
        uuid_from_dwords([0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00])
    }
    fn b() -> Uuid {
        uuid_from_dwords([0x8c1a2b3d, 0x00004e5f, 0xffffffff, 0xffffffff])
    }

    fn hex(s: &str) -> alloc::vec::Vec<u8> {
        s.split_whitespace()
            .filter(|w| !w.ends_with(':'))
            .map(|w| u8::from_str_radix(w, 16).unwrap())
            .collect()
    }

    /// Spec 02 §11.1.
    #[test]
    fn golden_uuid_request() {
        let f = uuid_request(Route::from_raw(1), Seq::new(2)).unwrap();
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
        let f = uuid_response(
            Route::from_raw(3).with_cm(),
            Seq::new(2),
            &b(),
            Route::from_raw(3),
        )
        .unwrap();
        assert_eq!(
            f.as_bytes(),
            &hex("00 00 00 00 00 00 00 03 10 00 00 0b 0e d7 38 b6
                  bb 40 ff 42 e2 90 c2 97 07 ff b2 c0 00 00 00 02
                  8c 1a 2b 3d 00 00 4e 5f ff ff ff ff ff ff ff ff
                  00 00 00 00 00 00 00 03 57 53 b4 95")[..]
        );
        let (h, t, m) = decode(f.body()).unwrap();
        assert_eq!((h.seq, t), (Seq::new(2), 2));
        assert_eq!(m, Msg::UuidResponse { src_uuid: b() });
    }

    /// Spec 02 §11.3 and §11.5.
    #[test]
    fn golden_properties_requests() {
        let f = properties_request(Route::from_raw(1), Seq::new(2), &a(), &b(), 0).unwrap();
        assert_eq!(&f.as_bytes()[0x40..], &hex("00 00 00 00 35 ba 81 84")[..]);
        let f = properties_request(Route::from_raw(1), Seq::new(2), &a(), &b(), 45).unwrap();
        assert_eq!(&f.as_bytes()[0x40..], &hex("00 00 00 2d aa 2f 43 89")[..]);
        let (_, _, m) = decode(f.body()).unwrap();
        assert_eq!(
            m,
            Msg::PropertiesRequest {
                src_uuid: a(),
                dst_uuid: b(),
                offset: 45
            }
        );
    }

    /// Spec 02 §11.6 (page 2 of the 57-dword block).
    #[test]
    fn golden_properties_response_page_2() {
        let data = [
            0x70727463, 0x76657273, 0x76000001, 0x00000001, 0x70727463, 0x72657673, 0x76000001,
            0x00000001, 0x70727463, 0x73746e73, 0x76000001, 0x00000007,
        ];
        let f = properties_response(
            Route::from_raw(3),
            Seq::new(2),
            &b(),
            &a(),
            45,
            57,
            0x5a3c9e17,
            &data,
        )
        .unwrap();
        assert_eq!(f.len(), 124);
        assert_eq!(
            &f.as_bytes()[0x40..0x48],
            &hex("00 39 00 2d 5a 3c 9e 17")[..]
        );
        assert_eq!(&f.as_bytes()[0x78..], &hex("0b 94 94 d3")[..]);
        match decode(f.body()).unwrap().2 {
            Msg::PropertiesResponse {
                offset,
                data_length,
                generation,
                data,
            } => {
                assert_eq!(
                    (offset, data_length, generation, data.len()),
                    (45, 57, 0x5a3c9e17, 48)
                );
            }
            m => panic!("{m:?}"),
        }
    }

    /// Spec 02 §11.7 and §11.8.
    #[test]
    fn golden_small_messages() {
        let f = properties_changed_request(Route::from_raw(3), Seq::new(1), &b()).unwrap();
        assert_eq!(&f.as_bytes()[0x30..], &hex("46 ab 72 79")[..]);
        let f = properties_changed_response(Route::from_raw(1), Seq::new(1)).unwrap();
        assert_eq!(f.len(), 40);
        assert_eq!(&f.as_bytes()[0x24..], &hex("35 70 61 e0")[..]);
        let f = error_response(Route::from_raw(3), Seq::new(0), code::NOT_SUPPORTED).unwrap();
        assert_eq!(&f.as_bytes()[0x20..], &hex("00 00 00 03 f6 9b e9 96")[..]);
        let f = link_state_status_response(Route::from_raw(3), Seq::new(2)).unwrap();
        assert_eq!(
            &f.as_bytes()[0x20..],
            &hex("00 00 00 00 0c 00 01 01 0a bf 91 90")[..]
        );
    }

    #[test]
    fn decode_rejects() {
        let f = uuid_request(Route::from_raw(1), Seq::new(2)).unwrap();
        assert_eq!(decode(&f.body()[..28]), Err(Reject::Malformed));
        let mut body = f.body().to_vec();
        body[11] = 6; // length field disagrees with the size
        assert_eq!(decode(&body), Err(Reject::Malformed));
    }

    #[test]
    fn paging_never_leaves_one_or_two() {
        assert_eq!(page_len(57, 0), 45);
        assert_eq!(page_len(57, 45), 12);
        assert_eq!(page_len(46, 0), 43);
        assert_eq!(page_len(46, 43), 3);
        assert_eq!(page_len(47, 0), 44);
        assert_eq!(page_len(48, 0), 45);
        assert_eq!(page_len(10, 20), 0);
        for len in 3..=500 {
            let mut off = 0;
            while off < len {
                let n = page_len(len, off);
                assert!((3..=45).contains(&n), "len {len} off {off} n {n}");
                off += n;
            }
            assert_eq!(off, len);
        }
    }
}
