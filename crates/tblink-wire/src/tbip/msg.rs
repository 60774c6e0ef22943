//! ThunderboltIP control messages (spec 06 §3–5): XDomain messages with the
//! ThunderboltIP protocol UUID, sent as PDF 7 on the control channel.
//!
//! Every message starts with the 68-byte [`TbipHeader`] (the common XDomain
//! header of spec 02 §2 plus initiator/target UUIDs, type and command id).
//! Each message type has a value with `parse`, `emit`, `buffer_len` and
//! `to_frame`; [`TbipMessage`] dispatches on the type field. All fields are
//! big-endian dwords (spec 01 §1); reserved fields are ignored on parse and
//! written as zero.

use core::fmt;

use crate::bytes::{be32, need, put_be32};
use crate::ctl::{Frame, FrameBuf, MAX_BODY_LEN};
use crate::uuid::{THUNDERBOLT_IP, Uuid, WireUuid};
use crate::xdomain::{Header, Seq};
use crate::{Error, Result, Route};

use super::{CONTROL_PDF, PROTO_VERSION};

/// Byte offsets inside a ThunderboltIP message (spec 06 §3.2, §4).
mod field {
    pub const INITIATOR_UUID: usize = 28;
    pub const TARGET_UUID: usize = 44;
    pub const TYPE: usize = 60;
    pub const COMMAND_ID: usize = 64;
    /// First payload dword, after the header.
    pub const PAYLOAD: usize = 68;

    // LOGIN (spec 06 §4.1)
    pub const LOGIN_PROTO_VERSION: usize = 68;
    pub const LOGIN_TRANSMIT_PATH: usize = 72;

    // LOGIN_RESPONSE (spec 06 §4.2)
    pub const RESPONSE_STATUS: usize = 68;
    pub const RESPONSE_MAC: usize = 72;
    pub const RESPONSE_MAC_LEN: usize = 80;

    // STATUS (spec 06 §4.4)
    pub const STATUS_STATUS: usize = 68;
}

/// Bytes of the ThunderboltIP header, 17 dwords (spec 06 §3.2).
pub const HEADER_LEN: usize = 68;
/// Bytes of a LOGIN message, length field 20 (spec 06 §4.1).
pub const LOGIN_LEN: usize = 92;
/// Bytes of a LOGIN_RESPONSE message, length field 22 (spec 06 §4.2).
pub const LOGIN_RESPONSE_LEN: usize = 100;
/// Bytes of a LOGOUT message, header only, length field 14 (spec 06 §4.3).
pub const LOGOUT_LEN: usize = 68;
/// Bytes of a STATUS message, length field 15 (spec 06 §4.4).
pub const STATUS_LEN: usize = 72;
/// Largest number of payload dwords after the header that fit a control
/// frame: (252 − 68) / 4 (spec 01 §2, 06 §3.1).
pub const MAX_PAYLOAD_DWORDS: usize = (MAX_BODY_LEN - HEADER_LEN) / 4;
/// `receiver_mac_len` sent by Linux (spec 06 §4.2).
pub const MAC_LEN: u32 = 0x6;

// ---------------------------------------------------------------------------
// Type
// ---------------------------------------------------------------------------

/// The `type` dword of a ThunderboltIP message (spec 06 §3.2). Open: every
/// value is representable and unknown ones round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TbipType(u32);

impl TbipType {
    /// `LOGIN` (spec 06 §4.1).
    pub const LOGIN: TbipType = TbipType(0x0);
    /// `LOGIN_RESPONSE` (spec 06 §4.2).
    pub const LOGIN_RESPONSE: TbipType = TbipType(0x1);
    /// `LOGOUT` (spec 06 §4.3).
    pub const LOGOUT: TbipType = TbipType(0x2);
    /// `STATUS` (spec 06 §4.4).
    pub const STATUS: TbipType = TbipType(0x3);

    /// A type from its dword value.
    pub const fn new(v: u32) -> Self {
        TbipType(v)
    }

    /// The dword value.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// Linux's name (without the `TBIP_` prefix); `None` for unknown values.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "LOGIN",
            1 => "LOGIN_RESPONSE",
            2 => "LOGOUT",
            3 => "STATUS",
            _ => return None,
        })
    }
}

impl fmt::Debug for TbipType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "TbipType::{n}"),
            None => write!(f, "TbipType({})", self.0),
        }
    }
}

impl fmt::Display for TbipType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "TYPE_{}", self.0),
        }
    }
}

