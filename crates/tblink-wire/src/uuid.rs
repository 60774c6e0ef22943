//! UUIDs on the control channel: spec 01 §1 Rule 2.
//!
//! Values in this crate hold UUIDs as [`Uuid`] in canonical (RFC 4122) byte
//! order, the order of the printed string. On the wire each 4-byte group of
//! that byte string is reversed: a UUID is four dwords, each the
//! little-endian reading of four canonical bytes, written big-endian.
//! [`WireUuid`] is the only place that reversal happens.

pub use uuid::Uuid;

/// A UUID in wire byte order (each 4-byte group of the canonical bytes reversed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct WireUuid(pub [u8; 16]);

impl WireUuid {
    /// Size on the wire in bytes.
    pub const LEN: usize = 16;

    /// The wire form of a canonical UUID.
    pub fn from_uuid(u: &Uuid) -> Self {
        WireUuid(swap_groups(*u.as_bytes()))
    }

    /// The canonical UUID this wire form encodes.
    pub fn uuid(&self) -> Uuid {
        Uuid::from_bytes(swap_groups(self.0))
    }

    /// The four dword values (as Linux tracepoints and spec tables print them).
    pub fn dwords(&self) -> [u32; 4] {
        let b = &self.0;
        [0, 4, 8, 12].map(|i| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]))
    }

    /// The wire form from four dword values.
    pub fn from_dwords(d: [u32; 4]) -> Self {
        let mut b = [0u8; 16];
        for (chunk, v) in b.chunks_exact_mut(4).zip(d) {
            chunk.copy_from_slice(&v.to_be_bytes());
        }
        WireUuid(b)
    }

    /// Read the 16 wire bytes at byte offset `off`.
    pub fn read(buf: &[u8], off: usize) -> Option<Uuid> {
        let b: [u8; 16] = buf.get(off..off.checked_add(16)?)?.try_into().ok()?;
        Some(WireUuid(b).uuid())
    }

    /// Write `u` in wire form at byte offset `off`; `false` if it does not fit.
    #[must_use]
    pub fn write(buf: &mut [u8], off: usize, u: &Uuid) -> bool {
        crate::bytes::put(buf, off, &WireUuid::from_uuid(u).0)
    }
}

/// A canonical UUID from its four dword values (spec notation, e.g.
/// `0x0ed738b6, 0xbb40ff42, ...`).
pub fn uuid_from_dwords(d: [u32; 4]) -> Uuid {
    WireUuid::from_dwords(d).uuid()
}

/// The four dword values of a canonical UUID.
pub fn uuid_to_dwords(u: &Uuid) -> [u32; 4] {
    WireUuid::from_uuid(u).dwords()
}

fn swap_groups(mut b: [u8; 16]) -> [u8; 16] {
    for chunk in b.chunks_exact_mut(4) {
        chunk.reverse();
    }
    b
}

/// XDomain discovery protocol UUID `b638d70e-42ff-40bb-97c2-90e2c0b2ff07` (spec 02 §1).
pub const XDOMAIN_DISCOVERY: Uuid = Uuid::from_u128(0xb638d70e_42ff_40bb_97c2_90e2c0b2ff07);
/// ThunderboltIP control protocol UUID `798f589e-3616-8a47-97c6-5664a920c8dd` (spec 06 §1).
pub const THUNDERBOLT_IP: Uuid = Uuid::from_u128(0x798f589e_3616_8a47_97c6_5664a920c8dd);
/// `network` service directory UUID `c66189ca-1cce-4195-bdb8-49592e5f5a4f` (spec 03 §4, 06 §1).
pub const NETWORK_DIRECTORY: Uuid = Uuid::from_u128(0xc66189ca_1cce_4195_bdb8_49592e5f5a4f);
/// `dma_test` service directory UUID `3188cd10-6523-4a5a-a682-fdca07a248d8` (spec 03 §4, 07 §1).
pub const DMA_TEST_DIRECTORY: Uuid = Uuid::from_u128(0x3188cd10_6523_4a5a_a682_fdca07a248d8);

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec 01 §1 Rule 2 and 06 §3.3 tables.
    #[test]
    fn rule_2_examples() {
        assert_eq!(
            WireUuid::from_uuid(&XDOMAIN_DISCOVERY).0,
            [
                0x0e, 0xd7, 0x38, 0xb6, 0xbb, 0x40, 0xff, 0x42, 0xe2, 0x90, 0xc2, 0x97, 0x07, 0xff,
                0xb2, 0xc0
            ]
        );
        assert_eq!(
            uuid_to_dwords(&XDOMAIN_DISCOVERY),
            [0x0ed738b6, 0xbb40ff42, 0xe290c297, 0x07ffb2c0]
        );
        assert_eq!(
            WireUuid::from_uuid(&THUNDERBOLT_IP).0,
            [
                0x9e, 0x58, 0x8f, 0x79, 0x47, 0x8a, 0x16, 0x36, 0x64, 0x56, 0xc6, 0x97, 0xdd, 0xc8,
                0x20, 0xa9
            ]
        );
        assert_eq!(
            WireUuid::from_uuid(&NETWORK_DIRECTORY).0,
            [
                0xca, 0x89, 0x61, 0xc6, 0x95, 0x41, 0xce, 0x1c, 0x59, 0x49, 0xb8, 0xbd, 0x4f, 0x5a,
                0x5f, 0x2e
            ]
        );
        assert_eq!(
            WireUuid::from_uuid(&DMA_TEST_DIRECTORY).0,
            [
                0x10, 0xcd, 0x88, 0x31, 0x5a, 0x4a, 0x23, 0x65, 0xca, 0xfd, 0x82, 0xa6, 0xd8, 0x48,
                0xa2, 0x07
            ]
        );
    }

    /// Spec 02 §11: host A's dwords print as `44332211-8877-6655-ccbb-aa9900ffeedd`.
    #[test]
    fn host_uuid_printing() {
        let a = uuid_from_dwords([0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00]);
        assert_eq!(a, Uuid::from_u128(0x44332211_8877_6655_ccbb_aa9900ffeedd));
        let mut buf = [0u8; 20];
        assert!(WireUuid::write(&mut buf, 4, &a));
        assert_eq!(&buf[4..8], &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(WireUuid::read(&buf, 4), Some(a));
        assert_eq!(WireUuid::read(&buf, 5), None);
        assert!(!WireUuid::write(&mut buf, 5, &a));
    }
}
