//! The host-interface trait: what a driver sees of an NHI (spec 05).

use std::time::Duration;

use tblink_wire::ctl::FrameBuf;
use tblink_wire::{Pdf, Route};

use crate::desc::{Descriptor, DmaBuf, MAX_FRAME, flags};

/// Errors of ring, HopID and path operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Explicit ring number not below the hop count (spec 05 §7.1).
    #[error("ring number {number} out of range (hop count {hop_count})")]
    RingOutOfRange {
        /// Requested number.
        number: u8,
        /// The controller's hop count.
        hop_count: u8,
    },
    /// Explicit ring number below the first usable one (spec 05 §7.1, §12).
    #[error("ring number {0} is reserved")]
    RingReserved(u8),
    /// Explicit ring number already allocated in that direction.
    #[error("{0:?} ring {1} is already allocated")]
    RingTaken(Dir, u8),
    /// Automatic allocation found no free ring number.
    #[error("no free {0:?} ring")]
    NoFreeRing(Dir),
    /// The ring is not allocated.
    #[error("{0:?} ring {1} is not allocated")]
    NoSuchRing(Dir, u8),
    /// Ring size outside 2..=4096.
    #[error("invalid ring size {0}")]
    BadRingSize(u16),
    /// The operation needs a stopped ring.
    #[error("ring is running")]
    RingRunning,
    /// The operation needs a running ring (spec 05 §7).
    #[error("ring is not running")]
    RingStopped,
    /// All `size - 1` descriptors are outstanding (spec 05 §4).
    #[error("ring is full")]
    RingFull,
    /// Frame length outside 1..=4096 (spec 05 §6).
    #[error("invalid frame length {0}")]
    BadLength(usize),
    /// HopID outside its pool's range (spec 05 §12).
    #[error("HopID {hop} out of range {min}..={max}")]
    HopIdOutOfRange {
        /// Requested HopID.
        hop: u16,
        /// First usable HopID.
        min: u16,
        /// Last usable HopID.
        max: u16,
    },
    /// Explicit HopID already allocated.
    #[error("HopID {0} is already allocated")]
    HopIdTaken(u16),
    /// Automatic allocation found no free HopID.
    #[error("no free HopID")]
    NoFreeHopId,
    /// No lane adapter with this number.
    #[error("no lane adapter {0}")]
    NoSuchAdapter(u8),
    /// A path already uses this ring or HopID (spec 05 §13).
    #[error("path conflict")]
    PathInUse,
}

/// Ring direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Transmit.
    Tx,
    /// Receive.
    Rx,
}

/// A ring: direction and ring number (Linux's `hop`, spec 05 terminology).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingId {
    /// Direction.
    pub dir: Dir,
    /// Ring number, `0 .. hop_count`.
    pub number: u8,
}

impl RingId {
    /// TX ring 0: the control channel (spec 01 §2).
    pub const CTL_TX: RingId = RingId {
        dir: Dir::Tx,
        number: 0,
    };
    /// RX ring 0: the control channel (spec 01 §2).
    pub const CTL_RX: RingId = RingId {
        dir: Dir::Rx,
        number: 0,
    };
}

/// How to allocate a ring (spec 05 §2.2, §7.1, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Direction.
    pub dir: Dir,
    /// Explicit ring number, or `None` for the lowest free usable one.
    pub number: Option<u8>,
    /// Number of descriptors (2..=4096); at most `size - 1` are outstanding.
    pub size: u16,
    /// Raw mode (ring 0) instead of frame mode (spec 05 §5).
    pub raw: bool,
    /// End-to-end flow control (spec 05 §8).
    pub e2e: bool,
    /// RX with E2E: the local TX ring that returns credits (spec 05 §8).
    pub e2e_tx_ring: u8,
    /// RX frame mode: PDFs that start a frame (bit n = PDF n, spec 05 §5.1).
    pub sof_mask: u16,
    /// RX frame mode: PDFs that end a frame.
    pub eof_mask: u16,
}

impl RingConfig {
    /// A frame-mode TX ring of `size` descriptors, number chosen automatically.
    pub fn tx(size: u16) -> Self {
        RingConfig {
            dir: Dir::Tx,
            number: None,
            size,
            raw: false,
            e2e: false,
            e2e_tx_ring: 0,
            sof_mask: 0,
            eof_mask: 0,
        }
    }

    /// A frame-mode RX ring of `size` descriptors with SOF/EOF masks.
    pub fn rx(size: u16, sof_mask: u16, eof_mask: u16) -> Self {
        RingConfig {
            dir: Dir::Rx,
            sof_mask,
            eof_mask,
            ..Self::tx(size)
        }
    }

    /// Ring 0 for the control channel: raw, 10 descriptors, masks 0xffff (spec 01 §2, 05 §14).
    pub fn control(dir: Dir) -> Self {
        RingConfig {
            dir,
            number: Some(0),
            size: 10,
            raw: true,
            e2e: false,
            e2e_tx_ring: 0,
            sof_mask: 0xffff,
            eof_mask: 0xffff,
        }
    }

    /// Request ring number `n` explicitly.
    pub fn number(mut self, n: u8) -> Self {
        self.number = Some(n);
        self
    }

