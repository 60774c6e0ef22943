//! Router notifications and their acknowledgements: ERROR (PDF 3, spec 01
//! §6.2), hot-plug EVENT (PDF 5, §6.3) and NOTIFY_ACK (PDF 4, §3, §7.6).
//!
//! These packets travel both ways (a CM acknowledges a plug event with an
//! ERROR packet), so their `route` is kept exactly as carried, CM bit
//! included. Sizes are exact, as Linux checks them.

use core::fmt;

use crate::bytes::need;
use crate::ctl::cursor::{Reader, Writer};
use crate::ctl::framed::{Framed, ROUTE_LEN, exact};
use crate::{Error, Pdf, Result, Route};

/// Bytes of an ERROR or EVENT packet: route and one dword (spec 01 §6.2, §6.3).
pub const NOTIFICATION_LEN: usize = 12;

/// Largest adapter number in ERROR and EVENT packets (6 bits).
pub const MAX_PORT: u8 = 0x3f;

/// ERROR DW2 and EVENT DW2 fields (spec 01 §6.2, §6.3).
mod field {
    pub const CODE_MASK: u32 = 0xff;
    pub const ERR_PORT_SHIFT: u32 = 8;
    pub const PORT_MASK: u32 = 0x3f;
    pub const PG_SHIFT: u32 = 30;
    pub const PG_MASK: u32 = 0x3;
    pub const UNPLUG_BIT: u32 = 1 << 31;
}

/// An ERROR packet's code, DW2 bits 7:0 (spec 01 §6.2). Open: every 8-bit
/// value parses and round-trips.
///
/// Linux 6.1 reads only bits 3:0; newer kernels read 7:0. Codes below 16
/// leave bits 7:4 zero, so both readings agree on them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(u8);

impl ErrorCode {
    /// Target adapter not connected (spec 01 §6.2).
    pub const PORT_NOT_CONNECTED: ErrorCode = ErrorCode(0x00);
    /// Link error; asynchronous (spec 01 §6.2).
    pub const LINK_ERROR: ErrorCode = ErrorCode(0x01);
    /// Bad space, offset or length (spec 01 §6.2).
    pub const INVALID_CONFIG_SPACE: ErrorCode = ErrorCode(0x02);
    /// No such route or port (spec 01 §6.2).
    pub const NO_SUCH_PORT: ErrorCode = ErrorCode(0x04);
    /// The CM's acknowledgement of a hot-plug event (spec 01 §6.2, §6.3).
    pub const ACK_PLUG_EVENT: ErrorCode = ErrorCode(0x07);
    /// The route contains a loop (spec 01 §6.2).
    pub const LOOP: ErrorCode = ErrorCode(0x08);
    /// HEC error detected; asynchronous (spec 01 §6.2).
    pub const HEC_ERROR_DETECTED: ErrorCode = ErrorCode(0x0c);
    /// Flow control error; asynchronous (spec 01 §6.2).
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x0d);
    /// Downstream adapter locked (USB4, spec 01 §6.2).
    pub const LOCK: ErrorCode = ErrorCode(0x0f);
    /// USB4 notification: DisplayPort bandwidth (spec 01 §6.2, newer kernels).
    pub const DP_BW: ErrorCode = ErrorCode(0x20);
    /// USB4 notification: router operation completed (spec 01 §6.2).
    pub const ROP_CMPLT: ErrorCode = ErrorCode(0x21);
    /// USB4 notification: port operation completed (spec 01 §6.2).
    pub const POP_CMPLT: ErrorCode = ErrorCode(0x22);
    /// USB4 notification: PCIe wake (spec 01 §6.2).
    pub const PCIE_WAKE: ErrorCode = ErrorCode(0x23);
    /// USB4 notification: DP connection change (spec 01 §6.2).
    pub const DP_CON_CHANGE: ErrorCode = ErrorCode(0x24);
    /// USB4 notification: DPTX discovery (spec 01 §6.2).
    pub const DPTX_DISCOVERY: ErrorCode = ErrorCode(0x25);
    /// USB4 notification: link recovery (spec 01 §6.2).
    pub const LINK_RECOVERY: ErrorCode = ErrorCode(0x26);
    /// USB4 notification: asymmetric link (spec 01 §6.2).
    pub const ASYM_LINK: ErrorCode = ErrorCode(0x27);

    /// A code from its 8-bit value.
    pub const fn new(v: u8) -> Self {
        ErrorCode(v)
    }

    /// The 8-bit value.
    pub const fn value(self) -> u8 {
        self.0
    }

    /// Linux's name (without the `TB_CFG_ERROR_` prefix), `None` for unnamed codes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "PORT_NOT_CONNECTED",
            0x01 => "LINK_ERROR",
            0x02 => "INVALID_CONFIG_SPACE",
            0x04 => "NO_SUCH_PORT",
            0x07 => "ACK_PLUG_EVENT",
            0x08 => "LOOP",
            0x0c => "HEC_ERROR_DETECTED",
            0x0d => "FLOW_CONTROL_ERROR",
            0x0f => "LOCK",
            0x20 => "DP_BW",
            0x21 => "ROP_CMPLT",
            0x22 => "POP_CMPLT",
            0x23 => "PCIE_WAKE",
            0x24 => "DP_CON_CHANGE",
            0x25 => "DPTX_DISCOVERY",
            0x26 => "LINK_RECOVERY",
            0x27 => "ASYM_LINK",
            _ => return None,
        })
    }

    /// Whether newer kernels treat the code as an asynchronous notification
    /// rather than an answer to a request: 1, 12, 13, 32–39 (spec 01 §6.2,
    /// §7.5). Linux 6.1 knows only 1, 12 and 13.
    pub const fn is_async(self) -> bool {
        matches!(self.0, 0x01 | 0x0c | 0x0d | 0x20..=0x27)
    }

    /// The code as Linux 6.1 reads it: bits 3:0 only (spec 01 §6.2).
    pub const fn as_read_by_linux_6_1(self) -> ErrorCode {
        ErrorCode(self.0 & 0xf)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "ErrorCode::{n}"),
            None => write!(f, "ErrorCode({})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ERROR_{}", self.0),
        }
    }
}

