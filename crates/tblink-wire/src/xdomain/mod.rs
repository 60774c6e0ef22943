//! XDomain messages (spec 02 §2–4): the common header and the discovery
//! protocol's message types.

pub mod header;
pub mod message;

pub use header::{HEADER_LEN, Header, MAX_LENGTH, Packet, Seq};
pub use message::{
    ErrorCode, LINUX_MIN_PROPERTIES_CHUNK, MAX_MESSAGE_LEN, MAX_PROPERTIES_DATA,
    MAX_UNKNOWN_PAYLOAD, Message, MsgType, XdPacket,
};
