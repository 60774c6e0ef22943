//! XDomain discovery messages (spec 02 §3–4): the type dword (DW7) and the
//! payload after it, and [`XdPacket`], a whole discovery frame body.
//!
//! # Lengths
//! Every message has a minimum size (spec 02 §3, "Total bytes"); a shorter
//! one is [`Error::Truncated`]. Dwords beyond the minimum are accepted and
//! ignored wherever Linux 6.1 accepts them (its responder checks only
//! "length field exact and ≥ 5" plus the per-type minimums of spec 02 §7,
//! and as a requester it copies a fixed-size reply, so longer replies pass).
//! Such frames are valid but not canonical: emitting the parsed value drops
//! the extra dwords. PROPERTIES_RESPONSE is the exception: its length *is*
//! its data, so every dword is kept.

use alloc::vec::Vec;
use core::fmt;

use crate::bytes::need;
use crate::ctl::cursor::{Reader, Writer};
use crate::ctl::{FrameBuf, MAX_BODY_LEN};
use crate::uuid::{Uuid, XDOMAIN_DISCOVERY};
use crate::xdomain::header::{HEADER_LEN, Header, MAX_LENGTH, Packet, Seq};
use crate::{Error, Pdf, Result, Route};

/// Largest message (type dword and payload, DW7–DW62) in bytes: the length
/// field counts at most 60 dwords after DW2, four of which are the protocol
/// UUID (spec 01 §6.5, 02 §2).
pub const MAX_MESSAGE_LEN: usize = (MAX_LENGTH as usize - 4) * 4;

/// Most property-block dwords one PROPERTIES_RESPONSE carries (spec 02 §4.4:
/// `(256 − 4 − 72) / 4`).
pub const MAX_PROPERTIES_DATA: usize = 45;

/// Fewest data dwords per PROPERTIES_RESPONSE a Linux 6.1 requester accepts
/// (spec 02 §4.4: it rejects a length field below 18). The wire format
/// allows fewer; a responder must not send fewer.
pub const LINUX_MIN_PROPERTIES_CHUNK: usize = 3;

/// Most dwords after the type dword that an unknown message can carry.
pub const MAX_UNKNOWN_PAYLOAD: usize = MAX_MESSAGE_LEN / 4 - 1;

/// An XDomain discovery message type, the value of DW7 (spec 02 §3).
///
/// Open: every `u32` is representable, and unknown values parse, print and
/// round-trip like the named ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgType(u32);

impl MsgType {
    /// `UUID_REQUEST_OLD` (spec 02 §3, §4.1).
    pub const UUID_REQUEST_OLD: MsgType = MsgType(0x1);
    /// `UUID_RESPONSE` (spec 02 §3, §4.2).
    pub const UUID_RESPONSE: MsgType = MsgType(0x2);
    /// `PROPERTIES_REQUEST` (spec 02 §3, §4.3).
    pub const PROPERTIES_REQUEST: MsgType = MsgType(0x3);
    /// `PROPERTIES_RESPONSE` (spec 02 §3, §4.4).
    pub const PROPERTIES_RESPONSE: MsgType = MsgType(0x4);
    /// `PROPERTIES_CHANGED_REQUEST` (spec 02 §3, §4.5).
    pub const PROPERTIES_CHANGED_REQUEST: MsgType = MsgType(0x5);
    /// `PROPERTIES_CHANGED_RESPONSE` (spec 02 §3, §4.6).
    pub const PROPERTIES_CHANGED_RESPONSE: MsgType = MsgType(0x6);
    /// `ERROR_RESPONSE` (spec 02 §3, §4.7).
    pub const ERROR_RESPONSE: MsgType = MsgType(0x7);
    /// `UUID_REQUEST` (spec 02 §3, §4.1).
    pub const UUID_REQUEST: MsgType = MsgType(0xc);
    /// `LINK_STATE_STATUS_REQUEST` (spec 02 §3, §4.8).
    pub const LINK_STATE_STATUS_REQUEST: MsgType = MsgType(0xf);
    /// `LINK_STATE_STATUS_RESPONSE` (spec 02 §3, §4.8).
    pub const LINK_STATE_STATUS_RESPONSE: MsgType = MsgType(0x10);
    /// `LINK_STATE_CHANGE_REQUEST` (spec 02 §3, §4.9).
    pub const LINK_STATE_CHANGE_REQUEST: MsgType = MsgType(0x11);
    /// `LINK_STATE_CHANGE_RESPONSE` (spec 02 §3, §4.9).
    pub const LINK_STATE_CHANGE_RESPONSE: MsgType = MsgType(0x12);

