//! Config-space access: READ and WRITE requests and responses (PDF 1 and 2,
//! spec 01 §6.1) and RESET (PDF 9, spec 01 §6.4).
//!
//! Requests travel CM → router with DW0 bits 31:22 = 0, responses router →
//! CM with `1000000000b` there (the CM bit, spec 01 §4). The types below
//! hold the route without the CM bit and set or check it themselves, so a
//! request and a response of the same PDF can always be told apart.
//! Sizes are exact, as Linux checks them (spec 01 §6.1).

use alloc::vec::Vec;

use crate::bytes::need;
use crate::ctl::cursor::{Reader, Writer};
use crate::ctl::framed::{Framed, ROUTE_LEN, config_route, config_route_dwords, exact};
use crate::xdomain::Seq;
use crate::{Error, Pdf, Result, Route};

/// Bytes of a READ/WRITE header: route and address dword (spec 01 §6.1).
pub const CONFIG_HEADER_LEN: usize = 12;

/// Address dword fields (spec 01 §6.1).
mod field {
    pub const OFFSET_MASK: u32 = 0x1fff;
    pub const LENGTH_SHIFT: u32 = 13;
    pub const LENGTH_MASK: u32 = 0x3f;
    pub const PORT_SHIFT: u32 = 19;
    pub const PORT_MASK: u32 = 0x3f;
    pub const SPACE_SHIFT: u32 = 25;
    pub const SPACE_MASK: u32 = 0x3;
    pub const SEQ_SHIFT: u32 = 27;
    pub const SEQ_MASK: u32 = 0x3;
    pub const RESERVED_SHIFT: u32 = 29;
}

/// The config space a READ/WRITE addresses (address dword bits 26:25,
/// spec 01 §6.1). All four 2-bit values are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigSpace {
    /// 0: path (HopID) config space.
    Hops = 0x0,
    /// 1: adapter (port) config space.
    Port = 0x1,
    /// 2: router (switch) config space.
    Switch = 0x2,
    /// 3: counters.
    Counters = 0x3,
}

impl ConfigSpace {
    /// The space from the low 2 bits of `v`.
    pub const fn from_bits(v: u8) -> Self {
        match v & 0x3 {
            0 => ConfigSpace::Hops,
            1 => ConfigSpace::Port,
            2 => ConfigSpace::Switch,
            _ => ConfigSpace::Counters,
        }
    }

    /// The 2-bit value.
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// The address dword (DW2) of READ/WRITE requests and responses (spec 01
/// §6.1). Responses echo it, except `port`, where the router puts its
/// upstream adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    /// Register offset in dwords (bits 12:0).
    pub offset: u16,
    /// Number of dwords to read or write (bits 18:13), at most
    /// [`Address::MAX_LENGTH`].
    pub length: u8,
    /// Adapter number (bits 24:19).
    pub port: u8,
    /// Config space (bits 26:25).
    pub space: ConfigSpace,
    /// Sequence number echoed by the router (bits 28:27).
    pub seq: Seq,
}

impl Address {
    /// Largest offset (13 bits).
    pub const MAX_OFFSET: u16 = 0x1fff;
    /// Largest length: 3 header dwords + 60 data dwords + CRC = 256 bytes
    /// (spec 01 §6.1), although the field could say 63.
    pub const MAX_LENGTH: u8 = 60;
    /// Largest adapter number (6 bits).
    pub const MAX_PORT: u8 = 0x3f;

    /// Decode DW2. Rejects non-zero bits 31:29 (Linux ignores such
    /// responses) and a length above [`Address::MAX_LENGTH`].
    pub fn from_dword(v: u32) -> Result<Self> {
        if v >> field::RESERVED_SHIFT != 0 {
            return Err(Error::InvalidField {
                field: "address reserved",
                value: v as u64,
            });
        }
        let length = ((v >> field::LENGTH_SHIFT) & field::LENGTH_MASK) as u8;
        if length > Self::MAX_LENGTH {
            return Err(Error::InvalidField {
                field: "length",
                value: length as u64,
            });
        }
        Ok(Address {
            offset: (v & field::OFFSET_MASK) as u16,
            length,
            port: ((v >> field::PORT_SHIFT) & field::PORT_MASK) as u8,
            space: ConfigSpace::from_bits(((v >> field::SPACE_SHIFT) & field::SPACE_MASK) as u8),
            seq: Seq::new(((v >> field::SEQ_SHIFT) & field::SEQ_MASK) as u8),
        })
    }