impl From<u32> for TbipType {
    fn from(v: u32) -> Self {
        TbipType(v)
    }
}

// ---------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------

/// The 68-byte header of every ThunderboltIP message (spec 06 §3.2): the
/// XDomain header (route, length, sequence number, protocol UUID) followed
/// by initiator and target host UUIDs, the message type and the command id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TbipHeader {
    /// Route as carried, CM bit included (spec 06 §3.4).
    pub route: Route,
    /// Sequence number, DW2 bits 28:27 (spec 06 §5).
    pub seq: Seq,
    /// UUID of the host sending this message (spec 06 §3.2).
    pub initiator_uuid: Uuid,
    /// UUID of the host receiving this message (spec 06 §3.2).
    pub target_uuid: Uuid,
    /// Message type (spec 06 §3.2).
    pub msg_type: TbipType,
    /// Command id (spec 06 §5).
    pub command_id: u32,
}

impl TbipHeader {
    /// Bytes [`TbipHeader::emit`] writes (spec 06 §3.2).
    pub const LEN: usize = HEADER_LEN;

    /// Parse the header of a message body (CRC excluded) with the checks of
    /// spec 06 §3.5 steps 2–4 that concern the bytes alone: the length
    /// field equals the body's dwords − 3 exactly, the protocol UUID is
    /// ThunderboltIP ([`Error::WrongProtocol`] otherwise), and the body
    /// holds at least the 68-byte header.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let xd = Header::parse(body)?;
        if xd.protocol != THUNDERBOLT_IP {
            return Err(Error::WrongProtocol);
        }
        need(body, HEADER_LEN)?;
        Ok(TbipHeader {
            route: xd.route,
            seq: xd.seq,
            initiator_uuid: uuid_at(body, field::INITIATOR_UUID)?,
            target_uuid: uuid_at(body, field::TARGET_UUID)?,
            msg_type: TbipType(dword(body, field::TYPE)?),
            command_id: dword(body, field::COMMAND_ID)?,
        })
    }

    /// Bytes [`TbipHeader::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header of a message of `body_len` bytes (CRC excluded; a
    /// whole number of dwords, 68..=252) into `buf`. The length field is
    /// derived from `body_len`, the protocol UUID is ThunderboltIP.
    pub fn emit(&self, buf: &mut [u8], body_len: usize) -> Result<usize> {
        if body_len < HEADER_LEN {
            return Err(Error::InvalidField {
                field: "length",
                value: body_len as u64,
            });
        }
        need(buf, HEADER_LEN)?;
        Header::for_body(self.route, self.seq, THUNDERBOLT_IP, body_len)?.emit(buf)?;
        if WireUuid::write(buf, field::INITIATOR_UUID, &self.initiator_uuid)
            && WireUuid::write(buf, field::TARGET_UUID, &self.target_uuid)
            && put_be32(buf, field::TYPE, self.msg_type.0)
            && put_be32(buf, field::COMMAND_ID, self.command_id)
        {
            Ok(HEADER_LEN)
        } else {
            Err(Error::Truncated {
                needed: HEADER_LEN,
                got: buf.len(),
            })
        }
    }

    /// The header of a reply to this message (spec 06 §3.2, §3.4, §5):
    /// the received route with the CM bit cleared, the same sequence
    /// number, initiator and target swapped. LOGIN_RESPONSE echoes the
    /// request's `command_id`; STATUS carries a new one.
    pub fn reply(&self, msg_type: TbipType, command_id: u32) -> TbipHeader {
        TbipHeader {
            route: self.route.without_cm(),
            seq: self.seq,
            initiator_uuid: self.target_uuid,
            target_uuid: self.initiator_uuid,
            msg_type,
            command_id,
        }
    }

    /// Fail with [`Error::WrongType`] unless the type is `expected`.
    fn expect_type(&self, expected: TbipType) -> Result<()> {
        if self.msg_type == expected {
            Ok(())
        } else {
            Err(Error::WrongType {
                expected: expected.0,
                got: self.msg_type.0,
            })
        }
    }
}

fn dword(buf: &[u8], off: usize) -> Result<u32> {
    be32(buf, off).ok_or(Error::Truncated {
        needed: off + 4,
        got: buf.len(),
    })
}

fn uuid_at(buf: &[u8], off: usize) -> Result<Uuid> {
    WireUuid::read(buf, off).ok_or(Error::Truncated {
        needed: off + WireUuid::LEN,
        got: buf.len(),
    })
}