    /// A type from its DW7 value.
    pub const fn new(v: u32) -> Self {
        MsgType(v)
    }

    /// The DW7 value.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// Linux's name (without the `_TYPE` suffix), `None` for unnamed values.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x1 => "UUID_REQUEST_OLD",
            0x2 => "UUID_RESPONSE",
            0x3 => "PROPERTIES_REQUEST",
            0x4 => "PROPERTIES_RESPONSE",
            0x5 => "PROPERTIES_CHANGED_REQUEST",
            0x6 => "PROPERTIES_CHANGED_RESPONSE",
            0x7 => "ERROR_RESPONSE",
            0xc => "UUID_REQUEST",
            0xf => "LINK_STATE_STATUS_REQUEST",
            0x10 => "LINK_STATE_STATUS_RESPONSE",
            0x11 => "LINK_STATE_CHANGE_REQUEST",
            0x12 => "LINK_STATE_CHANGE_RESPONSE",
            _ => return None,
        })
    }

    /// Whether the type is one of the named ones of spec 02 §3.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// `Some(true)` for request types (sent with PDF 6), `Some(false)` for
    /// response types (PDF 7), `None` for unnamed values (spec 02 §3).
    pub const fn is_request(self) -> Option<bool> {
        match self.0 {
            0x1 | 0x3 | 0x5 | 0xc | 0xf | 0x11 => Some(true),
            0x2 | 0x4 | 0x6 | 0x7 | 0x10 | 0x12 => Some(false),
            _ => None,
        }
    }
}

impl From<u32> for MsgType {
    fn from(v: u32) -> Self {
        MsgType(v)
    }
}

impl fmt::Debug for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "MsgType::{n}"),
            None => write!(f, "MsgType({:#x})", self.0),
        }
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "TYPE_{:#x}", self.0),
        }
    }
}

/// The code of an ERROR_RESPONSE, DW8 (spec 02 §4.7). Open: unknown values
/// parse and round-trip (Linux treats them as success).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(u32);

impl ErrorCode {
    /// `SUCCESS`: never sent by Linux (spec 02 §4.7).
    pub const SUCCESS: ErrorCode = ErrorCode(0x0);
    /// `UNKNOWN_PACKET` (spec 02 §4.7).
    pub const UNKNOWN_PACKET: ErrorCode = ErrorCode(0x1);
    /// `UNKNOWN_DOMAIN`: PROPERTIES_REQUEST for another domain (spec 02 §4.7).
    pub const UNKNOWN_DOMAIN: ErrorCode = ErrorCode(0x2);
    /// `NOT_SUPPORTED`: unknown request type (spec 02 §4.7).
    pub const NOT_SUPPORTED: ErrorCode = ErrorCode(0x3);
    /// `NOT_READY`: the responder cannot answer yet (spec 02 §4.7).
    pub const NOT_READY: ErrorCode = ErrorCode(0x4);

    /// A code from its DW8 value.
    pub const fn new(v: u32) -> Self {
        ErrorCode(v)
    }

    /// The DW8 value.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// Linux's name (without the `ERROR_` prefix), `None` for unnamed values.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "SUCCESS",
            0x1 => "UNKNOWN_PACKET",
            0x2 => "UNKNOWN_DOMAIN",
            0x3 => "NOT_SUPPORTED",
            0x4 => "NOT_READY",
            _ => return None,
        })
    }

    /// Whether a Linux requester treats this code as a failure (codes 1–4;
    /// 0 and unnamed codes count as success, spec 02 §4.7, §5.4).
    pub const fn is_failure_for_linux(self) -> bool {
        matches!(self.0, 1..=4)
    }
}

