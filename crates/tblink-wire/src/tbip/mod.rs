//! ThunderboltIP (USB4NET) networking (spec 06): the service directory
//! values, the login/logout control messages, the data frame header with
//! packet splitting, the stateless receive checks, and the interface MAC
//! derivation.
//!
//! | Module | Contents | Spec |
//! |---|---|---|
//! | [`msg`] | LOGIN, LOGIN_RESPONSE, LOGOUT, STATUS on the control channel | 06 §3–5, §16 |
//! | [`frame`] | 12-byte little-endian data frame header, splitting a packet | 06 §8 |
//! | [`rx`] | per-frame receive checks and the counters they feed | 06 §9, §14 |
//! | [`mac`] | Linux `jhash2` and the interface MAC address | 06 §13 |

use core::time::Duration;

use crate::Pdf;

pub mod frame;
pub mod mac;
pub mod msg;
pub mod rx;

pub use frame::{DataFrame, FrameHeader, FrameSlice, Split, split, write_frame};
pub use mac::{derive_mac, jhash2};
pub use msg::{Login, LoginResponse, Logout, Status, TbipHeader, TbipMessage, TbipType, Unknown};
pub use rx::{RxCounter, RxDrop, RxFrame, check_continuation, check_frame, check_start};

pub use crate::uuid::{NETWORK_DIRECTORY, THUNDERBOLT_IP};
pub use crate::xdomain::Seq;

// ---------------------------------------------------------------------------
// Service directory (spec 06 §1, §2)
// ---------------------------------------------------------------------------

/// Property directory key of the networking service: `"network"` (spec 06 §1, §2).
pub const SERVICE_KEY: &str = "network";
/// `prtcid` published by Linux; Linux binds on key and `prtcid` 1 only (spec 06 §2).
pub const PRTCID: u32 = 0x1;
/// `prtcvers` published by Linux (spec 06 §2; not checked by Linux).
pub const PRTCVERS: u32 = 0x1;
/// `prtcrevs` published by Linux (spec 06 §2; not checked by Linux).
pub const PRTCREVS: u32 = 0x1;
/// `prtcstns` bit 0 `E2E`: end-to-end flow control on the DMA rings (spec 06 §2).
pub const PRTCSTNS_E2E: u32 = 0x1;
/// `prtcstns` bit 1 `MATCH_FRAGS_ID`: a per-packet `frame_id` (spec 06 §2, §8.3).
pub const PRTCSTNS_MATCH_FRAGS_ID: u32 = 0x2;
/// `prtcstns` bit 2 `64K_FRAMES`: packets up to 64 KiB accepted (spec 06 §2, §11).
pub const PRTCSTNS_64K_FRAMES: u32 = 0x4;
/// `prtcstns` published by Linux: all three bits (spec 06 §1).
pub const PRTCSTNS_LINUX: u32 = 0x7;
/// `prtcstns` published by Linux with module parameter `e2e=0` (spec 06 §1).
pub const PRTCSTNS_LINUX_NO_E2E: u32 = 0x6;

// ---------------------------------------------------------------------------
// Login / logout timing (spec 06 §1, §6)
// ---------------------------------------------------------------------------

/// `proto_version` carried in LOGIN (spec 06 §1, §4.1).
pub const PROTO_VERSION: u32 = 0x1;
/// Delay from interface up to the first login attempt (spec 06 §1, §6.1).
pub const FIRST_LOGIN_DELAY: Duration = Duration::from_millis(1000);
/// Time to wait for a LOGIN_RESPONSE (spec 06 §1, §6.1).
pub const LOGIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Delay before the next login attempt after a failed one (spec 06 §1, §6.1).
pub const LOGIN_RETRY_DELAY: Duration = Duration::from_millis(4500);
/// Login retries after the first attempt: 61 attempts in total (spec 06 §1, §6.1).
pub const LOGIN_RETRIES: u32 = 60;
/// Time to wait for the STATUS answering a LOGOUT (spec 06 §1, §6.1).
pub const LOGOUT_TIMEOUT: Duration = Duration::from_millis(1000);
/// LOGOUT retries, only while the result is a timeout (spec 06 §1, §6.1).
pub const LOGOUT_RETRIES: u32 = 10;

// ---------------------------------------------------------------------------
// Data plane (spec 06 §1, §8, §11)
// ---------------------------------------------------------------------------

/// Descriptors in the TX and in the RX ring (spec 06 §1).
pub const RING_SIZE: usize = 256;
/// Size of one DMA frame: header and payload (spec 06 §1, §8.1).
pub const FRAME_SIZE: usize = 0x1000;
/// Size of the data frame header (spec 06 §1, §8.1).
pub const FRAME_HEADER_LEN: usize = 12;
/// Packet bytes carried by a full frame: 4096 − 12 (spec 06 §1, §8.2).
pub const FRAME_PAYLOAD: usize = FRAME_SIZE - FRAME_HEADER_LEN;
/// Largest packet (Ethernet frame including its 14-byte header) accepted on
/// receive and produced on transmit (spec 06 §1, §8.2, §11).
pub const MAX_PACKET: usize = 0x10000;
/// Frames of the largest packet: 16 × 4084 + 192 (spec 06 §8.2).
pub const MAX_FRAMES_PER_PACKET: u32 = 17;
/// Largest `frame_count` Linux accepts at the start of a packet
/// (`MAX_SKB_FRAGS + 1`, spec 06 §9 check 6a).
pub const RX_MAX_FRAME_COUNT: u32 = 18;
/// Default MTU of the Linux interface (spec 06 §1, §11).
pub const MTU_DEFAULT: u32 = 1500;
/// Smallest MTU Linux accepts (spec 06 §1, §11).
pub const MTU_MIN: u32 = 68;
/// Largest MTU Linux accepts: 65536 − 14 (spec 06 §1, §11).
pub const MTU_MAX: u32 = 65522;
/// Start-of-frame PDF of every data frame (spec 06 §1, §8.1).
pub const SOF_PDF: Pdf = Pdf::new(0x1);
/// End-of-frame PDF of every data frame (spec 06 §1, §8.1).
pub const EOF_PDF: Pdf = Pdf::new(0x2);
/// RX ring start-of-frame PDF mask, `1 << 1` (spec 06 §1).
pub const RX_SOF_MASK: u16 = 0x0002;
/// RX ring end-of-frame PDF mask, `1 << 2` (spec 06 §1).
pub const RX_EOF_MASK: u16 = 0x0004;
/// Free TX frames at which Linux restarts a stopped queue (spec 06 §14).
pub const TX_WAKE_THRESHOLD: usize = 128;

/// PDF of every ThunderboltIP control message, requests and responses
/// alike: XDomain response (spec 06 §3.1).
pub const CONTROL_PDF: Pdf = Pdf::XDOMAIN_RESP;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_constants() {
        assert_eq!(FRAME_PAYLOAD, 4084);
        assert_eq!(MAX_PACKET, 65536);
        assert_eq!(MTU_MAX as usize, MAX_PACKET - 14);
        assert_eq!(
            MAX_PACKET.div_ceil(FRAME_PAYLOAD),
            MAX_FRAMES_PER_PACKET as usize
        );
        assert_eq!(
            PRTCSTNS_E2E | PRTCSTNS_MATCH_FRAGS_ID | PRTCSTNS_64K_FRAMES,
            PRTCSTNS_LINUX
        );
        assert_eq!(RX_SOF_MASK, 1 << SOF_PDF.value());
        assert_eq!(RX_EOF_MASK, 1 << EOF_PDF.value());
    }
}
