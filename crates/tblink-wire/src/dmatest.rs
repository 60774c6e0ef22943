//! The DMA test service `dma_test` (spec 07): directory values, ring and
//! frame constants, the frame payload pattern, and the vocabulary and
//! format of Linux's `status` file.

use core::fmt;

use crate::Pdf;

pub use crate::uuid::DMA_TEST_DIRECTORY;

// ---------------------------------------------------------------------------
// Service directory (spec 07 §1)
// ---------------------------------------------------------------------------

/// Property directory key: `"dma_test"`, exactly 8 characters (spec 07 §1).
pub const SERVICE_KEY: &str = "dma_test";
/// `prtcid`; Linux binds on key and `prtcid` 1 (spec 07 §1).
pub const PRTCID: u32 = 0x1;
/// `prtcvers` (spec 07 §1).
pub const PRTCVERS: u32 = 0x1;
/// `prtcrevs` (spec 07 §1).
pub const PRTCREVS: u32 = 0x0;
/// `prtcstns` (spec 07 §1).
pub const PRTCSTNS: u32 = 0x0;

// ---------------------------------------------------------------------------
// Rings and frames (spec 07 §3, §4, §8)
// ---------------------------------------------------------------------------

/// TX ring size in descriptors (spec 07 §3, §8).
pub const TX_RING_SIZE: usize = 64;
/// RX ring size in descriptors (spec 07 §3, §8).
pub const RX_RING_SIZE: usize = 256;
/// Size of every test frame; the TX descriptor length field is 0 (spec 07 §4, §8).
pub const FRAME_SIZE: usize = 0x1000;
/// Start-of-frame PDF of every test frame (spec 07 §4, §8).
pub const SOF_PDF: Pdf = Pdf::new(0x1);
/// End-of-frame PDF of every test frame (spec 07 §4, §8).
pub const EOF_PDF: Pdf = Pdf::new(0x2);
/// RX ring start-of-frame PDF mask, `1 << 1` (spec 07 §3).
pub const RX_SOF_MASK: u16 = 0x0002;
/// RX ring end-of-frame PDF mask, `1 << 2` (spec 07 §3).
pub const RX_EOF_MASK: u16 = 0x0004;
/// Largest `packets_to_send` / `packets_to_receive` Linux accepts (spec 07 §2, §8).
pub const MAX_PACKETS: u32 = 1000;

/// Whether Linux accepts a run with these counts (spec 07 §2): at least
/// one non-zero, both within [`MAX_PACKETS`], and equal if both are
/// non-zero (loopback).
pub const fn config_valid(packets_to_send: u32, packets_to_receive: u32) -> bool {
    if packets_to_send > MAX_PACKETS || packets_to_receive > MAX_PACKETS {
        return false;
    }
    match (packets_to_send, packets_to_receive) {
        (0, 0) => false,
        (0, _) | (_, 0) => true,
        (s, r) => s == r,
    }
}

// ---------------------------------------------------------------------------
// Payload pattern (spec 07 §4)
// ---------------------------------------------------------------------------

/// First word of the payload pattern, the low 32 bits of
/// `0x0123456789ABCDEF` (spec 07 §4).
pub const PATTERN_BASE: u32 = 0x89ab_cdef;
/// Words in the defined part of the pattern (spec 07 §4).
pub const PATTERN_WORDS: usize = 512;
/// Bytes of the defined part of the pattern, 0..2047 (spec 07 §4).
pub const PATTERN_LEN: usize = PATTERN_WORDS * 4;

/// Word `i` of the pattern: `0x89ABCDEF + i` (spec 07 §4).
pub const fn pattern_word(i: usize) -> u32 {
    PATTERN_BASE.wrapping_add(i as u32)
}

/// Fill a frame buffer with the pattern our sender uses (spec 07 §4):
/// 512 little-endian words `0x89ABCDEF + i` in bytes 0..2047, zeros after.
/// A shorter buffer gets the leading part of the pattern.
pub fn fill_pattern(buf: &mut [u8]) {
    let (head, tail) = buf.split_at_mut(buf.len().min(PATTERN_LEN));
    for (i, b) in head.iter_mut().enumerate() {
        *b = pattern_word(i / 4).to_le_bytes()[i % 4];
    }
    tail.fill(0);
}

