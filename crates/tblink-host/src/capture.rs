//! Capturing cable traffic: a tap on every port's cable, the streaming
//! `capture` request of the control socket, and its client.
//!
//! # Where the tap sits
//! Every cable plugged into a port is wrapped (in [`crate::runtime`]) by
//! the layer that checks control-packet CRCs. That layer sees each unit
//! crossing the port in both directions, so the tap lives there:
//!
//! * control packets (ring 0) with their PDF, exactly as on the cable:
//!   route string, payload dwords and CRC-32C trailer (spec 01 §4–5). A
//!   received packet is recorded before the receiving host router rewrites
//!   its route (spec 01 §4), so it carries the sender's route; packets
//!   whose CRC fails are recorded too (they did cross the cable);
//! * data frames on DMA paths (spec 05), which the capture stream turns
//!   into Ethernet frames with the ThunderboltIP reassembler
//!   ([`tblink_net::rx::Reassembler`], spec 06 §9), one per port, direction
//!   and HopID; of these at most [`MAX_STREAMS`] are kept, a new path
//!   replacing the one idle longest ([`Reassembly`]). Frames that are not
//!   ThunderboltIP (or fail its checks) are counted, not shown.
//!
//! Hello and credit units of the emulated cable are not recorded.
//!
//! # Cost and bounds
//! With no capture running the tap costs one relaxed atomic load per unit.
//! While one runs, the event loop appends each unit (a 16-byte header and
//! its bytes) to the capture's queue buffer under a mutex it shares only
//! with that capture's thread; no allocation once the buffer has grown.
//! The buffer holds at most [`QUEUE_BYTES`]; a unit that does not fit is
//! dropped and counted, so a slow client never stalls the event loop. The
//! capture thread swaps the whole buffer out at once (a batch), so at most
//! twice [`QUEUE_BYTES`] is held per capture. It wakes the event loop's
//! side only when it went to sleep on an empty queue, and after each batch
//! it pauses [`BATCH_GAP`] so batches are large under load.
//!
//! # The `capture` request
//! `{"cmd":"capture","adapter":N,"snaplen":S}` (`adapter` left out: every
//! port; `snaplen` left out or 0: whole packets) is answered by one JSON
//! response line (`{"ok":true,"message":…}` or an error such as an
//! unknown port, or [`MAX_CAPTURES`] captures running already). After an
//! `ok` the connection carries a binary stream, all integers
//! little-endian:
//!
//! | Offset | Size | Stream header |
//! |---|---|---|
//! | 0 | 6 | magic `TBLCAP` ([`MAGIC`]) |
//! | 6 | 1 | version, 1 ([`VERSION`]) |
//! | 7 | 1 | reserved, 0 |
//!
//! then records, each a [`RECORD_HEADER_LEN`]-byte header and `len` bytes:
//!
//! | Offset | Size | Record header |
//! |---|---|---|
//! | 0 | 4 | `len`: bytes after the header, at most [`MAX_RECORD`] |
//! | 4 | 1 | kind: 1 control packet, 2 Ethernet frame, 3 end |
//! | 5 | 1 | direction: 0 received, 1 sent by this host |
//! | 6 | 1 | port (lane adapter) |
//! | 7 | 1 | PDF (spec 01 §3) of a control packet, 0..=15; else 0 |
//! | 8 | 2 | HopID the Ethernet frame came on; else 0 |
//! | 10 | 2 | reserved, 0 |
//! | 12 | 4 | original length (before `snaplen`), at least `len` |
//! | 16 | 8 | wall-clock time the unit crossed the port, ns since the Unix epoch |
//!
//! A control packet's bytes are the packet as on the cable (route,
//! payload, CRC trailer); an Ethernet frame's are the frame without FCS.
//! The last record is `end` (kind 3, direction, port, PDF, HopID and
//! original length 0, `len` 24) whose bytes are three u64: units dropped
//! because the queue was full, data frames seen, and data frames that did
//! not become Ethernet frames. A reader checks every field and rejects
//! anything else with a [`StreamError`] (a record longer than
//! [`MAX_RECORD`] as soon as its header arrives).
//!
//! Any line the client sends (e.g. `{"cmd":"stop"}`) or closing its end
//! stops the capture; the daemon then sends what it still had queued and
//! the `end` record. So does a host that shuts down: it waits up to
//! [`crate::daemon::CAPTURE_FLUSH`] for its captures to send theirs before
//! it exits, so a stream without `end` means the host died or the stream
//! broke.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tblink_hostif::cable::Packet;
use tblink_net::rx::{Reassembler, RxConfig, RxFlags, RxOutcome};

use crate::control::{self, ControlError, Request};

/// Bytes of units (16-byte header each included) a capture's queue
/// buffer holds before further units are dropped and counted.
pub const QUEUE_BYTES: usize = 32 << 20;
/// Reassemblers kept per capture (port, direction, HopID); a new path
/// beyond these takes the place of the one idle longest. Each holds up to
/// 64 KiB.
pub const MAX_STREAMS: usize = 16;
/// Captures a host runs at once; further `capture` requests are refused.
pub const MAX_CAPTURES: usize = 4;
/// How long the capture thread sleeps on an empty queue before looking at
/// the client.
const POLL: Duration = Duration::from_millis(50);
/// Pause of the capture thread after a non-empty batch.
pub const BATCH_GAP: Duration = Duration::from_millis(1);
/// How often [`CaptureClient::start`] looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// Write buffer of the stream (daemon side).
const STREAM_BUF: usize = 256 * 1024;

/// First bytes of a capture stream.
pub const MAGIC: [u8; 6] = *b"TBLCAP";
/// Version of the stream format described in the module docs.
pub const VERSION: u8 = 1;
/// Length of the stream header.
pub const STREAM_HEADER_LEN: usize = 8;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 24;
/// Longest record body accepted (and the largest `snaplen`).
pub const MAX_RECORD: u32 = 256 * 1024;
/// Length of the `end` record's body.
pub const END_LEN: u32 = 24;
const KIND_CONTROL: u8 = 1;
const KIND_ETHERNET: u8 = 2;
const KIND_END: u8 = 3;
/// Read buffer of the client: room for the largest record twice.
const CLIENT_BUF: usize = 4 * (RECORD_HEADER_LEN + MAX_RECORD as usize);

/// Which way a unit crossed the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from the cable.
    Rx,
    /// Sent onto the cable by this host.
    Tx,
}

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// A control packet (spec 01) with its PDF.
    Control {
        /// Packet type (spec 01 §3), 0..=15.
        pdf: u8,
    },
    /// A data frame on a DMA path (spec 05).
    Data {
        /// HopID of the path on this link.
        hop: u16,
        /// The frame CRC failed on the way.
        crc_error: bool,
    },
}

