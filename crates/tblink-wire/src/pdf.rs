//! Protocol Defined Field: the 4-bit packet type carried in the ring
//! descriptor, not in the buffer (spec 01 §3).

use core::fmt;

/// A PDF value. Open: every 4-bit value is representable, and unknown ones
/// print, compare and round-trip like the named ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pdf(u8);

impl Pdf {
    /// Config space read (spec 01 §6.1).
    pub const READ: Pdf = Pdf(0x1);
    /// Config space write (spec 01 §6.1).
    pub const WRITE: Pdf = Pdf(0x2);
    /// Error / notification (spec 01 §6.2).
    pub const ERROR: Pdf = Pdf(0x3);
    /// Notification acknowledgement (spec 01 §3, newer kernels).
    pub const NOTIFY_ACK: Pdf = Pdf(0x4);
    /// Hot-plug event (spec 01 §6.3).
    pub const EVENT: Pdf = Pdf(0x5);
    /// XDomain request (spec 01 §6.5, 02).
    pub const XDOMAIN_REQ: Pdf = Pdf(0x6);
    /// XDomain response (spec 01 §6.5, 02).
    pub const XDOMAIN_RESP: Pdf = Pdf(0x7);
    /// Override (spec 01 §3).
    pub const OVERRIDE: Pdf = Pdf(0x8);
    /// Router reset (spec 01 §6.4).
    pub const RESET: Pdf = Pdf(0x9);
    /// Firmware CM event (spec 01 §6.6).
    pub const ICM_EVENT: Pdf = Pdf(0xa);
    /// Firmware CM command (spec 01 §6.6).
    pub const ICM_CMD: Pdf = Pdf(0xb);
    /// Firmware CM response (spec 01 §6.6).
    pub const ICM_RESP: Pdf = Pdf(0xc);
    /// Prepare to sleep (spec 01 §3).
    pub const PREPARE_TO_SLEEP: Pdf = Pdf(0xd);

    /// A PDF from the low 4 bits of `v` (the descriptor field is 4 bits wide).
    pub const fn new(v: u8) -> Self {
        Pdf(v & 0xf)
    }

    /// The 4-bit value.
    pub const fn value(self) -> u8 {
        self.0
    }

    /// Linux's name for the type, without the `TB_CFG_PKG_` prefix; `None` for 0, 14, 15.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x1 => "READ",
            0x2 => "WRITE",
            0x3 => "ERROR",
            0x4 => "NOTIFY_ACK",
            0x5 => "EVENT",
            0x6 => "XDOMAIN_REQ",
            0x7 => "XDOMAIN_RESP",
            0x8 => "OVERRIDE",
            0x9 => "RESET",
            0xa => "ICM_EVENT",
            0xb => "ICM_CMD",
            0xc => "ICM_RESP",
            0xd => "PREPARE_TO_SLEEP",
            _ => return None,
        })
    }

    /// Look a PDF up by Linux name, with or without the `TB_CFG_PKG_` prefix.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.strip_prefix("TB_CFG_PKG_").unwrap_or(name);
        (0u8..16).map(Pdf).find(|p| p.name() == Some(n))
    }

    /// Whether Linux checks the CRC of a received frame of this type (spec 01 §3, §7.5).
    pub const fn crc_checked(self) -> bool {
        matches!(self.0, 0x1..=0x3 | 0x5..=0x9)
    }
}

impl fmt::Debug for Pdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Pdf::{n}"),
            None => write!(f, "Pdf({})", self.0),
        }
    }
}

impl fmt::Display for Pdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "PDF_{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn open_values_round_trip() {
        for v in 0u8..16 {
            let p = Pdf::new(v);
            assert_eq!(p.value(), v);
            if let Some(n) = p.name() {
                assert_eq!(Pdf::from_name(n), Some(p));
            }
        }
        assert_eq!(Pdf::new(0x17), Pdf::XDOMAIN_RESP);
        assert_eq!(Pdf::new(14).to_string(), "PDF_14");
        assert_eq!(
            Pdf::from_name("TB_CFG_PKG_XDOMAIN_REQ"),
            Some(Pdf::XDOMAIN_REQ)
        );
        assert!(Pdf::XDOMAIN_REQ.crc_checked());
        assert!(!Pdf::ICM_RESP.crc_checked());
        assert!(!Pdf::NOTIFY_ACK.crc_checked());
    }
}
