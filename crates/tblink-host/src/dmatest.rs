//! The DMA test service `dma_test` (spec 07) in the daemon: the
//! [`DmaTestDriver`], which publishes our `dma_test` directory and binds to
//! the peer's, and [`DmaTestExtension`], which runs tests with the
//! controller itself (rings, HopIDs, paths) inside the event loop.
//!
//! # Model
//! Spec 07 has no control protocol: each side of a connection is told
//! locally what to do, exactly like Linux's debugfs files. A run on one
//! bound service ([`DmaTestRequest`]) sends `send` frames, receives
//! `receive` frames, or both (loopback, spec 07 §2):
//!
//! * Setup in Linux's order (spec 07 §3): TX ring of 64 descriptors and an
//!   out HopID, RX ring of 256 descriptors (SOF mask `0x0002`, EOF mask
//!   `0x0004`) and an in HopID, paths enabled, TX ring started, RX ring
//!   started. E2E on both rings only when sending and receiving
//!   (loopback), the RX ring crediting our TX ring.
//! * HopIDs: the lowest free one ≥ 8 on each side unless given (spec 07
//!   §3: nothing is negotiated), except that HopID 8 is left to
//!   ThunderboltIP when our `network` driver is bound to the same peer
//!   (see `alloc_hopid`). `tblink dmatest` arms the receiver first and
//!   hands its in HopID to the sender, so two tblink hosts always agree.
//! * Receiver: exactly `receive` buffers of 4096 bytes are posted in total
//!   (255 at once, the rest as completions come back, spec 07 §3 step 4),
//!   every completion counts, CRC and overrun flags are counted (§5).
//! * Sender: `send` frames of `size` bytes with SOF PDF 1 / EOF PDF 2, the
//!   pattern of §4 in bytes 0..2047 and zeros after; counted as sent when
//!   queued (§3 step 5), and unlike Linux the run waits for every TX
//!   completion (bounded by [`TX_DRAIN_TIMEOUT`]) before stopping (§3).
//! * Teardown (§3 step 7): stop RX ring, stop TX ring, disable paths, free
//!   rings and HopIDs.
//! * Result (§6): Linux's rules and vocabulary ([`Status`]).
//!
//! # Extensions (spec 07 §7; a Linux peer never sees them)
//! * Frames larger than Linux's limit of 1000 per run, up to
//!   [`MAX_PACKETS`]; any frame size 1..=4096 for our sender.
//! * A receive timeout (`timeout_ms`, 0 = wait forever as Linux does):
//!   frames that never come are reported as missing instead of hanging.
//! * Checks Linux does not make, each counted and failing the run with
//!   "packet check failed": received length ≠ `size` (length errors), and
//!   bytes 0..2047 ≠ the pattern (pattern errors; optional). Frames carry
//!   no sequence number (§4), so reordering and duplication cannot be
//!   told apart: a duplicate is just one more frame.
//! * E2E flow control on one side's rings outside loopback
//!   ([`DmaTestRequest::e2e`]): without it a receiver that falls behind
//!   drops frames (the controller's `rx_dropped_no_desc`), as on
//!   hardware; `tblink dmatest` turns it on for two tblink hosts.
//! * Throughput: from the first posted TX frame to the last TX completion
//!   (sender) and from the first to the last RX completion (receiver);
//!   bytes = frames × size. Completions are seen once per loop turn, so
//!   both ends are as precise as one turn; the receiver leaves out the
//!   bytes of its first turn (they arrived before its clock started), and
//!   reports no rate when everything came in one turn.
//!
//! Where the spec is silent: a peer that goes away mid-run ends the run
//! (its counters then fail the §6 check, the detail says why); `speed` and
//! `lanes` are not emulated and never checked (as Linux with 0); a
//! cancelled run ends with "interrupted by signal", the nearest Linux
//! error. HopIDs are held only while a run lasts. A run given HopID 8
//! explicitly (`out_hopid`/`in_hopid`) while ThunderboltIP's logins
//! complete still makes that bring-up fail; the ThunderboltIP driver then
//! logs in again after 4.5 s and comes up once the run has ended.
//! Linux accepts at most
//! 1000 frames (spec 07 §7): `tblink dmatest` asks for 1000 unless told
//! otherwise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tblink_hostif::hostif::{DEFAULT_REMOTE_MAX_HOPID, FIRST_PATH_HOPID};
use tblink_hostif::{Dir, DmaBuf, DmaPaths, HopDir, HostInterface, RingConfig, RingId, TxFrame};
use tblink_proto::device::{Key, Service, XDomain};
use tblink_proto::driver::{DriverContext, DriverId, ProbeError, ServiceDriver, ServiceId};
use tblink_proto::{Host, Instant, LocalService};
use tblink_wire::Route;
use tblink_wire::dmatest::{
    DMA_TEST_DIRECTORY, EOF_PDF, FRAME_SIZE, PATTERN_LEN, PRTCID, PRTCREVS, PRTCSTNS, PRTCVERS,
    RX_EOF_MASK, RX_RING_SIZE, RX_SOF_MASK, SERVICE_KEY, SOF_PDF, Status, TX_RING_SIZE, TestError,
    TestResult, fill_pattern, pattern_word,
};
use tblink_wire::tbip::SERVICE_KEY as TBIP_SERVICE_KEY;

use crate::runtime::{Extension, Runtime, RuntimeError, push_timeline};
use crate::snapshot::{Snapshot, TimelineEntry};

/// Most frames per direction and run we accept (an extension of Linux's
/// 1000, spec 07 §7): about 41 GB at 4096 bytes. Memory does not grow
/// with it: a run holds at most 63 TX and 255 RX buffers.
pub const MAX_PACKETS: u32 = 10_000_000;
/// Default receive timeout: how long a receiver waits for the next frame.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest receive timeout accepted (one hour); 0 means none.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// How long the sender waits for TX completions without progress before
/// it gives up (spec 07 §3: "wait for all TX completions (with a timeout)").
pub const TX_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames received, and frames posted for sending, per run and turn of
/// the loop: a run never keeps the loop from discovery and other peers.
const BUDGET: u32 = 256;
/// Runs at the same time (one per service).
const MAX_RUNS: usize = 8;
/// Requests waiting for the loop.
const MAX_PENDING: usize = 16;
/// Finished reports kept for status queries.
const REPORTS_KEPT: usize = 32;

// ---------------------------------------------------------------------------
// The service driver
// ---------------------------------------------------------------------------

/// The `dma_test` service driver: binds to every peer service with key
/// `dma_test` and `prtcid` 1 (Linux's `tbsvc:kdma_testp00000001v*r*`,
/// spec 07 §1). Binding does nothing by itself: a test runs when asked
/// through [`DmaTestHandle`].
#[derive(Debug, Default)]
pub struct DmaTestDriver {
    bound: Vec<(Route, String)>,
}

impl DmaTestDriver {
    /// Our `dma_test` directory (spec 07 §1): UUID, `prtcid` 1,
    /// `prtcvers` 1, `prtcrevs` 0, `prtcstns` 0.
    pub fn local_service() -> LocalService {
        // "dma_test" is a valid key (8 bytes, no NUL).
        let key = Key::new(SERVICE_KEY.as_bytes()).unwrap_or_default();
        LocalService::standard(
            key,
            DMA_TEST_DIRECTORY,
            PRTCID,
            PRTCVERS,
            PRTCREVS,
            PRTCSTNS,
        )
    }

    /// Services bound: (route, device name such as `0-1.1`).
    pub fn bound(&self) -> &[(Route, String)] {
        &self.bound
    }
}

impl ServiceDriver for DmaTestDriver {
    fn name(&self) -> &str {
        "dma_test"
    }

    fn id_table(&self) -> &[ServiceId] {
        const IDS: &[ServiceId] = &[ServiceId::service(b"dma_test", PRTCID)];
        IDS
    }

