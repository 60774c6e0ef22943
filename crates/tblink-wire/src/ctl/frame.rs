//! Control frames as they sit in a ring-0 buffer: a whole number of
//! big-endian dwords followed by the CRC-32C trailer (spec 01 §2, §5).

use crate::bytes::{be32, need};
use crate::crc::crc32c;
use crate::{Error, Pdf, Result};

/// Largest control frame, CRC included (spec 01 §2, `TB_FRAME_SIZE`).
pub const MAX_FRAME_LEN: usize = 256;
/// Largest frame body (header and payload, CRC excluded): 63 dwords.
pub const MAX_BODY_LEN: usize = MAX_FRAME_LEN - 4;
/// Size of the CRC trailer.
pub const CRC_LEN: usize = 4;

/// A checked view of a control frame: body dwords then the CRC trailer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap a buffer without checking it; accessors may then return `None`.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wrap a buffer after [`Frame::check_len`]. The CRC is not verified.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Frame { buffer };
        f.check_len()?;
        Ok(f)
    }

    /// Linux's first receive checks (spec 01 §7.5 step 1, §2): at least one
    /// dword, a whole number of dwords, at most 256 bytes.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(self.buffer.as_ref(), CRC_LEN)?;
        if !len.is_multiple_of(4) {
            return Err(Error::Unaligned { len });
        }
        if len > MAX_FRAME_LEN {
            return Err(Error::TooLong {
                max: MAX_FRAME_LEN,
                got: len,
            });
        }
        Ok(())
    }

    /// The bytes the CRC covers (everything but the trailer).
    pub fn body(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..b.len().saturating_sub(CRC_LEN)]
    }

    /// The trailer value (big-endian), if the frame has one.
    pub fn trailer(&self) -> Option<u32> {
        let b = self.buffer.as_ref();
        be32(b, b.len().checked_sub(CRC_LEN)?)
    }

    /// Verify the trailer against the body (spec 01 §5).
    pub fn verify_crc(&self) -> Result<()> {
        let trailer = self.trailer().ok_or(Error::Truncated {
            needed: CRC_LEN,
            got: self.buffer.as_ref().len(),
        })?;
        let computed = crc32c(self.body());
        if trailer == computed {
            Ok(())
        } else {
            Err(Error::BadCrc { trailer, computed })
        }
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Append the CRC trailer after the first `body_len` bytes of `buf`
/// (spec 01 §5); returns the frame length (`body_len + 4`).
pub fn seal(buf: &mut [u8], body_len: usize) -> Result<usize> {
    if body_len > MAX_BODY_LEN {
        return Err(Error::TooLong {
            max: MAX_BODY_LEN,
            got: body_len,
        });
    }
    if !body_len.is_multiple_of(4) {
        return Err(Error::Unaligned { len: body_len });
    }
    let total = body_len + CRC_LEN;
    need(buf, total)?;
    let crc = crc32c(&buf[..body_len]);
    buf[body_len..total].copy_from_slice(&crc.to_be_bytes());
    Ok(total)
}

/// An owned control frame with its PDF: what a ring-0 descriptor carries.
/// Fixed-size storage, no allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct FrameBuf {
    pdf: Pdf,
    len: u16,
    bytes: [u8; MAX_FRAME_LEN],
}

impl FrameBuf {
    /// Seal `body` (header and payload, no CRC) into a frame of type `pdf`.
    pub fn seal(pdf: Pdf, body: &[u8]) -> Result<Self> {
        let mut bytes = [0u8; MAX_FRAME_LEN];
        if body.len() > MAX_BODY_LEN {
            return Err(Error::TooLong {
                max: MAX_BODY_LEN,
                got: body.len(),
            });
        }
        bytes[..body.len()].copy_from_slice(body);
        let len = seal(&mut bytes, body.len())?;
        Ok(FrameBuf {
            pdf,
            len: len as u16,
            bytes,
        })
    }