/// One unit copied off a cable, as queued (borrowing the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit<'a> {
    /// Wall-clock time, ns since the Unix epoch.
    pub t_ns: u64,
    /// Lane adapter of the port.
    pub adapter: u8,
    /// Which way.
    pub dir: Direction,
    /// What.
    pub kind: TapKind,
    /// The bytes as on the cable.
    pub bytes: &'a [u8],
}

/// Queue header of a unit: t_ns u64, len u32, hop u16, adapter u8, flags
/// u8 (native byte order; it never leaves the process).
const UNIT_HEADER: usize = 16;
const F_TX: u8 = 1;
const F_DATA: u8 = 2;
const F_CRC_ERROR: u8 = 4;

/// Append `u` to a queue buffer.
fn push_unit(buf: &mut Vec<u8>, u: &Unit<'_>) {
    let (mut flags, hop) = match u.kind {
        TapKind::Control { pdf } => ((pdf & 0xf) << 4, 0),
        TapKind::Data { hop, crc_error } => (F_DATA | if crc_error { F_CRC_ERROR } else { 0 }, hop),
    };
    if u.dir == Direction::Tx {
        flags |= F_TX;
    }
    // Data frames are at most 4096 bytes, control packets 256.
    let len = u32::try_from(u.bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&u.t_ns.to_ne_bytes());
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&hop.to_ne_bytes());
    buf.push(u.adapter);
    buf.push(flags);
    buf.extend_from_slice(u.bytes);
}

/// The units of a batch, in the order they crossed the ports.
#[derive(Debug, Clone)]
pub struct Units<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Units<'a> {
    type Item = Unit<'a>;

    fn next(&mut self) -> Option<Unit<'a>> {
        let (h, rest) = self.rest.split_first_chunk::<UNIT_HEADER>()?;
        let [
            t0,
            t1,
            t2,
            t3,
            t4,
            t5,
            t6,
            t7,
            l0,
            l1,
            l2,
            l3,
            h0,
            h1,
            adapter,
            flags,
        ] = *h;
        let len = u32::from_ne_bytes([l0, l1, l2, l3]) as usize;
        // Written whole by `push_unit`; a short tail would end the batch.
        let bytes = rest.get(..len)?;
        self.rest = rest.get(len..)?;
        let kind = if flags & F_DATA != 0 {
            TapKind::Data {
                hop: u16::from_ne_bytes([h0, h1]),
                crc_error: flags & F_CRC_ERROR != 0,
            }
        } else {
            TapKind::Control { pdf: flags >> 4 }
        };
        Some(Unit {
            t_ns: u64::from_ne_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
            adapter,
            dir: if flags & F_TX != 0 {
                Direction::Tx
            } else {
                Direction::Rx
            },
            kind,
            bytes,
        })
    }
}

#[derive(Debug, Default)]
struct Queue {
    buf: Vec<u8>,
    dropped: u64,
    /// The capture thread sleeps on the empty queue: wake it.
    waiting: bool,
}

#[derive(Debug)]
struct Sub {
    id: u64,
    adapter: Option<u8>,
    limit: usize,
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// Why [`CaptureHub::subscribe`] refused a capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// [`MAX_CAPTURES`] captures run already.
    #[error("{0} captures are running already (at most {MAX_CAPTURES} at once); stop one first")]
    TooMany(usize),
    /// A thread panicked while holding the hub's lock; its state is not
    /// trusted.
    #[error("capture hub unavailable (an earlier capture failed)")]
    Unavailable,
}

/// Where the taps of one host publish and captures subscribe.
#[derive(Debug, Default)]
pub struct CaptureHub {
    active: AtomicUsize,
    next_id: AtomicU64,
    subs: Mutex<Vec<Arc<Sub>>>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl CaptureHub {
    /// Start a capture of port `adapter` (every port for `None`) whose
    /// queue holds up to `queue_bytes` of units (see the module docs); at
    /// most [`MAX_CAPTURES`] run at once.
    pub fn subscribe(
        self: &Arc<Self>,
        adapter: Option<u8>,
        queue_bytes: usize,
    ) -> Result<Subscription, SubscribeError> {
        let mut subs = self.subs.lock().map_err(|_| SubscribeError::Unavailable)?;
        if subs.len() >= MAX_CAPTURES {
            return Err(SubscribeError::TooMany(subs.len()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sub = Arc::new(Sub {
            id,
            adapter,
            limit: queue_bytes,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        });
        subs.push(sub.clone());
        self.active.store(subs.len(), Ordering::SeqCst);
        Ok(Subscription {
            hub: self.clone(),
            sub,
            batch: Vec::new(),
        })
    }

    /// Captures running.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    fn unsubscribe(&self, id: u64) {
        let mut subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        subs.retain(|s| s.id != id);
        self.active.store(subs.len(), Ordering::SeqCst);
    }

    fn publish(&self, adapter: u8, dir: Direction, pkt: &Packet<'_>) {
        let (kind, bytes) = match *pkt {
            Packet::Control { pdf, bytes } => (
                TapKind::Control {
                    pdf: pdf.value() & 0xf,
                },
                bytes,
            ),
            Packet::Data {
                hop,
                crc_error,
                bytes,
                ..
            } => (TapKind::Data { hop, crc_error }, bytes),
            Packet::Hello { .. } | Packet::Credit { .. } => return,
        };
        let subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        let unit = Unit {
            t_ns: now_ns(),
            adapter,
            dir,
            kind,
            bytes,
        };
        for s in subs
            .iter()
            .filter(|s| s.adapter.is_none_or(|a| a == adapter))
        {
            let mut q = s.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if q.buf.len() + UNIT_HEADER + bytes.len() > s.limit {
                q.dropped += 1;
                continue;
            }
            push_unit(&mut q.buf, &unit);
            if q.waiting {
                q.waiting = false;
                s.ready.notify_one();
            }
        }
    }
}

/// The tap on one port's cable (held by the cable wrapper).
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    hub: Arc<CaptureHub>,
    adapter: u8,
}

impl Tap {
    pub(crate) fn new(hub: Arc<CaptureHub>, adapter: u8) -> Self {
        Tap { hub, adapter }
    }

    /// Record `pkt` if a capture is running.
    #[inline]
    pub(crate) fn packet(&self, dir: Direction, pkt: &Packet<'_>) {
        if self.hub.active() != 0 {
            self.hub.publish(self.adapter, dir, pkt);
        }
    }
}

/// A running capture; dropping it ends the capture.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<CaptureHub>,
    sub: Arc<Sub>,
    /// The batch being worked on (swapped with the queue buffer).
    batch: Vec<u8>,
}

impl Subscription {
    /// Everything queued since the last batch, waiting up to `timeout`
    /// for a first unit when nothing is queued (possibly returning none).
    pub fn next_batch(&mut self, timeout: Duration) -> Units<'_> {
        self.batch.clear();
        let mut q = self
            .sub
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if q.buf.is_empty() && !timeout.is_zero() {
            q.waiting = true;
            q = match self.sub.ready.wait_timeout(q, timeout) {
                Ok((q, _)) => q,
                Err(e) => e.into_inner().0,
            };
            q.waiting = false;
        }
        std::mem::swap(&mut q.buf, &mut self.batch);
        drop(q);
        Units { rest: &self.batch }
    }

