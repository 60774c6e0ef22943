#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Checks of the daemon-side byte handling: the client reader of the
//! `tblink capture` stream and the receive checks of the `dma_test`
//! service. Any panic (including a failed assertion) is a finding.

use std::io::{ErrorKind, Read};

use tblink_host::capture::{
    Direction, Frame, FrameKind, MAX_RECORD, RECORD_HEADER_LEN, ReadError, Record,
    STREAM_HEADER_LEN, StreamError, StreamReader, decode_record, decode_stream_header,
    encode_record,
};
use tblink_host::dmatest::{DmaTestReport, count_frame};
use tblink_wire::dmatest::{FRAME_SIZE, PATTERN_LEN, check_pattern, fill_pattern};

/// The reader's documented buffer: room for four of the largest records.
const READER_BUF: usize = 4 * (RECORD_HEADER_LEN + MAX_RECORD as usize);

/// A byte source that hands out `data` in chunks of the sizes of
/// `schedule` (cycled; 0 = all the rest), failing with `WouldBlock`
/// before a chunk whose schedule byte has bit 7 set, as a socket read
/// timeout does. Records the largest buffer a read was given.
struct Chunked<'a> {
    data: &'a [u8],
    schedule: &'a [u8],
    step: usize,
    timed_out: bool,
    largest_read: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.largest_read = self.largest_read.max(buf.len());
        let s = match self.schedule {
            [] => 0,
            s => s[self.step % s.len()],
        };
        if s & 0x80 != 0 && !self.timed_out {
            self.timed_out = true;
            return Err(ErrorKind::WouldBlock.into());
        }
        self.timed_out = false;
        self.step += 1;
        let want = match usize::from(s & 0x7f) {
            0 => self.data.len(),
            n => n * n,
        };
        let n = want.min(buf.len()).min(self.data.len());
        let (a, b) = self.data.split_at(n);
        buf[..n].copy_from_slice(a);
        self.data = b;
        Ok(n)
    }
}

/// How a stream ends.
#[derive(Debug, PartialEq)]
enum End {
    Clean,
    Bad(StreamError),
}

/// Decodes a whole stream held in memory: the records (as re-encoded
/// bytes) and how it ends. The reference for [`StreamReader`].
fn decode_all(b: &[u8]) -> (Vec<Vec<u8>>, End) {
    let mut recs = Vec::new();
    let mut at = match decode_stream_header(b) {
        Ok(Some(n)) => n,
        Ok(None) => {
            let have = b.len();
            let want = STREAM_HEADER_LEN;
            return (recs, End::Bad(StreamError::Truncated { have, want }));
        }
        Err(e) => return (recs, End::Bad(e)),
    };
    loop {
        let rest = &b[at..];
        match decode_record(rest) {
            Ok(Some((r, n))) => {
                assert!(n <= RECORD_HEADER_LEN + MAX_RECORD as usize);
                assert!(n <= rest.len());
                recs.push(reencode(&r, &rest[..n]));
                at += n;
            }
            Ok(None) if rest.is_empty() => return (recs, End::Clean),
            Ok(None) => {
                let want = match rest.first_chunk::<RECORD_HEADER_LEN>() {
                    Some(h) => {
                        RECORD_HEADER_LEN + u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize
                    }
                    None => RECORD_HEADER_LEN,
                };
                let have = rest.len();
                return (recs, End::Bad(StreamError::Truncated { have, want }));
            }
            Err(e) => return (recs, End::Bad(e)),
        }
    }
}

/// Re-encodes a decoded record and checks it against the bytes it came
/// from: identical, except the time of an `end` record, which the encoder
/// takes from the clock.
fn reencode(r: &Record<'_>, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record(&mut out, r).expect("decoded record encodes");
    assert_eq!(out.len(), raw.len(), "{r:?}");
    match r {
        Record::Frame(f) => {
            assert!(f.data.len() <= MAX_RECORD as usize);
            assert!(f.data.len() as u64 <= u64::from(f.orig_len));
            assert_eq!(out, raw, "{r:?}");
        }
        Record::End(_) => {
            assert_eq!(out[..16], raw[..16], "{r:?}");
            assert_eq!(out[24..], raw[24..], "{r:?}");
            out[16..24].copy_from_slice(&raw[16..24]);
        }
    }
    out
}