impl From<u32> for ErrorCode {
    fn from(v: u32) -> Self {
        ErrorCode(v)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "ErrorCode::{n}"),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ERROR_{:#x}", self.0),
        }
    }
}

/// Bit layout of the sub-dword fields (spec 02 §4.4, §4.8, §4.9).
mod field {
    /// DW16 of PROPERTIES_REQUEST/RESPONSE: offset in bits 15:0.
    pub const OFFSET_MASK: u32 = 0xffff;
    /// DW16 of PROPERTIES_RESPONSE: data_length in bits 31:16.
    pub const DATA_LENGTH_SHIFT: u32 = 16;
    /// DW9 of LINK_STATE_STATUS_RESPONSE and DW8 of LINK_STATE_CHANGE_REQUEST:
    /// one byte per field, bits 7:0 first.
    pub const SLW_SHIFT: u32 = 0;
    pub const TLW_SHIFT: u32 = 8;
    pub const SLS_SHIFT: u32 = 16;
    pub const TLS_SHIFT: u32 = 24;
    pub const REQ_TLW_SHIFT: u32 = 0;
    pub const REQ_TLS_SHIFT: u32 = 8;
}

/// Minimum message sizes in bytes from DW7 on (spec 02 §3 total − 28).
mod min_len {
    /// Header-only messages: the type dword.
    pub const TYPE_ONLY: usize = 4;
    /// UUID_RESPONSE: type, src_uuid, src_route (56 bytes total).
    pub const UUID_RESPONSE: usize = 28;
    /// PROPERTIES_REQUEST: type, two UUIDs, offset (68 bytes total).
    pub const PROPERTIES_REQUEST: usize = 40;
    /// PROPERTIES_RESPONSE without data (72 bytes total).
    pub const PROPERTIES_RESPONSE: usize = 44;
    /// PROPERTIES_CHANGED_REQUEST: type, src_uuid (48 bytes total).
    pub const PROPERTIES_CHANGED_REQUEST: usize = 20;
    /// One dword after the type: ERROR_RESPONSE, LINK_STATE_CHANGE_* (36 bytes total).
    pub const ONE_DWORD: usize = 8;
    /// LINK_STATE_STATUS_RESPONSE (40 bytes total).
    pub const LINK_STATE_STATUS_RESPONSE: usize = 12;
}