    /// Units dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.sub
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.sub.id);
    }
}

/// What a stream frame record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A control packet.
    Control {
        /// Packet type (spec 01 §3), 0..=15.
        pdf: u8,
    },
    /// An Ethernet frame reassembled from ThunderboltIP data frames.
    Ethernet {
        /// HopID of the path it came on.
        hop: u16,
    },
}

/// A control packet or Ethernet frame of a capture stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Wall-clock time, ns since the Unix epoch (of the last data frame
    /// for an Ethernet frame).
    pub t_ns: u64,
    /// Lane adapter.
    pub port: u8,
    /// Which way.
    pub dir: Direction,
    /// What.
    pub kind: FrameKind,
    /// Length before `snaplen` cut it.
    pub orig_len: u32,
    /// The bytes (at most `snaplen`).
    pub data: &'a [u8],
}

/// What the `end` record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndStats {
    /// Units dropped because the queue was full (the client was slow).
    pub dropped: u64,
    /// Data frames seen.
    pub data_frames: u64,
    /// Data frames that did not end up in an Ethernet frame.
    pub not_reassembled: u64,
}

/// One record of a capture stream (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A control packet or Ethernet frame.
    Frame(Frame<'a>),
    /// The capture stopped.
    End(EndStats),
}

/// A capture stream that does not follow the format of the module docs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The stream does not start with [`MAGIC`].
    #[error("not a tblink capture stream (starts with {0:02x?})")]
    BadMagic([u8; 6]),
    /// A version this build does not read.
    #[error("capture stream version {0} (this build reads version {VERSION})")]
    Version(u8),
    /// A record longer than [`MAX_RECORD`].
    #[error("capture record of {0} bytes (at most {MAX_RECORD} allowed)")]
    TooLong(u32),
    /// An unknown record kind.
    #[error("unknown capture record kind {0}")]
    UnknownKind(u8),
    /// A field out of range.
    #[error("malformed capture record: {0}")]
    Malformed(&'static str),
    /// The stream ended inside a record.
    #[error("capture stream ends inside a record ({have} of {want} bytes)")]
    Truncated {
        /// Bytes there were.
        have: usize,
        /// Bytes the record needs (header only, when that is incomplete).
        want: usize,
    },
}

/// The stream header.
pub fn stream_header() -> [u8; STREAM_HEADER_LEN] {
    let [a, b, c, d, e, f] = MAGIC;
    [a, b, c, d, e, f, VERSION, 0]
}

/// Check a stream header at the start of `b`: `Ok(None)` while it is
/// incomplete, else the bytes it takes.
pub fn decode_stream_header(b: &[u8]) -> Result<Option<usize>, StreamError> {
    let Some(h) = b.first_chunk::<STREAM_HEADER_LEN>() else {
        return Ok(None);
    };
    let [m0, m1, m2, m3, m4, m5, version, reserved] = *h;
    let magic = [m0, m1, m2, m3, m4, m5];
    if magic != MAGIC {
        return Err(StreamError::BadMagic(magic));
    }
    if version != VERSION {
        return Err(StreamError::Version(version));
    }
    if reserved != 0 {
        return Err(StreamError::Malformed("reserved header byte not 0"));
    }
    Ok(Some(STREAM_HEADER_LEN))
}

/// Write one record.
pub fn encode_record(w: &mut impl Write, r: &Record<'_>) -> std::io::Result<()> {
    let mut h = [0u8; RECORD_HEADER_LEN];
    let body: &[u8];
    let end;
    match r {
        Record::Frame(f) => {
            let len = u32::try_from(f.data.len())
                .ok()
                .filter(|&l| l <= MAX_RECORD && l <= f.orig_len)
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "capture record too long")
                })?;
            h[0..4].copy_from_slice(&len.to_le_bytes());
            h[5] = match f.dir {
                Direction::Rx => 0,
                Direction::Tx => 1,
            };
            h[6] = f.port;
            match f.kind {
                FrameKind::Control { pdf } => {
                    h[4] = KIND_CONTROL;
                    h[7] = pdf & 0xf;
                }
                FrameKind::Ethernet { hop } => {
                    h[4] = KIND_ETHERNET;
                    h[8..10].copy_from_slice(&hop.to_le_bytes());
                }
            }
            h[12..16].copy_from_slice(&f.orig_len.to_le_bytes());
            h[16..24].copy_from_slice(&f.t_ns.to_le_bytes());
            body = f.data;
        }
        Record::End(e) => {
            h[0..4].copy_from_slice(&END_LEN.to_le_bytes());
            h[4] = KIND_END;
            h[16..24].copy_from_slice(&now_ns().to_le_bytes());
            let mut b = [0u8; END_LEN as usize];
            b[0..8].copy_from_slice(&e.dropped.to_le_bytes());
            b[8..16].copy_from_slice(&e.data_frames.to_le_bytes());
            b[16..24].copy_from_slice(&e.not_reassembled.to_le_bytes());
            end = b;
            body = &end;
        }
    }
    w.write_all(&h)?;
    w.write_all(body)
}

