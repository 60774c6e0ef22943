//! Sequential, bounds-checked dword access for packet parsers and emitters.
//!
//! Every control-channel field lives inside a big-endian dword (spec 01 §1
//! Rule 1), so parsers read and emitters write whole dwords in order.
//! Running past the buffer is a typed [`Error::Truncated`], never a panic.

use alloc::vec::Vec;

use crate::bytes::{be32, put_be32};
use crate::uuid::{Uuid, WireUuid};
use crate::{Error, Result};

/// Reads big-endian dwords (and wire-order UUIDs) one after another.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn truncated(&self, n: usize) -> Error {
        Error::Truncated {
            needed: self.pos.saturating_add(n),
            got: self.buf.len(),
        }
    }

    /// The next dword value.
    pub(crate) fn dword(&mut self) -> Result<u32> {
        let v = be32(self.buf, self.pos).ok_or_else(|| self.truncated(4))?;
        self.pos += 4;
        Ok(v)
    }

    /// The next four dwords as a UUID in wire order (spec 01 §1 Rule 2).
    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        let u = WireUuid::read(self.buf, self.pos).ok_or_else(|| self.truncated(WireUuid::LEN))?;
        self.pos += WireUuid::LEN;
        Ok(u)
    }

    /// All remaining dwords; the remainder must be a whole number of dwords.
    pub(crate) fn rest(&mut self) -> Result<Vec<u32>> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if !rest.len().is_multiple_of(4) {
            return Err(Error::Unaligned {
                len: self.buf.len(),
            });
        }
        let v = rest
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        self.pos = self.buf.len();
        Ok(v)
    }
}

/// Writes big-endian dwords (and wire-order UUIDs) one after another.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn truncated(&self, n: usize) -> Error {
        Error::Truncated {
            needed: self.pos.saturating_add(n),
            got: self.buf.len(),
        }
    }

    /// Append one dword value.
    pub(crate) fn dword(&mut self, v: u32) -> Result<()> {
        if !put_be32(self.buf, self.pos, v) {
            return Err(self.truncated(4));
        }
        self.pos += 4;
        Ok(())
    }

    /// Append a UUID in wire order (spec 01 §1 Rule 2).
    pub(crate) fn uuid(&mut self, u: &Uuid) -> Result<()> {
        if !WireUuid::write(self.buf, self.pos, u) {
            return Err(self.truncated(WireUuid::LEN));
        }
        self.pos += WireUuid::LEN;
        Ok(())
    }

    /// Append dword values.
    pub(crate) fn dwords(&mut self, v: &[u32]) -> Result<()> {
        v.iter().try_for_each(|&d| self.dword(d))
    }

    /// Bytes written so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let b = [0, 0, 0, 1, 0, 0, 0, 2, 9];
        let mut r = Reader::new(&b);
        assert_eq!(r.dword().unwrap(), 1);
        assert_eq!(r.dword().unwrap(), 2);
        assert_eq!(r.dword(), Err(Error::Truncated { needed: 12, got: 9 }));
        assert!(matches!(r.rest(), Err(Error::Unaligned { .. })));
        assert!(matches!(
            Reader::new(&b).uuid(),
            Err(Error::Truncated { needed: 16, got: 9 })
        ));
    }

    #[test]
    fn writer_bounds() {
        let mut b = [0u8; 6];
        let mut w = Writer::new(&mut b);
        w.dword(0x0102_0304).unwrap();
        assert_eq!(w.dword(5), Err(Error::Truncated { needed: 8, got: 6 }));
        assert_eq!(w.pos(), 4);
        assert_eq!(b[..4], [1, 2, 3, 4]);
    }
}