/// A discovery message: the type (DW7) and its payload (spec 02 §3–4).
///
/// UUIDs are canonical [`Uuid`]s; the per-dword byte order of the wire is
/// handled when parsing and emitting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// Type 12: ask for the peer's domain UUID; no payload (spec 02 §4.1).
    /// Linux 6.1 answers any length (spec 02 §7), so extra dwords are ignored.
    UuidRequest,
    /// Type 1: the older UUID request, answered like type 12; no payload
    /// (spec 02 §4.1). Extra dwords are ignored (spec 02 §7).
    UuidRequestOld,
    /// Type 2: the responder's UUID and the route its request arrived on
    /// (spec 02 §4.2). At least 56 bytes; Linux copies a fixed-size reply,
    /// so extra dwords are ignored (spec 01 §7.3).
    UuidResponse {
        /// Responder's domain UUID (DW8–11).
        src_uuid: Uuid,
        /// Route in the responder's domain (DW12 high, DW13 low); Linux
        /// clears bit 63.
        src_route: Route,
    },
    /// Type 3: read the peer's property block from `offset` (spec 02 §4.3).
    /// At least 68 bytes (Linux's minimum, spec 02 §7); DW16 bits 31:16 and
    /// extra dwords are ignored.
    PropertiesRequest {
        /// Requester's domain UUID (DW8–11).
        src_uuid: Uuid,
        /// The peer's UUID (DW12–15).
        dst_uuid: Uuid,
        /// Dword offset into the block (DW16 bits 15:0).
        offset: u16,
    },
    /// Type 4: one page of the property block (spec 02 §4.4). Every dword
    /// after DW17 is block data: n = length field − 15, at most
    /// [`MAX_PROPERTIES_DATA`] (the 63-dword frame limit). Emitting more is
    /// an error.
    PropertiesResponse {
        /// Responder's UUID (DW8–11).
        src_uuid: Uuid,
        /// Copied from the request's src_uuid (DW12–15).
        dst_uuid: Uuid,
        /// Echo of the requested offset (DW16 bits 15:0).
        offset: u16,
        /// Total length of the block in dwords (DW16 bits 31:16).
        data_length: u16,
        /// Generation of the block served (DW17).
        generation: u32,
        /// Block dwords starting at `offset` (DW18 on), as dword values.
        data: Vec<u32>,
    },
    /// Type 5: "my properties changed" (spec 02 §4.5). At least 48 bytes;
    /// extra dwords are ignored. (Linux ≥ 5.2 ignores src_uuid and answers
    /// even a shorter frame; a responder that wants that leniency can read
    /// the type with [`XdPacket::peek_type`].)
    PropertiesChangedRequest {
        /// Sender's domain UUID (DW8–11).
        src_uuid: Uuid,
    },
    /// Type 6: acknowledges type 5 (spec 02 §4.6). Emitted as 36 bytes with
    /// an all-zero DW8, as Linux sends it; any length ≥ 32 bytes parses
    /// (spec 02 §3), and DW8 on is ignored.
    PropertiesChangedResponse,
    /// Type 7: the request failed (spec 02 §4.7). At least 36 bytes; extra
    /// dwords are ignored.
    ErrorResponse {
        /// Error code (DW8).
        code: ErrorCode,
    },
    /// Type 15: ask for the peer's lane state; no payload (spec 02 §4.8).
    /// Extra dwords are ignored (spec 02 §7).
    LinkStateStatusRequest,
    /// Type 16: the responder's lane-0 adapter state (spec 02 §4.8). At
    /// least 40 bytes; extra dwords are ignored.
    LinkStateStatusResponse {
        /// 0 = OK (DW8).
        status: u32,
        /// Supported link widths (DW9 bits 7:0).
        slw: u8,
        /// Target link width (DW9 bits 15:8).
        tlw: u8,
        /// Supported link speeds (DW9 bits 23:16), opaque.
        sls: u8,
        /// Target link speed (DW9 bits 31:24), opaque.
        tls: u8,
    },
    /// Type 17: ask the peer to change its link width (spec 02 §4.9). At
    /// least 36 bytes (Linux's minimum, spec 02 §7); DW8 bits 31:16 and extra
    /// dwords are ignored.
    LinkStateChangeRequest {
        /// Requested target link width (DW8 bits 7:0): 0x3 dual, 0x1 single.
        tlw: u8,
        /// Sender's target link speed (DW8 bits 15:8).
        tls: u8,
    },
    /// Type 18: answer to type 17 (spec 02 §4.9). At least 36 bytes; extra
    /// dwords are ignored.
    LinkStateChangeResponse {
        /// 0 = accepted (DW8).
        status: u32,
    },
    /// Any other type, with every dword after DW7 kept so it round-trips
    /// (spec 02 §3: Linux answers unknown request types with
    /// ERROR NOT_SUPPORTED). Emitting a named type this way is an error.
    Unknown {
        /// The unnamed type (DW7).
        msg_type: MsgType,
        /// Dword values after DW7, at most [`MAX_UNKNOWN_PAYLOAD`].
        payload: Vec<u32>,
    },
}