fn u16_at(b: &[u8; RECORD_HEADER_LEN], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(i..i + 4) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(i..i + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

/// Decode the record at the start of `b`: `Ok(None)` while it is
/// incomplete (a header that is already wrong is an error at once), else
/// the record and the bytes it takes.
pub fn decode_record(b: &[u8]) -> Result<Option<(Record<'_>, usize)>, StreamError> {
    let Some(h) = b.first_chunk::<RECORD_HEADER_LEN>() else {
        return Ok(None);
    };
    let len = u32_at(h, 0);
    if len > MAX_RECORD {
        return Err(StreamError::TooLong(len));
    }
    let (kind, dir, port, pdf, hop) = (h[4], h[5], h[6], h[7], u16_at(h, 8));
    let orig_len = u32_at(h, 12);
    let t_ns = u64_at(h, 16);
    if u16_at(h, 10) != 0 {
        return Err(StreamError::Malformed("reserved bytes not 0"));
    }
    let dir = match dir {
        0 => Direction::Rx,
        1 => Direction::Tx,
        _ => return Err(StreamError::Malformed("direction not 0 or 1")),
    };
    let kind = match kind {
        KIND_CONTROL if pdf > 0xf => return Err(StreamError::Malformed("PDF above 15")),
        KIND_CONTROL if hop != 0 => {
            return Err(StreamError::Malformed("HopID on a control packet"));
        }
        KIND_CONTROL => FrameKind::Control { pdf },
        KIND_ETHERNET if pdf != 0 => {
            return Err(StreamError::Malformed("PDF on an Ethernet frame"));
        }
        KIND_ETHERNET => FrameKind::Ethernet { hop },
        KIND_END
            if len != END_LEN
                || dir != Direction::Rx
                || (port, pdf, hop, orig_len) != (0, 0, 0, 0) =>
        {
            return Err(StreamError::Malformed("bad end record"));
        }
        KIND_END => {
            let Some(body) = b.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + END_LEN as usize) else {
                return Ok(None);
            };
            let e = EndStats {
                dropped: u64_at(body, 0),
                data_frames: u64_at(body, 8),
                not_reassembled: u64_at(body, 16),
            };
            return Ok(Some((Record::End(e), RECORD_HEADER_LEN + END_LEN as usize)));
        }
        k => return Err(StreamError::UnknownKind(k)),
    };
    if orig_len < len {
        return Err(StreamError::Malformed(
            "original length below captured length",
        ));
    }
    let total = RECORD_HEADER_LEN + len as usize;
    let Some(data) = b.get(RECORD_HEADER_LEN..total) else {
        return Ok(None);
    };
    Ok(Some((
        Record::Frame(Frame {
            t_ns,
            port,
            dir,
            kind,
            orig_len,
            data,
        }),
        total,
    )))
}

/// The reassembly state of one path.
#[derive(Debug)]
struct PathState {
    key: (u8, Direction, u16),
    rx: Reassembler,
    /// Data frames of the packet in progress.
    pending: u64,
    /// [`Reassembly::clock`] when a frame last came on this path.
    last_used: u64,
}

/// Turns tapped units into stream frames: data frames go through one
/// ThunderboltIP reassembler per port, direction and HopID. At most
/// [`MAX_STREAMS`] are kept: a new path takes the place of the one whose
/// last frame is oldest (its packet in progress, if any, is abandoned and
/// counted as not reassembled), so paths that come and go (replugs, new
/// peers, `dma_test` runs) never stop a long capture from showing frames.
#[derive(Debug, Default)]
pub struct Reassembly {
    streams: Vec<PathState>,
    /// Data frames seen so far, as a clock for `last_used`.
    clock: u64,
    data_frames: u64,
    delivered_frames: u64,
    evicted: u64,
}

impl Reassembly {
    /// A fresh converter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frame `u` completes, if any.
    pub fn push<'s>(&'s mut self, u: Unit<'s>) -> Option<Frame<'s>> {
        let orig_len = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX);
        let (hop, crc_error) = match u.kind {
            TapKind::Control { pdf } => {
                return Some(Frame {
                    t_ns: u.t_ns,
                    port: u.adapter,
                    dir: u.dir,
                    kind: FrameKind::Control { pdf },
                    orig_len: orig_len(u.bytes),
                    data: u.bytes,
                });
            }
            TapKind::Data { hop, crc_error } => (hop, crc_error),
        };
        self.data_frames += 1;
        self.clock += 1;
        let key = (u.adapter, u.dir, hop);
        let fresh = || PathState {
            key,
            rx: Reassembler::new(RxConfig::default()),
            pending: 0,
            last_used: 0,
        };
        let i = match self.streams.iter().position(|s| s.key == key) {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS => {
                self.streams.push(fresh());
                self.streams.len().saturating_sub(1)
            }
            None => {
                let (i, _) = self
                    .streams
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.last_used)?;
                self.evicted += 1;
                // Its `pending` frames stay counted as not reassembled.
                *self.streams.get_mut(i)? = fresh();
                i
            }
        };
        let PathState {
            rx,
            pending,
            last_used,
            ..
        } = self.streams.get_mut(i)?;
        *last_used = self.clock;
        *pending += 1;
        // The descriptor's 12-bit length field: 4096 is encoded as 0.
        let len_field = (u.bytes.len() & 0xfff) as u16;
        let flags = RxFlags {
            crc_error,
            overrun: false,
        };
        match rx.push(u.bytes, len_field, flags) {
            RxOutcome::Packet(p) => {
                self.delivered_frames += *pending;
                *pending = 0;
                Some(Frame {
                    t_ns: u.t_ns,
                    port: u.adapter,
                    dir: u.dir,
                    kind: FrameKind::Ethernet { hop },
                    orig_len: orig_len(p),
                    data: p,
                })
            }
            RxOutcome::Pending => {
                // A first frame starts a new packet (any partial one before
                // it is abandoned).
                if u.bytes.get(4..6) == Some(&[0, 0]) {
                    *pending = 1;
                }
                None
            }
            RxOutcome::Dropped(_) => {
                // Dropped together with any partial packet before it.
                *pending = 0;
                None
            }
        }
    }

    /// Data frames seen.
    pub fn data_frames(&self) -> u64 {
        self.data_frames
    }

    /// Data frames seen that did not end up in an Ethernet frame (so far;
    /// frames of a packet still in progress count as not reassembled).
    pub fn not_reassembled(&self) -> u64 {
        self.data_frames.saturating_sub(self.delivered_frames)
    }

    /// Paths whose reassembler made room for a newer path.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// Does the client want the capture to stop (a line or end of stream)?
fn client_stopped(r: &mut BufReader<UnixStream>) -> bool {
    if !r.buffer().is_empty() {
        return true;
    }
    let fd = r.get_ref().as_fd();
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN | rustix::event::PollFlags::HUP,
    )];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// Write the frame `f` cut to `snap` bytes.
fn write_frame(w: &mut impl Write, f: Frame<'_>, snap: usize) -> std::io::Result<()> {
    let data = f.data.get(..snap).unwrap_or(f.data);
    encode_record(w, &Record::Frame(Frame { data, ..f }))
}

/// Convert and write the units of `units`; how many there were.
fn write_units(
    w: &mut impl Write,
    conv: &mut Reassembly,
    units: Units<'_>,
    snap: usize,
) -> std::io::Result<usize> {
    let mut n = 0;
    for u in units {
        n += 1;
        if let Some(f) = conv.push(u) {
            write_frame(w, f, snap)?;
        }
    }
    Ok(n)
}

