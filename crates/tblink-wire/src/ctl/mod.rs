//! Control-channel packets on ring 0 (spec 01).
//!
//! [`Frame`] and [`FrameBuf`] handle framing and the CRC trailer; the
//! packet types below give the layouts of each PDF.

pub(crate) mod cursor;
mod frame;

pub use frame::{CRC_LEN, Frame, FrameBuf, MAX_BODY_LEN, MAX_FRAME_LEN, seal};