    /// Enable E2E flow control; for RX name the local TX ring for credits.
    pub fn e2e(mut self, tx_ring: u8) -> Self {
        self.e2e = true;
        self.e2e_tx_ring = tx_ring;
        self
    }

    /// The RX buffer size the ring register holds: 256 raw, 4096 frame (spec 05 §2.1).
    pub fn buffer_size(&self) -> usize {
        if self.raw {
            crate::desc::RAW_BUFFER
        } else {
            MAX_FRAME
        }
    }
}

/// A frame to transmit: buffer, length, PDFs (spec 05 §3).
#[derive(Debug)]
pub struct TxFrame {
    /// The buffer; the first `len` bytes are sent.
    pub buf: DmaBuf,
    /// 1..=4096.
    pub len: usize,
    /// SOF PDF.
    pub sof: Pdf,
    /// EOF PDF.
    pub eof: Pdf,
}

impl TxFrame {
    /// A frame-mode data frame with SOF/EOF PDFs 1/2 (spec 06 §8.1, 07).
    pub fn data(buf: DmaBuf, len: usize) -> Self {
        TxFrame {
            buf,
            len,
            sof: Pdf::new(1),
            eof: Pdf::new(2),
        }
    }

    /// A control frame for ring 0: bytes including CRC, SOF = EOF = PDF (spec 01 §2).
    pub fn control(mut buf: DmaBuf, frame: &FrameBuf) -> Self {
        let b = frame.as_bytes();
        buf.as_mut_slice()[..b.len()].copy_from_slice(b);
        TxFrame {
            buf,
            len: b.len(),
            sof: frame.pdf(),
            eof: frame.pdf(),
        }
    }
}

/// A completed TX descriptor: the buffer comes back for reuse.
#[derive(Debug)]
pub struct TxCompletion {
    /// The buffer.
    pub buf: DmaBuf,
    /// The descriptor as written back (DONE set).
    pub desc: Descriptor,
}

/// A completed RX descriptor (spec 05 §3 write-back).
#[derive(Debug)]
pub struct RxCompletion {
    /// The buffer holding the frame.
    pub buf: DmaBuf,
    /// The descriptor as written back.
    pub desc: Descriptor,
}

impl RxCompletion {
    /// Bytes received (length field, 0 = 4096), bounded by the buffer.
    pub fn len(&self) -> usize {
        self.desc.len()
    }

    /// Never true: a completed frame has 1..=4096 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The received bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf.as_slice()[..self.len()]
    }

    /// SOF PDF (raw mode: 0).
    pub fn sof(&self) -> Pdf {
        self.desc.sof()
    }

    /// EOF PDF (raw mode: the packet's PDF).
    pub fn eof(&self) -> Pdf {
        self.desc.eof()
    }

    /// Frame CRC error (frame mode).
    pub fn crc_error(&self) -> bool {
        self.desc.flags() & flags::CRC_ERROR != 0
    }

    /// Buffer overrun: the frame was larger than the RX buffer.
    pub fn overrun(&self) -> bool {
        self.desc.flags() & flags::OVERRUN != 0
    }

    /// Ring 0: the control frame (PDF from EOF, spec 01 §2). CRC not verified.
    pub fn control_frame(&self) -> Result<FrameBuf, tblink_wire::Error> {
        FrameBuf::from_wire(self.eof(), self.data())
    }
}

/// A call that could not take its buffer hands it back with the reason.
#[derive(Debug)]
pub struct Rejected<T> {
    /// Why.
    pub error: Error,
    /// The frame or buffer, unchanged.
    pub item: T,
}

/// Which HopID pool of a lane adapter (spec 05 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopDir {
    /// HopIDs we transmit with: `[8, remote_max]` (15 if the peer publishes none).
    Out {
        /// The peer's `maxhopid` property.
        remote_max: u16,
    },
    /// HopIDs the peer transmits with: `[8, local max input HopID]`.
    In,
}

/// First usable path HopID on a lane adapter (spec 05 §12).
pub const FIRST_PATH_HOPID: u16 = 8;
/// `remote_max` when the peer published no `maxhopid` (spec 05 §12).
pub const DEFAULT_REMOTE_MAX_HOPID: u16 = 15;

/// The four numbers of `tb_xdomain_enable_paths` (spec 05 §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaPaths {
    /// Our out HopID on the lane adapter.
    pub transmit_path: u16,
    /// Our TX ring, or `None` for no TX path.
    pub transmit_ring: Option<u8>,
    /// The HopID the peer transmits with (our in HopID).
    pub receive_path: u16,
    /// Our RX ring, or `None` for no RX path.
    pub receive_ring: Option<u8>,
}

/// What is at the other end of a lane adapter's cable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Another host (another domain).
    Host,
    /// A device router of our own domain (its upstream port).
    Router,
    /// A device router of another domain (its downstream port).
    ForeignRouter,
}