    /// Encode DW2; fails if a field does not fit its bits.
    pub fn to_dword(&self) -> Result<u32> {
        let check = |field: &'static str, v: u32, max: u32| {
            if v > max {
                Err(Error::InvalidField {
                    field,
                    value: v as u64,
                })
            } else {
                Ok(v)
            }
        };
        let offset = check("offset", self.offset as u32, Self::MAX_OFFSET as u32)?;
        let length = check("length", self.length as u32, Self::MAX_LENGTH as u32)?;
        let port = check("port", self.port as u32, Self::MAX_PORT as u32)?;
        Ok(offset
            | length << field::LENGTH_SHIFT
            | port << field::PORT_SHIFT
            | (self.space.bits() as u32) << field::SPACE_SHIFT
            | (self.seq.value() as u32) << field::SEQ_SHIFT)
    }
}

/// Whether DW0 of a READ/WRITE/RESET body has the CM bit set, i.e. the
/// packet is a router's response (spec 01 §4); `None` if DW0 is missing.
pub(crate) fn is_response(body: &[u8]) -> Option<bool> {
    crate::bytes::be32(body, 0).map(|dw0| dw0 >> 31 != 0)
}

fn read_header(r: &mut Reader<'_>, response: bool) -> Result<(Route, Address)> {
    let hi = r.dword()?;
    let lo = r.dword()?;
    let route = config_route(hi, lo, response)?;
    Ok((route, Address::from_dword(r.dword()?)?))
}

fn write_header(w: &mut Writer<'_>, route: Route, addr: &Address, response: bool) -> Result<()> {
    let (hi, lo) = config_route_dwords(route, response)?;
    w.dword(hi)?;
    w.dword(lo)?;
    w.dword(addr.to_dword()?)
}

/// Data dwords after the header; their number must equal the length field.
fn read_data(r: &mut Reader<'_>, addr: &Address) -> Result<Vec<u32>> {
    let data = r.rest()?;
    check_data(addr, &data)?;
    Ok(data)
}

/// Data dwords must number exactly the length field (spec 01 §6.1).
fn check_data(addr: &Address, data: &[u32]) -> Result<()> {
    if data.len() != addr.length as usize {
        return Err(Error::LengthMismatch {
            field: addr.length as usize,
            actual: data.len(),
        });
    }
    Ok(())
}

/// READ request (PDF 1), CM → router: route and address, 12 bytes (spec 01
/// §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadRequest {
    /// Route of the router addressed (CM bit not included).
    pub route: Route,
    /// What to read; `length` dwords.
    pub addr: Address,
}

impl Framed for ReadRequest {
    const PDF: Pdf = Pdf::READ;

    fn parse(body: &[u8]) -> Result<Self> {
        exact(body, CONFIG_HEADER_LEN)?;
        let (route, addr) = read_header(&mut Reader::new(body), false)?;
        Ok(ReadRequest { route, addr })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        need(buf, CONFIG_HEADER_LEN)?;
        let mut w = Writer::new(buf);
        write_header(&mut w, self.route, &self.addr, false)?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        CONFIG_HEADER_LEN
    }
}

/// READ response (PDF 1), router → CM: route with the CM bit, the address
/// echoed, then exactly `addr.length` data dwords (spec 01 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadResponse {
    /// Route of the responding router (CM bit not included; set on the wire).
    pub route: Route,
    /// Address echo; `port` is the responder's upstream adapter.
    pub addr: Address,
    /// The register values read.
    pub data: Vec<u32>,
}

impl Framed for ReadResponse {
    const PDF: Pdf = Pdf::READ;

    fn parse(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let (route, addr) = read_header(&mut r, true)?;
        let data = read_data(&mut r, &addr)?;
        Ok(ReadResponse { route, addr, data })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        check_data(&self.addr, &self.data)?;
        need(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        write_header(&mut w, self.route, &self.addr, true)?;
        w.dwords(&self.data)?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        CONFIG_HEADER_LEN + 4 * self.data.len()
    }
}

/// WRITE request (PDF 2), CM → router: route, address, then exactly
/// `addr.length` data dwords (spec 01 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteRequest {
    /// Route of the router addressed (CM bit not included).
    pub route: Route,
    /// Where to write; `length` must equal `data.len()`.
    pub addr: Address,
    /// The register values to write.
    pub data: Vec<u32>,
}

impl Framed for WriteRequest {
    const PDF: Pdf = Pdf::WRITE;

