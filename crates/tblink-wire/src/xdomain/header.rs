//! The header shared by every XDomain message (spec 02 §2, 01 §6.5):
//! route (DW0–1), length and sequence number (DW2), protocol UUID (DW3–6).
//! Services such as ThunderboltIP (spec 06 §3.2) use the same header with
//! their own protocol UUID.

use core::fmt;

use crate::bytes::{be32, need, put_be32};
use crate::uuid::{Uuid, WireUuid};
use crate::{Error, Result, Route};

/// Bytes of DW0–DW6.
pub const HEADER_LEN: usize = 28;
/// Largest value of the length field: 63 − 3 dwords (spec 01 §6.5).
pub const MAX_LENGTH: u8 = 60;

mod field {
    pub const ROUTE_HI: usize = 0;
    pub const ROUTE_LO: usize = 4;
    pub const LENGTH_SN: usize = 8;
    pub const UUID: usize = 12;
    pub const LENGTH_MASK: u32 = 0x3f;
    pub const SN_SHIFT: u32 = 27;
    pub const SN_MASK: u32 = 0x3;
}

/// The 2-bit XDomain sequence number (DW2 bits 28:27, spec 02 §2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(u8);

impl Seq {
    /// A sequence number from the low 2 bits of `v`.
    pub const fn new(v: u8) -> Self {
        Seq(v & 3)
    }

    /// The value, 0–3.
    pub const fn value(self) -> u8 {
        self.0
    }

    /// The next value, wrapping 3 → 0.
    pub const fn next(self) -> Self {
        Seq((self.0 + 1) & 3)
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A checked view of the XDomain header at the start of a frame body
/// (the bytes before the CRC).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a frame body without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wrap a frame body after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// The body holds the full header, is a whole number of dwords, and the
    /// length field equals the body's dwords − 3 exactly (Linux drops the
    /// frame otherwise, spec 01 §8.3, 02 §7).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        if !b.len().is_multiple_of(4) {
            return Err(Error::Unaligned { len: b.len() });
        }
        let actual = b.len() / 4 - 3;
        let field = self.length() as usize;
        if field != actual {
            return Err(Error::LengthMismatch { field, actual });
        }
        Ok(())
    }

    /// Route as received (CM bit included).
    pub fn route(&self) -> Route {
        let b = self.buffer.as_ref();
        Route::from_dwords(
            be32(b, field::ROUTE_HI).unwrap_or(0),
            be32(b, field::ROUTE_LO).unwrap_or(0),
        )
    }

    /// The raw DW2.
    pub fn length_sn(&self) -> u32 {
        be32(self.buffer.as_ref(), field::LENGTH_SN).unwrap_or(0)
    }

    /// Length field: dwords after DW2.
    pub fn length(&self) -> u8 {
        (self.length_sn() & field::LENGTH_MASK) as u8
    }

    /// Sequence number.
    pub fn seq(&self) -> Seq {
        Seq::new(((self.length_sn() >> field::SN_SHIFT) & field::SN_MASK) as u8)
    }

    /// Protocol UUID (DW3–6), `None` if the buffer is too short.
    pub fn protocol(&self) -> Option<Uuid> {
        WireUuid::read(self.buffer.as_ref(), field::UUID)
    }

    /// Everything after the header (DW7 on).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// The parsed XDomain header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Route as carried (receivers compare it with the CM bit cleared).
    pub route: Route,
    /// Length field: dwords after DW2.
    pub length: u8,
    /// Sequence number.
    pub seq: Seq,
    /// Protocol UUID (canonical byte order).
    pub protocol: Uuid,
}

impl Header {
    /// Parse and check the header of a frame body (see [`Packet::check_len`]).
    pub fn parse(body: &[u8]) -> Result<Self> {
        let p = Packet::new_checked(body)?;
        Ok(Header {
            route: p.route(),
            length: p.length(),
            seq: p.seq(),
            protocol: p.protocol().ok_or(Error::Truncated {
                needed: HEADER_LEN,
                got: body.len(),
            })?,
        })
    }

    /// A header for a message of `total_len` body bytes (CRC excluded).
    pub fn for_body(route: Route, seq: Seq, protocol: Uuid, total_len: usize) -> Result<Self> {
        if total_len < HEADER_LEN || !total_len.is_multiple_of(4) {
            return Err(Error::InvalidField {
                field: "length",
                value: total_len as u64,
            });
        }
        let dwords = total_len / 4 - 3;
        if dwords > MAX_LENGTH as usize {
            return Err(Error::TooLong {
                max: crate::ctl::MAX_BODY_LEN,
                got: total_len,
            });
        }
        Ok(Header {
            route,
            length: dwords as u8,
            seq,
            protocol,
        })
    }

    /// Bytes [`Header::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Body length (CRC excluded) implied by the length field.
    pub const fn body_len(&self) -> usize {
        (self.length as usize + 3) * 4
    }

    /// Write DW0–DW6 into `buf`. Reserved bits are written as 0.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        need(buf, HEADER_LEN)?;
        let dw2 = (self.length as u32 & field::LENGTH_MASK)
            | ((self.seq.value() as u32) << field::SN_SHIFT);
        let ok = put_be32(buf, field::ROUTE_HI, self.route.hi())
            && put_be32(buf, field::ROUTE_LO, self.route.lo())
            && put_be32(buf, field::LENGTH_SN, dw2)
            && WireUuid::write(buf, field::UUID, &self.protocol);
        debug_assert!(ok);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uuid::XDOMAIN_DISCOVERY;

    /// Spec 01 §9.4 / 02 §11.1 without the type dword and CRC.
    const UUID_REQ_HDR: [u8; 28] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10, 0x00, 0x00, 0x05, 0x0e, 0xd7, 0x38,
        0xb6, 0xbb, 0x40, 0xff, 0x42, 0xe2, 0x90, 0xc2, 0x97, 0x07, 0xff, 0xb2, 0xc0,
    ];

    #[test]
    fn golden_header() {
        let mut body = [0u8; 32];
        body[..28].copy_from_slice(&UUID_REQ_HDR);
        body[31] = 0x0c;
        let h = Header::parse(&body).unwrap();
        assert_eq!(h.route, Route::from_raw(1));
        assert_eq!(h.length, 5);
        assert_eq!(h.seq, Seq::new(2));
        assert_eq!(h.protocol, XDOMAIN_DISCOVERY);
        let mut out = [0u8; 28];
        Header::for_body(Route::from_raw(1), Seq::new(2), XDOMAIN_DISCOVERY, 32)
            .unwrap()
            .emit(&mut out)
            .unwrap();
        assert_eq!(out, UUID_REQ_HDR);
    }

    #[test]
    fn length_must_be_exact() {
        let mut body = [0u8; 36];
        body[..28].copy_from_slice(&UUID_REQ_HDR);
        assert!(matches!(
            Header::parse(&body),
            Err(Error::LengthMismatch {
                field: 5,
                actual: 6
            })
        ));
        assert!(matches!(
            Header::parse(&body[..20]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn seq_wraps() {
        assert_eq!(Seq::new(3).next(), Seq::new(0));
        assert_eq!(Seq::new(7).value(), 3);
    }
}