/// Stream `sub` to a client (daemon side): the stream header, then
/// records with at most `snaplen` bytes each (whole packets for `None` or
/// 0) until the client sends a line or closes, or `stop` is set; then what
/// is still queued and the `end` record.
pub fn stream(
    mut sub: Subscription,
    snaplen: Option<u32>,
    r: &mut BufReader<UnixStream>,
    w: UnixStream,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let snap = match snaplen {
        Some(s) if s > 0 => s.min(MAX_RECORD),
        _ => MAX_RECORD,
    } as usize;
    let mut out = BufWriter::with_capacity(STREAM_BUF, w);
    out.write_all(&stream_header())?;
    out.flush()?;
    let mut conv = Reassembly::new();
    loop {
        let n = write_units(&mut out, &mut conv, sub.next_batch(POLL), snap)?;
        out.flush()?;
        if stop.load(Ordering::SeqCst) || client_stopped(r) {
            break;
        }
        if n > 0 {
            std::thread::sleep(BATCH_GAP);
        }
    }
    // What crossed the port before the stop is still delivered.
    write_units(&mut out, &mut conv, sub.next_batch(Duration::ZERO), snap)?;
    let end = EndStats {
        dropped: sub.dropped(),
        data_frames: conv.data_frames(),
        not_reassembled: conv.not_reassembled(),
    };
    drop(sub);
    encode_record(&mut out, &Record::End(end))?;
    out.flush()
}

/// What [`CaptureClient::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled<'a> {
    /// A record (borrowing the client's buffer until the next poll).
    Record(Record<'a>),
    /// Nothing within the poll interval.
    Idle,
    /// The daemon closed the stream between records.
    Closed,
}

/// Reading a capture stream failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// I/O on the socket.
    #[error("control socket {path}: {source}")]
    Io {
        /// Socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The stream is malformed.
    #[error("control socket {path}: {source}")]
    Stream {
        /// Socket path.
        path: PathBuf,
        /// What is wrong.
        source: StreamError,
    },
}

/// Incremental reader of a capture stream from any byte source: keeps a
/// fixed buffer (room for four of the largest records) and hands out
/// records borrowing it.
#[derive(Debug)]
pub struct StreamReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Length of the record handed out last (consumed on the next call).
    last: usize,
    header_seen: bool,
}

/// Why [`StreamReader::read_record`] failed.
#[derive(Debug)]
pub enum ReadError {
    /// The source failed (or timed out).
    Io(std::io::Error),
    /// The stream is malformed.
    Stream(StreamError),
}

impl From<StreamError> for ReadError {
    fn from(e: StreamError) -> Self {
        ReadError::Stream(e)
    }
}

impl<R: Read> StreamReader<R> {
    /// Read a stream from `src`; `prefix` holds bytes already read from it.
    pub fn new(src: R, prefix: &[u8]) -> Self {
        let mut buf = vec![0u8; CLIENT_BUF.max(prefix.len())];
        buf[..prefix.len()].copy_from_slice(prefix);
        StreamReader {
            src,
            buf,
            start: 0,
            end: prefix.len(),
            last: 0,
            header_seen: false,
        }
    }

    /// The next record; `Ok(None)` when the source ends between records.
    pub fn read_record(&mut self) -> Result<Option<Record<'_>>, ReadError> {
        self.start += std::mem::take(&mut self.last);
        loop {
            let avail = self.buf.get(self.start..self.end).unwrap_or(&[]);
            if !self.header_seen {
                if let Some(n) = decode_stream_header(avail)? {
                    self.start += n;
                    self.header_seen = true;
                    continue;
                }
            } else if let Some((_, n)) = decode_record(avail)? {
                self.last = n;
                break;
            }
            // More bytes needed: make room for the largest record.
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.buf.len().saturating_sub(self.start)
                < RECORD_HEADER_LEN + MAX_RECORD as usize
            {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end.saturating_sub(self.start));
            }
            let n = self
                .src
                .read(self.buf.get_mut(self.end..).unwrap_or(&mut []))
                .map_err(ReadError::Io)?;
            if n == 0 {
                if self.start == self.end && self.header_seen {
                    return Ok(None);
                }
                let have = self.end.saturating_sub(self.start);
                let want = if self.header_seen {
                    self.buf
                        .get(self.start..self.end)
                        .and_then(|b| b.first_chunk::<RECORD_HEADER_LEN>())
                        .map_or(RECORD_HEADER_LEN, |h| {
                            RECORD_HEADER_LEN + u32_at(h, 0) as usize
                        })
                } else {
                    STREAM_HEADER_LEN
                };
                return Err(StreamError::Truncated { have, want }.into());
            }
            self.end += n;
        }
        let b = self.buf.get(self.start..self.end).unwrap_or(&[]);
        match decode_record(b)? {
            Some((r, _)) => Ok(Some(r)),
            None => Err(StreamError::Truncated {
                have: b.len(),
                want: self.last,
            }
            .into()),
        }
    }

    /// The source.
    pub fn get_ref(&self) -> &R {
        &self.src
    }
}