impl Message {
    /// The type dword of this message.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::UuidRequest => MsgType::UUID_REQUEST,
            Message::UuidRequestOld => MsgType::UUID_REQUEST_OLD,
            Message::UuidResponse { .. } => MsgType::UUID_RESPONSE,
            Message::PropertiesRequest { .. } => MsgType::PROPERTIES_REQUEST,
            Message::PropertiesResponse { .. } => MsgType::PROPERTIES_RESPONSE,
            Message::PropertiesChangedRequest { .. } => MsgType::PROPERTIES_CHANGED_REQUEST,
            Message::PropertiesChangedResponse => MsgType::PROPERTIES_CHANGED_RESPONSE,
            Message::ErrorResponse { .. } => MsgType::ERROR_RESPONSE,
            Message::LinkStateStatusRequest => MsgType::LINK_STATE_STATUS_REQUEST,
            Message::LinkStateStatusResponse { .. } => MsgType::LINK_STATE_STATUS_RESPONSE,
            Message::LinkStateChangeRequest { .. } => MsgType::LINK_STATE_CHANGE_REQUEST,
            Message::LinkStateChangeResponse { .. } => MsgType::LINK_STATE_CHANGE_RESPONSE,
            Message::Unknown { msg_type, .. } => *msg_type,
        }
    }

    /// Whether the message is a request (spec 02 §3). Unknown types count as
    /// requests: that is how a peer sends them, and how Linux treats them
    /// (ERROR NOT_SUPPORTED, spec 02 §7).
    pub fn is_request(&self) -> bool {
        self.msg_type().is_request().unwrap_or(true)
    }

    /// The PDF the message travels with: 6 for requests, 7 for responses
    /// (spec 02 §3, 01 §3).
    pub fn pdf(&self) -> Pdf {
        if self.is_request() {
            Pdf::XDOMAIN_REQ
        } else {
            Pdf::XDOMAIN_RESP
        }
    }

    /// Parse a message from the bytes after the XDomain header (DW7 to the
    /// end of the body, CRC excluded). The length must be a whole number of
    /// dwords, at most [`MAX_MESSAGE_LEN`], and at least the type's minimum
    /// (see the variants for what is done with extra dwords).
    pub fn parse(msg: &[u8]) -> Result<Self> {
        if !msg.len().is_multiple_of(4) {
            return Err(Error::Unaligned { len: msg.len() });
        }
        if msg.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLong {
                max: MAX_MESSAGE_LEN,
                got: msg.len(),
            });
        }
        let mut r = Reader::new(msg);
        let msg_type = MsgType(r.dword()?);
        Ok(match msg_type {
            MsgType::UUID_REQUEST => Message::UuidRequest,
            MsgType::UUID_REQUEST_OLD => Message::UuidRequestOld,
            MsgType::UUID_RESPONSE => {
                need(msg, min_len::UUID_RESPONSE)?;
                let src_uuid = r.uuid()?;
                let hi = r.dword()?;
                let lo = r.dword()?;
                Message::UuidResponse {
                    src_uuid,
                    src_route: Route::from_dwords(hi, lo),
                }
            }
            MsgType::PROPERTIES_REQUEST => {
                need(msg, min_len::PROPERTIES_REQUEST)?;
                let src_uuid = r.uuid()?;
                let dst_uuid = r.uuid()?;
                let dw16 = r.dword()?;
                Message::PropertiesRequest {
                    src_uuid,
                    dst_uuid,
                    offset: (dw16 & field::OFFSET_MASK) as u16,
                }
            }
            MsgType::PROPERTIES_RESPONSE => {
                need(msg, min_len::PROPERTIES_RESPONSE)?;
                let src_uuid = r.uuid()?;
                let dst_uuid = r.uuid()?;
                let dw16 = r.dword()?;
                let generation = r.dword()?;
                Message::PropertiesResponse {
                    src_uuid,
                    dst_uuid,
                    offset: (dw16 & field::OFFSET_MASK) as u16,
                    data_length: (dw16 >> field::DATA_LENGTH_SHIFT) as u16,
                    generation,
                    data: r.rest()?,
                }
            }
            MsgType::PROPERTIES_CHANGED_REQUEST => {
                need(msg, min_len::PROPERTIES_CHANGED_REQUEST)?;
                Message::PropertiesChangedRequest {
                    src_uuid: r.uuid()?,
                }
            }
            MsgType::PROPERTIES_CHANGED_RESPONSE => Message::PropertiesChangedResponse,
            MsgType::ERROR_RESPONSE => {
                need(msg, min_len::ONE_DWORD)?;
                Message::ErrorResponse {
                    code: ErrorCode(r.dword()?),
                }
            }
            MsgType::LINK_STATE_STATUS_REQUEST => Message::LinkStateStatusRequest,
            MsgType::LINK_STATE_STATUS_RESPONSE => {
                need(msg, min_len::LINK_STATE_STATUS_RESPONSE)?;
                let status = r.dword()?;
                let dw9 = r.dword()?;
                Message::LinkStateStatusResponse {
                    status,
                    slw: (dw9 >> field::SLW_SHIFT) as u8,
                    tlw: (dw9 >> field::TLW_SHIFT) as u8,
                    sls: (dw9 >> field::SLS_SHIFT) as u8,
                    tls: (dw9 >> field::TLS_SHIFT) as u8,
                }
            }
            MsgType::LINK_STATE_CHANGE_REQUEST => {
                need(msg, min_len::ONE_DWORD)?;
                let dw8 = r.dword()?;
                Message::LinkStateChangeRequest {
                    tlw: (dw8 >> field::REQ_TLW_SHIFT) as u8,
                    tls: (dw8 >> field::REQ_TLS_SHIFT) as u8,
                }
            }
            MsgType::LINK_STATE_CHANGE_RESPONSE => {
                need(msg, min_len::ONE_DWORD)?;
                Message::LinkStateChangeResponse { status: r.dword()? }
            }
            _ => Message::Unknown {
                msg_type,
                payload: r.rest()?,
            },
        })
    }

    /// Bytes [`Message::emit`] writes (DW7 to the end of the body).
    pub fn buffer_len(&self) -> usize {
        match self {
            Message::UuidRequest | Message::UuidRequestOld | Message::LinkStateStatusRequest => {
                min_len::TYPE_ONLY
            }
            Message::UuidResponse { .. } => min_len::UUID_RESPONSE,
            Message::PropertiesRequest { .. } => min_len::PROPERTIES_REQUEST,
            Message::PropertiesResponse { data, .. } => {
                min_len::PROPERTIES_RESPONSE + 4 * data.len()
            }
            Message::PropertiesChangedRequest { .. } => min_len::PROPERTIES_CHANGED_REQUEST,
            Message::PropertiesChangedResponse
            | Message::ErrorResponse { .. }
            | Message::LinkStateChangeRequest { .. }
            | Message::LinkStateChangeResponse { .. } => min_len::ONE_DWORD,
            Message::LinkStateStatusResponse { .. } => min_len::LINK_STATE_STATUS_RESPONSE,
            Message::Unknown { payload, .. } => min_len::TYPE_ONLY + 4 * payload.len(),
        }
    }

    /// Write the message (DW7 on) to the start of `buf`; returns the bytes
    /// written. Reserved bits are written as 0. Fails on more than
    /// [`MAX_PROPERTIES_DATA`] data dwords, an unknown message longer than
    /// [`MAX_MESSAGE_LEN`], or [`Message::Unknown`] holding a named type.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if len > MAX_MESSAGE_LEN {
            return Err(Error::TooLong {
                max: MAX_MESSAGE_LEN,
                got: len,
            });
        }
        need(buf, len)?;
        let mut w = Writer::new(buf);
        w.dword(self.msg_type().value())?;
        match self {
            Message::UuidRequest | Message::UuidRequestOld | Message::LinkStateStatusRequest => {}
            Message::UuidResponse {
                src_uuid,
                src_route,
            } => {
                w.uuid(src_uuid)?;
                w.dword(src_route.hi())?;
                w.dword(src_route.lo())?;
            }
            Message::PropertiesRequest {
                src_uuid,
                dst_uuid,
                offset,
            } => {
                w.uuid(src_uuid)?;
                w.uuid(dst_uuid)?;
                w.dword(*offset as u32)?;
            }
            Message::PropertiesResponse {
                src_uuid,
                dst_uuid,
                offset,
                data_length,
                generation,
                data,
            } => {
                w.uuid(src_uuid)?;
                w.uuid(dst_uuid)?;
                w.dword(((*data_length as u32) << field::DATA_LENGTH_SHIFT) | *offset as u32)?;
                w.dword(*generation)?;
                w.dwords(data)?;
            }
            Message::PropertiesChangedRequest { src_uuid } => w.uuid(src_uuid)?,
            Message::PropertiesChangedResponse => w.dword(0)?,
            Message::ErrorResponse { code } => w.dword(code.value())?,
            Message::LinkStateStatusResponse {
                status,
                slw,
                tlw,
                sls,
                tls,
            } => {
                w.dword(*status)?;
                w.dword(
                    (*slw as u32) << field::SLW_SHIFT
                        | (*tlw as u32) << field::TLW_SHIFT
                        | (*sls as u32) << field::SLS_SHIFT
                        | (*tls as u32) << field::TLS_SHIFT,
                )?;
            }
            Message::LinkStateChangeRequest { tlw, tls } => {
                w.dword(
                    (*tlw as u32) << field::REQ_TLW_SHIFT | (*tls as u32) << field::REQ_TLS_SHIFT,
                )?;
            }
            Message::LinkStateChangeResponse { status } => w.dword(*status)?,
            Message::Unknown { msg_type, payload } => {
                if msg_type.is_known() {
                    return Err(Error::InvalidField {
                        field: "type",
                        value: msg_type.value() as u64,
                    });
                }
                w.dwords(payload)?;
            }
        }
        Ok(w.pos())
    }
}

