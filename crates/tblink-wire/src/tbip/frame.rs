//! ThunderboltIP data frames (spec 06 §8): a 12-byte little-endian header
//! followed by a slice of the Ethernet frame, at most 4096 bytes per DMA
//! frame. The data plane is raw DMA: no big-endian dwords, no software CRC.

use core::iter::FusedIterator;
use core::ops::Range;

use crate::bytes::{le16, le32, need, put, put_le16, put_le32};
use crate::{Error, Result};

use super::{FRAME_HEADER_LEN, FRAME_PAYLOAD, FRAME_SIZE, MAX_PACKET};

/// Byte offsets of the header fields (spec 06 §8.1).
mod field {
    pub const FRAME_SIZE: usize = 0;
    pub const FRAME_INDEX: usize = 4;
    pub const FRAME_ID: usize = 6;
    pub const FRAME_COUNT: usize = 8;
}

/// Mask of the 12-bit length field of a ring descriptor, in which 0 stands
/// for 4096 (spec 06 §8.1, §9).
pub const DESC_LEN_MASK: u16 = 0x0fff;

/// The descriptor length in bytes that a 12-bit length field encodes:
/// 0 means 4096 (spec 06 §8.1, §9 check 3).
pub const fn decode_desc_len(field: u16) -> usize {
    match field & DESC_LEN_MASK {
        0 => FRAME_SIZE,
        n => n as usize,
    }
}

/// The 12-bit descriptor length field for a frame of `len` bytes
/// (1..=4096): 4096 is encoded as 0 (spec 06 §8.1, §8.4).
pub const fn encode_desc_len(len: usize) -> u16 {
    (len & DESC_LEN_MASK as usize) as u16
}

/// The parsed 12-byte data frame header (spec 06 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameHeader {
    /// Payload bytes in this frame (1..=4084 when sent by Linux).
    pub frame_size: u32,
    /// 0-based index of this frame within the packet.
    pub frame_index: u16,
    /// Packet identifier, the same in every frame of a packet (spec 06 §8.3).
    pub frame_id: u16,
    /// Number of frames making up the packet.
    pub frame_count: u32,
}

impl FrameHeader {
    /// Size on the wire (spec 06 §8.1).
    pub const LEN: usize = FRAME_HEADER_LEN;

    /// Read the header at the start of `buf`. Only the length is checked;
    /// the receive rules are in [`super::rx`].
    pub fn parse(buf: &[u8]) -> Result<Self> {
        DataFrame::new_checked(buf).map(|f| f.header())
    }

    /// Bytes [`FrameHeader::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN
    }

    /// Write the header at the start of `buf`; returns 12.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        need(buf, FRAME_HEADER_LEN)?;
        buf[..FRAME_HEADER_LEN].copy_from_slice(&self.to_bytes());
        Ok(FRAME_HEADER_LEN)
    }

    /// Whether this is the last frame of its packet: `frame_index ==
    /// frame_count − 1` (spec 06 §9).
    pub fn is_last(&self) -> bool {
        u32::from(self.frame_index).checked_add(1) == Some(self.frame_count)
    }

    /// The 12 header bytes.
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut b = [0u8; FRAME_HEADER_LEN];
        b[field::FRAME_SIZE..field::FRAME_INDEX].copy_from_slice(&self.frame_size.to_le_bytes());
        b[field::FRAME_INDEX..field::FRAME_ID].copy_from_slice(&self.frame_index.to_le_bytes());
        b[field::FRAME_ID..field::FRAME_COUNT].copy_from_slice(&self.frame_id.to_le_bytes());
        b[field::FRAME_COUNT..].copy_from_slice(&self.frame_count.to_le_bytes());
        b
    }

    /// The header from its 12 bytes.
    pub fn from_bytes(b: &[u8; FRAME_HEADER_LEN]) -> Self {
        DataFrame::new_unchecked(&b[..]).header()
    }
}

/// A view of a DMA frame buffer: the header, then the payload (spec 06
/// §8.1). After [`DataFrame::check_len`] (at least 12 bytes) no accessor
/// panics.
#[derive(Debug, Clone, Copy)]
pub struct DataFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DataFrame<T> {
    /// Wrap a buffer without checks; accessors then read missing fields as 0.
    pub const fn new_unchecked(buffer: T) -> Self {
        DataFrame { buffer }
    }