/// Write `dwords` big-endian from byte offset `off`.
fn put_dwords(buf: &mut [u8], off: usize, dwords: &[u32]) -> Result<()> {
    let end = off + 4 * dwords.len();
    need(buf, end)?;
    for (i, &v) in dwords.iter().enumerate() {
        if !put_be32(buf, off + 4 * i, v) {
            return Err(Error::Truncated {
                needed: end,
                got: buf.len(),
            });
        }
    }
    Ok(())
}

/// Parse the header of a known-layout message: type `expected`, body at
/// least `len` bytes (longer bodies are accepted, the excess ignored).
fn parse_fixed(body: &[u8], expected: TbipType, len: usize) -> Result<TbipHeader> {
    let header = TbipHeader::parse(body)?;
    header.expect_type(expected)?;
    need(body, len)?;
    Ok(header)
}

/// Write `header` (whose type must be `expected`) and zero the payload of
/// a `len`-byte message; the caller then fills the payload fields.
fn emit_fixed(buf: &mut [u8], header: &TbipHeader, expected: TbipType, len: usize) -> Result<()> {
    header.expect_type(expected)?;
    need(buf, len)?;
    header.emit(buf, len)?;
    buf[HEADER_LEN..len].fill(0);
    Ok(())
}

// ---------------------------------------------------------------------------
// MAC address in LOGIN_RESPONSE
// ---------------------------------------------------------------------------

/// The two `receiver_mac` dword values of a MAC address (spec 06 §4.2).
///
/// Linux copies the six bytes `m0..m5` into two dwords as memory
/// (`m0 m1 m2 m3 | m4 m5 00 00`, read little-endian) and the control
/// channel then writes each dword big-endian, so the wire bytes are
/// `m3 m2 m1 m0 00 00 m5 m4`.
pub fn mac_to_dwords(mac: [u8; 6]) -> [u32; 2] {
    let [m0, m1, m2, m3, m4, m5] = mac;
    [
        u32::from_le_bytes([m0, m1, m2, m3]),
        u32::from_le_bytes([m4, m5, 0, 0]),
    ]
}

/// The MAC address carried by two `receiver_mac` dword values, undoing
/// [`mac_to_dwords`]; the two padding bytes are ignored (spec 06 §4.2).
pub fn mac_from_dwords(dwords: [u32; 2]) -> [u8; 6] {
    let [m0, m1, m2, m3] = dwords[0].to_le_bytes();
    let [m4, m5, _, _] = dwords[1].to_le_bytes();
    [m0, m1, m2, m3, m4, m5]
}

// ---------------------------------------------------------------------------
// LOGIN
// ---------------------------------------------------------------------------

/// LOGIN, type 0, 92 bytes (spec 06 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Login {
    /// Header; its type is [`TbipType::LOGIN`].
    pub header: TbipHeader,
    /// Protocol version, 1 (spec 06 §1).
    pub proto_version: u32,
    /// The HopID the sender's data frames carry (its out HopID, spec 06 §7).
    pub transmit_path: u32,
}

impl Login {
    /// A LOGIN with `proto_version` 1; the header's type is set to LOGIN.
    pub fn new(header: TbipHeader, transmit_path: u32) -> Self {
        Login {
            header: TbipHeader {
                msg_type: TbipType::LOGIN,
                ..header
            },
            proto_version: PROTO_VERSION,
            transmit_path,
        }
    }

    /// Parse a LOGIN body (CRC excluded). Bodies longer than 92 bytes are
    /// accepted; the reserved dwords are ignored.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let header = parse_fixed(body, TbipType::LOGIN, LOGIN_LEN)?;
        Ok(Login {
            header,
            proto_version: dword(body, field::LOGIN_PROTO_VERSION)?,
            transmit_path: dword(body, field::LOGIN_TRANSMIT_PATH)?,
        })
    }

    /// Bytes [`Login::emit`] writes: 92.
    pub const fn buffer_len(&self) -> usize {
        LOGIN_LEN
    }

    /// Write the body (CRC excluded) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_fixed(buf, &self.header, TbipType::LOGIN, LOGIN_LEN)?;
        put_dwords(
            buf,
            field::LOGIN_PROTO_VERSION,
            &[self.proto_version, self.transmit_path],
        )?;
        Ok(LOGIN_LEN)
    }

    /// The control frame: body, CRC-32C, PDF 7 (spec 06 §3.1).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(CONTROL_PDF, |b| self.emit(b))
    }
}

