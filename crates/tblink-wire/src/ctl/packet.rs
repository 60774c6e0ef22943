//! Any control packet, chosen by its PDF (spec 01 §3).

use alloc::vec::Vec;

use crate::bytes::need;
use crate::ctl::config::{
    ReadRequest, ReadResponse, ResetRequest, ResetResponse, WriteRequest, WriteResponse,
    is_response,
};
use crate::ctl::frame::MAX_BODY_LEN;
use crate::ctl::icm::{IcmPacket, is_icm};
use crate::ctl::notify::{ErrorPacket, HotPlugEvent, NotifyAck};
use crate::ctl::{FrameBuf, Framed};
use crate::uuid::XDOMAIN_DISCOVERY;
use crate::xdomain::{HEADER_LEN, Packet, XdPacket};
use crate::{Error, Pdf, Result};

/// A control packet of any type, as carried by one ring-0 frame (spec 01
/// §3, §6). The PDF is part of the value, since it travels beside the body.
///
/// PDF 1, 2 and 9 are a request or a response according to the CM bit
/// (DW0 bit 31, spec 01 §4). PDF 6/7 frames of the XDomain discovery
/// protocol are parsed as [`XdPacket`]; those of other protocols
/// (ThunderboltIP, DMA test) and every PDF without a layout here (0, 8, 13,
/// 14, 15) are kept [`ControlPacket::Raw`], so they round-trip unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlPacket {
    /// PDF 1 without the CM bit (spec 01 §6.1).
    ReadRequest(ReadRequest),
    /// PDF 1 with the CM bit (spec 01 §6.1).
    ReadResponse(ReadResponse),
    /// PDF 2 without the CM bit (spec 01 §6.1).
    WriteRequest(WriteRequest),
    /// PDF 2 with the CM bit (spec 01 §6.1).
    WriteResponse(WriteResponse),
    /// PDF 3 (spec 01 §6.2).
    Error(ErrorPacket),
    /// PDF 4 (spec 01 §3, §7.6).
    NotifyAck(NotifyAck),
    /// PDF 5 (spec 01 §6.3).
    HotPlug(HotPlugEvent),
    /// PDF 6 or 7 carrying the XDomain discovery protocol (spec 01 §6.5, 02).
    XDomain {
        /// 6 (request) or 7 (response); kept as received, even if it does
        /// not suit the message type.
        pdf: Pdf,
        /// The discovery message.
        packet: XdPacket,
    },
    /// PDF 9 without the CM bit (spec 01 §6.4).
    ResetRequest(ResetRequest),
    /// PDF 9 with the CM bit (spec 01 §6.4).
    ResetResponse(ResetResponse),
    /// PDF 10, 11 or 12 (spec 01 §6.6).
    Icm {
        /// 10 (event), 11 (command) or 12 (response).
        pdf: Pdf,
        /// Header and opaque payload.
        packet: IcmPacket,
    },
    /// Any other frame, body kept byte for byte.
    Raw {
        /// The frame's PDF.
        pdf: Pdf,
        /// The body (CRC excluded), at most 252 bytes.
        body: Vec<u8>,
    },
}

impl ControlPacket {
    /// The PDF the packet travels with.
    pub fn pdf(&self) -> Pdf {
        match self {
            ControlPacket::ReadRequest(_) | ControlPacket::ReadResponse(_) => Pdf::READ,
            ControlPacket::WriteRequest(_) | ControlPacket::WriteResponse(_) => Pdf::WRITE,
            ControlPacket::Error(_) => Pdf::ERROR,
            ControlPacket::NotifyAck(_) => Pdf::NOTIFY_ACK,
            ControlPacket::HotPlug(_) => Pdf::EVENT,
            ControlPacket::ResetRequest(_) | ControlPacket::ResetResponse(_) => Pdf::RESET,
            ControlPacket::XDomain { pdf, .. }
            | ControlPacket::Icm { pdf, .. }
            | ControlPacket::Raw { pdf, .. } => *pdf,
        }
    }