    /// Build a frame by letting `fill` write the body into a zeroed 252-byte
    /// buffer and return its length; the CRC is then appended.
    pub fn build(pdf: Pdf, fill: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result<Self> {
        let mut bytes = [0u8; MAX_FRAME_LEN];
        let body_len = fill(&mut bytes[..MAX_BODY_LEN])?;
        let len = seal(&mut bytes, body_len)?;
        Ok(FrameBuf {
            pdf,
            len: len as u16,
            bytes,
        })
    }

    /// Copy a received frame (CRC included) after the length checks of
    /// [`Frame::check_len`]; the CRC is *not* verified (see [`FrameBuf::verify_crc`]).
    pub fn from_wire(pdf: Pdf, wire: &[u8]) -> Result<Self> {
        Frame::new_checked(wire)?;
        let mut bytes = [0u8; MAX_FRAME_LEN];
        bytes[..wire.len()].copy_from_slice(wire);
        Ok(FrameBuf {
            pdf,
            len: wire.len() as u16,
            bytes,
        })
    }

    /// The packet type carried in the descriptor.
    pub fn pdf(&self) -> Pdf {
        self.pdf
    }

    /// The frame bytes, CRC included (what the descriptor length counts).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Mutable frame bytes, CRC included (fault injection, route rewriting).
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len as usize]
    }

    /// The body (CRC excluded).
    pub fn body(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).saturating_sub(CRC_LEN)]
    }

    /// Verify the CRC trailer.
    pub fn verify_crc(&self) -> Result<()> {
        Frame::new_unchecked(self.as_bytes()).verify_crc()
    }

    /// Recompute the CRC trailer after the body was changed in place.
    pub fn reseal(&mut self) -> Result<()> {
        let body_len = (self.len as usize).saturating_sub(CRC_LEN);
        seal(&mut self.bytes, body_len).map(|_| ())
    }

    /// The frame length in bytes, CRC included.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the frame is empty (never true for a frame built by this type).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Debug for FrameBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FrameBuf({}, [", self.pdf)?;
        for (i, c) in self.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for b in c {
                write!(f, "{b:02x}")?;
            }
        }
        f.write_str("])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec 01 §9.1: READ request, CRC 0x17d80800.
    const READ_REQ: [u8; 16] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x20, 0x00, 0x17, 0xd8, 0x08,
        0x00,
    ];

    #[test]
    fn seal_and_verify_spec_01_9_1() {
        let f = FrameBuf::seal(Pdf::READ, &READ_REQ[..12]).unwrap();
        assert_eq!(f.as_bytes(), &READ_REQ);
        assert_eq!(f.pdf(), Pdf::READ);
        Frame::new_checked(&READ_REQ[..])
            .unwrap()
            .verify_crc()
            .unwrap();
    }

    #[test]
    fn bad_crc_is_typed() {
        let mut b = READ_REQ;
        b[7] ^= 0x10;
        let err = Frame::new_checked(&b[..])
            .unwrap()
            .verify_crc()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::BadCrc {
                trailer: 0x17d8_0800,
                ..
            }
        ));
    }

    #[test]
    fn length_rules() {
        assert!(matches!(
            Frame::new_checked(&[0u8; 3][..]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            Frame::new_checked(&[0u8; 10][..]),
            Err(Error::Unaligned { len: 10 })
        ));
        assert!(matches!(
            Frame::new_checked(&[0u8; 260][..]),
            Err(Error::TooLong { .. })
        ));
        assert!(Frame::new_checked(&[0u8; 256][..]).is_ok());
        assert!(matches!(
            FrameBuf::seal(Pdf::READ, &[0u8; 256]),
            Err(Error::TooLong { .. })
        ));
        assert!(matches!(
            FrameBuf::seal(Pdf::READ, &[0u8; 6]),
            Err(Error::Unaligned { .. })
        ));
        assert!(FrameBuf::seal(Pdf::READ, &[0u8; 252]).is_ok());
    }

    #[test]
    fn reseal_after_edit() {
        let mut f = FrameBuf::seal(Pdf::READ, &READ_REQ[..12]).unwrap();
        f.as_mut_bytes()[7] = 3;
        assert!(f.verify_crc().is_err());
        f.reseal().unwrap();
        f.verify_crc().unwrap();
    }
}
