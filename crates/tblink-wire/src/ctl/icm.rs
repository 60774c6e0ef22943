//! Firmware connection manager (ICM) packets, PDF 10/11/12 (spec 01 §6.6):
//! no route string, a one-dword header, an opaque payload.

use alloc::vec::Vec;

use crate::bytes::need;
use crate::ctl::FrameBuf;
use crate::ctl::cursor::{Reader, Writer};
use crate::ctl::frame::MAX_BODY_LEN;
use crate::{Error, Pdf, Result};

/// Bytes of the ICM header (DW0).
pub const ICM_HEADER_LEN: usize = 4;

/// Most payload dwords after DW0: a 63-dword body (spec 01 §2).
pub const MAX_ICM_PAYLOAD: usize = MAX_BODY_LEN / 4 - 1;

/// Command `APPROVE_XDOMAIN` (spec 01 §6.6).
pub const ICM_APPROVE_XDOMAIN: u8 = 0x10;
/// Command `DISCONNECT_XDOMAIN` (spec 01 §6.6).
pub const ICM_DISCONNECT_XDOMAIN: u8 = 0x11;
/// Event `XDOMAIN_CONNECTED` (spec 01 §6.6).
pub const ICM_EVENT_XDOMAIN_CONNECTED: u8 = 0x06;
/// Event `XDOMAIN_DISCONNECTED` (spec 01 §6.6).
pub const ICM_EVENT_XDOMAIN_DISCONNECTED: u8 = 0x07;

/// Flag bit 0 of DW0 bits 15:8: the firmware reports an error (spec 01 §6.6).
pub const ICM_FLAG_ERROR: u8 = 0x01;

/// An ICM event, command or response (spec 01 §6.6). The PDF (10, 11 or
/// 12) is not part of the body; pass it to [`IcmPacket::to_frame`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IcmPacket {
    /// Command or event code (DW0 bits 7:0).
    pub code: u8,
    /// Flags (DW0 bits 15:8), see [`ICM_FLAG_ERROR`].
    pub flags: u8,
    /// Packet index of a multi-packet response (DW0 bits 23:16).
    pub index: u8,
    /// Total packets of a multi-packet response (DW0 bits 31:24).
    pub total: u8,
    /// Dword values after DW0, uninterpreted; at most [`MAX_ICM_PAYLOAD`].
    pub payload: Vec<u32>,
}

/// Whether `pdf` is one of the ICM types 10–12 (spec 01 §3).
pub const fn is_icm(pdf: Pdf) -> bool {
    matches!(pdf.value(), 0xa..=0xc)
}

impl IcmPacket {
    /// Parse a body (CRC excluded): DW0 and whole payload dwords.
    pub fn parse(body: &[u8]) -> Result<Self> {
        need(body, ICM_HEADER_LEN)?;
        if body.len() > MAX_BODY_LEN {
            return Err(Error::TooLong {
                max: MAX_BODY_LEN,
                got: body.len(),
            });
        }
        let mut r = Reader::new(body);
        let [total, index, flags, code] = r.dword()?.to_be_bytes();
        Ok(IcmPacket {
            code,
            flags,
            index,
            total,
            payload: r.rest()?,
        })
    }

    /// Body bytes [`IcmPacket::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        ICM_HEADER_LEN + 4 * self.payload.len()
    }

    /// Write the body (CRC excluded) to the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if len > MAX_BODY_LEN {
            return Err(Error::TooLong {
                max: MAX_BODY_LEN,
                got: len,
            });
        }
        need(buf, len)?;
        let mut w = Writer::new(buf);
        w.dword(u32::from_be_bytes([
            self.total, self.index, self.flags, self.code,
        ]))?;
        w.dwords(&self.payload)?;
        Ok(w.pos())
    }

    /// A sealed frame of ICM type `pdf` (Linux appends a CRC to what it
    /// sends, spec 01 §6.6). `pdf` must be 10, 11 or 12.
    pub fn to_frame(&self, pdf: Pdf) -> Result<FrameBuf> {
        if !is_icm(pdf) {
            return Err(Error::InvalidField {
                field: "pdf",
                value: pdf.value() as u64,
            });
        }
        FrameBuf::build(pdf, |buf| self.emit(buf))
    }

    /// Parse a received ICM frame (PDF 10–12). The CRC is not verified:
    /// Linux does not check it on firmware traffic (spec 01 §5).
    pub fn from_frame(frame: &FrameBuf) -> Result<Self> {
        if !is_icm(frame.pdf()) {
            return Err(Error::InvalidField {
                field: "pdf",
                value: frame.pdf().value() as u64,
            });
        }
        Self::parse(frame.body())
    }
}
