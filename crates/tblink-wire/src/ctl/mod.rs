//! Control-channel packets on ring 0 (spec 01).
//!
//! [`Frame`] and [`FrameBuf`] handle framing and the CRC trailer; the
//! packet types below give the layouts of each PDF (spec 01 §6), and
//! [`ControlPacket`] picks one by PDF. Types with a PDF of their own
//! implement [`Framed`] (`parse`, `emit`, `buffer_len`, `to_frame`,
//! `from_frame`).

mod config;
pub(crate) mod cursor;
mod frame;
mod framed;
mod icm;
mod notify;
mod packet;

pub use config::{
    Address, CONFIG_HEADER_LEN, ConfigSpace, ReadRequest, ReadResponse, ResetRequest,
    ResetResponse, WriteRequest, WriteResponse,
};
pub use frame::{CRC_LEN, Frame, FrameBuf, MAX_BODY_LEN, MAX_FRAME_LEN, seal};
pub use framed::{Framed, ROUTE_LEN};
pub use icm::{
    ICM_APPROVE_XDOMAIN, ICM_DISCONNECT_XDOMAIN, ICM_EVENT_XDOMAIN_CONNECTED,
    ICM_EVENT_XDOMAIN_DISCONNECTED, ICM_FLAG_ERROR, ICM_HEADER_LEN, IcmPacket, MAX_ICM_PAYLOAD,
    is_icm,
};
pub use notify::{ErrorCode, ErrorPacket, HotPlugEvent, MAX_PORT, NOTIFICATION_LEN, NotifyAck, Pg};
pub use packet::ControlPacket;
