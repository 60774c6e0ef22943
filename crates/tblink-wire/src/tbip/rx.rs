//! Stateless receive checks on single data frames, in Linux's order
//! (spec 06 §9), classified into the counters Linux keeps (spec 06 §14).
//!
//! A receiver runs [`check_frame`] on every completed descriptor, then
//! [`check_continuation`] when a packet is in progress or [`check_start`]
//! otherwise. The first failure wins; on any failure Linux drops the frame
//! and the partial packet.

use core::fmt;

use super::frame::{DataFrame, FrameHeader, decode_desc_len};
use super::{FRAME_HEADER_LEN, MAX_PACKET, RX_MAX_FRAME_COUNT};

/// The Linux statistics counter a dropped frame is charged to (spec 06 §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RxCounter {
    /// `rx_crc_errors`.
    Crc,
    /// `rx_over_errors`.
    Over,
    /// `rx_length_errors`.
    Length,
    /// `rx_missed_errors`.
    Missed,
}

impl RxCounter {
    /// The counter's name in Linux's netdev statistics.
    pub const fn name(self) -> &'static str {
        match self {
            RxCounter::Crc => "rx_crc_errors",
            RxCounter::Over => "rx_over_errors",
            RxCounter::Length => "rx_length_errors",
            RxCounter::Missed => "rx_missed_errors",
        }
    }
}

impl fmt::Display for RxCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a received frame is dropped: one variant per check of spec 06 §9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxDrop {
    /// Check 1: the descriptor's CRC-error flag.
    CrcError,
    /// Check 2: the descriptor's buffer-overrun flag.
    BufferOverrun,
    /// Check 3: descriptor length ≤ 12, no payload.
    NoPayload,
    /// Check 4: `frame_size` is 0 or larger than the descriptor's payload.
    BadFrameSize,
    /// Check 5a: `frame_count` differs from the packet's.
    FrameCountChanged,
    /// Check 5b: `frame_index` is not the previous index + 1.
    IndexOutOfSequence,
    /// Check 5b: `frame_id` differs from the packet's.
    FrameIdChanged,
    /// Check 5c: the packet would exceed 65536 bytes.
    PacketTooLong,
    /// Check 6a: a first frame with `frame_count` 0 or above 18.
    BadFrameCount,
    /// Check 6b: a packet starting with `frame_index` ≠ 0.
    NotFirstFrame,
}

impl RxDrop {
    /// The counter Linux increments for this drop (spec 06 §9, §14).
    pub const fn counter(self) -> RxCounter {
        match self {
            RxDrop::CrcError => RxCounter::Crc,
            RxDrop::BufferOverrun => RxCounter::Over,
            RxDrop::NoPayload
            | RxDrop::BadFrameSize
            | RxDrop::FrameCountChanged
            | RxDrop::PacketTooLong
            | RxDrop::BadFrameCount => RxCounter::Length,
            RxDrop::IndexOutOfSequence | RxDrop::FrameIdChanged | RxDrop::NotFirstFrame => {
                RxCounter::Missed
            }
        }
    }

    /// The number of the check in the table of spec 06 §9.
    pub const fn check(self) -> &'static str {
        match self {
            RxDrop::CrcError => "1",
            RxDrop::BufferOverrun => "2",
            RxDrop::NoPayload => "3",
            RxDrop::BadFrameSize => "4",
            RxDrop::FrameCountChanged => "5a",
            RxDrop::IndexOutOfSequence | RxDrop::FrameIdChanged => "5b",
            RxDrop::PacketTooLong => "5c",
            RxDrop::BadFrameCount => "6a",
            RxDrop::NotFirstFrame => "6b",
        }
    }
}

impl fmt::Display for RxDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            RxDrop::CrcError => "CRC error",
            RxDrop::BufferOverrun => "buffer overrun",
            RxDrop::NoPayload => "no payload",
            RxDrop::BadFrameSize => "bad frame_size",
            RxDrop::FrameCountChanged => "frame_count changed",
            RxDrop::IndexOutOfSequence => "frame_index out of sequence",
            RxDrop::FrameIdChanged => "frame_id changed",
            RxDrop::PacketTooLong => "packet too long",
            RxDrop::BadFrameCount => "bad frame_count",
            RxDrop::NotFirstFrame => "packet does not start at frame 0",
        };
        write!(f, "{what} (check {}, {})", self.check(), self.counter())
    }
}

/// A frame that passed [`check_frame`]: its header and its `frame_size`
/// payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxFrame<'a> {
    /// The frame header.
    pub header: FrameHeader,
    /// The payload, exactly `frame_size` bytes.
    pub payload: &'a [u8],
}

/// Checks 1–4 of spec 06 §9 on one completed RX descriptor.
///
/// `buf` is the descriptor's buffer, `desc_len_field` its 12-bit length
/// field (0 means 4096), `crc_error` and `buffer_overrun` its flags. A
/// buffer shorter than the descriptor length counts as that shorter length.
pub fn check_frame(
    buf: &[u8],
    desc_len_field: u16,
    crc_error: bool,
    buffer_overrun: bool,
) -> Result<RxFrame<'_>, RxDrop> {
    if crc_error {
        return Err(RxDrop::CrcError);
    }
    if buffer_overrun {
        return Err(RxDrop::BufferOverrun);
    }
    let len = decode_desc_len(desc_len_field).min(buf.len());
    if len <= FRAME_HEADER_LEN {
        return Err(RxDrop::NoPayload);
    }
    let frame = DataFrame::new_unchecked(buf.get(..len).ok_or(RxDrop::NoPayload)?);
    let header = frame.header();
    if header.frame_size == 0 || header.frame_size as usize > len - FRAME_HEADER_LEN {
        return Err(RxDrop::BadFrameSize);
    }
    let payload = buf
        .get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.frame_size as usize)
        .ok_or(RxDrop::BadFrameSize)?;
    Ok(RxFrame { header, payload })
}