/// Whether bytes 0..2047 of `buf` hold the pattern (spec 07 §4, §7; Linux
/// itself never checks content, and bytes 2048.. are not looked at).
pub fn check_pattern(buf: &[u8]) -> bool {
    buf.len() >= PATTERN_LEN
        && buf[..PATTERN_LEN]
            .chunks_exact(4)
            .enumerate()
            .all(|(i, w)| w == pattern_word(i).to_le_bytes())
}

// ---------------------------------------------------------------------------
// Status (spec 07 §6)
// ---------------------------------------------------------------------------

/// The `result:` line of the status file (spec 07 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TestResult {
    /// `not run`: no run since the service appeared.
    #[default]
    NotRun,
    /// `success`.
    Success,
    /// `failed`.
    Failed,
}

impl TestResult {
    /// The text Linux prints.
    pub const fn text(self) -> &'static str {
        match self {
            TestResult::NotRun => "not run",
            TestResult::Success => "success",
            TestResult::Failed => "failed",
        }
    }
}

impl fmt::Display for TestResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// The `error:` line of the status file, in Linux's enum order 0..8
/// (spec 07 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TestError {
    /// 0 `no errors`.
    #[default]
    NoError = 0,
    /// 1 `interrupted by signal`.
    Interrupted = 1,
    /// 2 `no memory for packet buffers`.
    BufferError = 2,
    /// 3 `DMA ring setup failed`.
    DmaError = 3,
    /// 4 `configuration is not valid`.
    ConfigError = 4,
    /// 5 `unexpected link speed`.
    SpeedError = 5,
    /// 6 `unexpected link width`.
    WidthError = 6,
    /// 7 `lane bonding configuration error`.
    BondingError = 7,
    /// 8 `packet check failed`.
    PacketError = 8,
}

impl TestError {
    /// All errors in enum order.
    pub const ALL: [TestError; 9] = [
        TestError::NoError,
        TestError::Interrupted,
        TestError::BufferError,
        TestError::DmaError,
        TestError::ConfigError,
        TestError::SpeedError,
        TestError::WidthError,
        TestError::BondingError,
        TestError::PacketError,
    ];

    /// The error with Linux's enum value `v`.
    pub fn from_index(v: u8) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }

    /// Linux's enum value.
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The text Linux prints.
    pub const fn text(self) -> &'static str {
        match self {
            TestError::NoError => "no errors",
            TestError::Interrupted => "interrupted by signal",
            TestError::BufferError => "no memory for packet buffers",
            TestError::DmaError => "DMA ring setup failed",
            TestError::ConfigError => "configuration is not valid",
            TestError::SpeedError => "unexpected link speed",
            TestError::WidthError => "unexpected link width",
            TestError::BondingError => "lane bonding configuration error",
            TestError::PacketError => "packet check failed",
        }
    }
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// The outcome of the last run, as Linux's debugfs `status` file shows it
/// (spec 07 §6). `Display` produces the file's exact text: one line per
/// field, each ending in a newline, only the `result:` line when not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Status {
    /// `result:`.
    pub result: TestResult,
    /// `packets received:`.
    pub packets_received: u32,
    /// `packets sent:`.
    pub packets_sent: u32,
    /// `CRC errors:`.
    pub crc_errors: u32,
    /// `buffer overflow errors:`.
    pub buffer_overflow_errors: u32,
    /// `error:`.
    pub error: TestError,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "result: {}", self.result)?;
        if self.result == TestResult::NotRun {
            return Ok(());
        }
        writeln!(f, "packets received: {}", self.packets_received)?;
        writeln!(f, "packets sent: {}", self.packets_sent)?;
        writeln!(f, "CRC errors: {}", self.crc_errors)?;
        writeln!(f, "buffer overflow errors: {}", self.buffer_overflow_errors)?;
        writeln!(f, "error: {}", self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rules() {
        assert!(!config_valid(0, 0));
        assert!(config_valid(5, 0));
        assert!(config_valid(0, 1000));
        assert!(!config_valid(0, 1001));
        assert!(config_valid(7, 7));
        assert!(!config_valid(7, 8));
    }

    #[test]
    fn error_index_round_trip() {
        for (i, e) in TestError::ALL.iter().enumerate() {
            assert_eq!(e.index() as usize, i);
            assert_eq!(TestError::from_index(i as u8), Some(*e));
        }
        assert_eq!(TestError::from_index(9), None);
    }
}