// ---------------------------------------------------------------------------
// LOGIN_RESPONSE
// ---------------------------------------------------------------------------

/// LOGIN_RESPONSE, type 1, 100 bytes (spec 06 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoginResponse {
    /// Header; its type is [`TbipType::LOGIN_RESPONSE`].
    pub header: TbipHeader,
    /// Status, 0 from Linux (not checked by Linux).
    pub status: u32,
    /// MAC address of the responder's interface, `m0..m5` in the usual
    /// printed order (the wire swap is applied by `parse`/`emit`).
    pub receiver_mac: [u8; 6],
    /// `receiver_mac_len`, 6 from Linux.
    pub receiver_mac_len: u32,
}

impl LoginResponse {
    /// A LOGIN_RESPONSE with status 0 and MAC length 6; the header's type
    /// is set to LOGIN_RESPONSE.
    pub fn new(header: TbipHeader, receiver_mac: [u8; 6]) -> Self {
        LoginResponse {
            header: TbipHeader {
                msg_type: TbipType::LOGIN_RESPONSE,
                ..header
            },
            status: 0,
            receiver_mac,
            receiver_mac_len: MAC_LEN,
        }
    }

    /// Parse a LOGIN_RESPONSE body (CRC excluded). Bodies longer than 100
    /// bytes are accepted; reserved dwords and the MAC padding are ignored.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let header = parse_fixed(body, TbipType::LOGIN_RESPONSE, LOGIN_RESPONSE_LEN)?;
        Ok(LoginResponse {
            header,
            status: dword(body, field::RESPONSE_STATUS)?,
            receiver_mac: mac_from_dwords([
                dword(body, field::RESPONSE_MAC)?,
                dword(body, field::RESPONSE_MAC + 4)?,
            ]),
            receiver_mac_len: dword(body, field::RESPONSE_MAC_LEN)?,
        })
    }

    /// Bytes [`LoginResponse::emit`] writes: 100.
    pub const fn buffer_len(&self) -> usize {
        LOGIN_RESPONSE_LEN
    }

    /// Write the body (CRC excluded) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_fixed(
            buf,
            &self.header,
            TbipType::LOGIN_RESPONSE,
            LOGIN_RESPONSE_LEN,
        )?;
        let [mac0, mac1] = mac_to_dwords(self.receiver_mac);
        put_dwords(
            buf,
            field::RESPONSE_STATUS,
            &[self.status, mac0, mac1, self.receiver_mac_len],
        )?;
        Ok(LOGIN_RESPONSE_LEN)
    }

    /// The control frame: body, CRC-32C, PDF 7 (spec 06 §3.1).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(CONTROL_PDF, |b| self.emit(b))
    }
}

// ---------------------------------------------------------------------------
// LOGOUT
// ---------------------------------------------------------------------------

/// LOGOUT, type 2, header only, 68 bytes (spec 06 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Logout {
    /// Header; its type is [`TbipType::LOGOUT`].
    pub header: TbipHeader,
}

impl Logout {
    /// A LOGOUT; the header's type is set to LOGOUT.
    pub fn new(header: TbipHeader) -> Self {
        Logout {
            header: TbipHeader {
                msg_type: TbipType::LOGOUT,
                ..header
            },
        }
    }

    /// Parse a LOGOUT body (CRC excluded); trailing dwords are ignored.
    pub fn parse(body: &[u8]) -> Result<Self> {
        Ok(Logout {
            header: parse_fixed(body, TbipType::LOGOUT, LOGOUT_LEN)?,
        })
    }

    /// Bytes [`Logout::emit`] writes: 68.
    pub const fn buffer_len(&self) -> usize {
        LOGOUT_LEN
    }

    /// Write the body (CRC excluded) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_fixed(buf, &self.header, TbipType::LOGOUT, LOGOUT_LEN)?;
        Ok(LOGOUT_LEN)
    }

    /// The control frame: body, CRC-32C, PDF 7 (spec 06 §3.1).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(CONTROL_PDF, |b| self.emit(b))
    }
}

// ---------------------------------------------------------------------------
// STATUS
// ---------------------------------------------------------------------------

/// STATUS, type 3, 72 bytes: the reply to LOGOUT (spec 06 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// Header; its type is [`TbipType::STATUS`].
    pub header: TbipHeader,
    /// Status, 0 from Linux.
    pub status: u32,
}