/// A whole XDomain discovery frame body (CRC excluded): route and sequence
/// number of the header (spec 02 §2) and the [`Message`] (spec 02 §3–4).
/// The protocol UUID is always [`XDOMAIN_DISCOVERY`] and the length field
/// is derived from the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XdPacket {
    /// Route as carried (DW0–1). Receivers compare it with the CM bit
    /// cleared; see [`XdPacket::reply`].
    pub route: Route,
    /// Sequence number (DW2 bits 28:27).
    pub seq: Seq,
    /// The message (DW7 on).
    pub message: Message,
}

impl XdPacket {
    /// A packet of `message` to `route` with sequence number `seq`.
    pub fn new(route: Route, seq: Seq, message: Message) -> Self {
        XdPacket {
            route,
            seq,
            message,
        }
    }

    /// The answer to this (received) request: same route with the CM bit
    /// cleared and the same sequence number (spec 02 §2, §7).
    pub fn reply(&self, message: Message) -> Self {
        XdPacket {
            route: self.route.without_cm(),
            seq: self.seq,
            message,
        }
    }

    /// The type of the discovery message in `body` after the header checks
    /// of [`Header::parse`] (exact length field) and a length field ≥ 5,
    /// without parsing the payload; `None` if the body is no well-formed
    /// discovery frame (spec 02 §7: Linux dispatches on this alone).
    pub fn peek_type(body: &[u8]) -> Option<MsgType> {
        let h = Header::parse(body).ok()?;
        if h.protocol != XDOMAIN_DISCOVERY {
            return None;
        }
        crate::bytes::be32(Packet::new_unchecked(body).payload(), 0).map(MsgType)
    }