/// The PG field of an ERROR packet, DW2 bits 31:30 (spec 01 §6.2): what a
/// plug acknowledgement acknowledges. Open 2-bit value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pg(u8);

impl Pg {
    /// 0: not a plug acknowledgement.
    pub const NONE: Pg = Pg(0x0);
    /// 2: acknowledges a hot plug.
    pub const PLUG: Pg = Pg(0x2);
    /// 3: acknowledges a hot unplug.
    pub const UNPLUG: Pg = Pg(0x3);

    /// A PG value from the low 2 bits of `v`.
    pub const fn new(v: u8) -> Self {
        Pg(v & 0x3)
    }

    /// The 2-bit value.
    pub const fn value(self) -> u8 {
        self.0
    }
}

/// ERROR packet (PDF 3, spec 01 §6.2): exactly 12 bytes. DW2 bits 29:14 are
/// reserved: written as 0, ignored on receipt (Linux ignores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorPacket {
    /// Route as carried (CM bit set by routers, clear in plug acks).
    pub route: Route,
    /// Error code (bits 7:0).
    pub code: ErrorCode,
    /// Adapter that reported, or is acknowledged (bits 13:8, at most [`MAX_PORT`]).
    pub port: u8,
    /// Plug acknowledgement kind (bits 31:30).
    pub pg: Pg,
}

impl ErrorPacket {
    /// The CM's acknowledgement of a hot-plug event at `route`, `port`
    /// (spec 01 §6.3): code 7 and PG 2 (plug) or 3 (unplug), CM bit clear.
    pub fn plug_ack(route: Route, port: u8, unplug: bool) -> Self {
        ErrorPacket {
            route: route.without_cm(),
            code: ErrorCode::ACK_PLUG_EVENT,
            port,
            pg: if unplug { Pg::UNPLUG } else { Pg::PLUG },
        }
    }
}

fn check_port(port: u8) -> Result<u32> {
    if port > MAX_PORT {
        return Err(Error::InvalidField {
            field: "port",
            value: port as u64,
        });
    }
    Ok(port as u32)
}

fn read_route(r: &mut Reader<'_>) -> Result<Route> {
    let hi = r.dword()?;
    Ok(Route::from_dwords(hi, r.dword()?))
}

fn write_route(w: &mut Writer<'_>, route: Route) -> Result<()> {
    w.dword(route.hi())?;
    w.dword(route.lo())
}

impl Framed for ErrorPacket {
    const PDF: Pdf = Pdf::ERROR;

