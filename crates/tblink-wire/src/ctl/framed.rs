//! The common shape of control packets that have one PDF of their own, and
//! the route dwords they share (spec 01 §4).

use crate::bytes::need;
use crate::ctl::FrameBuf;
use crate::{Error, Pdf, Result, Route};

/// A control packet whose frames always carry one PDF (spec 01 §3): parse
/// and emit a frame body (the bytes before the CRC), and convert to and
/// from a sealed [`FrameBuf`].
pub trait Framed: Sized {
    /// The PDF of frames carrying this packet.
    const PDF: Pdf;

    /// Parse a frame body (CRC excluded).
    fn parse(body: &[u8]) -> Result<Self>;

    /// Write the body (CRC excluded) to the start of `buf`; returns its length.
    fn emit(&self, buf: &mut [u8]) -> Result<usize>;

    /// Body bytes [`Framed::emit`] writes.
    fn buffer_len(&self) -> usize;

    /// A sealed frame of type [`Framed::PDF`] (CRC appended, spec 01 §5).
    fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(Self::PDF, |buf| self.emit(buf))
    }

    /// Parse a received frame: its PDF must be [`Framed::PDF`]; the CRC is
    /// verified where Linux verifies it ([`Pdf::crc_checked`], spec 01 §5).
    fn from_frame(frame: &FrameBuf) -> Result<Self> {
        if frame.pdf() != Self::PDF {
            return Err(Error::InvalidField {
                field: "pdf",
                value: frame.pdf().value() as u64,
            });
        }
        if Self::PDF.crc_checked() {
            frame.verify_crc()?;
        }
        Self::parse(frame.body())
    }
}

/// Bytes of the route header, DW0–DW1 (spec 01 §4).
pub const ROUTE_LEN: usize = 8;

/// DW0 bits 31:22 of a router's response as Linux requires them: the CM bit
/// set and bits 30:22 zero (spec 01 §4, §6.1).
const RESPONSE_TAG: u32 = 0x200;
/// DW0 bits 21:0 hold route bits 53:32 in config packets (spec 01 §4).
const CONFIG_ROUTE_HI_MASK: u32 = 0x003f_ffff;
const TAG_SHIFT: u32 = 22;

/// The route of a config-space packet (READ, WRITE, RESET) from DW0–DW1.
/// Requests must carry DW0 bits 31:22 = 0, responses `1000000000b` (spec 01
/// §4, §6.1; Linux ignores responses that differ). The returned route has
/// the CM bit cleared: the packet type implies it.
pub(crate) fn config_route(hi: u32, lo: u32, response: bool) -> Result<Route> {
    let want = if response { RESPONSE_TAG } else { 0 };
    if hi >> TAG_SHIFT != want {
        return Err(Error::InvalidField {
            field: "route",
            value: Route::from_dwords(hi, lo).raw(),
        });
    }
    Ok(Route::from_dwords(hi & CONFIG_ROUTE_HI_MASK, lo))
}

/// DW0 and DW1 of a config-space packet; the inverse of [`config_route`].
/// Fails if `route` uses bits above 53 (the CM bit included).
pub(crate) fn config_route_dwords(route: Route, response: bool) -> Result<(u32, u32)> {
    if route.hi() & !CONFIG_ROUTE_HI_MASK != 0 {
        return Err(Error::InvalidField {
            field: "route",
            value: route.raw(),
        });
    }
    let tag = if response { RESPONSE_TAG } else { 0 };
    Ok((route.hi() | tag << TAG_SHIFT, route.lo()))
}

/// Fail unless `body` is exactly `len` bytes ([`Error::Truncated`] or
/// [`Error::TooLong`]); Linux checks control packet sizes exactly (spec 01
/// §6.1–§6.4).
pub(crate) fn exact(body: &[u8], len: usize) -> Result<()> {
    need(body, len)?;
    if body.len() > len {
        return Err(Error::TooLong {
            max: len,
            got: body.len(),
        });
    }
    Ok(())
}