    fn parse(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let (route, addr) = read_header(&mut r, false)?;
        let data = read_data(&mut r, &addr)?;
        Ok(WriteRequest { route, addr, data })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        check_data(&self.addr, &self.data)?;
        need(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        write_header(&mut w, self.route, &self.addr, false)?;
        w.dwords(&self.data)?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        CONFIG_HEADER_LEN + 4 * self.data.len()
    }
}

/// WRITE response (PDF 2), router → CM: route with the CM bit and the
/// address echoed, 12 bytes (spec 01 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteResponse {
    /// Route of the responding router (CM bit not included; set on the wire).
    pub route: Route,
    /// Address echo.
    pub addr: Address,
}

impl Framed for WriteResponse {
    const PDF: Pdf = Pdf::WRITE;

    fn parse(body: &[u8]) -> Result<Self> {
        exact(body, CONFIG_HEADER_LEN)?;
        let (route, addr) = read_header(&mut Reader::new(body), true)?;
        Ok(WriteResponse { route, addr })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        need(buf, CONFIG_HEADER_LEN)?;
        let mut w = Writer::new(buf);
        write_header(&mut w, self.route, &self.addr, true)?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        CONFIG_HEADER_LEN
    }
}

fn parse_reset(body: &[u8], response: bool) -> Result<Route> {
    exact(body, ROUTE_LEN)?;
    let mut r = Reader::new(body);
    let hi = r.dword()?;
    config_route(hi, r.dword()?, response)
}

fn emit_reset(buf: &mut [u8], route: Route, response: bool) -> Result<usize> {
    let (hi, lo) = config_route_dwords(route, response)?;
    need(buf, ROUTE_LEN)?;
    let mut w = Writer::new(buf);
    w.dword(hi)?;
    w.dword(lo)?;
    Ok(w.pos())
}

/// RESET request (PDF 9), CM → router: the bare route header, 8 bytes
/// (spec 01 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResetRequest {
    /// Route of the router to reset (CM bit not included).
    pub route: Route,
}

impl Framed for ResetRequest {
    const PDF: Pdf = Pdf::RESET;

    fn parse(body: &[u8]) -> Result<Self> {
        parse_reset(body, false).map(|route| ResetRequest { route })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_reset(buf, self.route, false)
    }

    fn buffer_len(&self) -> usize {
        ROUTE_LEN
    }
}

/// RESET response (PDF 9), router → CM: the bare route header with the CM
/// bit, exactly 8 bytes (spec 01 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResetResponse {
    /// Route of the router that was reset (CM bit not included; set on the wire).
    pub route: Route,
}

impl Framed for ResetResponse {
    const PDF: Pdf = Pdf::RESET;

    fn parse(body: &[u8]) -> Result<Self> {
        parse_reset(body, true).map(|route| ResetResponse { route })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_reset(buf, self.route, true)
    }

    fn buffer_len(&self) -> usize {
        ROUTE_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_fields() {
        // Spec 01 §9.1: offset 0, length 1, port 0, SWITCH, seq 0.
        let a = Address::from_dword(0x0400_2000).unwrap();
        assert_eq!(
            a,
            Address {
                offset: 0,
                length: 1,
                port: 0,
                space: ConfigSpace::Switch,
                seq: Seq::new(0),
            }
        );
        assert_eq!(a.to_dword(), Ok(0x0400_2000));
        assert_eq!(Address::from_dword(0x0408_2000).unwrap().port, 1);
        let all = Address {
            offset: 0x1fff,
            length: 60,
            port: 0x3f,
            space: ConfigSpace::Counters,
            seq: Seq::new(3),
        };
        assert_eq!(Address::from_dword(all.to_dword().unwrap()), Ok(all));
    }

    #[test]
    fn address_rejects_out_of_range() {
        assert!(matches!(
            Address::from_dword(0x2000_0000),
            Err(Error::InvalidField {
                field: "address reserved",
                ..
            })
        ));
        assert!(matches!(
            Address::from_dword(61 << 13),
            Err(Error::InvalidField {
                field: "length",
                value: 61
            })
        ));
        let mut a = Address::from_dword(0).unwrap();
        a.port = 64;
        assert!(matches!(
            a.to_dword(),
            Err(Error::InvalidField { field: "port", .. })
        ));
        a.port = 0;
        a.offset = 0x2000;
        assert!(matches!(
            a.to_dword(),
            Err(Error::InvalidField {
                field: "offset",
                ..
            })
        ));
    }
}