    fn parse(body: &[u8]) -> Result<Self> {
        exact(body, NOTIFICATION_LEN)?;
        let mut r = Reader::new(body);
        let route = read_route(&mut r)?;
        let dw2 = r.dword()?;
        Ok(ErrorPacket {
            route,
            code: ErrorCode((dw2 & field::CODE_MASK) as u8),
            port: ((dw2 >> field::ERR_PORT_SHIFT) & field::PORT_MASK) as u8,
            pg: Pg::new(((dw2 >> field::PG_SHIFT) & field::PG_MASK) as u8),
        })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let port = check_port(self.port)?;
        need(buf, NOTIFICATION_LEN)?;
        let mut w = Writer::new(buf);
        write_route(&mut w, self.route)?;
        w.dword(
            self.code.value() as u32
                | port << field::ERR_PORT_SHIFT
                | (self.pg.value() as u32) << field::PG_SHIFT,
        )?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        NOTIFICATION_LEN
    }
}

/// Hot-plug EVENT (PDF 5, spec 01 §6.3), router → CM: exactly 12 bytes.
/// DW2 bits 30:6 are reserved: written as 0, ignored on receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HotPlugEvent {
    /// Route of the router owning the adapter, as carried (CM bit set by routers).
    pub route: Route,
    /// Adapter number (bits 5:0, at most [`MAX_PORT`]).
    pub port: u8,
    /// `true` for unplug, `false` for plug (bit 31).
    pub unplug: bool,
}

impl HotPlugEvent {
    /// The acknowledgement a software CM sends (spec 01 §6.3).
    pub fn ack(&self) -> ErrorPacket {
        ErrorPacket::plug_ack(self.route, self.port, self.unplug)
    }
}

impl Framed for HotPlugEvent {
    const PDF: Pdf = Pdf::EVENT;

    fn parse(body: &[u8]) -> Result<Self> {
        exact(body, NOTIFICATION_LEN)?;
        let mut r = Reader::new(body);
        let route = read_route(&mut r)?;
        let dw2 = r.dword()?;
        Ok(HotPlugEvent {
            route,
            port: (dw2 & field::PORT_MASK) as u8,
            unplug: dw2 & field::UNPLUG_BIT != 0,
        })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let port = check_port(self.port)?;
        need(buf, NOTIFICATION_LEN)?;
        let mut w = Writer::new(buf);
        write_route(&mut w, self.route)?;
        w.dword(port | if self.unplug { field::UNPLUG_BIT } else { 0 })?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        NOTIFICATION_LEN
    }
}

/// NOTIFY_ACK (PDF 4), CM → router: the bare route header, exactly 8 bytes;
/// newer kernels send it for non-plug notifications (spec 01 §3, §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyAck {
    /// Route of the notifying router, as carried.
    pub route: Route,
}

impl Framed for NotifyAck {
    const PDF: Pdf = Pdf::NOTIFY_ACK;

    fn parse(body: &[u8]) -> Result<Self> {
        exact(body, ROUTE_LEN)?;
        Ok(NotifyAck {
            route: read_route(&mut Reader::new(body))?,
        })
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        need(buf, ROUTE_LEN)?;
        let mut w = Writer::new(buf);
        write_route(&mut w, self.route)?;
        Ok(w.pos())
    }

    fn buffer_len(&self) -> usize {
        ROUTE_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_readings() {
        assert!(ErrorCode::LINK_ERROR.is_async());
        assert!(ErrorCode::ASYM_LINK.is_async());
        assert!(!ErrorCode::PORT_NOT_CONNECTED.is_async());
        assert_eq!(
            ErrorCode::DP_BW.as_read_by_linux_6_1(),
            ErrorCode::PORT_NOT_CONNECTED
        );
        assert_eq!(ErrorCode::new(5).name(), None);
    }

    #[test]
    fn reserved_bits_ignored() {
        // ERROR with bits 29:14 set; EVENT with bits 30:6 set.
        let b = [0x80, 0, 0, 0, 0, 0, 0, 1, 0x3f, 0xff, 0xc3, 0x04];
        let e = ErrorPacket::parse(&b).unwrap();
        assert_eq!(e.code, ErrorCode::NO_SUCH_PORT);
        assert_eq!(e.port, 3);
        assert_eq!(e.pg, Pg::NONE);
        let b = [0x80, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xc5];
        let ev = HotPlugEvent::parse(&b).unwrap();
        assert_eq!((ev.port, ev.unplug), (5, false));
    }
}