    fn probe(
        &mut self,
        _ctx: &mut DriverContext<'_>,
        xdomain: &XDomain,
        service: &Service,
        _id: &ServiceId,
    ) -> Result<(), ProbeError> {
        let route = xdomain.route.without_cm();
        self.bound.retain(|(r, _)| *r != route);
        self.bound.push((route, service.name.clone()));
        Ok(())
    }

    fn remove(&mut self, _ctx: &mut DriverContext<'_>, xdomain: &XDomain, _service: &Service) {
        let route = xdomain.route.without_cm();
        self.bound.retain(|(r, _)| *r != route);
    }
}

// ---------------------------------------------------------------------------
// Requests, errors, reports
// ---------------------------------------------------------------------------

fn default_size() -> u32 {
    FRAME_SIZE as u32
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn yes() -> bool {
    true
}

/// One run on the service of the peer at lane adapter `adapter`: the
/// control-socket request `{"cmd":"dmatest","adapter":1,"send":1000}`
/// (fields as below; Linux's debugfs `packets_to_send` and
/// `packets_to_receive` are `send` and `receive`, spec 07 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmaTestRequest {
    /// Lane adapter of the peer.
    pub adapter: u8,
    /// Frames to send (`packets_to_send`).
    #[serde(default)]
    pub send: u32,
    /// Frames to receive (`packets_to_receive`).
    #[serde(default)]
    pub receive: u32,
    /// Bytes per frame, 1..=4096 (Linux: always 4096).
    #[serde(default = "default_size")]
    pub size: u32,
    /// Out HopID; lowest free ≥ 8 if absent (spec 07 §3).
    #[serde(default)]
    pub out_hopid: Option<u16>,
    /// In HopID; lowest free ≥ 8 if absent (spec 07 §3).
    #[serde(default)]
    pub in_hopid: Option<u16>,
    /// Longest wait for the next received frame, in ms; 0 = forever.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Check bytes 0..2047 of each received frame against the pattern.
    #[serde(default = "yes")]
    pub check_pattern: bool,
    /// E2E flow control on this side's rings even when not in loopback
    /// (extension: Linux uses E2E only in loopback, spec 07 §3). Between
    /// two tblink hosts both sides set it, so a receiver that falls
    /// behind holds the sender back instead of dropping frames. Against a
    /// peer without it nothing breaks: our E2E sender is granted
    /// unlimited credit, our E2E receiver's credits are ignored. A
    /// receive-only E2E ring names no TX ring for its credits: the
    /// emulated controller returns them itself.
    #[serde(default)]
    pub e2e: bool,
}

impl DmaTestRequest {
    /// A request with the defaults: nothing to send or receive yet, 4096
    /// bytes per frame, automatic HopIDs, 10 s receive timeout, pattern
    /// check on.
    pub fn new(adapter: u8) -> Self {
        DmaTestRequest {
            adapter,
            send: 0,
            receive: 0,
            size: default_size(),
            out_hopid: None,
            in_hopid: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            check_pattern: true,
            e2e: false,
        }
    }

    /// Check the numbers (spec 07 §2 rules, with our larger limits).
    pub fn validate(&self) -> Result<(), DmaTestError> {
        if self.send == 0 && self.receive == 0 {
            return Err(DmaTestError::NothingToDo);
        }
        for (what, v) in [("send", self.send), ("receive", self.receive)] {
            if v > MAX_PACKETS {
                return Err(DmaTestError::TooMany {
                    what,
                    value: v,
                    max: MAX_PACKETS,
                });
            }
        }
        if self.send != 0 && self.receive != 0 && self.send != self.receive {
            return Err(DmaTestError::Unequal);
        }
        if self.size == 0 || self.size as usize > FRAME_SIZE {
            return Err(DmaTestError::BadSize(self.size));
        }
        if self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(DmaTestError::BadTimeout(self.timeout_ms));
        }
        for h in [self.out_hopid, self.in_hopid].into_iter().flatten() {
            if h < FIRST_PATH_HOPID {
                return Err(DmaTestError::BadHopId(h));
            }
        }
        Ok(())
    }
}

/// Why a request was refused (no run was started).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmaTestError {
    /// The host runs without the `dma_test` service.
    #[error("this host does not run the dma_test service")]
    NotEnabled,
    /// No peer on that adapter.
    #[error("no peer on port {0}")]
    NoPeer(u8),
    /// Several peers (behind device routers) on that adapter.
    #[error("several peers on port {0}: {1}")]
    Ambiguous(u8, String),
    /// The peer is not enumerated yet.
    #[error("the peer on port {0} is still being enumerated")]
    NotReady(u8),
    /// The peer publishes no `dma_test` service (or it is not bound).
    #[error("peer {peer} on port {adapter} has no dma_test service")]
    NoService {
        /// Adapter.
        adapter: u8,
        /// Peer host name or route.
        peer: String,
    },
    /// A run on that service has not finished.
    #[error("a test is already running on {0}")]
    Busy(String),
    /// Too many runs at once.
    #[error("too many tests running (at most {MAX_RUNS})")]
    TooManyRuns,
    /// Both counts zero (spec 07 §2).
    #[error("nothing to do: send or receive must be at least 1")]
    NothingToDo,
    /// Both counts non-zero and different (spec 07 §2).
    #[error("send and receive must be equal when both are given (loopback)")]
    Unequal,
    /// A count above [`MAX_PACKETS`].
    #[error("{what} {value} is above the limit of {max} frames")]
    TooMany {
        /// `send` or `receive`.
        what: &'static str,
        /// Requested.
        value: u32,
        /// Limit.
        max: u32,
    },
    /// Frame size outside 1..=4096.
    #[error("frame size {0} outside 1..=4096 bytes")]
    BadSize(u32),
    /// Timeout above [`MAX_TIMEOUT_MS`].
    #[error("timeout {0} ms above the limit of {MAX_TIMEOUT_MS} ms")]
    BadTimeout(u64),
    /// A HopID below 8 (spec 05 §12).
    #[error("HopID {0} is below 8")]
    BadHopId(u16),
    /// No run on that adapter yet.
    #[error("no dma_test run on port {0}")]
    NoRun(u8),
    /// No run in progress on that adapter.
    #[error("no dma_test run in progress on port {0}")]
    NotRunning(u8),
    /// The event loop did not take the request in time; it was
    /// withdrawn, nothing was started or cancelled.
    #[error("the host's event loop did not take the request in time; nothing was done")]
    NoAnswer,
    /// Too many requests waiting for the loop.
    #[error("too many requests waiting")]
    Backlog,
}

/// State and counters of one run (spec 07 §6 plus our extensions), as the
/// control socket returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DmaTestReport {
    /// Run number on this host (from 1).
    pub id: u64,
    /// Service device, e.g. `0-1.1`.
    pub service: String,
    /// Route of the peer (hex).
    pub route: String,
    /// Lane adapter.
    pub adapter: u8,
    /// Peer host name, if it publishes one.
    pub peer: Option<String>,
    /// Peer domain UUID.
    pub peer_uuid: String,
    /// Frames to send.
    pub send: u32,
    /// Frames to receive.
    pub receive: u32,
    /// Bytes per frame.
    pub size: u32,
    /// Out HopID used.
    pub out_hopid: Option<u16>,
    /// In HopID used.
    pub in_hopid: Option<u16>,
    /// E2E flow control on this side's rings (always in loopback).
    pub e2e: bool,
    /// Still running.
    pub running: bool,
    /// `running`, or Linux's `result:` text: `success` / `failed`.
    pub result: String,
    /// Linux's `error:` text.
    pub error: String,
    /// Why, in words, when something went wrong.
    pub detail: Option<String>,
    /// Frames queued for sending (Linux's `packets sent`).
    pub packets_sent: u32,
    /// TX completions.
    pub packets_completed: u32,
    /// RX completions (`packets received`).
    pub packets_received: u32,
    /// RX frames with the CRC-error flag.
    pub crc_errors: u32,
    /// RX frames with the overrun flag (`buffer overflow errors`).
    pub buffer_overflow_errors: u32,
    /// RX frames whose length is not `size` (extension).
    pub length_errors: u32,
    /// RX frames whose bytes 0..2047 are not the pattern (extension).
    pub pattern_errors: u32,
    /// Frames expected but not received (at the end).
    pub missing: u32,
    /// Frames the RX ring dropped for want of a posted buffer (the
    /// controller's overflow counter; those frames are among the missing).
    #[serde(default)]
    pub rx_dropped_no_desc: u64,
    /// Bytes of completed TX frames.
    pub bytes_sent: u64,
    /// Bytes of received frames.
    pub bytes_received: u64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Seconds from the first posted to the last completed TX frame.
    pub tx_s: f64,
    /// Seconds from the first to the last RX completion.
    pub rx_s: f64,
    /// Sender throughput.
    pub tx_gbit_s: Option<f64>,
    /// Receiver throughput.
    pub rx_gbit_s: Option<f64>,
    /// The text of Linux's `status` file for this run (spec 07 §6).
    pub status: String,
}

