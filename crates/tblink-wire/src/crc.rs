//! CRC-32C (Castagnoli) as used by the control channel (spec 01 §5).
//!
//! Reflected polynomial `0x82F63B78`, init and xorout `0xFFFFFFFF`. The
//! trailer is stored big-endian after the bytes it covers.

use crc::{CRC_32_ISCSI, Crc, Table};

/// The CRC-32C engine, slice-by-16 tables built at compile time.
const CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// CRC-32C of `bytes` (spec 01 §5). Check value: `crc32c(b"123456789") == 0xE3069283`.
#[inline]
pub fn crc32c(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    /// Spec 01 §9 self-test vector.
    #[test]
    fn spec_01_self_test() {
        let b = [0, 0, 0, 0, 0, 0, 0, 1, 0x04, 0, 0x20, 0];
        assert_eq!(crc32c(&b), 0x17d8_0800);
    }
}
