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
//!   and HopID. Frames that are not ThunderboltIP (or fail its checks) are
//!   counted, not shown.
//!
//! Hello and credit units of the emulated cable are not recorded.
//!
//! With no capture running the tap costs one relaxed atomic load per unit.
//! While one runs, each unit is copied into a bounded queue per capture
//! ([`QUEUE`] entries); when the queue is full the unit is dropped and
//! counted, so a slow client never stalls the event loop and memory stays
//! bounded. The count is reported at the end of the stream.
//!
//! # The `capture` request
//! `{"cmd":"capture","adapter":N}` (`adapter` may be left out: every port)
//! is answered by one response line (`{"ok":true,"message":…}` or an
//! error such as an unknown port); after an `ok` the daemon streams one
//! [`CaptureLine`] per line:
//!
//! ```text
//! {"kind":"control","t_ns":…,"port":1,"dir":"tx","pdf":6,"data":"0000000000000001…"}
//! {"kind":"ethernet","t_ns":…,"port":1,"dir":"rx","hop":8,"data":"02f137…"}
//! {"kind":"end","dropped":0,"data_frames":12,"not_reassembled":0}
//! ```
//!
//! `t_ns` is wall-clock time (ns since the Unix epoch) when the unit
//! crossed the port; `dir` is `tx` (sent by this host) or `rx`
//! (received); `data` is lowercase hex. Any line the client sends (e.g.
//! `{"cmd":"stop"}`) or closing its end stops the capture; the daemon then
//! sends what it still had queued and the `end` line with the number of
//! units dropped because the client was slow (`dropped`), the data frames
//! seen and how many of them did not become Ethernet frames
//! (`not_reassembled`).

use std::fmt;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tblink_hostif::cable::Packet;
use tblink_net::rx::{Reassembler, RxConfig, RxFlags, RxOutcome};

use crate::control::{ControlError, MAX_LINE, Request, Response};

/// Units queued per capture before further ones are dropped (and counted).
pub const QUEUE: usize = 4096;
/// Reassemblers kept per capture (port, direction, HopID); data frames of
/// further paths are counted as not reassembled. Each holds up to 64 KiB.
pub const MAX_STREAMS: usize = 16;
/// How long the stream waits for units before looking at the client.
const POLL: Duration = Duration::from_millis(50);

/// Which way a unit crossed the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// One unit copied off a cable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRecord {
    /// Wall-clock time, ns since the Unix epoch.
    pub t_ns: u64,
    /// Lane adapter of the port.
    pub adapter: u8,
    /// Which way.
    pub dir: Direction,
    /// What.
    pub kind: TapKind,
    /// The bytes as on the cable.
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct Sub {
    id: u64,
    adapter: Option<u8>,
    tx: SyncSender<TapRecord>,
    dropped: Arc<AtomicU64>,
}