    /// Parse a frame body (CRC excluded) of type `pdf`. The body must be a
    /// whole number of dwords (spec 01 §7.5 step 1) of at most 252 bytes
    /// (spec 01 §2); each type then applies its own checks.
    pub fn parse(pdf: Pdf, body: &[u8]) -> Result<Self> {
        if body.len() > MAX_BODY_LEN {
            return Err(Error::TooLong {
                max: MAX_BODY_LEN,
                got: body.len(),
            });
        }
        if !body.len().is_multiple_of(4) {
            return Err(Error::Unaligned { len: body.len() });
        }
        let response = is_response(body).unwrap_or(false);
        Ok(match pdf {
            Pdf::READ if response => ControlPacket::ReadResponse(ReadResponse::parse(body)?),
            Pdf::READ => ControlPacket::ReadRequest(ReadRequest::parse(body)?),
            Pdf::WRITE if response => ControlPacket::WriteResponse(WriteResponse::parse(body)?),
            Pdf::WRITE => ControlPacket::WriteRequest(WriteRequest::parse(body)?),
            Pdf::ERROR => ControlPacket::Error(ErrorPacket::parse(body)?),
            Pdf::NOTIFY_ACK => ControlPacket::NotifyAck(NotifyAck::parse(body)?),
            Pdf::EVENT => ControlPacket::HotPlug(HotPlugEvent::parse(body)?),
            Pdf::XDOMAIN_REQ | Pdf::XDOMAIN_RESP => {
                need(body, HEADER_LEN)?;
                if Packet::new_unchecked(body).protocol() == Some(XDOMAIN_DISCOVERY) {
                    ControlPacket::XDomain {
                        pdf,
                        packet: XdPacket::parse(body)?,
                    }
                } else {
                    ControlPacket::Raw {
                        pdf,
                        body: body.to_vec(),
                    }
                }
            }
            Pdf::RESET if response => ControlPacket::ResetResponse(ResetResponse::parse(body)?),
            Pdf::RESET => ControlPacket::ResetRequest(ResetRequest::parse(body)?),
            p if is_icm(p) => ControlPacket::Icm {
                pdf,
                packet: IcmPacket::parse(body)?,
            },
            _ => ControlPacket::Raw {
                pdf,
                body: body.to_vec(),
            },
        })
    }

    /// Body bytes [`ControlPacket::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            ControlPacket::ReadRequest(p) => p.buffer_len(),
            ControlPacket::ReadResponse(p) => p.buffer_len(),
            ControlPacket::WriteRequest(p) => p.buffer_len(),
            ControlPacket::WriteResponse(p) => p.buffer_len(),
            ControlPacket::Error(p) => p.buffer_len(),
            ControlPacket::NotifyAck(p) => p.buffer_len(),
            ControlPacket::HotPlug(p) => p.buffer_len(),
            ControlPacket::XDomain { packet, .. } => packet.buffer_len(),
            ControlPacket::ResetRequest(p) => p.buffer_len(),
            ControlPacket::ResetResponse(p) => p.buffer_len(),
            ControlPacket::Icm { packet, .. } => packet.buffer_len(),
            ControlPacket::Raw { body, .. } => body.len(),
        }
    }

    /// Write the body (CRC excluded) to the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            ControlPacket::ReadRequest(p) => p.emit(buf),
            ControlPacket::ReadResponse(p) => p.emit(buf),
            ControlPacket::WriteRequest(p) => p.emit(buf),
            ControlPacket::WriteResponse(p) => p.emit(buf),
            ControlPacket::Error(p) => p.emit(buf),
            ControlPacket::NotifyAck(p) => p.emit(buf),
            ControlPacket::HotPlug(p) => p.emit(buf),
            ControlPacket::XDomain { packet, .. } => packet.emit(buf),
            ControlPacket::ResetRequest(p) => p.emit(buf),
            ControlPacket::ResetResponse(p) => p.emit(buf),
            ControlPacket::Icm { packet, .. } => packet.emit(buf),
            ControlPacket::Raw { body, .. } => {
                if body.len() > MAX_BODY_LEN {
                    return Err(Error::TooLong {
                        max: MAX_BODY_LEN,
                        got: body.len(),
                    });
                }
                need(buf, body.len())?;
                buf[..body.len()].copy_from_slice(body);
                Ok(body.len())
            }
        }
    }

    /// A sealed frame with this packet's PDF and the CRC appended (spec 01 §5).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(self.pdf(), |buf| self.emit(buf))
    }

    /// Parse a received frame, verifying the CRC where Linux does
    /// ([`Pdf::crc_checked`], spec 01 §5, §7.5).
    pub fn from_frame(frame: &FrameBuf) -> Result<Self> {
        if frame.pdf().crc_checked() {
            frame.verify_crc()?;
        }
        Self::parse(frame.pdf(), frame.body())
    }
}