/// Checks 6a–6b of spec 06 §9: may `header` start a packet?
pub fn check_start(header: &FrameHeader) -> Result<(), RxDrop> {
    if header.frame_count == 0 || header.frame_count > RX_MAX_FRAME_COUNT {
        return Err(RxDrop::BadFrameCount);
    }
    if header.frame_index != 0 {
        return Err(RxDrop::NotFirstFrame);
    }
    Ok(())
}

/// Checks 5a–5c of spec 06 §9: may `header` follow `prev` (the header of
/// the last accepted frame of the packet in progress) when `bytes_so_far`
/// packet bytes have been received?
pub fn check_continuation(
    prev: &FrameHeader,
    bytes_so_far: usize,
    header: &FrameHeader,
) -> Result<(), RxDrop> {
    if header.frame_count != prev.frame_count {
        return Err(RxDrop::FrameCountChanged);
    }
    if u32::from(header.frame_index) != u32::from(prev.frame_index) + 1 {
        return Err(RxDrop::IndexOutOfSequence);
    }
    if header.frame_id != prev.frame_id {
        return Err(RxDrop::FrameIdChanged);
    }
    if bytes_so_far.saturating_add(header.frame_size as usize) > MAX_PACKET {
        return Err(RxDrop::PacketTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(h: FrameHeader, len: usize) -> [u8; 4096] {
        let mut b = [0u8; 4096];
        h.emit(&mut b).unwrap();
        b[12..len].fill(0xa5);
        b
    }

    const H0: FrameHeader = FrameHeader {
        frame_size: 4084,
        frame_index: 0,
        frame_id: 0x2a,
        frame_count: 3,
    };

    #[test]
    fn checks_1_to_4_in_order() {
        let b = frame(H0, 4096);
        assert_eq!(check_frame(&b, 0, true, true), Err(RxDrop::CrcError));
        assert_eq!(check_frame(&b, 0, false, true), Err(RxDrop::BufferOverrun));
        assert_eq!(check_frame(&b, 12, false, false), Err(RxDrop::NoPayload));
        assert_eq!(
            check_frame(&b, 4095, false, false),
            Err(RxDrop::BadFrameSize)
        );
        let ok = check_frame(&b, 0, false, false).unwrap();
        assert_eq!(ok.header, H0);
        assert_eq!(ok.payload.len(), 4084);
        assert_eq!(
            check_frame(&b[..100], 0, false, false),
            Err(RxDrop::BadFrameSize)
        );
        let z = frame(
            FrameHeader {
                frame_size: 0,
                ..H0
            },
            13,
        );
        assert_eq!(check_frame(&z, 13, false, false), Err(RxDrop::BadFrameSize));
        assert_eq!(RxDrop::BadFrameSize.counter(), RxCounter::Length);
    }

    #[test]
    fn start_and_continuation() {
        assert_eq!(check_start(&H0), Ok(()));
        assert_eq!(
            check_start(&FrameHeader {
                frame_count: 0,
                ..H0
            }),
            Err(RxDrop::BadFrameCount)
        );
        assert_eq!(
            check_start(&FrameHeader {
                frame_count: 19,
                ..H0
            }),
            Err(RxDrop::BadFrameCount)
        );
        assert_eq!(
            check_start(&FrameHeader {
                frame_count: 18,
                ..H0
            }),
            Ok(())
        );
        let h1 = FrameHeader {
            frame_index: 1,
            ..H0
        };
        assert_eq!(check_start(&h1), Err(RxDrop::NotFirstFrame));
        assert_eq!(RxDrop::NotFirstFrame.counter(), RxCounter::Missed);

        assert_eq!(check_continuation(&H0, 4084, &h1), Ok(()));
        assert_eq!(
            check_continuation(
                &H0,
                4084,
                &FrameHeader {
                    frame_count: 4,
                    ..h1
                }
            ),
            Err(RxDrop::FrameCountChanged)
        );
        assert_eq!(
            check_continuation(
                &H0,
                4084,
                &FrameHeader {
                    frame_index: 2,
                    ..h1
                }
            ),
            Err(RxDrop::IndexOutOfSequence)
        );
        assert_eq!(
            check_continuation(&H0, 4084, &FrameHeader { frame_id: 0, ..h1 }),
            Err(RxDrop::FrameIdChanged)
        );
        assert_eq!(check_continuation(&H0, 65536 - 4084, &h1), Ok(()));
        assert_eq!(
            check_continuation(&H0, 65536 - 4083, &h1),
            Err(RxDrop::PacketTooLong)
        );
        let last = FrameHeader {
            frame_index: u16::MAX,
            ..H0
        };
        assert_eq!(
            check_continuation(
                &last,
                0,
                &FrameHeader {
                    frame_index: 0,
                    ..H0
                }
            ),
            Err(RxDrop::IndexOutOfSequence)
        );
    }
}
