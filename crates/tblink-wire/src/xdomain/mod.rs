//! XDomain messages (spec 02 §2–4): the common header and the discovery
//! protocol's message types.

pub mod header;

pub use header::{HEADER_LEN, Header, MAX_LENGTH, Packet, Seq};