impl Status {
    /// A STATUS with status 0; the header's type is set to STATUS.
    pub fn new(header: TbipHeader) -> Self {
        Status {
            header: TbipHeader {
                msg_type: TbipType::STATUS,
                ..header
            },
            status: 0,
        }
    }

    /// Parse a STATUS body (CRC excluded); trailing dwords are ignored.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let header = parse_fixed(body, TbipType::STATUS, STATUS_LEN)?;
        Ok(Status {
            header,
            status: dword(body, field::STATUS_STATUS)?,
        })
    }

    /// Bytes [`Status::emit`] writes: 72.
    pub const fn buffer_len(&self) -> usize {
        STATUS_LEN
    }

    /// Write the body (CRC excluded) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_fixed(buf, &self.header, TbipType::STATUS, STATUS_LEN)?;
        put_dwords(buf, field::STATUS_STATUS, &[self.status])?;
        Ok(STATUS_LEN)
    }

    /// The control frame: body, CRC-32C, PDF 7 (spec 06 §3.1).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(CONTROL_PDF, |b| self.emit(b))
    }
}

// ---------------------------------------------------------------------------
// Unknown
// ---------------------------------------------------------------------------

/// A ThunderboltIP message kept as header plus raw payload dwords: any
/// type (spec 06 §3.5 step 6 offers such messages to the response matcher).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unknown {
    /// Header, any type.
    pub header: TbipHeader,
    len: u8,
    dwords: [u32; MAX_PAYLOAD_DWORDS],
}

impl Unknown {
    /// A message with `payload` dword values after the header; at most
    /// [`MAX_PAYLOAD_DWORDS`].
    pub fn new(header: TbipHeader, payload: &[u32]) -> Result<Self> {
        if payload.len() > MAX_PAYLOAD_DWORDS {
            return Err(Error::TooLong {
                max: MAX_BODY_LEN,
                got: HEADER_LEN + 4 * payload.len(),
            });
        }
        let mut dwords = [0u32; MAX_PAYLOAD_DWORDS];
        dwords[..payload.len()].copy_from_slice(payload);
        Ok(Unknown {
            header,
            len: payload.len() as u8,
            dwords,
        })
    }

    /// Parse any ThunderboltIP message body (CRC excluded) without looking
    /// at its type; at most 252 bytes.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let header = TbipHeader::parse(body)?;
        if body.len() > MAX_BODY_LEN {
            return Err(Error::TooLong {
                max: MAX_BODY_LEN,
                got: body.len(),
            });
        }
        let mut dwords = [0u32; MAX_PAYLOAD_DWORDS];
        let payload = body.get(field::PAYLOAD..).unwrap_or(&[]);
        for (d, chunk) in dwords.iter_mut().zip(payload.chunks_exact(4)) {
            *d = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Ok(Unknown {
            header,
            len: (payload.len() / 4) as u8,
            dwords,
        })
    }

    /// The payload dword values after the header.
    pub fn payload(&self) -> &[u32] {
        &self.dwords[..self.len as usize]
    }

    /// Bytes [`Unknown::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 * self.len as usize
    }

    /// Write the body (CRC excluded) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        need(buf, len)?;
        self.header.emit(buf, len)?;
        put_dwords(buf, field::PAYLOAD, self.payload())?;
        Ok(len)
    }

    /// The control frame: body, CRC-32C, PDF 7 (spec 06 §3.1).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(CONTROL_PDF, |b| self.emit(b))
    }
}

impl fmt::Debug for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unknown")
            .field("header", &self.header)
            .field("payload", &self.payload())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Any message
// ---------------------------------------------------------------------------

/// Any ThunderboltIP message, by type (spec 06 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TbipMessage {
    /// Type 0.
    Login(Login),
    /// Type 1.
    LoginResponse(LoginResponse),
    /// Type 2.
    Logout(Logout),
    /// Type 3.
    Status(Status),
    /// Any other type, or a known type whose body is shorter than its layout.
    Unknown(Unknown),
}