    /// Wrap a buffer after [`DataFrame::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = DataFrame { buffer };
        f.check_len()?;
        Ok(f)
    }

    /// The buffer holds the 12-byte header.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), FRAME_HEADER_LEN)
    }

    /// `frame_size` (LE u32 at byte 0).
    pub fn frame_size(&self) -> u32 {
        le32(self.buffer.as_ref(), field::FRAME_SIZE).unwrap_or(0)
    }

    /// `frame_index` (LE u16 at byte 4).
    pub fn frame_index(&self) -> u16 {
        le16(self.buffer.as_ref(), field::FRAME_INDEX).unwrap_or(0)
    }

    /// `frame_id` (LE u16 at byte 6).
    pub fn frame_id(&self) -> u16 {
        le16(self.buffer.as_ref(), field::FRAME_ID).unwrap_or(0)
    }

    /// `frame_count` (LE u32 at byte 8).
    pub fn frame_count(&self) -> u32 {
        le32(self.buffer.as_ref(), field::FRAME_COUNT).unwrap_or(0)
    }

    /// All four header fields.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            frame_size: self.frame_size(),
            frame_index: self.frame_index(),
            frame_id: self.frame_id(),
            frame_count: self.frame_count(),
        }
    }

    /// The `frame_size` payload bytes after the header; `None` if the
    /// buffer does not hold them.
    pub fn payload(&self) -> Option<&[u8]> {
        let size = usize::try_from(self.frame_size()).ok()?;
        self.buffer
            .as_ref()
            .get(FRAME_HEADER_LEN..FRAME_HEADER_LEN.checked_add(size)?)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DataFrame<T> {
    /// Set `frame_size`; `false` if the buffer is too short.
    #[must_use]
    pub fn set_frame_size(&mut self, v: u32) -> bool {
        put_le32(self.buffer.as_mut(), field::FRAME_SIZE, v)
    }

    /// Set `frame_index`; `false` if the buffer is too short.
    #[must_use]
    pub fn set_frame_index(&mut self, v: u16) -> bool {
        put_le16(self.buffer.as_mut(), field::FRAME_INDEX, v)
    }

    /// Set `frame_id`; `false` if the buffer is too short.
    #[must_use]
    pub fn set_frame_id(&mut self, v: u16) -> bool {
        put_le16(self.buffer.as_mut(), field::FRAME_ID, v)
    }

    /// Set `frame_count`; `false` if the buffer is too short.
    #[must_use]
    pub fn set_frame_count(&mut self, v: u32) -> bool {
        put_le32(self.buffer.as_mut(), field::FRAME_COUNT, v)
    }
}

/// Write one DMA frame, `header` then `payload`, at the start of `buf`
/// (normally a 4096-byte TX buffer). `payload` must be `frame_size` bytes,
/// at most 4084. Returns the descriptor length, 12 + `frame_size`
/// (spec 06 §8.1).
pub fn write_frame(buf: &mut [u8], header: &FrameHeader, payload: &[u8]) -> Result<usize> {
    if payload.len() > FRAME_PAYLOAD {
        return Err(Error::TooLong {
            max: FRAME_PAYLOAD,
            got: payload.len(),
        });
    }
    if header.frame_size as usize != payload.len() {
        return Err(Error::InvalidField {
            field: "frame_size",
            value: header.frame_size as u64,
        });
    }
    let len = FRAME_HEADER_LEN + payload.len();
    need(buf, len)?;
    header.emit(buf)?;
    if put(buf, FRAME_HEADER_LEN, payload) {
        Ok(len)
    } else {
        Err(Error::Truncated {
            needed: len,
            got: buf.len(),
        })
    }
}

/// One frame of a packet as planned by [`split`] (spec 06 §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameSlice {
    /// `frame_index`.
    pub index: u16,
    /// `frame_count` of the packet.
    pub count: u32,
    /// Offset of this frame's payload in the packet.
    pub offset: usize,
    /// Payload bytes, `frame_size` (1..=4084).
    pub size: usize,
}