impl DmaTestReport {
    /// Whether the run finished with "success".
    pub fn success(&self) -> bool {
        !self.running && self.result == TestResult::Success.text()
    }
}

/// What the receiver saw in one frame (spec 07 §5 plus our checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameCheck {
    /// The CRC-error flag was set.
    pub crc: bool,
    /// The overrun flag was set.
    pub overrun: bool,
    /// The length differs from the expected size.
    pub length: bool,
    /// Bytes 0..2047 (or the whole frame if shorter) differ from the pattern.
    pub pattern: bool,
}

/// Check one received frame: `data` as received, the descriptor flags,
/// the expected size, and whether to look at the content (spec 07 §4: only
/// bytes 0..2047 are defined; a shorter frame is compared with the
/// pattern's leading bytes).
pub fn check_frame(
    data: &[u8],
    crc: bool,
    overrun: bool,
    size: usize,
    check_pattern: bool,
) -> FrameCheck {
    FrameCheck {
        crc,
        overrun,
        length: data.len() != size,
        pattern: check_pattern && !pattern_prefix_ok(data),
    }
}

/// Check one received frame with [`check_frame`] and count it in `rep`
/// (spec 07 §5, §6 plus our extensions): `packets_received` and
/// `bytes_received` always, and each counter of a problem the frame has
/// (one frame can have several). The receiver does exactly this for every
/// RX completion; public so the corpus replay and fuzz target of the
/// receive checks can drive it without a controller. Counters saturate.
#[doc(hidden)]
pub fn count_frame(
    rep: &mut DmaTestReport,
    data: &[u8],
    crc: bool,
    overrun: bool,
    size: usize,
    check_pattern: bool,
) -> FrameCheck {
    let chk = check_frame(data, crc, overrun, size, check_pattern);
    let bump = |n: &mut u32, on: bool| *n = n.saturating_add(u32::from(on));
    bump(&mut rep.packets_received, true);
    rep.bytes_received = rep.bytes_received.saturating_add(data.len() as u64);
    bump(&mut rep.crc_errors, chk.crc);
    bump(&mut rep.buffer_overflow_errors, chk.overrun);
    bump(&mut rep.length_errors, chk.length);
    bump(&mut rep.pattern_errors, chk.pattern);
    chk
}

fn pattern_prefix_ok(data: &[u8]) -> bool {
    let n = data.len().min(PATTERN_LEN);
    data[..n]
        .chunks(4)
        .enumerate()
        .all(|(i, c)| pattern_word(i).to_le_bytes().get(..c.len()) == Some(c))
}

/// Gbit/s of `bytes` in `secs`, if measurable.
pub fn gbit_s(bytes: u64, secs: f64) -> Option<f64> {
    (secs > 0.0 && bytes > 0).then(|| bytes as f64 * 8.0 / secs / 1e9)
}

// ---------------------------------------------------------------------------
// The handle the control socket uses
// ---------------------------------------------------------------------------

type Reply = mpsc::Sender<Result<DmaTestReport, DmaTestError>>;

#[derive(Debug)]
enum Request {
    Start(DmaTestRequest),
    Cancel(u8),
}

/// A request waiting for the loop, with the ticket number it answers.
#[derive(Debug)]
struct Pending {
    ticket: u64,
    request: Request,
    reply: Reply,
}

#[derive(Debug, Default)]
struct Shared {
    pending: VecDeque<Pending>,
    next_ticket: u64,
    /// Latest report of each run, newest last (running ones included).
    reports: VecDeque<DmaTestReport>,
}

impl Shared {
    fn put(&mut self, r: &DmaTestReport) {
        if let Some(x) = self.reports.iter_mut().find(|x| x.id == r.id) {
            x.clone_from(r);
            return;
        }
        if self.reports.len() >= REPORTS_KEPT
            && let Some(i) = self.reports.iter().position(|x| !x.running)
        {
            self.reports.remove(i);
        }
        self.reports.push_back(r.clone());
    }

    /// Take request `ticket` back if the loop has not taken it yet.
    fn withdraw(&mut self, ticket: u64) -> bool {
        let before = self.pending.len();
        self.pending.retain(|p| p.ticket != ticket);
        self.pending.len() != before
    }
}

/// Starts, cancels and queries runs from another thread (the control
/// socket); the work happens in the event loop's next turn.
#[derive(Debug, Clone)]
pub struct DmaTestHandle {
    shared: Arc<Mutex<Shared>>,
}

/// The answer to a request, once the event loop has taken it.
///
/// A request is either taken by the loop and answered, or withdrawn and
/// never acted on: [`Ticket::wait`] withdraws it when the time is up, and
/// so does dropping a ticket that has no answer. A run therefore never
/// starts after its requester has been told that nothing happened.
#[derive(Debug)]
pub struct Ticket {
    ticket: u64,
    shared: Arc<Mutex<Shared>>,
    rx: mpsc::Receiver<Result<DmaTestReport, DmaTestError>>,
    answered: bool,
}