    /// Parse a frame body (CRC excluded). Checks in Linux's order (spec 02
    /// §7, 01 §8.3): header present and length field exact, protocol UUID is
    /// the discovery UUID ([`Error::WrongProtocol`] otherwise), length field
    /// ≥ 5, then the message's own minimum.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let header = Header::parse(body)?;
        if header.protocol != XDOMAIN_DISCOVERY {
            return Err(Error::WrongProtocol);
        }
        let message =
            Message::parse(Packet::new_unchecked(body).payload()).map_err(|e| match e {
                Error::Truncated { needed, got } => Error::Truncated {
                    needed: needed.saturating_add(HEADER_LEN),
                    got: got.saturating_add(HEADER_LEN),
                },
                e => e,
            })?;
        Ok(XdPacket {
            route: header.route,
            seq: header.seq,
            message,
        })
    }

    /// Body bytes [`XdPacket::emit`] writes (CRC excluded).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.message.buffer_len()
    }

    /// The header this packet is sent with.
    pub fn header(&self) -> Result<Header> {
        Header::for_body(self.route, self.seq, XDOMAIN_DISCOVERY, self.buffer_len())
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
        self.header()?.emit(buf)?;
        let n = self
            .message
            .emit(buf.get_mut(HEADER_LEN..).unwrap_or(&mut []))?;
        Ok(HEADER_LEN + n)
    }

    /// A sealed frame with the message's PDF ([`Message::pdf`]).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        self.to_frame_with_pdf(self.message.pdf())
    }

    /// A sealed frame with an explicit PDF (e.g. a response type sent as a
    /// request, to test a peer's reaction, spec 02 §7).
    pub fn to_frame_with_pdf(&self, pdf: Pdf) -> Result<FrameBuf> {
        FrameBuf::build(pdf, |buf| self.emit(buf))
    }

    /// Parse a received frame: PDF must be 6 or 7, the CRC must match
    /// (Linux checks it for both, spec 01 §5), then [`XdPacket::parse`].
    /// Whether the PDF suits the message type is left to the caller.
    pub fn from_frame(frame: &FrameBuf) -> Result<Self> {
        let pdf = frame.pdf();
        if pdf != Pdf::XDOMAIN_REQ && pdf != Pdf::XDOMAIN_RESP {
            return Err(Error::InvalidField {
                field: "pdf",
                value: pdf.value() as u64,
            });
        }
        frame.verify_crc()?;
        Self::parse(frame.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_bytes(dwords: &[u32]) -> Vec<u8> {
        dwords.iter().flat_map(|d| d.to_be_bytes()).collect()
    }

    #[test]
    fn named_types() {
        for v in [1u32, 2, 3, 4, 5, 6, 7, 12, 15, 16, 17, 18] {
            assert!(MsgType::new(v).is_known());
            assert!(MsgType::new(v).is_request().is_some());
        }
        for v in [0u32, 8, 9, 10, 11, 13, 14, 19, u32::MAX] {
            assert!(!MsgType::new(v).is_known());
            assert_eq!(MsgType::new(v).is_request(), None);
        }
    }

    #[test]
    fn truncation_is_typed() {
        // UUID_RESPONSE with only the UUID.
        let m = msg_bytes(&[2, 1, 2, 3, 4]);
        assert_eq!(
            Message::parse(&m),
            Err(Error::Truncated {
                needed: 28,
                got: 20
            })
        );
        assert_eq!(
            Message::parse(&[]),
            Err(Error::Truncated { needed: 4, got: 0 })
        );
        assert_eq!(Message::parse(&[0, 0, 0]), Err(Error::Unaligned { len: 3 }));
        for (ty, min) in [
            (3u32, 40usize),
            (4, 44),
            (5, 20),
            (7, 8),
            (16, 12),
            (17, 8),
            (18, 8),
        ] {
            let short = msg_bytes(&alloc::vec![ty; min / 4 - 1]);
            assert_eq!(
                Message::parse(&short),
                Err(Error::Truncated {
                    needed: min,
                    got: min - 4
                }),
                "type {ty}"
            );
        }
    }

    #[test]
    fn emit_limits() {
        let pr = Message::PropertiesResponse {
            src_uuid: Uuid::nil(),
            dst_uuid: Uuid::nil(),
            offset: 0,
            data_length: 46,
            generation: 0,
            data: alloc::vec![0; 46],
        };
        assert!(matches!(
            pr.emit(&mut [0u8; 256]),
            Err(Error::TooLong { .. })
        ));
        let unk = Message::Unknown {
            msg_type: MsgType::UUID_REQUEST,
            payload: Vec::new(),
        };
        assert!(matches!(
            unk.emit(&mut [0u8; 8]),
            Err(Error::InvalidField { field: "type", .. })
        ));
        assert_eq!(
            Message::UuidRequest.emit(&mut [0u8; 3]),
            Err(Error::Truncated { needed: 4, got: 3 })
        );
    }
}