/// The `tblink capture` client reader ([`StreamReader`]): arbitrary
/// bytes, read in arbitrary chunks with read timeouts in between (retried
/// as the client does), never panic, never make the reader use more than
/// its fixed buffer, and give exactly the records and the end (clean or
/// the same typed error) of decoding the whole stream at once; every
/// record re-encodes to its own bytes.
///
/// Byte 0: bits 0..4 = length of the chunk schedule that follows (bytes:
/// bit 7 = time out first, bits 0..6 = n, a chunk of n² bytes, 0 = all the
/// rest), bits 5..7 = bytes of the stream handed to the reader as already
/// read (its `prefix`). Then a lead byte, the 8 bytes of the stream
/// header, and the rest of the stream; with bit 7 of the lead byte set,
/// 1 + bits 0..1 records of [`MAX_RECORD`] bytes and one of 4 × the
/// 16-bit value after the header bytes are put between header and rest,
/// so that the reader's buffer fills and has to be compacted.
pub fn capture_stream(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let (schedule, rest) = rest.split_at(usize::from(cfg & 0x1f).min(rest.len()));
    let (lead, rest) = rest.split_first().map_or((0, rest), |(&b, r)| (b, r));
    let (head, mut rest) = rest.split_at(STREAM_HEADER_LEN.min(rest.len()));
    let mut stream = head.to_vec();
    if lead & 0x80 != 0 {
        // Large records first, so that the rest of the stream arrives
        // where the reader has to move its bytes to make room.
        let last = usize::from(u16_at(&mut rest)) * 4;
        let mut lens = vec![MAX_RECORD as usize; 1 + usize::from(lead & 3)];
        lens.push(last);
        for (i, len) in lens.into_iter().enumerate() {
            let data = vec![i as u8; len];
            let f = Frame {
                t_ns: i as u64,
                port: lead >> 2 & 0x1f,
                dir: Direction::Tx,
                kind: FrameKind::Ethernet { hop: 8 },
                orig_len: len as u32,
                data: &data,
            };
            encode_record(&mut stream, &Record::Frame(f)).unwrap();
        }
    }
    stream.extend_from_slice(rest);
    let stream = &stream[..];
    let (prefix, src) = stream.split_at(usize::from(cfg >> 5).min(stream.len()));
    let (want_recs, want_end) = decode_all(stream);

    let mut reader = StreamReader::new(
        Chunked {
            data: src,
            schedule,
            step: 0,
            timed_out: false,
            largest_read: 0,
        },
        prefix,
    );
    let mut recs = Vec::new();
    let mut timeouts = 0usize;
    let end = loop {
        match reader.read_record() {
            Ok(Some(r)) => {
                let mut out = Vec::new();
                encode_record(&mut out, &r).unwrap();
                if let Record::End(_) = r {
                    // Compare without the clock time.
                    let want = want_recs.get(recs.len()).expect("extra record");
                    out[16..24].copy_from_slice(&want[16..24]);
                }
                recs.push(out);
            }
            Ok(None) => break End::Clean,
            Err(ReadError::Io(e)) => {
                assert_eq!(e.kind(), ErrorKind::WouldBlock);
                timeouts += 1;
                assert!(timeouts <= stream.len() + 64, "reader spins");
            }
            Err(ReadError::Stream(e)) => break End::Bad(e),
        }
    };
    assert_eq!(recs, want_recs);
    assert_eq!(end, want_end);
    assert!(reader.get_ref().largest_read <= READER_BUF);
}

