//! Property keys: spec 03 §3 (entry dwords 0–1) and §5 rule 7.

use core::fmt;

use super::FormatError;

/// A property key: 0–8 bytes, no NUL, kept verbatim (spec 03 §3, §5 rule 7).
///
/// On the wire a key fills entry dwords 0–1, first byte in bits \[31:24\] of
/// dword 0, unused trailing bytes zero; a key of exactly 8 bytes has no NUL.
/// Keys are compared byte for byte (case-sensitive, like C strings). No
/// character-set check is made: a key read from a block may hold any
/// non-NUL bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key {
    bytes: [u8; 8],
    len: u8,
}

impl Key {
    /// Largest key length in bytes (spec 03 §3).
    pub const MAX_LEN: usize = 8;

    /// A key from its bytes.
    ///
    /// Fails with [`FormatError::KeyTooLong`] for more than 8 bytes (the
    /// formatter's check of spec 03 §5 rule 7) and with
    /// [`FormatError::KeyHasNul`] when a byte is NUL (the wire form could not
    /// carry it: parsing cuts the key at the first NUL).
    pub fn new(key: impl AsRef<[u8]>) -> Result<Self, FormatError> {
        let key = key.as_ref();
        if key.len() > Self::MAX_LEN {
            return Err(FormatError::KeyTooLong { len: key.len() });
        }
        if key.contains(&0) {
            return Err(FormatError::KeyHasNul);
        }
        let mut bytes = [0u8; 8];
        for (dst, src) in bytes.iter_mut().zip(key) {
            *dst = *src;
        }
        Ok(Key {
            bytes,
            // At most 8, checked above.
            len: key.len() as u8,
        })
    }

    /// The key of an entry whose dwords 0–1 hold `wire` (big-endian bytes):
    /// the bytes up to the first NUL (spec 03 §5 rule 7).
    pub fn from_wire(wire: [u8; 8]) -> Self {
        let len = wire.iter().position(|&b| b == 0).unwrap_or(Self::MAX_LEN);
        let mut bytes = [0u8; 8];
        for (dst, src) in bytes.iter_mut().zip(&wire[..len]) {
            *dst = *src;
        }
        Key {
            bytes,
            len: len as u8,
        }
    }

    /// A key from a literal; `const` so standard keys can be constants.
    /// Bytes after the first NUL and beyond 8 are dropped.
    pub(crate) const fn literal(s: &[u8]) -> Self {
        let mut bytes = [0u8; 8];
        let mut len = 0;
        while len < s.len() && len < 8 && s[len] != 0 {
            bytes[len] = s[len];
            len += 1;
        }
        Key {
            bytes,
            len: len as u8,
        }
    }

    /// The key bytes (no NUL, at most 8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The key as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    /// The 8 wire bytes (zero-padded) of entry dwords 0–1.
    pub fn wire(&self) -> [u8; 8] {
        self.bytes
    }

    /// The two dword values of entry dwords 0–1.
    pub fn dwords(&self) -> [u32; 2] {
        let b = self.bytes;
        [
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ]
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(\"{self}\")")
    }
}

/// Printable ASCII as is, other bytes as `\xNN`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.as_bytes() {
            if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl TryFrom<&str> for Key {
    type Error = FormatError;
    fn try_from(s: &str) -> Result<Self, FormatError> {
        Key::new(s)
    }
}

impl TryFrom<&[u8]> for Key {
    type Error = FormatError;
    fn try_from(s: &[u8]) -> Result<Self, FormatError> {
        Key::new(s)
    }
}

/// Standard keys (spec 03 §8).
pub mod keys {
    use super::Key;

    /// `vendorid`: numeric vendor id (`v`) and vendor name (`t`), root (03 §8.1).
    pub const VENDOR_ID: Key = Key::literal(b"vendorid");
    /// `deviceid`: numeric model id (`v`) and model/host name (`t`), root (03 §8.1).
    pub const DEVICE_ID: Key = Key::literal(b"deviceid");
    /// `devicerv`: device revision (`v`), root (03 §8.1).
    pub const DEVICE_RV: Key = Key::literal(b"devicerv");
    /// `maxhopid`: highest input HopID accepted (`v`), root (03 §8.1).
    pub const MAX_HOP_ID: Key = Key::literal(b"maxhopid");
    /// `prtcid`: protocol id, service directory (03 §8.2).
    pub const PRTC_ID: Key = Key::literal(b"prtcid");
    /// `prtcvers`: protocol version, service directory (03 §8.2).
    pub const PRTC_VERS: Key = Key::literal(b"prtcvers");
    /// `prtcrevs`: protocol revision, service directory (03 §8.2).
    pub const PRTC_REVS: Key = Key::literal(b"prtcrevs");
    /// `prtcstns`: protocol settings, service directory (03 §8.2).
    pub const PRTC_STNS: Key = Key::literal(b"prtcstns");
    /// `network`: ThunderboltIP service directory (03 §8.2, 06 §2).
    pub const NETWORK: Key = Key::literal(b"network");
    /// `dma_test`: DMA test service directory (03 §8.2, 07 §1).
    pub const DMA_TEST: Key = Key::literal(b"dma_test");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_length_and_nul() {
        assert_eq!(
            Key::new("vendorid2"),
            Err(FormatError::KeyTooLong { len: 9 })
        );
        assert_eq!(Key::new(b"a\0b"), Err(FormatError::KeyHasNul));
        assert_eq!(
            Key::new("vendorid").map(|k| k.dwords()),
            Ok([0x76656e64, 0x6f726964])
        );
        assert_eq!(Key::new("").map(|k| k.wire()), Ok([0; 8]));
    }

    #[test]
    fn wire_cuts_at_first_nul() {
        let k = Key::from_wire(*b"ab\0cdefg");
        assert_eq!(k.as_bytes(), b"ab");
        assert_eq!(k.wire(), *b"ab\0\0\0\0\0\0");
        assert_eq!(Key::from_wire(*b"dma_test"), keys::DMA_TEST);
        assert_eq!(keys::NETWORK.dwords(), [0x6e657477, 0x6f726b00]);
    }

    #[test]
    fn display_escapes() {
        let k = Key::from_wire([b'a', 0xff, b'"', 0, 0, 0, 0, 0]);
        assert_eq!(alloc::format!("{k}"), "a\\xff\\x22");
    }
}
