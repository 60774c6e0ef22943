//! Dword access with the byte order of spec 01 §1 (Rule 1: every dword is
//! big-endian on the wire) and the little-endian fields of data frames.
//!
//! All readers take a byte offset and return `None` when the buffer is too
//! short, so callers never index out of bounds.

/// Big-endian `u32` at byte offset `off`, if the buffer holds it.
#[inline]
pub fn be32(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Little-endian `u32` at byte offset `off`, if the buffer holds it.
#[inline]
pub fn le32(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Little-endian `u16` at byte offset `off`, if the buffer holds it.
#[inline]
pub fn le16(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Write `v` big-endian at byte offset `off`; `false` if it does not fit.
#[inline]
#[must_use]
pub fn put_be32(buf: &mut [u8], off: usize, v: u32) -> bool {
    put(buf, off, &v.to_be_bytes())
}

/// Write `v` little-endian at byte offset `off`; `false` if it does not fit.
#[inline]
#[must_use]
pub fn put_le32(buf: &mut [u8], off: usize, v: u32) -> bool {
    put(buf, off, &v.to_le_bytes())
}

/// Write `v` little-endian at byte offset `off`; `false` if it does not fit.
#[inline]
#[must_use]
pub fn put_le16(buf: &mut [u8], off: usize, v: u16) -> bool {
    put(buf, off, &v.to_le_bytes())
}

/// Copy `src` to byte offset `off`; `false` if it does not fit.
#[inline]
#[must_use]
pub fn put(buf: &mut [u8], off: usize, src: &[u8]) -> bool {
    match off
        .checked_add(src.len())
        .and_then(|end| buf.get_mut(off..end))
    {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// Fail with [`crate::Error::Truncated`] unless `buf` holds `needed` bytes.
#[inline]
pub fn need(buf: &[u8], needed: usize) -> crate::Result<()> {
    if buf.len() < needed {
        Err(crate::Error::Truncated {
            needed,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_respect_bounds() {
        let b = [1u8, 2, 3, 4, 5];
        assert_eq!(be32(&b, 0), Some(0x0102_0304));
        assert_eq!(le32(&b, 1), Some(0x0504_0302));
        assert_eq!(be32(&b, 2), None);
        assert_eq!(be32(&b, usize::MAX), None);
        assert_eq!(le16(&b, 4), None);
    }

    #[test]
    fn writers_respect_bounds() {
        let mut b = [0u8; 6];
        assert!(put_be32(&mut b, 2, 0xaabb_ccdd));
        assert_eq!(b, [0, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(!put_be32(&mut b, 3, 0));
        assert!(!put(&mut b, usize::MAX, &[1]));
    }
}