/// Where the taps of one host publish and captures subscribe.
#[derive(Debug, Default)]
pub struct CaptureHub {
    active: AtomicUsize,
    next_id: AtomicU64,
    subs: Mutex<Vec<Sub>>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl CaptureHub {
    /// Start a capture of port `adapter` (every port for `None`) with a
    /// queue of `queue` units.
    pub fn subscribe(self: &Arc<Self>, adapter: Option<u8>, queue: usize) -> Subscription {
        let (tx, rx) = sync_channel(queue.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(AtomicU64::new(0));
        if let Ok(mut subs) = self.subs.lock() {
            subs.push(Sub {
                id,
                adapter,
                tx,
                dropped: dropped.clone(),
            });
            self.active.store(subs.len(), Ordering::SeqCst);
        }
        Subscription {
            hub: self.clone(),
            id,
            rx,
            dropped,
        }
    }

    /// Captures running.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    fn unsubscribe(&self, id: u64) {
        if let Ok(mut subs) = self.subs.lock() {
            subs.retain(|s| s.id != id);
            self.active.store(subs.len(), Ordering::SeqCst);
        }
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
        let Ok(subs) = self.subs.lock() else { return };
        let t_ns = now_ns();
        for s in subs
            .iter()
            .filter(|s| s.adapter.is_none_or(|a| a == adapter))
        {
            let rec = TapRecord {
                t_ns,
                adapter,
                dir,
                kind,
                bytes: bytes.to_vec(),
            };
            if s.tx.try_send(rec).is_err() {
                s.dropped.fetch_add(1, Ordering::Relaxed);
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
    id: u64,
    rx: Receiver<TapRecord>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// The next unit, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<TapRecord, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next unit if one is queued.
    pub fn try_recv(&self) -> Result<TapRecord, TryRecvError> {
        self.rx.try_recv()
    }

    /// Units dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

/// Bytes carried as lowercase hex in a JSON string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Hex(pub Vec<u8>);

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Hex {
    /// The bytes as lowercase hex.
    pub fn to_hex(&self) -> String {
        const D: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            s.push(char::from(D[usize::from(b >> 4)]));
            s.push(char::from(D[usize::from(b & 0xf)]));
        }
        s
    }

    /// Parse hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Hex> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let b = s.as_bytes();
        if !b.len().is_multiple_of(2) {
            return None;
        }
        b.chunks_exact(2)
            .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(Hex)
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hex::from_hex(&s).ok_or_else(|| serde::de::Error::custom("bad hex string"))
    }
}

/// One line of a capture stream (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaptureLine {
    /// A control packet.
    Control {
        /// Wall-clock time, ns since the Unix epoch.
        t_ns: u64,
        /// Lane adapter.
        port: u8,
        /// Which way.
        dir: Direction,
        /// Packet type (spec 01 §3).
        pdf: u8,
        /// Route, payload and CRC trailer as on the cable.
        data: Hex,
    },
    /// An Ethernet frame reassembled from ThunderboltIP data frames.
    Ethernet {
        /// Wall-clock time of its last data frame.
        t_ns: u64,
        /// Lane adapter.
        port: u8,
        /// Which way.
        dir: Direction,
        /// HopID of the path it came on.
        hop: u16,
        /// The Ethernet frame (no FCS).
        data: Hex,
    },
    /// The capture stopped.
    End {
        /// Units dropped because the client was slow.
        dropped: u64,
        /// Data frames seen.
        data_frames: u64,
        /// Data frames that did not end up in an Ethernet frame.
        not_reassembled: u64,
    },
}

/// Turns tapped units into stream lines: data frames go through one
/// ThunderboltIP reassembler per port, direction and HopID (at most
/// [`MAX_STREAMS`]).
#[derive(Debug, Default)]
pub struct Reassembly {
    streams: Vec<((u8, Direction, u16), Reassembler, u64)>,
    data_frames: u64,
    delivered_frames: u64,
    untracked: u64,
}

impl Reassembly {
    /// A fresh converter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The line for `rec`, if it completes one.
    pub fn push(&mut self, rec: TapRecord) -> Option<CaptureLine> {
        let (hop, crc_error) = match rec.kind {
            TapKind::Control { pdf } => {
                return Some(CaptureLine::Control {
                    t_ns: rec.t_ns,
                    port: rec.adapter,
                    dir: rec.dir,
                    pdf,
                    data: Hex(rec.bytes),
                });
            }
            TapKind::Data { hop, crc_error } => (hop, crc_error),
        };
        self.data_frames += 1;
        let key = (rec.adapter, rec.dir, hop);
        let i = match self.streams.iter().position(|s| s.0 == key) {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS => {
                self.streams
                    .push((key, Reassembler::new(RxConfig::default()), 0));
                self.streams.len() - 1
            }
            None => {
                self.untracked += 1;
                return None;
            }
        };
        let (_, rx, pending) = &mut self.streams[i];
        *pending += 1;
        // The descriptor's 12-bit length field: 4096 is encoded as 0.
        let len_field = (rec.bytes.len() & 0xfff) as u16;
        let flags = RxFlags {
            crc_error,
            overrun: false,
        };
        match rx.push(&rec.bytes, len_field, flags) {
            RxOutcome::Packet(p) => {
                self.delivered_frames += *pending;
                *pending = 0;
                Some(CaptureLine::Ethernet {
                    t_ns: rec.t_ns,
                    port: rec.adapter,
                    dir: rec.dir,
                    hop,
                    data: Hex(p.to_vec()),
                })
            }
            RxOutcome::Pending => {
                // A first frame starts a new packet (any partial one before
                // it is abandoned).
                if rec.bytes.get(4..6) == Some(&[0, 0]) {
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
        self.data_frames - self.delivered_frames
    }

    /// Data frames of paths beyond [`MAX_STREAMS`].
    pub fn untracked(&self) -> u64 {
        self.untracked
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

fn write_line(w: &mut impl Write, line: &CaptureLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, line).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

/// Stream `sub` to a client (daemon side) until the client sends a line or
/// closes, or `stop` is set; then send what is still queued and the `end`
/// line.
pub fn stream(
    sub: Subscription,
    r: &mut BufReader<UnixStream>,
    w: UnixStream,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, w);
    let mut conv = Reassembly::new();
    loop {
        match sub.recv_timeout(POLL) {
            Ok(rec) => {
                if let Some(l) = conv.push(rec) {
                    write_line(&mut out, &l)?;
                }
                for _ in 0..256 {
                    let Ok(rec) = sub.try_recv() else { break };
                    if let Some(l) = conv.push(rec) {
                        write_line(&mut out, &l)?;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        out.flush()?;
        if stop.load(Ordering::SeqCst) || client_stopped(r) {
            break;
        }
    }
    // What crossed the port before the stop is still delivered.
    while let Ok(rec) = sub.try_recv() {
        if let Some(l) = conv.push(rec) {
            write_line(&mut out, &l)?;
        }
    }
    let end = CaptureLine::End {
        dropped: sub.dropped(),
        data_frames: conv.data_frames(),
        not_reassembled: conv.not_reassembled(),
    };
    drop(sub);
    write_line(&mut out, &end)?;
    out.flush()
}

/// What [`CaptureClient::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// A stream line.
    Line(CaptureLine),
    /// Nothing within the poll interval.
    Idle,
    /// The daemon closed the stream.
    Closed,
}

/// The client end of a capture (what `tblink capture` uses).
#[derive(Debug)]
pub struct CaptureClient {
    path: PathBuf,
    r: BufReader<UnixStream>,
    w: UnixStream,
    pending: Vec<u8>,
    message: String,
}

impl CaptureClient {
    /// Ask the host at `path` (called `name` in errors) to capture port
    /// `adapter` (every port for `None`). A refusal (e.g. no such port)
    /// comes back as `Ok(Err(reason))`.
    pub fn start(
        path: &Path,
        name: &str,
        adapter: Option<u8>,
        poll: Duration,
    ) -> Result<Result<Self, String>, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut s = UnixStream::connect(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ControlError::NotRunning {
                    name: name.to_string(),
                    paths: path.display().to_string(),
                }
            }
            _ => io(e),
        })?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        s.set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        let mut req = serde_json::to_string(&Request::Capture { adapter })
            .map_err(|e| ControlError::BadResponse(path.into(), e.to_string()))?;
        req.push('\n');
        s.write_all(req.as_bytes()).map_err(io)?;
        let w = s.try_clone().map_err(io)?;
        let mut r = BufReader::with_capacity(256 * 1024, s);
        let line = crate::control::read_line(&mut r)
            .map_err(io)?
            .ok_or_else(|| ControlError::BadResponse(path.into(), "connection closed".into()))?;
        let resp: Response = serde_json::from_str(&line)
            .map_err(|e| ControlError::BadResponse(path.into(), e.to_string()))?;
        if !resp.ok {
            return Ok(Err(resp.error.unwrap_or_else(|| "refused".into())));
        }
        r.get_ref()
            .set_read_timeout(Some(poll.max(Duration::from_millis(1))))
            .map_err(io)?;
        Ok(Ok(CaptureClient {
            path: path.to_path_buf(),
            r,
            w,
            pending: Vec::new(),
            message: resp.message.unwrap_or_default(),
        }))
    }

    /// The daemon's answer to the request (what is captured).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Ask the daemon to stop; it answers with the rest of the queue and
    /// the `end` line.
    pub fn stop(&mut self) -> std::io::Result<()> {
        self.w.write_all(b"{\"cmd\":\"stop\"}\n")
    }

    /// The next line, waiting at most the poll interval.
    pub fn poll(&mut self) -> Result<Polled, ControlError> {
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    return Ok(Polled::Idle);
                }
                Err(source) => {
                    return Err(ControlError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            };
            if buf.is_empty() {
                return Ok(Polled::Closed);
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.pending.extend_from_slice(&buf[..i]);
                    self.r.consume(i + 1);
                    let line = std::mem::take(&mut self.pending);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return serde_json::from_slice(&line)
                        .map(Polled::Line)
                        .map_err(|e| ControlError::BadResponse(self.path.clone(), e.to_string()));
                }
                None => {
                    let n = buf.len();
                    self.pending.extend_from_slice(buf);
                    self.r.consume(n);
                    if self.pending.len() > MAX_LINE {
                        return Err(ControlError::BadResponse(
                            self.path.clone(),
                            "line too long".into(),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn hex_round_trip() {
        let h = Hex(vec![0x00, 0x0f, 0xa5, 0xff]);
        assert_eq!(h.to_hex(), "000fa5ff");
        assert_eq!(Hex::from_hex("000FA5ff"), Some(h));
        assert_eq!(Hex::from_hex("0"), None);
        assert_eq!(Hex::from_hex("zz"), None);
    }

    #[test]
    fn line_format() {
        let l = CaptureLine::Control {
            t_ns: 5,
            port: 1,
            dir: Direction::Tx,
            pdf: 6,
            data: Hex(vec![1, 2]),
        };
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"kind":"control","t_ns":5,"port":1,"dir":"tx","pdf":6,"data":"0102"}"#
        );
        let r: Request = serde_json::from_str(r#"{"cmd":"capture","adapter":3}"#).unwrap();
        assert_eq!(r, Request::Capture { adapter: Some(3) });
        let r: Request = serde_json::from_str(r#"{"cmd":"capture"}"#).unwrap();
        assert_eq!(r, Request::Capture { adapter: None });
    }

    #[test]
    fn hub_filters_bounds_and_unsubscribes() {
        let hub = Arc::new(CaptureHub::default());
        let tap1 = Tap::new(hub.clone(), 1);
        let tap3 = Tap::new(hub.clone(), 3);
        let ctl = Packet::Control {
            pdf: Pdf::new(6),
            bytes: &[0, 0, 0, 0, 0, 0, 0, 1],
        };
        // Nobody listens: nothing happens.
        tap1.packet(Direction::Tx, &ctl);
        let sub = hub.subscribe(Some(1), 2);
        assert_eq!(hub.active(), 1);
        tap3.packet(Direction::Tx, &ctl);
        tap1.packet(Direction::Rx, &ctl);
        tap1.packet(Direction::Tx, &ctl);
        tap1.packet(Direction::Tx, &ctl);
        let a = sub.try_recv().unwrap();
        assert_eq!(a.adapter, 1);
        assert_eq!(a.dir, Direction::Rx);
        assert_eq!(a.kind, TapKind::Control { pdf: 6 });
        assert_eq!(a.bytes, [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(sub.try_recv().unwrap().dir, Direction::Tx);
        assert!(sub.try_recv().is_err());
        assert_eq!(sub.dropped(), 1);
        drop(sub);
        assert_eq!(hub.active(), 0);
    }

    #[test]
    fn data_frames_become_ethernet_frames() {
        let frame: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut conv = Reassembly::new();
        let rec = |bytes: Vec<u8>, hop: u16| TapRecord {
            t_ns: 7,
            adapter: 1,
            dir: Direction::Rx,
            kind: TapKind::Data {
                hop,
                crc_error: false,
            },
            bytes,
        };
        assert_eq!(conv.push(rec(data_frame(0, 2, 9, &frame[..4084]), 8)), None);
        // Another path in between does not disturb the first.
        assert_eq!(conv.push(rec(vec![1, 2, 3], 9)), None);
        let out = conv.push(rec(data_frame(1, 2, 9, &frame[4084..]), 8));
        assert_eq!(
            out,
            Some(CaptureLine::Ethernet {
                t_ns: 7,
                port: 1,
                dir: Direction::Rx,
                hop: 8,
                data: Hex(frame),
            })
        );
        assert_eq!(conv.data_frames(), 3);
        assert_eq!(conv.not_reassembled(), 1);
    }

    #[test]
    fn streams_are_bounded() {
        let mut conv = Reassembly::new();
        for hop in 0..(MAX_STREAMS as u16 + 3) {
            let r = conv.push(TapRecord {
                t_ns: 0,
                adapter: 1,
                dir: Direction::Tx,
                kind: TapKind::Data {
                    hop,
                    crc_error: false,
                },
                bytes: data_frame(0, 1, 0, &[0xaa; 20]),
            });
            assert_eq!(r.is_some(), usize::from(hop) < MAX_STREAMS);
        }
        assert_eq!(conv.untracked(), 3);
        assert_eq!(conv.not_reassembled(), 3);
    }
}