/// Hot-plug events reported by the controller (spec 01 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// Link up on `adapter`; the peer is at `route` (our route to that adapter).
    Up {
        /// Lane adapter number.
        adapter: u8,
        /// Route of the peer.
        route: Route,
        /// What the peer is.
        peer: PeerKind,
    },
    /// Link down on `adapter`: frames in flight were dropped, its paths
    /// and HopID pools were cleared.
    Down {
        /// Lane adapter number.
        adapter: u8,
        /// Route of the vanished peer.
        route: Route,
    },
}

/// Per-ring counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Descriptors completed.
    pub frames: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// RX: frames dropped because no descriptor was posted (overflow, spec 05 §5.1).
    pub dropped_no_desc: u64,
    /// RX: descriptors completed with the overrun flag.
    pub overruns: u64,
    /// RX: fabric units dropped outside a frame (SOF mask not matched).
    pub dropped_unframed: u64,
    /// TX: frames sent while no path or link existed (lost in the fabric).
    pub dropped_no_path: u64,
}

/// A Thunderbolt/USB4 host interface (NHI): DMA rings, HopIDs, paths,
/// interrupts and hot-plug events (spec 05).
///
/// # Contract
/// * Rings are allocated stopped; [`start_ring`](Self::start_ring) resets
///   their indices; [`stop_ring`](Self::stop_ring) ends all DMA on them and
///   returns every buffer they held (spec 05 §7).
/// * At most `size - 1` descriptors are outstanding per ring (§4);
///   completions come back strictly in posting order (§3).
/// * A TX completion means the frame left the ring; it may still be lost
///   in the fabric (no path, link down), as on hardware.
/// * RX completions carry the write-back of §3: length (0 = 4096), SOF/EOF
///   PDFs, CRC-error and overrun flags.
/// * Interrupts (§9–§11): a completion on a ring sets its status; the
///   status raises an interrupt when the ring's interrupt is enabled and the
///   throttling interval since its previous interrupt has passed
///   ([`poll_interrupt`](Self::poll_interrupt)). Status stays pending while
///   the interrupt is disabled, so re-enabling after polling never loses a
///   completion. Interrupts are enabled by `start_ring`.
/// * An implementation may do its DMA work only inside these calls (the
///   emulator does): drivers make progress by calling `poll_*` or `wait`.
pub trait HostInterface {
    /// Number of ring numbers per direction (`HOP_COUNT`, spec 05 §2).
    fn hop_count(&self) -> u8;
    /// Allocate a ring (spec 05 §7.1).
    fn alloc_ring(&mut self, cfg: RingConfig) -> Result<RingId, Error>;
    /// Free a stopped ring (spec 05 §7.4).
    fn free_ring(&mut self, ring: RingId) -> Result<(), Error>;
    /// Start a ring: indices reset to 0, interrupt enabled (spec 05 §7.2).
    fn start_ring(&mut self, ring: RingId) -> Result<(), Error>;
    /// Stop a ring: interrupt disabled, no further DMA, every buffer it
    /// held (posted or completed but not yet polled) returned (spec 05 §7.3).
    fn stop_ring(&mut self, ring: RingId) -> Result<Vec<DmaBuf>, Error>;
    /// Post a frame on a running TX ring.
    fn post_tx(&mut self, ring: u8, frame: TxFrame) -> Result<(), Rejected<TxFrame>>;
    /// Post an empty buffer on a running RX ring.
    fn post_rx(&mut self, ring: u8, buf: DmaBuf) -> Result<(), Rejected<DmaBuf>>;
    /// The next TX completion in ring order, if its descriptor is done.
    ///
    /// Done means the frame left this controller, not that the peer has it:
    /// frames can still be in the cable, and unplugging it (detaching the
    /// cable or dropping the controller) loses them.
    fn poll_tx(&mut self, ring: u8) -> Option<TxCompletion>;
    /// The next RX completion in ring order, if its descriptor is done.
    fn poll_rx(&mut self, ring: u8) -> Option<RxCompletion>;
    /// Enable or mask a ring's interrupt (spec 05 §9.2, §11).
    fn set_interrupt(&mut self, ring: RingId, enabled: bool);
    /// The next ring whose interrupt fires (status cleared on delivery).
    fn poll_interrupt(&mut self) -> Option<RingId>;
    /// Block until an interrupt or a link event is ready, or `timeout`.
    fn wait(&mut self, timeout: Duration);
    /// Allocate a path HopID on a lane adapter (spec 05 §12); `None` = lowest free.
    fn alloc_hopid(&mut self, adapter: u8, dir: HopDir, hop: Option<u16>) -> Result<u16, Error>;
    /// Release a path HopID (no-op if it is not allocated).
    fn release_hopid(&mut self, adapter: u8, dir: HopDir, hop: u16);
    /// Create the DMA paths of spec 05 §13 on a lane adapter.
    fn enable_paths(&mut self, adapter: u8, paths: DmaPaths) -> Result<(), Error>;
    /// Remove matching DMA paths (spec 05 §13); succeeds if the link is gone.
    fn disable_paths(&mut self, adapter: u8, paths: DmaPaths) -> Result<(), Error>;
    /// The next hot-plug event.
    fn poll_event(&mut self) -> Option<LinkEvent>;
    /// Counters of a ring.
    fn stats(&self, ring: RingId) -> Option<RingStats>;
}