impl FrameSlice {
    /// Byte range of the packet this frame carries.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.size
    }

    /// The frame header, with the packet's `frame_id` (spec 06 §8.3).
    pub fn header(&self, frame_id: u16) -> FrameHeader {
        FrameHeader {
            frame_size: self.size as u32,
            frame_index: self.index,
            frame_id,
            frame_count: self.count,
        }
    }

    /// TX descriptor length in bytes: 12 + `frame_size` (spec 06 §8.1).
    pub fn descriptor_len(&self) -> usize {
        FRAME_HEADER_LEN + self.size
    }

    /// Write this frame of `packet` into `buf` (see [`write_frame`]);
    /// returns the descriptor length.
    pub fn write(&self, packet: &[u8], frame_id: u16, buf: &mut [u8]) -> Result<usize> {
        let payload = packet.get(self.range()).ok_or(Error::Truncated {
            needed: self.offset + self.size,
            got: packet.len(),
        })?;
        write_frame(buf, &self.header(frame_id), payload)
    }
}

/// Plan the frames of a packet of `packet_len` bytes, 1..=65536 (spec 06
/// §8.2): `frame_count = ceil(L / 4084)`, every frame but the last carries
/// 4084 bytes. No allocation; the iterator yields the frames in order.
pub fn split(packet_len: usize) -> Result<Split> {
    if packet_len == 0 {
        return Err(Error::InvalidField {
            field: "packet_len",
            value: 0,
        });
    }
    if packet_len > MAX_PACKET {
        return Err(Error::TooLong {
            max: MAX_PACKET,
            got: packet_len,
        });
    }
    Ok(Split {
        len: packet_len,
        count: packet_len.div_ceil(FRAME_PAYLOAD) as u32,
        next: 0,
    })
}

/// The frames of one packet, from [`split`] (spec 06 §8.2).
#[derive(Debug, Clone)]
pub struct Split {
    len: usize,
    count: u32,
    next: u32,
}

impl Split {
    /// `frame_count` of the packet (1..=17).
    pub fn frame_count(&self) -> u32 {
        self.count
    }

    /// Length of the packet in bytes.
    pub fn packet_len(&self) -> usize {
        self.len
    }
}

impl Iterator for Split {
    type Item = FrameSlice;

    fn next(&mut self) -> Option<FrameSlice> {
        if self.next >= self.count {
            return None;
        }
        let offset = self.next as usize * FRAME_PAYLOAD;
        let size = (self.len - offset).min(FRAME_PAYLOAD);
        let slice = FrameSlice {
            index: self.next as u16,
            count: self.count,
            offset,
            size,
        };
        self.next += 1;
        Some(slice)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.count - self.next) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Split {}
impl FusedIterator for Split {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desc_len_encoding() {
        assert_eq!(decode_desc_len(0), 4096);
        assert_eq!(decode_desc_len(0x734), 1844);
        assert_eq!(encode_desc_len(4096), 0);
        assert_eq!(encode_desc_len(1858), 0x742);
    }

    #[test]
    fn split_limits() {
        assert!(split(0).is_err());
        assert!(split(65537).is_err());
        let s = split(65536).unwrap();
        assert_eq!(s.frame_count(), 17);
        assert_eq!(s.last().map(|f| f.size), Some(192));
        let s = split(1).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(split(4084).unwrap().frame_count(), 1);
        assert_eq!(split(4085).unwrap().frame_count(), 2);
    }

    #[test]
    fn write_frame_checks() {
        let mut buf = [0u8; 4096];
        let h = FrameHeader {
            frame_size: 3,
            ..FrameHeader::default()
        };
        assert_eq!(write_frame(&mut buf, &h, &[1, 2, 3]), Ok(15));
        assert!(write_frame(&mut buf, &h, &[1, 2]).is_err());
        assert!(write_frame(&mut buf[..14], &h, &[1, 2, 3]).is_err());
        let big = [0u8; 4085];
        let h = FrameHeader {
            frame_size: 4085,
            ..FrameHeader::default()
        };
        assert!(write_frame(&mut buf, &h, &big).is_err());
    }
}