/// Wait until `s` has something to read (or its peer closed), at most
/// `limit`, looking at `cancel` every [`CANCEL_POLL`]: `Ok(false)` when
/// cancelled; `Ok(true)` also after `limit`, so the read then times out.
fn wait_readable(s: &UnixStream, limit: Duration, cancel: &AtomicBool) -> std::io::Result<bool> {
    let started = std::time::Instant::now();
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(true);
        }
        let slice = left.min(CANCEL_POLL);
        let fd = s.as_fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN | rustix::event::PollFlags::HUP,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(slice.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The client end of a capture (what `tblink capture` uses).
#[derive(Debug)]
pub struct CaptureClient {
    path: PathBuf,
    r: StreamReader<UnixStream>,
    w: UnixStream,
    message: String,
}

impl CaptureClient {
    /// Ask the host at `path` (called `name` in errors) to capture port
    /// `adapter` (every port for `None`), keeping at most `snaplen` bytes
    /// of each packet (whole packets for `None`). A refusal (e.g. no such
    /// port) comes back as `Ok(Err(reason))`. The wait for the answer (at
    /// most [`crate::control::CLIENT_TIMEOUT`]) ends early with
    /// [`ControlError::Interrupted`] once `cancel` is set.
    pub fn start(
        path: &Path,
        name: &str,
        adapter: Option<u8>,
        snaplen: Option<u32>,
        poll: Duration,
        cancel: &AtomicBool,
    ) -> Result<Result<Self, String>, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut s = control::connect(path, name)?;
        control::send_request(&mut s, path, &Request::Capture { adapter, snaplen })?;
        wait_readable(&s, control::CLIENT_TIMEOUT, cancel)
            .map_err(io)?
            .then_some(())
            .ok_or_else(|| ControlError::Interrupted(path.to_path_buf()))?;
        let w = s.try_clone().map_err(io)?;
        let mut r = BufReader::new(s);
        let resp = control::read_response(&mut r, path)?;
        if !resp.ok {
            return Ok(Err(resp.error.unwrap_or_else(|| "refused".into())));
        }
        // The binary stream may already have begun in the line buffer.
        let prefix = r.buffer().to_vec();
        let s = r.into_inner();
        s.set_read_timeout(Some(poll.max(Duration::from_millis(1))))
            .map_err(io)?;
        Ok(Ok(CaptureClient {
            path: path.to_path_buf(),
            r: StreamReader::new(s, &prefix),
            w,
            message: resp.message.unwrap_or_default(),
        }))
    }

    /// The daemon's answer to the request (what is captured).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Ask the daemon to stop; it answers with the rest of the queue and
    /// the `end` record.
    pub fn stop(&mut self) -> std::io::Result<()> {
        self.w.write_all(b"{\"cmd\":\"stop\"}\n")
    }

    /// The next record, waiting at most the poll interval.
    pub fn poll(&mut self) -> Result<Polled<'_>, CaptureError> {
        match self.r.read_record() {
            Ok(Some(r)) => Ok(Polled::Record(r)),
            Ok(None) => Ok(Polled::Closed),
            Err(ReadError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(Polled::Idle)
            }
            Err(ReadError::Io(source)) => Err(CaptureError::Io {
                path: self.path.clone(),
                source,
            }),
            Err(ReadError::Stream(source)) => Err(CaptureError::Stream {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tblink_wire::Pdf;
    use tblink_wire::tbip::FrameHeader;

    fn data_frame(index: u16, count: u32, id: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        FrameHeader {
            frame_size: payload.len() as u32,
            frame_index: index,
            frame_id: id,
            frame_count: count,
        }
        .emit(&mut v)
        .unwrap();
        v.extend_from_slice(payload);
        v
    }

    fn encode(r: &Record<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        encode_record(&mut v, r).unwrap();
        v
    }

    /// A control packet record as the module docs lay it out.
    const CONTROL_BYTES: [u8; 26] = [
        2, 0, 0, 0, // len
        1, 1, 3, 6, // control, sent, port 3, PDF 6
        0, 0, 0, 0, // HopID, reserved
        8, 0, 0, 0, // original length
        0x15, 0xcd, 0x5b, 0x07, 0, 0, 0, 0, // t_ns 123456789
        0xab, 0xcd,
    ];

    #[test]
    fn stream_header_bytes() {
        assert_eq!(stream_header(), *b"TBLCAP\x01\x00");
        assert_eq!(decode_stream_header(b"TBLCAP\x01\x00rest"), Ok(Some(8)));
        assert_eq!(decode_stream_header(b"TBLCAP\x01"), Ok(None));
        assert_eq!(
            decode_stream_header(b"TBLCAP\x02\x00"),
            Err(StreamError::Version(2))
        );
        assert_eq!(
            decode_stream_header(b"{\"ok\":tr"),
            Err(StreamError::BadMagic(*b"{\"ok\":"))
        );
        assert!(matches!(
            decode_stream_header(b"TBLCAP\x01\x07"),
            Err(StreamError::Malformed(_))
        ));
    }

    #[test]
    fn control_record_bytes() {
        let f = Frame {
            t_ns: 123_456_789,
            port: 3,
            dir: Direction::Tx,
            kind: FrameKind::Control { pdf: 6 },
            orig_len: 8,
            data: &[0xab, 0xcd],
        };
        assert_eq!(encode(&Record::Frame(f)), CONTROL_BYTES);
        let (r, n) = decode_record(&CONTROL_BYTES).unwrap().unwrap();
        assert_eq!((r, n), (Record::Frame(f), 26));
        // Trailing bytes belong to the next record.
        let mut two = CONTROL_BYTES.to_vec();
        two.extend_from_slice(&CONTROL_BYTES);
        assert_eq!(decode_record(&two).unwrap().unwrap().1, 26);
    }

    #[test]
    fn ethernet_and_end_record_bytes() {
        let eth: [u8; 27] = [
            3, 0, 0, 0, 2, 0, 1, 0, // len 3, Ethernet, received, port 1
            0x08, 0x01, 0, 0, // HopID 0x108
            3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, // orig 3, t_ns 1
            0xde, 0xad, 0xbe,
        ];
        let (r, n) = decode_record(&eth).unwrap().unwrap();
        assert_eq!(n, 27);
        assert_eq!(
            r,
            Record::Frame(Frame {
                t_ns: 1,
                port: 1,
                dir: Direction::Rx,
                kind: FrameKind::Ethernet { hop: 0x108 },
                orig_len: 3,
                data: &[0xde, 0xad, 0xbe],
            })
        );
        assert_eq!(encode(&r), eth);

        let e = EndStats {
            dropped: 0x0102,
            data_frames: 5,
            not_reassembled: 1,
        };
        let b = encode(&Record::End(e));
        assert_eq!(b.len(), 48);
        assert_eq!(b[0..16], [24, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b[24..32], [2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b[32..40], [5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b[40..48], [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_record(&b), Ok(Some((Record::End(e), 48))));
    }

    #[test]
    fn malformed_records_are_typed_errors() {
        let with = |i: usize, v: u8| {
            let mut b = CONTROL_BYTES;
            b[i] = v;
            decode_record(&b).map(|r| r.map(|(_, n)| n))
        };
        assert_eq!(with(4, 9), Err(StreamError::UnknownKind(9)));
        assert_eq!(with(4, 0), Err(StreamError::UnknownKind(0)));
        assert!(matches!(with(5, 2), Err(StreamError::Malformed(_))));
        assert!(matches!(with(7, 16), Err(StreamError::Malformed(_))));
        assert!(matches!(with(10, 1), Err(StreamError::Malformed(_))));
        // Original length 1 below the 2 captured bytes.
        assert!(matches!(with(12, 1), Err(StreamError::Malformed(_))));
        // An end record with a 23-byte body.
        let mut end = encode(&Record::End(EndStats::default()));
        end[0] = 23;
        assert!(matches!(
            decode_record(&end),
            Err(StreamError::Malformed(_))
        ));
        // A frame longer than the format allows is refused when written.
        let big = vec![0u8; MAX_RECORD as usize + 1];
        let f = Frame {
            t_ns: 0,
            port: 1,
            dir: Direction::Rx,
            kind: FrameKind::Ethernet { hop: 1 },
            orig_len: u32::MAX,
            data: &big,
        };
        assert!(encode_record(&mut Vec::new(), &Record::Frame(f)).is_err());
    }

    /// A stream header followed by `parts`, ready to read.
    fn reader(parts: &[&[u8]]) -> StreamReader<Cursor<Vec<u8>>> {
        let mut s = stream_header().to_vec();
        for p in parts {
            s.extend_from_slice(p);
        }
        StreamReader::new(Cursor::new(s), &[])
    }

    /// The next read of `r` reports a stream cut after `have` of `want` bytes.
    fn assert_truncated(r: &mut StreamReader<Cursor<Vec<u8>>>, have: usize, want: usize) {
        match r.read_record() {
            Err(ReadError::Stream(StreamError::Truncated { have: h, want: w })) => {
                assert_eq!((h, w), (have, want));
            }
            other => panic!("expected a truncated stream, got {other:?}"),
        }
    }

    #[test]
    fn oversized_record_is_refused_from_its_header() {
        let mut h = CONTROL_BYTES[..RECORD_HEADER_LEN].to_vec();
        h[0..4].copy_from_slice(&(MAX_RECORD + 1).to_le_bytes());
        h[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        // No body follows: the header alone is enough to refuse it.
        assert_eq!(decode_record(&h), Err(StreamError::TooLong(MAX_RECORD + 1)));
        let mut r = reader(&[&h]);
        assert!(matches!(
            r.read_record(),
            Err(ReadError::Stream(StreamError::TooLong(n))) if n == MAX_RECORD + 1
        ));
    }

    #[test]
    fn truncated_stream_is_a_typed_error() {
        // Incomplete input is not an error by itself.
        assert_eq!(decode_record(&CONTROL_BYTES[..10]), Ok(None));
        assert_eq!(decode_record(&CONTROL_BYTES[..25]), Ok(None));
        let mut r = reader(&[&CONTROL_BYTES, &CONTROL_BYTES[..25]]);
        assert!(matches!(r.read_record(), Ok(Some(Record::Frame(_)))));
        assert_truncated(&mut r, 25, 26);
        // Cut inside a record header.
        assert_truncated(&mut reader(&[&CONTROL_BYTES[..5]]), 5, 24);
        // Cut inside the stream header.
        let mut r = StreamReader::new(Cursor::new(b"TBLC".to_vec()), &[]);
        assert_truncated(&mut r, 4, 8);
        // Ending between records is a clean end.
        let mut r = reader(&[&CONTROL_BYTES]);
        assert!(matches!(r.read_record(), Ok(Some(_))));
        assert!(matches!(r.read_record(), Ok(None)));
    }

    /// Hands out one byte per read, with a timeout before each.
    struct Dribble {
        bytes: Vec<u8>,
        at: usize,
        stall: bool,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.stall = !self.stall;
            if self.stall {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let Some(&b) = self.bytes.get(self.at) else {
                return Ok(0);
            };
            buf[0] = b;
            self.at += 1;
            Ok(1)
        }
    }

    #[test]
    fn reader_resumes_after_timeouts_and_starts_from_a_prefix() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        let frame = Frame {
            t_ns: 9,
            port: 1,
            dir: Direction::Rx,
            kind: FrameKind::Ethernet { hop: 8 },
            orig_len: 70_000,
            data: &big,
        };
        let mut s = stream_header().to_vec();
        s.extend_from_slice(&CONTROL_BYTES);
        s.extend_from_slice(&encode(&Record::Frame(frame)));
        s.extend_from_slice(&encode(&Record::End(EndStats::default())));
        // The first 11 bytes were read together with the response line.
        let mut r = StreamReader::new(
            Dribble {
                bytes: s[11..].to_vec(),
                at: 0,
                stall: false,
            },
            &s[..11],
        );
        let mut got = Vec::new();
        loop {
            match r.read_record() {
                Ok(Some(Record::Frame(f))) => got.push(f.data.to_vec()),
                Ok(Some(Record::End(e))) => {
                    assert_eq!(e, EndStats::default());
                    break;
                }
                Ok(None) => panic!("ended before the end record"),
                Err(ReadError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
                Err(ReadError::Stream(e)) => panic!("{e}"),
            }
        }
        assert_eq!(got, [vec![0xab, 0xcd], big]);
    }

    fn ctl(bytes: &[u8]) -> Packet<'_> {
        Packet::Control {
            pdf: Pdf::new(6),
            bytes,
        }
    }

    #[test]
    fn hub_filters_bounds_in_bytes_and_unsubscribes() {
        let hub = Arc::new(CaptureHub::default());
        let tap1 = Tap::new(hub.clone(), 1);
        let tap3 = Tap::new(hub.clone(), 3);
        let pkt = [0, 0, 0, 0, 0, 0, 0, 1];
        // Nobody listens: nothing happens.
        tap1.packet(Direction::Tx, &ctl(&pkt));
        // Room for exactly two 8-byte units.
        let mut sub = hub.subscribe(Some(1), 2 * (UNIT_HEADER + 8)).unwrap();
        assert_eq!(hub.active(), 1);
        tap3.packet(Direction::Tx, &ctl(&pkt));
        tap1.packet(Direction::Rx, &ctl(&pkt));
        tap1.packet(Direction::Tx, &ctl(&pkt));
        tap1.packet(Direction::Tx, &ctl(&pkt));
        // Hello and credit units are not recorded.
        tap1.packet(
            Direction::Tx,
            &Packet::Hello {
                role: tblink_hostif::cable::Role::Host,
            },
        );
        let units: Vec<Unit<'_>> = sub.next_batch(Duration::ZERO).collect();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].adapter, 1);
        assert_eq!(units[0].dir, Direction::Rx);
        assert_eq!(units[0].kind, TapKind::Control { pdf: 6 });
        assert_eq!(units[0].bytes, pkt);
        assert_eq!(units[1].dir, Direction::Tx);
        assert_eq!(sub.dropped(), 1);
        // The batch freed the queue.
        tap1.packet(Direction::Tx, &ctl(&pkt));
        assert_eq!(sub.next_batch(Duration::ZERO).count(), 1);
        assert_eq!(sub.next_batch(Duration::ZERO).count(), 0);
        drop(sub);
        assert_eq!(hub.active(), 0);
    }

    #[test]
    fn queue_units_round_trip() {
        let mut buf = Vec::new();
        let units = [
            Unit {
                t_ns: u64::MAX - 1,
                adapter: 5,
                dir: Direction::Tx,
                kind: TapKind::Control { pdf: 15 },
                bytes: &[1, 2, 3],
            },
            Unit {
                t_ns: 7,
                adapter: 1,
                dir: Direction::Rx,
                kind: TapKind::Data {
                    hop: 2047,
                    crc_error: true,
                },
                bytes: &[9; 4096],
            },
            Unit {
                t_ns: 8,
                adapter: 3,
                dir: Direction::Tx,
                kind: TapKind::Data {
                    hop: 1,
                    crc_error: false,
                },
                bytes: &[],
            },
        ];
        for u in &units {
            push_unit(&mut buf, u);
        }
        assert_eq!(buf.len(), 3 * UNIT_HEADER + 4099);
        let back: Vec<Unit<'_>> = Units { rest: &buf }.collect();
        assert_eq!(back, units);
    }

    fn data_unit(bytes: &[u8], hop: u16) -> Unit<'_> {
        Unit {
            t_ns: 7,
            adapter: 1,
            dir: Direction::Rx,
            kind: TapKind::Data {
                hop,
                crc_error: false,
            },
            bytes,
        }
    }

    #[test]
    fn data_frames_become_ethernet_frames() {
        let frame: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut conv = Reassembly::new();
        let (a, b) = (
            data_frame(0, 2, 9, &frame[..4084]),
            data_frame(1, 2, 9, &frame[4084..]),
        );
        assert_eq!(conv.push(data_unit(&a, 8)), None);
        // Another path in between does not disturb the first.
        assert_eq!(conv.push(data_unit(&[1, 2, 3], 9)), None);
        let out = conv.push(data_unit(&b, 8));
        assert_eq!(
            out,
            Some(Frame {
                t_ns: 7,
                port: 1,
                dir: Direction::Rx,
                kind: FrameKind::Ethernet { hop: 8 },
                orig_len: 5000,
                data: &frame,
            })
        );
        assert_eq!(conv.data_frames(), 3);
        assert_eq!(conv.not_reassembled(), 1);
    }

    #[test]
    fn streams_are_bounded_and_the_idlest_makes_room() {
        let mut conv = Reassembly::new();
        let f = data_frame(0, 1, 0, &[0xaa; 20]);
        // Path 100 has the first half of a two-frame packet pending, then
        // goes idle; path 101 stays busy; paths 0, 1, 2, … come and go.
        let (a, b) = (
            data_frame(0, 2, 5, &[0x11; 30]),
            data_frame(1, 2, 5, &[0x22; 30]),
        );
        assert_eq!(conv.push(data_unit(&a, 100)), None);
        for hop in 0..(3 * MAX_STREAMS as u16) {
            // Every new path is reassembled, long after MAX_STREAMS paths.
            let r = conv.push(data_unit(&f, hop));
            assert_eq!(r.map(|fr| fr.data.len()), Some(20), "path {hop}");
            if hop.is_multiple_of(4) {
                assert_eq!(conv.push(data_unit(&[9; 3], 101)), None);
            }
        }
        assert_eq!(conv.streams.len(), MAX_STREAMS);
        assert!(conv.evicted() > 0);
        // The idle path made room (its half packet abandoned), the busy
        // one did not.
        assert!(conv.streams.iter().all(|s| s.key.2 != 100));
        assert!(conv.streams.iter().any(|s| s.key.2 == 101));
        let before = conv.not_reassembled();
        assert_eq!(conv.push(data_unit(&b, 100)), None);
        assert_eq!(conv.not_reassembled(), before + 1);
        // A whole packet on a path seen again is reassembled.
        assert!(conv.push(data_unit(&a, 100)).is_none());
        let done = conv.push(data_unit(&b, 100)).unwrap();
        assert_eq!(done.data[..30], [0x11; 30]);
        assert_eq!(done.data[30..], [0x22; 30]);
    }

    #[test]
    fn start_gives_up_waiting_when_cancelled() {
        let dir = std::env::temp_dir().join(format!("tblink-cap-cancel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mute.sock");
        let _ = std::fs::remove_file(&path);
        // A daemon that takes the connection but never answers.
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let cancel = AtomicBool::new(true);
        let r = CaptureClient::start(&path, "mute", None, None, POLL, &cancel);
        assert!(matches!(r, Err(ControlError::Interrupted(_))), "{r:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn captures_per_hub_are_capped() {
        let hub = Arc::new(CaptureHub::default());
        let subs: Vec<Subscription> = (0..MAX_CAPTURES)
            .map(|_| hub.subscribe(None, 1024).unwrap())
            .collect();
        let e = hub.subscribe(Some(1), 1024).unwrap_err();
        assert_eq!(e, SubscribeError::TooMany(MAX_CAPTURES));
        assert!(e.to_string().contains("at most 4 at once"), "{e}");
        assert_eq!(hub.active(), MAX_CAPTURES);
        drop(subs);
        assert_eq!(hub.active(), 0);
        assert!(hub.subscribe(None, 1024).is_ok());
    }

    #[test]
    fn poisoned_hub_refuses_to_subscribe() {
        let hub = Arc::new(CaptureHub::default());
        let h = hub.clone();
        let _ = std::thread::spawn(move || {
            let _g = h.subs.lock().unwrap();
            panic!("poison the hub's lock");
        })
        .join();
        assert_eq!(
            hub.subscribe(None, 1024).unwrap_err(),
            SubscribeError::Unavailable
        );
    }

    /// The daemon side end to end over a socket pair: header, records cut
    /// to the snaplen with their original length, the stop line, the
    /// `end` record with the drop count.
    #[test]
    fn stream_writes_records_until_the_client_stops() {
        let hub = Arc::new(CaptureHub::default());
        let tap = Tap::new(hub.clone(), 1);
        let sub = hub.subscribe(None, 1 << 20).unwrap();
        let long: Vec<u8> = (0..40u8).collect();
        tap.packet(Direction::Tx, &ctl(&long));
        tap.packet(Direction::Rx, &ctl(&long[..8]));
        let eth: Vec<u8> = (0..100u8).collect();
        let df = data_frame(0, 1, 3, &eth);
        tap.packet(
            Direction::Rx,
            &Packet::Data {
                hop: 8,
                sof: Pdf::new(0),
                eof: Pdf::new(0),
                crc_error: false,
                bytes: &df,
            },
        );
        let (daemon, mut client) = UnixStream::pair().unwrap();
        let stop = AtomicBool::new(false);
        let r = daemon.try_clone().unwrap();
        std::thread::scope(|s| {
            let t = s.spawn(|| stream(sub, Some(16), &mut BufReader::new(r), daemon, &stop));
            let mut reader = StreamReader::new(client.try_clone().unwrap(), &[]);
            let mut frames = Vec::new();
            while frames.len() < 3 {
                match reader.read_record().unwrap().unwrap() {
                    Record::Frame(f) => frames.push((f.kind, f.dir, f.orig_len, f.data.to_vec())),
                    Record::End(e) => panic!("early end {e:?}"),
                }
            }
            assert_eq!(
                frames,
                [
                    (
                        FrameKind::Control { pdf: 6 },
                        Direction::Tx,
                        40,
                        long[..16].to_vec()
                    ),
                    (
                        FrameKind::Control { pdf: 6 },
                        Direction::Rx,
                        8,
                        long[..8].to_vec()
                    ),
                    (
                        FrameKind::Ethernet { hop: 8 },
                        Direction::Rx,
                        100,
                        eth[..16].to_vec()
                    ),
                ]
            );
            // Queued before the stop: still delivered.
            tap.packet(Direction::Tx, &ctl(&long[..4]));
            client.write_all(b"{\"cmd\":\"stop\"}\n").unwrap();
            let Record::Frame(f) = reader.read_record().unwrap().unwrap() else {
                panic!("want the last frame")
            };
            assert_eq!(f.data, &long[..4]);
            assert_eq!(
                reader.read_record().unwrap(),
                Some(Record::End(EndStats {
                    dropped: 0,
                    data_frames: 1,
                    not_reassembled: 0
                }))
            );
            t.join().unwrap().unwrap();
        });
        assert_eq!(hub.active(), 0);
    }
}