impl Ticket {
    /// The answer if it is there (never blocks).
    pub fn try_answer(&mut self) -> Option<Result<DmaTestReport, DmaTestError>> {
        let r = match self.rx.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) => return None,
            Err(mpsc::TryRecvError::Disconnected) => Err(DmaTestError::NoAnswer),
        };
        self.answered = true;
        Some(r)
    }

    /// Wait at most `wait` for the loop to take the request. If it has not
    /// taken it by then, the request is withdrawn ([`DmaTestError::NoAnswer`]:
    /// nothing was started or cancelled); if it has, its answer follows at
    /// the end of that loop turn.
    pub fn wait(mut self, wait: Duration) -> Result<DmaTestReport, DmaTestError> {
        self.answered = true;
        match self.rx.recv_timeout(wait) {
            Ok(r) => return r,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(DmaTestError::NoAnswer),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if self.withdraw() {
            return Err(DmaTestError::NoAnswer);
        }
        // Taken in the meantime: the loop answers in the same turn (or
        // drops the sender if it ends), so this does not block for long.
        self.rx.recv().unwrap_or(Err(DmaTestError::NoAnswer))
    }

    /// Take the request back if the loop has not taken it yet; whether it
    /// was withdrawn.
    fn withdraw(&self) -> bool {
        match self.shared.lock() {
            Ok(mut g) => g.withdraw(self.ticket),
            // The loop is gone: nobody will take it.
            Err(_) => true,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.answered {
            self.withdraw();
        }
    }
}

impl DmaTestHandle {
    fn submit(&self, request: Request) -> Result<Ticket, DmaTestError> {
        let (reply, rx) = mpsc::channel();
        let mut g = self.shared.lock().map_err(|_| DmaTestError::NoAnswer)?;
        if g.pending.len() >= MAX_PENDING {
            return Err(DmaTestError::Backlog);
        }
        g.next_ticket += 1;
        let ticket = g.next_ticket;
        g.pending.push_back(Pending {
            ticket,
            request,
            reply,
        });
        Ok(Ticket {
            ticket,
            shared: self.shared.clone(),
            rx,
            answered: false,
        })
    }

    /// Queue a run for the loop's next turn; the ticket gives its first
    /// report (running, or already failed if the rings could not be set
    /// up) or why it was refused.
    pub fn submit_start(&self, req: DmaTestRequest) -> Result<Ticket, DmaTestError> {
        req.validate()?;
        self.submit(Request::Start(req))
    }

    /// Queue the cancellation of the run in progress on `adapter`; the
    /// ticket gives its final report.
    pub fn submit_cancel(&self, adapter: u8) -> Result<Ticket, DmaTestError> {
        self.submit(Request::Cancel(adapter))
    }

    /// [`DmaTestHandle::submit_start`] and wait at most `wait` for the loop.
    pub fn start(
        &self,
        req: DmaTestRequest,
        wait: Duration,
    ) -> Result<DmaTestReport, DmaTestError> {
        self.submit_start(req)?.wait(wait)
    }

    /// [`DmaTestHandle::submit_cancel`] and wait at most `wait` for the loop.
    pub fn cancel(&self, adapter: u8, wait: Duration) -> Result<DmaTestReport, DmaTestError> {
        self.submit_cancel(adapter)?.wait(wait)
    }

    /// The latest report of a run on `adapter` (running or finished).
    pub fn status(&self, adapter: u8) -> Result<DmaTestReport, DmaTestError> {
        let g = self.shared.lock().map_err(|_| DmaTestError::NoAnswer)?;
        g.reports
            .iter()
            .rev()
            .find(|r| r.adapter == adapter)
            .cloned()
            .ok_or(DmaTestError::NoRun(adapter))
    }
}

/// Register the `dma_test` driver with its service and the extension that
/// runs tests; returns the handle for the control socket.
pub fn enable(rt: &mut Runtime) -> Result<DmaTestHandle, RuntimeError> {
    let id = rt.register_driver(
        Box::new(DmaTestDriver::default()),
        vec![DmaTestDriver::local_service()],
    )?;
    let ext = DmaTestExtension::new(id);
    let handle = ext.handle();
    rt.add_extension(Box::new(ext));
    Ok(handle)
}

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

/// What a run holds of the controller, released in spec 07 §3 step 7 order.
#[derive(Debug, Default)]
struct Held {
    tx_ring: Option<u8>,
    rx_ring: Option<u8>,
    out_hopid: Option<u16>,
    in_hopid: Option<u16>,
    remote_max: u16,
    paths: bool,
}

impl Held {
    fn paths(&self) -> DmaPaths {
        DmaPaths {
            transmit_path: self.out_hopid.unwrap_or(0),
            transmit_ring: self.tx_ring,
            receive_path: self.in_hopid.unwrap_or(0),
            receive_ring: self.rx_ring,
        }
    }

    /// Stop RX, stop TX, disable paths, free rings and HopIDs (spec 07 §3
    /// step 7). Returns the first error, after releasing everything.
    fn release(&mut self, nhi: &mut dyn HostInterface, adapter: u8) -> Option<String> {
        let mut first = None;
        let mut note = |e: String| {
            first.get_or_insert(e);
        };
        for (dir, ring) in [(Dir::Rx, self.rx_ring), (Dir::Tx, self.tx_ring)] {
            if let Some(n) = ring
                && let Err(e) = nhi.stop_ring(RingId { dir, number: n })
            {
                note(format!("stop {dir:?} ring {n}: {e}"));
            }
        }
        if std::mem::take(&mut self.paths)
            && let Err(e) = nhi.disable_paths(adapter, self.paths())
        {
            note(format!("disable paths: {e}"));
        }
        for (dir, ring) in [
            (Dir::Tx, self.tx_ring.take()),
            (Dir::Rx, self.rx_ring.take()),
        ] {
            if let Some(n) = ring
                && let Err(e) = nhi.free_ring(RingId { dir, number: n })
            {
                note(format!("free {dir:?} ring {n}: {e}"));
            }
        }
        if let Some(h) = self.out_hopid.take() {
            nhi.release_hopid(
                adapter,
                HopDir::Out {
                    remote_max: self.remote_max,
                },
                h,
            );
        }
        if let Some(h) = self.in_hopid.take() {
            nhi.release_hopid(adapter, HopDir::In, h);
        }
        first
    }
}

/// The HopID a run uses in `dir`: `want` if given; otherwise the lowest
/// free ≥ 8 (spec 07 §3), or ≥ 9 when `spare_tbip` and a higher one is free.
///
/// `spare_tbip` is set when our ThunderboltIP driver is bound to the same
/// peer. That driver uses HopID 8 in both directions (its out HopID is the
/// lowest its own links leave free, its in HopID the peer's, spec 06 §7)
/// but reserves them only once both logins are done; a run holding 8 at
/// that moment would make the bring-up fail until the run ends. Linux's
/// thunderbolt-net reserves its out HopID when the interface comes up, so
/// a Linux `dma_test` next to it takes 9 as well: counting 8 as
/// ThunderboltIP's from the moment it is bound keeps both rules aligned.
fn alloc_hopid(
    nhi: &mut dyn HostInterface,
    adapter: u8,
    dir: HopDir,
    want: Option<u16>,
    spare_tbip: bool,
) -> Result<u16, tblink_hostif::Error> {
    if want.is_some() || !spare_tbip {
        return nhi.alloc_hopid(adapter, dir, want);
    }
    for h in FIRST_PATH_HOPID + 1..=u16::MAX {
        match nhi.alloc_hopid(adapter, dir, Some(h)) {
            Ok(h) => return Ok(h),
            Err(tblink_hostif::Error::HopIdTaken(_)) => {}
            // Past the top of the range: only 8 is left, if it is free.
            Err(tblink_hostif::Error::HopIdOutOfRange { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    nhi.alloc_hopid(adapter, dir, None)
}

#[derive(Debug)]
struct Run {
    rep: DmaTestReport,
    req: DmaTestRequest,
    route: Route,
    held: Held,
    started: Instant,
    /// TX buffers not on the ring.
    tx_free: Vec<DmaBuf>,
    /// TX buffers created so far (at most the ring's 63).
    tx_made: usize,
    tx_outstanding: u32,
    tx_first: Option<Instant>,
    tx_last: Option<Instant>,
    tx_progress: Instant,
    /// RX buffers still to post (spec 07 §3 step 4: N in total).
    rx_to_post: u32,
    rx_first: Option<Instant>,
    rx_last: Option<Instant>,
    rx_progress: Instant,
    /// Bytes of the RX completions seen in the first turn that saw any:
    /// they arrived at or before `rx_first`, so the rate leaves them out.
    rx_first_bytes: u64,
    /// Leave HopID 8 to ThunderboltIP (see [`alloc_hopid`]).
    spare_tbip: bool,
    error: TestError,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Run {
    fn new(id: u64, req: DmaTestRequest, xd: &XDomain, service: &str, now: Instant) -> Self {
        let route = xd.route.without_cm();
        let rep = DmaTestReport {
            id,
            service: service.to_string(),
            route: route.to_string(),
            adapter: req.adapter,
            peer: xd.device_name.clone(),
            peer_uuid: xd.uuid.to_string(),
            send: req.send,
            receive: req.receive,
            size: req.size,
            e2e: req.e2e || (req.send > 0 && req.receive > 0),
            running: true,
            result: "running".into(),
            error: TestError::NoError.text().into(),
            ..DmaTestReport::default()
        };
        let remote_max = u16::try_from(xd.maxhopid)
            .ok()
            .filter(|m| *m >= FIRST_PATH_HOPID)
            .unwrap_or(DEFAULT_REMOTE_MAX_HOPID);
        Run {
            rep,
            route,
            held: Held {
                remote_max,
                ..Held::default()
            },
            started: now,
            tx_free: Vec::new(),
            tx_made: 0,
            tx_outstanding: 0,
            tx_first: None,
            tx_last: None,
            tx_progress: now,
            rx_to_post: req.receive,
            rx_first: None,
            rx_last: None,
            rx_progress: now,
            rx_first_bytes: 0,
            spare_tbip: false,
            error: TestError::NoError,
            req,
        }
    }

    fn adapter(&self) -> u8 {
        self.route.port(0).unwrap_or(self.req.adapter)
    }

    /// Rings, HopIDs and paths in spec 07 §3 order, then the RX buffers.
    fn setup(&mut self, nhi: &mut dyn HostInterface) -> Result<(), String> {
        let adapter = self.adapter();
        let e2e = self.rep.e2e;
        if self.req.send > 0 {
            let mut cfg = RingConfig::tx(TX_RING_SIZE as u16);
            cfg.e2e = e2e;
            let t = nhi.alloc_ring(cfg).map_err(|e| format!("TX ring: {e}"))?;
            self.held.tx_ring = Some(t.number);
            let dir = HopDir::Out {
                remote_max: self.held.remote_max,
            };
            let h = alloc_hopid(nhi, adapter, dir, self.req.out_hopid, self.spare_tbip)
                .map_err(|e| format!("out HopID: {e}"))?;
            self.held.out_hopid = Some(h);
            self.rep.out_hopid = Some(h);
        }
        if self.req.receive > 0 {
            let mut cfg = RingConfig::rx(RX_RING_SIZE as u16, RX_SOF_MASK, RX_EOF_MASK);
            if e2e {
                cfg = cfg.e2e(self.held.tx_ring.unwrap_or(0));
            }
            let r = nhi.alloc_ring(cfg).map_err(|e| format!("RX ring: {e}"))?;
            self.held.rx_ring = Some(r.number);
            let h = alloc_hopid(nhi, adapter, HopDir::In, self.req.in_hopid, self.spare_tbip)
                .map_err(|e| format!("in HopID: {e}"))?;
            self.held.in_hopid = Some(h);
            self.rep.in_hopid = Some(h);
        }
        nhi.enable_paths(adapter, self.held.paths())
            .map_err(|e| format!("enable paths: {e}"))?;
        self.held.paths = true;
        for (dir, ring) in [(Dir::Tx, self.held.tx_ring), (Dir::Rx, self.held.rx_ring)] {
            if let Some(n) = ring {
                nhi.start_ring(RingId { dir, number: n })
                    .map_err(|e| format!("start {dir:?} ring {n}: {e}"))?;
            }
        }
        if let Some(r) = self.held.rx_ring {
            let room = (RX_RING_SIZE - 1) as u32;
            for _ in 0..self.rx_to_post.min(room) {
                nhi.post_rx(r, DmaBuf::new())
                    .map_err(|rej| format!("post RX buffer: {}", rej.error))?;
                self.rx_to_post -= 1;
            }
        }
        Ok(())
    }

    /// Move the run on; returns whether anything happened.
    fn step(&mut self, nhi: &mut dyn HostInterface, now: Instant) -> Result<bool, String> {
        let mut busy = false;
        if let Some(r) = self.held.rx_ring {
            let stop = self
                .rep
                .packets_received
                .saturating_add(BUDGET)
                .min(self.req.receive);
            while self.rep.packets_received < stop {
                let Some(c) = nhi.poll_rx(r) else { break };
                busy = true;
                count_frame(
                    &mut self.rep,
                    c.data(),
                    c.crc_error(),
                    c.overrun(),
                    self.req.size as usize,
                    self.req.check_pattern,
                );
                if *self.rx_first.get_or_insert(now) == now {
                    self.rx_first_bytes += c.len() as u64;
                }
                self.rx_last = Some(now);
                self.rx_progress = now;
                if self.rx_to_post > 0 {
                    nhi.post_rx(r, c.buf)
                        .map_err(|rej| format!("post RX buffer: {}", rej.error))?;
                    self.rx_to_post -= 1;
                }
            }
        }
        if let Some(t) = self.held.tx_ring {
            while let Some(c) = nhi.poll_tx(t) {
                busy = true;
                self.tx_outstanding = self.tx_outstanding.saturating_sub(1);
                self.rep.packets_completed += 1;
                self.rep.bytes_sent += self.req.size as u64;
                self.tx_last = Some(now);
                self.tx_progress = now;
                self.tx_free.push(c.buf);
            }
            let stop = self
                .rep
                .packets_sent
                .saturating_add(BUDGET)
                .min(self.req.send);
            while self.rep.packets_sent < stop {
                let buf = match self.tx_free.pop() {
                    Some(b) => b,
                    None if self.tx_made < TX_RING_SIZE - 1 => {
                        let mut b = DmaBuf::new();
                        fill_pattern(b.as_mut_slice());
                        self.tx_made += 1;
                        b
                    }
                    None => break,
                };
                let frame = TxFrame {
                    buf,
                    len: self.req.size as usize,
                    sof: SOF_PDF,
                    eof: EOF_PDF,
                };
                match nhi.post_tx(t, frame) {
                    Ok(()) => {
                        busy = true;
                        self.rep.packets_sent += 1;
                        self.tx_outstanding += 1;
                        if self.tx_first.is_none() {
                            self.tx_first = Some(now);
                            self.tx_progress = now;
                        }
                    }
                    Err(rej) => {
                        self.tx_free.push(rej.item.buf);
                        if rej.error == tblink_hostif::Error::RingFull {
                            break;
                        }
                        return Err(format!("post TX frame: {}", rej.error));
                    }
                }
            }
        }
        Ok(busy)
    }

    fn done(&self) -> bool {
        self.rep.packets_received >= self.req.receive
            && self.rep.packets_sent >= self.req.send
            && self.tx_outstanding == 0
    }

    /// Why the run has to stop now, if it has to.
    fn expired(&self, now: Instant) -> Option<String> {
        if self.held.rx_ring.is_some()
            && self.req.timeout_ms > 0
            && self.rep.packets_received < self.req.receive
        {
            let t = Duration::from_millis(self.req.timeout_ms);
            if now.saturating_duration_since(self.rx_progress) >= t {
                return Some(format!(
                    "receive timed out: no frame for {:.1} s ({} of {} received)",
                    secs(t),
                    self.rep.packets_received,
                    self.req.receive
                ));
            }
        }
        if self.tx_outstanding > 0
            && now.saturating_duration_since(self.tx_progress) >= TX_DRAIN_TIMEOUT
        {
            return Some(format!(
                "{} frames not completed by the controller after {:.1} s",
                self.tx_outstanding,
                secs(TX_DRAIN_TIMEOUT)
            ));
        }
        None
    }

    /// When [`Run::expired`] next needs a look.
    fn deadline(&self) -> Option<Instant> {
        let rx = (self.held.rx_ring.is_some()
            && self.req.timeout_ms > 0
            && self.rep.packets_received < self.req.receive)
            .then(|| self.rx_progress + Duration::from_millis(self.req.timeout_ms));
        let tx = (self.tx_outstanding > 0).then(|| self.tx_progress + TX_DRAIN_TIMEOUT);
        rx.into_iter().chain(tx).min()
    }

    fn refresh(&mut self, now: Instant) {
        let r = &mut self.rep;
        r.elapsed_s = secs(now.saturating_duration_since(self.started));
        if let (Some(a), Some(b)) = (self.tx_first, self.tx_last) {
            r.tx_s = secs(b.saturating_duration_since(a));
            r.tx_gbit_s = gbit_s(r.bytes_sent, r.tx_s);
        }
        if let (Some(a), Some(b)) = (self.rx_first, self.rx_last) {
            r.rx_s = secs(b.saturating_duration_since(a));
            // Frames are seen once per loop turn: those of the first turn
            // arrived before the clock starts, so they are not counted.
            r.rx_gbit_s = gbit_s(r.bytes_received.saturating_sub(self.rx_first_bytes), r.rx_s);
        }
    }

    /// Release everything and evaluate (spec 07 §3 step 7, §6).
    fn finish(
        &mut self,
        nhi: &mut dyn HostInterface,
        now: Instant,
        error: Option<TestError>,
        detail: Option<String>,
    ) {
        if let Some(e) = error {
            self.error = e;
        }
        if let Some(st) = self.held.rx_ring.and_then(|n| {
            nhi.stats(RingId {
                dir: Dir::Rx,
                number: n,
            })
        }) {
            self.rep.rx_dropped_no_desc = st.dropped_no_desc;
        }
        // Frames still on the TX ring are cancelled with it (spec 07 §3).
        let released = self.held.release(nhi, self.adapter());
        self.tx_free.clear();
        self.refresh(now);
        let r = &mut self.rep;
        r.running = false;
        r.missing = r.receive.saturating_sub(r.packets_received);
        if self.error == TestError::NoError
            && (r.packets_sent != r.send
                || r.packets_completed != r.packets_sent
                || r.packets_received != r.receive
                || r.crc_errors > 0
                || r.buffer_overflow_errors > 0
                || r.length_errors > 0
                || r.pattern_errors > 0)
        {
            self.error = TestError::PacketError;
        }
        let status = Status {
            result: if self.error == TestError::NoError {
                TestResult::Success
            } else {
                TestResult::Failed
            },
            packets_received: r.packets_received,
            packets_sent: r.packets_sent,
            crc_errors: r.crc_errors,
            buffer_overflow_errors: r.buffer_overflow_errors,
            error: self.error,
        };
        r.result = status.result.text().into();
        r.error = self.error.text().into();
        r.status = status.to_string();
        r.detail = match (detail, released) {
            (Some(d), Some(e)) => Some(format!("{d}; teardown: {e}")),
            (Some(d), None) => Some(d),
            (None, Some(e)) => Some(format!("teardown: {e}")),
            (None, None) => None,
        };
    }
}

// ---------------------------------------------------------------------------
// The extension
// ---------------------------------------------------------------------------

/// Runs `dma_test` transfers in the event loop (see the module docs).
#[derive(Debug)]
pub struct DmaTestExtension {
    driver: DriverId,
    shared: Arc<Mutex<Shared>>,
    runs: Vec<Run>,
    next_id: u64,
    timeline: VecDeque<TimelineEntry>,
}

fn ms(now: Instant) -> f64 {
    now.as_nanos() as f64 / 1e6
}

impl DmaTestExtension {
    /// An extension for the [`DmaTestDriver`] registered as `driver`.
    pub fn new(driver: DriverId) -> Self {
        DmaTestExtension {
            driver,
            shared: Arc::new(Mutex::new(Shared::default())),
            runs: Vec::new(),
            next_id: 1,
            timeline: VecDeque::new(),
        }
    }

    /// The handle for starting and watching runs.
    pub fn handle(&self) -> DmaTestHandle {
        DmaTestHandle {
            shared: self.shared.clone(),
        }
    }

    /// The peer and its bound `dma_test` service on `adapter`.
    fn find<'h>(&self, host: &'h Host, adapter: u8) -> Result<(&'h XDomain, String), DmaTestError> {
        let direct = Route::from_ports(&[adapter]).unwrap_or_default();
        let mut routes: Vec<Route> = host
            .peer_routes()
            .filter(|r| r.port(0) == Some(adapter))
            .collect();
        routes.sort();
        let route = match routes.as_slice() {
            [] => return Err(DmaTestError::NoPeer(adapter)),
            [r] => *r,
            many if many.contains(&direct) => direct,
            many => {
                let list: Vec<String> = many.iter().map(|r| r.to_string()).collect();
                return Err(DmaTestError::Ambiguous(adapter, list.join(", ")));
            }
        };
        let xd = host.xdomain(route).ok_or(DmaTestError::NotReady(adapter))?;
        let svc = xd.service(SERVICE_KEY.as_bytes());
        let bound = host.bound_driver(route, SERVICE_KEY.as_bytes()) == Some(self.driver);
        match svc {
            Some(s) if bound => Ok((xd, s.name.clone())),
            _ => Err(DmaTestError::NoService {
                adapter,
                peer: xd.device_name.clone().unwrap_or_else(|| xd.name.clone()),
            }),
        }
    }

    fn start(
        &mut self,
        nhi: &mut dyn HostInterface,
        host: &Host,
        now: Instant,
        req: DmaTestRequest,
    ) -> Result<DmaTestReport, DmaTestError> {
        req.validate()?;
        let (xd, service) = self.find(host, req.adapter)?;
        let route = xd.route.without_cm();
        if self.runs.iter().any(|r| r.route == route) {
            return Err(DmaTestError::Busy(service));
        }
        if self.runs.len() >= MAX_RUNS {
            return Err(DmaTestError::TooManyRuns);
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut run = Run::new(id, req, xd, &service, now);
        run.spare_tbip = host
            .bound_driver(route, TBIP_SERVICE_KEY.as_bytes())
            .is_some();
        push_timeline(&mut self.timeline, ms(now), "dmatest_start", Some(route));
        match run.setup(nhi) {
            Ok(()) => {
                tracing::info!(service = %service, send = run.req.send, receive = run.req.receive,
                    out_hopid = ?run.rep.out_hopid, in_hopid = ?run.rep.in_hopid, "dma_test started");
                run.refresh(now);
                let rep = run.rep.clone();
                self.runs.push(run);
                Ok(rep)
            }
            Err(e) => {
                tracing::warn!(service = %service, "dma_test setup failed: {e}");
                run.finish(nhi, now, Some(TestError::DmaError), Some(e));
                push_timeline(&mut self.timeline, ms(now), "dmatest_done", Some(route));
                Ok(run.rep)
            }
        }
    }

    fn cancel(
        &mut self,
        nhi: &mut dyn HostInterface,
        now: Instant,
        adapter: u8,
    ) -> Result<DmaTestReport, DmaTestError> {
        let i = self
            .runs
            .iter()
            .position(|r| r.rep.adapter == adapter)
            .ok_or(DmaTestError::NotRunning(adapter))?;
        let mut run = self.runs.swap_remove(i);
        run.finish(
            nhi,
            now,
            Some(TestError::Interrupted),
            Some("cancelled".into()),
        );
        self.ended(now, &run);
        Ok(run.rep)
    }

    fn ended(&mut self, now: Instant, run: &Run) {
        push_timeline(&mut self.timeline, ms(now), "dmatest_done", Some(run.route));
        tracing::info!(service = %run.rep.service, result = %run.rep.result, error = %run.rep.error,
            sent = run.rep.packets_sent, received = run.rep.packets_received,
            detail = run.rep.detail.as_deref().unwrap_or(""), "dma_test finished");
    }

    /// Take the requests queued by the handle and answer them.
    fn take_requests(&mut self, nhi: &mut dyn HostInterface, host: &Host, now: Instant) -> bool {
        let pending: Vec<Pending> = match self.shared.lock() {
            Ok(mut g) => g.pending.drain(..).collect(),
            Err(_) => return false,
        };
        let any = !pending.is_empty();
        for p in pending {
            let res = match p.request {
                Request::Start(req) => self.start(nhi, host, now, req),
                Request::Cancel(a) => self.cancel(nhi, now, a),
            };
            if let (Ok(rep), Ok(mut g)) = (&res, self.shared.lock()) {
                g.put(rep);
            }
            // A requester still holds its ticket (withdrawing would have
            // removed the request); one that dropped it since can still
            // read the report with a status query.
            let _ = p.reply.send(res);
        }
        any
    }
}

impl Extension for DmaTestExtension {
    fn name(&self) -> &str {
        "dma_test"
    }

    fn poll(&mut self, nhi: &mut dyn HostInterface, host: &mut Host, now: Instant) -> bool {
        let mut busy = self.take_requests(nhi, host, now);
        let driver = self.driver;
        let mut i = 0;
        while i < self.runs.len() {
            let run = &mut self.runs[i];
            let present = host.xdomain(run.route).is_some()
                && host.bound_driver(run.route, SERVICE_KEY.as_bytes()) == Some(driver);
            let (moved, ended) = if !present {
                run.finish(nhi, now, None, Some("the peer went away".into()));
                (true, true)
            } else {
                match run.step(nhi, now) {
                    Ok(_) if run.done() => {
                        run.finish(nhi, now, None, None);
                        (true, true)
                    }
                    Ok(moved) => match run.expired(now) {
                        Some(why) => {
                            run.finish(nhi, now, None, Some(why));
                            (true, true)
                        }
                        None => {
                            if moved {
                                run.refresh(now);
                            }
                            (moved, false)
                        }
                    },
                    Err(e) => {
                        run.finish(nhi, now, Some(TestError::DmaError), Some(e));
                        (true, true)
                    }
                }
            };
            busy |= moved;
            if moved && let Ok(mut g) = self.shared.lock() {
                g.put(&run.rep);
            }
            if ended {
                let run = self.runs.swap_remove(i);
                self.ended(now, &run);
            } else {
                i += 1;
            }
        }
        busy
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.runs.iter().filter_map(Run::deadline).min()
    }

    fn describe(&self, snap: &mut Snapshot) {
        snap.timeline.extend(self.timeline.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Vec<u8> {
        let mut v = vec![0u8; FRAME_SIZE];
        fill_pattern(&mut v);
        v
    }

    #[test]
    fn check_good_frame() {
        let f = frame();
        assert_eq!(&f[..8], &[0xef, 0xcd, 0xab, 0x89, 0xf0, 0xcd, 0xab, 0x89]);
        assert_eq!(
            check_frame(&f, false, false, FRAME_SIZE, true),
            FrameCheck::default()
        );
    }

    #[test]
    fn check_flags_length_and_pattern() {
        let mut f = frame();
        // Linux never looks at bytes 2048..: neither do we.
        f[3000] = 0xff;
        assert_eq!(
            check_frame(&f, true, true, FRAME_SIZE, true),
            FrameCheck {
                crc: true,
                overrun: true,
                ..FrameCheck::default()
            }
        );
        f[2047] = 0x00; // last byte of word 511: 0x89 expected
        let c = check_frame(&f, false, false, FRAME_SIZE, true);
        assert!(c.pattern && !c.length);
        assert!(!check_frame(&f, false, false, FRAME_SIZE, false).pattern);
        // A short frame of the right prefix: length error only.
        let short = &frame()[..6];
        assert_eq!(short, &[0xef, 0xcd, 0xab, 0x89, 0xf0, 0xcd]);
        let c = check_frame(short, false, false, FRAME_SIZE, true);
        assert!(c.length && !c.pattern);
        assert_eq!(
            check_frame(short, false, false, 6, true),
            FrameCheck::default()
        );
        let bad = [0xef, 0xcd, 0xab, 0x89, 0xf1];
        assert!(check_frame(&bad, false, false, 5, true).pattern);
    }

    #[test]
    fn count_frame_counts_each_problem() {
        let mut rep = DmaTestReport::default();
        let f = frame();
        count_frame(&mut rep, &f, false, false, FRAME_SIZE, true);
        // CRC error, short and not the pattern: three counters, one frame.
        count_frame(&mut rep, &[0u8; 10], true, false, FRAME_SIZE, true);
        count_frame(&mut rep, &f[..100], false, true, 100, true);
        assert_eq!(
            (rep.packets_received, rep.bytes_received),
            (3, FRAME_SIZE as u64 + 110)
        );
        assert_eq!(
            (
                rep.crc_errors,
                rep.buffer_overflow_errors,
                rep.length_errors,
                rep.pattern_errors
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn request_rules() {
        let mut r = DmaTestRequest::new(1);
        assert_eq!(r.validate(), Err(DmaTestError::NothingToDo));
        r.send = 1000;
        assert_eq!(r.validate(), Ok(()));
        r.receive = 999;
        assert_eq!(r.validate(), Err(DmaTestError::Unequal));
        r.receive = 1000;
        assert_eq!(r.validate(), Ok(()));
        r.send = MAX_PACKETS + 1;
        r.receive = 0;
        assert!(matches!(
            r.validate(),
            Err(DmaTestError::TooMany { what: "send", .. })
        ));
        r.send = 1;
        r.size = 4097;
        assert_eq!(r.validate(), Err(DmaTestError::BadSize(4097)));
        r.size = 0;
        assert_eq!(r.validate(), Err(DmaTestError::BadSize(0)));
        r.size = 64;
        r.out_hopid = Some(7);
        assert_eq!(r.validate(), Err(DmaTestError::BadHopId(7)));
        r.out_hopid = Some(8);
        r.timeout_ms = MAX_TIMEOUT_MS + 1;
        assert!(matches!(r.validate(), Err(DmaTestError::BadTimeout(_))));
    }

    #[test]
    fn request_wire_defaults() {
        let r: DmaTestRequest = serde_json::from_str(r#"{"adapter":3,"receive":10}"#).unwrap();
        assert_eq!(
            r,
            DmaTestRequest {
                receive: 10,
                ..DmaTestRequest::new(3)
            }
        );
    }

    #[test]
    fn throughput() {
        assert_eq!(gbit_s(0, 1.0), None);
        assert_eq!(gbit_s(10, 0.0), None);
        let g = gbit_s(1000 * 4096, 0.001).unwrap();
        assert!((g - 32.768).abs() < 1e-9, "{g}");
    }

    /// Spec 07 §1: the encoded directory, 20 dwords, and its root entry.
    #[test]
    fn local_service_directory_is_spec_07_1() {
        const DIR: &str = "
            10 cd 88 31  5a 4a 23 65  ca fd 82 a6  d8 48 a2 07
            70 72 74 63  69 64 00 00  76 00 00 01  00 00 00 01
            70 72 74 63  76 65 72 73  76 00 00 01  00 00 00 01
            70 72 74 63  72 65 76 73  76 00 00 01  00 00 00 00
            70 72 74 63  73 74 6e 73  76 00 00 01  00 00 00 00";
        const ROOT_ENTRY: &str = "64 6d 61 5f 74 65 73 74  44 00 00 14";
        let hex = |s: &str| -> Vec<u8> {
            s.split_whitespace()
                .map(|t| u8::from_str_radix(t, 16).unwrap())
                .collect()
        };
        let mut host = Host::new(tblink_proto::HostConfig::default());
        host.add_local_service(Instant::from_nanos(0), DmaTestDriver::local_service())
            .unwrap();
        let block: Vec<u8> = host
            .local_block()
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        let find = |needle: &[u8]| block.windows(needle.len()).position(|w| w == needle);
        let dir = find(&hex(DIR)).expect("directory bytes");
        let entry = find(&hex(ROOT_ENTRY)).expect("root entry");
        // The entry's offset (in dwords, from the block start) points at the directory.
        let off = u32::from_be_bytes(block[entry + 12..entry + 16].try_into().unwrap());
        assert_eq!(off as usize * 4, dir);
        assert_eq!(
            DmaTestDriver::default().id_table()[0].module_alias(),
            "tbsvc:kdma_testp00000001v*r*"
        );
    }

    /// An emulated controller with a host-to-host cable on adapter 1 whose
    /// far end the test holds, and the peer's XDomain.
    fn controller() -> (
        tblink_hostif::EmulatedNhi,
        tblink_hostif::cable::inproc::InProcCable,
        XDomain,
    ) {
        use tblink_hostif::cable::{Cable, Packet, Role, inproc};
        use tblink_hostif::{EmulatedNhi, NhiConfig};

        let (ours, mut far) = inproc::pair().unwrap();
        let mut nhi = EmulatedNhi::new(NhiConfig::default());
        nhi.attach(1, ours).unwrap();
        assert!(far.try_send(&Packet::Hello { role: Role::Host }));
        nhi.process();
        let xd = XDomain {
            name: "0-1".into(),
            route: Route::from_raw(1),
            uuid: tblink_wire::uuid::Uuid::nil(),
            vendor: 0,
            vendor_name: None,
            device: 0,
            device_name: Some("peer".into()),
            maxhopid: 15,
            generation: 1,
            block_len: 0,
            services: Vec::new(),
        };
        (nhi, far, xd)
    }

    /// HopID 8 is left to ThunderboltIP only when asked and only while
    /// another HopID in range is free; an explicit HopID is taken as is.
    #[test]
    fn hopid_choice_spares_thunderbolt_ip() {
        let (mut nhi, _far, _) = controller();
        let out = HopDir::Out { remote_max: 10 };
        assert_eq!(alloc_hopid(&mut nhi, 1, HopDir::In, None, false), Ok(8));
        assert_eq!(alloc_hopid(&mut nhi, 1, HopDir::In, None, true), Ok(9));
        assert_eq!(alloc_hopid(&mut nhi, 1, out, None, true), Ok(9));
        assert_eq!(alloc_hopid(&mut nhi, 1, out, None, true), Ok(10));
        // Nothing above 8 left: 8 rather than no HopID at all.
        assert_eq!(alloc_hopid(&mut nhi, 1, out, None, true), Ok(8));
        assert_eq!(
            alloc_hopid(&mut nhi, 1, out, None, true),
            Err(tblink_hostif::Error::NoFreeHopId)
        );
        nhi.release_hopid(1, out, 8);
        assert_eq!(alloc_hopid(&mut nhi, 1, out, Some(8), true), Ok(8));
    }

    /// Received frames are counted once per turn: the receiver's rate
    /// leaves out the frames of its first turn, which arrived before its
    /// clock started (spec 07 §7 throughput extension).
    #[test]
    fn receiver_rate_counts_intervals_not_turns() {
        use tblink_hostif::cable::{Cable, Packet};

        let (mut nhi, mut far, xd) = controller();
        let req = DmaTestRequest {
            receive: 150,
            ..DmaTestRequest::new(1)
        };
        let mut run = Run::new(1, req, &xd, "0-1.1", Instant::from_nanos(0));
        run.setup(&mut nhi).unwrap();
        assert_eq!(run.rep.in_hopid, Some(8));
        let f = frame();
        for turn in 1..=3u64 {
            for _ in 0..50 {
                let p = Packet::Data {
                    hop: 8,
                    sof: SOF_PDF,
                    eof: EOF_PDF,
                    crc_error: false,
                    bytes: &f,
                };
                assert!(far.try_send(&p));
                far.flush();
                nhi.process();
            }
            let now = Instant::from_nanos(turn * 1_000_000);
            assert!(run.step(&mut nhi, now).unwrap());
            assert_eq!(run.rep.packets_received, 50 * turn as u32);
            run.refresh(now);
            if turn == 1 {
                assert_eq!(run.rep.rx_gbit_s, None, "one turn: no rate");
            }
        }
        assert!(run.done());
        run.finish(&mut nhi, Instant::from_nanos(3_000_000), None, None);
        assert!(run.rep.success(), "{:?}", run.rep);
        assert_eq!(run.rep.bytes_received, 150 * 4096);
        // 100 frames in the 2 ms between the first and the last turn.
        assert!((run.rep.rx_s - 0.002).abs() < 1e-12, "{}", run.rep.rx_s);
        let g = run.rep.rx_gbit_s.unwrap();
        assert!((g - 100.0 * 4096.0 * 8.0 / 0.002 / 1e9).abs() < 1e-9, "{g}");
    }

    /// A passive loopback dongle (spec 07 §1–§2): one service sends and
    /// receives the same frames, with E2E on both rings (§3); the far end
    /// of the cable hands every packet straight back.
    #[test]
    fn loopback_dongle_run() {
        use tblink_hostif::cable::{Cable, Packet};

        let (mut nhi, mut far, xd) = controller();
        let req = DmaTestRequest {
            send: 700,
            receive: 700,
            ..DmaTestRequest::new(1)
        };
        let mut run = Run::new(1, req, &xd, "0-1.1", Instant::from_nanos(0));
        run.setup(&mut nhi).unwrap();
        assert!(run.rep.e2e);
        assert_eq!((run.rep.out_hopid, run.rep.in_hopid), (Some(8), Some(8)));
        let mut turns = 0;
        while !run.done() {
            turns += 1;
            assert!(turns < 10_000, "{:?}", run.rep);
            run.step(&mut nhi, Instant::from_nanos(turns * 1000))
                .unwrap();
            nhi.process();
            // Everything (frames and E2E credits) comes straight back.
            let mut back: Vec<Vec<u8>> = Vec::new();
            far.recv(256, &mut |p| {
                let mut b = vec![0u8; p.encoded_len()];
                if p.encode(&mut b).is_some() {
                    back.push(b);
                }
                true
            });
            for b in &back {
                assert!(far.try_send(&Packet::decode(b).unwrap()));
            }
            far.flush();
            nhi.process();
        }
        run.finish(&mut nhi, Instant::from_nanos(turns * 1000), None, None);
        assert!(run.rep.success(), "{:?}", run.rep);
        assert_eq!(
            (
                run.rep.packets_sent,
                run.rep.packets_received,
                run.rep.missing
            ),
            (700, 700, 0)
        );
        assert_eq!(run.rep.rx_dropped_no_desc, 0);
    }

    /// Spec 07 §3–§4 on the wire: a sender-only run on an emulated
    /// controller whose cable's far end is read directly.
    #[test]
    fn sender_frames_on_the_wire() {
        use tblink_hostif::cable::{Cable, Packet};

        let (mut nhi, mut far, xd) = controller();
        let req = DmaTestRequest {
            send: 3,
            ..DmaTestRequest::new(1)
        };
        let t0 = Instant::from_nanos(0);
        let mut run = Run::new(1, req, &xd, "0-1.1", t0);
        run.setup(&mut nhi).unwrap();
        assert_eq!(run.rep.out_hopid, Some(8));
        assert!(!run.rep.e2e);
        let t1 = Instant::from_nanos(1_000_000);
        for _ in 0..10 {
            run.step(&mut nhi, t1).unwrap();
            nhi.process();
            if run.done() {
                break;
            }
        }
        assert!(run.done());
        let mut frames = Vec::new();
        far.recv(64, &mut |p| {
            if let Packet::Data {
                hop,
                sof,
                eof,
                crc_error,
                bytes,
            } = p
            {
                frames.push((hop, sof.value(), eof.value(), crc_error, bytes.to_vec()));
            }
            true
        });
        assert_eq!(frames.len(), 3);
        for (hop, sof, eof, crc, bytes) in frames {
            assert_eq!((hop, sof, eof, crc, bytes.len()), (8, 1, 2, false, 4096));
            assert_eq!(
                &bytes[..12],
                &[
                    0xef, 0xcd, 0xab, 0x89, 0xf0, 0xcd, 0xab, 0x89, 0xf1, 0xcd, 0xab, 0x89
                ]
            );
            assert_eq!(&bytes[2044..2048], &[0xee, 0xcf, 0xab, 0x89]);
            assert!(bytes[2048..].iter().all(|&b| b == 0));
        }
        run.finish(&mut nhi, t1, None, None);
        assert_eq!(
            run.rep.status,
            "result: success\npackets received: 0\npackets sent: 3\nCRC errors: 0\n\
             buffer overflow errors: 0\nerror: no errors\n"
        );
        assert_eq!(run.rep.bytes_sent, 3 * 4096);
        // Released: the same HopID and ring are free again.
        assert_eq!(
            nhi.alloc_hopid(1, HopDir::Out { remote_max: 15 }, None),
            Ok(8)
        );
    }
}