/// The receive checks of `dma_test` (spec 07 §4, §5): arbitrary frames
/// with arbitrary descriptor flags through [`count_frame`] never panic,
/// each flag agrees with an independent check, and the report's counters
/// add up: every frame counted once in `packets_received` and its bytes
/// in `bytes_received`, each problem counter equal to the frames with
/// that problem, and the frames without any problem are the rest.
///
/// Byte 0: bit 0 = check the content, bits 1..2 = expected size (4096,
/// 2048, 1, or the next 16-bit value). Then per frame: a flags byte (bit 0
/// CRC error, bit 1 overrun, bits 2..3 = content: the pattern, the pattern
/// with one byte flipped at the next 16-bit offset, input bytes, or
/// zeros), a 16-bit length (mod 4097; 0 = 4096).
pub fn dmatest_rx(data: &[u8]) {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let check = cfg & 1 != 0;
    let size = match (cfg >> 1) & 3 {
        0 => FRAME_SIZE,
        1 => PATTERN_LEN,
        2 => 1,
        _ => usize::from(u16_at(&mut rest)),
    };

    let mut rep = DmaTestReport::default();
    let (mut frames, mut bytes, mut good) = (0u32, 0u64, 0u32);
    let (mut crcs, mut overruns, mut lengths, mut patterns) = (0u32, 0u32, 0u32, 0u32);
    let mut pattern = vec![0u8; FRAME_SIZE];
    fill_pattern(&mut pattern);
    while let Some((&flags, r)) = rest.split_first() {
        let mut r = r;
        let len = match usize::from(u16_at(&mut r)) % (FRAME_SIZE + 1) {
            0 => FRAME_SIZE,
            n => n,
        };
        let frame = match (flags >> 2) & 3 {
            0 => pattern[..len].to_vec(),
            1 => {
                let at = usize::from(u16_at(&mut r)) % len;
                let mut f = pattern[..len].to_vec();
                f[at] ^= 0x01;
                f
            }
            2 => {
                let (a, b) = r.split_at(len.min(r.len()));
                r = b;
                let mut f = a.to_vec();
                f.resize(len, 0);
                f
            }
            _ => vec![0u8; len],
        };
        rest = r;
        let (crc, overrun) = (flags & 1 != 0, flags & 2 != 0);

        let chk = count_frame(&mut rep, &frame, crc, overrun, size, check);

        // Independent reference of each flag.
        let mut want = vec![0u8; frame.len().min(PATTERN_LEN)];
        fill_pattern(&mut want);
        let bad_pattern = check && frame[..want.len()] != want[..];
        if frame.len() >= PATTERN_LEN {
            assert_eq!(check && !check_pattern(&frame), bad_pattern);
        }
        assert_eq!(chk.crc, crc);
        assert_eq!(chk.overrun, overrun);
        assert_eq!(chk.length, frame.len() != size);
        assert_eq!(chk.pattern, bad_pattern);

        frames += 1;
        bytes += frame.len() as u64;
        crcs += u32::from(chk.crc);
        overruns += u32::from(chk.overrun);
        lengths += u32::from(chk.length);
        patterns += u32::from(chk.pattern);
        good += u32::from(!(chk.crc || chk.overrun || chk.length || chk.pattern));
    }
    assert_eq!(rep.packets_received, frames);
    assert_eq!(rep.bytes_received, bytes);
    assert_eq!(rep.crc_errors, crcs);
    assert_eq!(rep.buffer_overflow_errors, overruns);
    assert_eq!(rep.length_errors, lengths);
    assert_eq!(rep.pattern_errors, patterns);
    // Every frame is good or has at least one problem, and each problem
    // counter counts only frames that had it.
    let bad = frames - good;
    for n in [crcs, overruns, lengths, patterns] {
        assert!(n <= bad);
    }
    assert!(crcs + overruns + lengths + patterns >= bad);
}

/// The next little-endian u16 of `r` (zeros past its end).
fn u16_at(r: &mut &[u8]) -> u16 {
    let (a, b) = r.split_at(2.min(r.len()));
    *r = b;
    u16::from_le_bytes([
        a.first().copied().unwrap_or(0),
        a.get(1).copied().unwrap_or(0),
    ])
}