impl TbipMessage {
    /// Parse a message body (CRC excluded) with the checks of
    /// [`TbipHeader::parse`], dispatching on the type. A known type whose
    /// body is shorter than its layout becomes [`TbipMessage::Unknown`]
    /// (Linux completes a pending request with any such message, spec 06
    /// §3.5 step 6); bodies longer than the layout keep their type and the
    /// excess is ignored.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let header = TbipHeader::parse(body)?;
        let min = match header.msg_type {
            TbipType::LOGIN => LOGIN_LEN,
            TbipType::LOGIN_RESPONSE => LOGIN_RESPONSE_LEN,
            TbipType::LOGOUT => LOGOUT_LEN,
            TbipType::STATUS => STATUS_LEN,
            _ => usize::MAX,
        };
        if body.len() < min {
            return Unknown::parse(body).map(TbipMessage::Unknown);
        }
        Ok(match header.msg_type {
            TbipType::LOGIN => TbipMessage::Login(Login::parse(body)?),
            TbipType::LOGIN_RESPONSE => TbipMessage::LoginResponse(LoginResponse::parse(body)?),
            TbipType::LOGOUT => TbipMessage::Logout(Logout::parse(body)?),
            TbipType::STATUS => TbipMessage::Status(Status::parse(body)?),
            _ => TbipMessage::Unknown(Unknown::parse(body)?),
        })
    }

    /// Parse a whole control frame as it sits in a ring-0 buffer: length
    /// rules of spec 01 §2, CRC-32C trailer, then [`TbipMessage::parse`]
    /// on the body. The PDF travels in the descriptor and is not checked.
    pub fn parse_frame(wire: &[u8]) -> Result<Self> {
        let frame = Frame::new_checked(wire)?;
        frame.verify_crc()?;
        Self::parse(frame.body())
    }

    /// The header.
    pub fn header(&self) -> &TbipHeader {
        match self {
            TbipMessage::Login(m) => &m.header,
            TbipMessage::LoginResponse(m) => &m.header,
            TbipMessage::Logout(m) => &m.header,
            TbipMessage::Status(m) => &m.header,
            TbipMessage::Unknown(m) => &m.header,
        }
    }

    /// Bytes [`TbipMessage::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            TbipMessage::Login(m) => m.buffer_len(),
            TbipMessage::LoginResponse(m) => m.buffer_len(),
            TbipMessage::Logout(m) => m.buffer_len(),
            TbipMessage::Status(m) => m.buffer_len(),
            TbipMessage::Unknown(m) => m.buffer_len(),
        }
    }

    /// Write the body (CRC excluded) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            TbipMessage::Login(m) => m.emit(buf),
            TbipMessage::LoginResponse(m) => m.emit(buf),
            TbipMessage::Logout(m) => m.emit(buf),
            TbipMessage::Status(m) => m.emit(buf),
            TbipMessage::Unknown(m) => m.emit(buf),
        }
    }

    /// The control frame: body, CRC-32C, PDF 7 (spec 06 §3.1).
    pub fn to_frame(&self) -> Result<FrameBuf> {
        FrameBuf::build(CONTROL_PDF, |b| self.emit(b))
    }
}

impl From<Login> for TbipMessage {
    fn from(m: Login) -> Self {
        TbipMessage::Login(m)
    }
}

impl From<LoginResponse> for TbipMessage {
    fn from(m: LoginResponse) -> Self {
        TbipMessage::LoginResponse(m)
    }
}

impl From<Logout> for TbipMessage {
    fn from(m: Logout) -> Self {
        TbipMessage::Logout(m)
    }
}

impl From<Status> for TbipMessage {
    fn from(m: Status) -> Self {
        TbipMessage::Status(m)
    }
}

impl From<Unknown> for TbipMessage {
    fn from(m: Unknown) -> Self {
        TbipMessage::Unknown(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec 06 §4.2: `12:08:73:8e:7d:d9` goes on the wire as
    /// `8e 73 08 12 00 00 d9 7d`.
    #[test]
    fn mac_wire_order() {
        let mac = [0x12, 0x08, 0x73, 0x8e, 0x7d, 0xd9];
        assert_eq!(mac_to_dwords(mac), [0x8e73_0812, 0x0000_d97d]);
        assert_eq!(mac_from_dwords([0x8e73_0812, 0xffff_d97d]), mac);
    }

    #[test]
    fn type_is_open() {
        assert_eq!(TbipType::new(3), TbipType::STATUS);
        assert_eq!(TbipType::new(9).name(), None);
        assert_eq!(TbipType::new(9).value(), 9);
        assert_eq!(
            alloc::format!("{}", TbipType::LOGIN_RESPONSE),
            "LOGIN_RESPONSE"
        );
        assert_eq!(alloc::format!("{:?}", TbipType::new(7)), "TbipType(7)");
    }
}
