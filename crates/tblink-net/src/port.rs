//! The data path of one peer's interface: DMA rings and paths on a
//! [`HostInterface`], frames between a host-side device (the TAP) and
//! those rings.
//!
//! A [`NetPort`] lives as long as the interface towards a peer. It acts on
//! the driver's requests ([`NetEvent`](crate::driver::NetEvent)):
//!
//! * [`NetPort::bring_up`] for `BringUp` — reserve the in HopID (exactly
//!   the peer's `transmit_path`) and our out HopID, allocate and start the
//!   TX and RX rings (256 descriptors, frame mode, RX SOF/EOF masks
//!   `0x2`/`0x4`, E2E per request), post the RX buffers, **then** enable
//!   the paths (spec 06 §6.1 *Connect*, 05 §13–14). On error everything
//!   done so far is undone; the caller answers with
//!   [`NetDriver::paths_up`](crate::driver::NetDriver::paths_up) or
//!   [`NetDriver::paths_failed`](crate::driver::NetDriver::paths_failed).
//! * [`NetPort::tear_down`] for `TearDown` — disable the paths first, then
//!   stop the RX and TX rings, take every buffer back, free the rings and
//!   release the HopIDs (spec 06 §6.1 *Tear-down*, 05 §13).
//! * [`NetPort::set_carrier`] for `Carrier`.
//!
//! Frames move in bounded batches, driven by the caller's event loop:
//! [`NetPort::pump_tx`] (host device → TX ring) and [`NetPort::pump_rx`]
//! (RX ring → host device, NAPI style, spec 05 §11). Buffers are allocated
//! once per port (255 TX + 255 RX `DmaBuf`s, one 64 KiB staging buffer,
//! the reassembler's 64 KiB) and circulate; nothing is allocated per frame.
//! A frame to send is read straight into the payload areas of free TX
//! buffers ([`FrameIo::recv_frame_vectored`], one `readv` on a TAP) and
//! completed in place; a received packet is checked frame by frame and
//! handed to the host straight from its RX buffers
//! ([`FrameIo::send_frame_vectored`], one `writev`), which go back on the
//! ring afterwards. The staging buffer serves devices without vectored
//! reads and a frame waiting for TX buffers.
//!
//! The rings are allocated at bring-up and freed at tear-down (Linux keeps
//! them from interface up to interface down); the peer cannot tell.

use std::io;

use tblink_hostif::{Dir, DmaBuf, DmaPaths, HopDir, HostInterface, RingConfig, RingId, TxFrame};
use tblink_wire::Route;
use tblink_wire::tbip::{FRAME_HEADER_LEN, RX_MAX_FRAME_COUNT};
use thiserror::Error;

use crate::csum::Offload;
use crate::driver::PathRequest;
use crate::rx::{Gathered, Reassembler, RxConfig, RxFlags};
use crate::stats::{RxStats, TxStats};
use crate::tx::{MAX_FRAMES, Transmitter, TxError, TxPacket};
use crate::vnet::{self, VNET_HDR_LEN};

/// Descriptors per ring (spec 05 §14: ThunderboltIP uses 256).
pub const RING_SIZE: u16 = 256;
/// Buffers a ring holds at most: `size - 1` (spec 05 §4).
pub const RING_BUFFERS: usize = RING_SIZE as usize - 1;
/// RX frame mode: PDF 1 starts a frame (spec 05 §14, 06 §8.1).
pub const RX_SOF_MASK: u16 = 1 << 1;
/// RX frame mode: PDF 2 ends a frame.
pub const RX_EOF_MASK: u16 = 1 << 2;
/// Largest Ethernet frame read from the host device (a TAP caps at 65535;
/// 65536 is the ThunderboltIP limit, spec 06 §11).
pub const MAX_HOST_FRAME: usize = 65536;

/// The host side of an interface: where frames to transmit come from and
/// received frames go (the TAP; a queue in tests and benchmarks).
pub trait FrameIo {
    /// Read one frame into `buf` without blocking; `WouldBlock` when none.
    /// With a vnet header the frame is preceded by it.
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Read one frame straight into `parts` (the first part is for the
    /// vnet header, empty without them), like [`FrameIo::recv_frame`];
    /// `None` if the device cannot (then `recv_frame` is used). The TAP
    /// reads with one `readv`.
    fn recv_frame_vectored(
        &mut self,
        _parts: &mut [io::IoSliceMut<'_>],
    ) -> Option<io::Result<usize>> {
        None
    }
    /// Deliver one received frame (preceded by a vnet header if the
    /// device has them); `Ok(false)` if it was dropped.
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<bool>;
    /// Deliver one received frame given in parts (the vnet header, if the
    /// device has them, then the frame's pieces). The default joins the
    /// parts in a new buffer; the TAP writes them with one `writev`,
    /// without a copy.
    fn send_frame_vectored(&mut self, parts: &[io::IoSlice<'_>]) -> io::Result<bool> {
        let v: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        self.send_frame(&v)
    }
    /// Carrier on or off.
    fn set_carrier(&mut self, on: bool) -> io::Result<()>;
    /// Which offloads the host may leave to us (see
    /// [`crate::sys::Tap::set_offload`]); only called for devices with vnet
    /// headers. The default does nothing.
    fn set_offload(&mut self, _csum: bool, _tso: bool) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
impl FrameIo for crate::sys::Tap {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from_host(buf)
    }
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<bool> {
        self.send_to_host(frame)
    }
    fn send_frame_vectored(&mut self, parts: &[io::IoSlice<'_>]) -> io::Result<bool> {
        self.send_to_host_vectored(parts)
    }
    fn recv_frame_vectored(
        &mut self,
        parts: &mut [io::IoSliceMut<'_>],
    ) -> Option<io::Result<usize>> {
        Some(self.recv_from_host_vectored(parts))
    }
    fn set_carrier(&mut self, on: bool) -> io::Result<()> {
        crate::sys::Tap::set_carrier(self, on)
    }
    fn set_offload(&mut self, csum: bool, tso: bool) -> io::Result<()> {
        crate::sys::Tap::set_offload(self, csum, tso)
    }
}

/// Which bring-up or tear-down step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Allocating the TX ring.
    AllocTxRing,
    /// Allocating the RX ring.
    AllocRxRing,
    /// Reserving the in HopID (the peer's `transmit_path`).
    ReserveInHopId,
    /// Reserving our out HopID.
    ReserveOutHopId,
    /// Starting a ring.
    StartRing,
    /// Posting RX buffers.
    PostRx,
    /// Enabling the paths.
    EnablePaths,
    /// Disabling the paths.
    DisablePaths,
    /// Stopping or freeing a ring.
    StopRing,
}

/// Why a port operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// `bring_up` while up.
    #[error("paths already up")]
    AlreadyUp,
    /// The request is for another peer or the route names no adapter.
    #[error("request does not match this port")]
    WrongPeer,
    /// A HopID of the request does not fit the 11-bit field.
    #[error("HopID {0} out of range")]
    BadHopId(u32),
    /// The host interface refused a step.
    #[error("{step:?}: {source}")]
    Host {
        /// The step.
        step: Step,
        /// The controller's error.
        source: tblink_hostif::Error,
    },
}

fn host(step: Step) -> impl FnOnce(tblink_hostif::Error) -> PortError {
    move |source| PortError::Host { step, source }
}

/// Interface statistics: Linux's counters (spec 06 §14) plus the data
/// path's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    /// Transmit counters (spec 06 §14).
    pub tx: TxStats,
    /// Receive counters (spec 06 §9, §14).
    pub rx: RxStats,
    /// Times reading from the host stopped because the TX ring was full.
    pub tx_busy: u64,
    /// Frames read from the host but never queued (link torn down, ring
    /// refused a descriptor mid-packet).
    pub tx_dropped: u64,
    /// Read errors of the host device (other than `WouldBlock`).
    pub host_read_errors: u64,
    /// Received packets the host device did not take.
    pub rx_host_dropped: u64,
    /// Frames the controller dropped for lack of a posted RX descriptor.
    pub rx_no_desc: u64,
    /// Bad vnet headers on transmit (counted in `tx.tx_errors` too).
    pub tx_bad_vnet: u64,
    /// Times the paths came up.
    pub bring_ups: u64,
}

/// Result of one [`NetPort::pump_tx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxPump {
    /// Packets queued to the TX ring.
    pub packets: usize,
    /// The TX ring is full: reading stopped until completions free
    /// buffers; the TX ring's interrupt is enabled to signal them.
    pub blocked: bool,
    /// The budget ran out with frames possibly left: call again.
    pub more: bool,
    /// The host device had nothing more to read: until it signals
    /// readiness (or gets a frame written, which may answer at once),
    /// another read would find nothing.
    pub drained: bool,
}

/// Result of one [`NetPort::pump_rx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxPump {
    /// Descriptors completed and processed.
    pub frames: usize,
    /// Packets handed to the host.
    pub packets: usize,
    /// The budget ran out: the RX interrupt stays masked, call again.
    pub more: bool,
}

/// A reusable TX buffer the transmitter writes into.
#[derive(Debug)]
struct TxBuf(DmaBuf);

impl AsMut<[u8]> for TxBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
}

/// The state while paths are up.
#[derive(Debug)]
struct Active {
    req: PathRequest,
    adapter: u8,
    tx_ring: u8,
    rx_ring: u8,
    out_hopid: u16,
    in_hopid: u16,
    tx: Transmitter,
    /// The TX interrupt is enabled (only while blocked).
    tx_irq: bool,
    /// RX ring counter already folded into the stats.
    rx_no_desc_seen: u64,
}

/// Port options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortConfig {
    /// The host device prefixes frames with a 10-byte `virtio_net_hdr`
    /// (`IFF_VNET_HDR`): on transmit it is mapped to an [`Offload`], on
    /// receive a header without offload requests is prepended.
    pub vnet_hdr: bool,
    /// With `vnet_hdr`: mark received packets `DATA_VALID` so the host's
    /// stack does not verify their checksums again. Every DMA frame is
    /// CRC-checked on the link and a ThunderboltIP sender completes every
    /// checksum (spec 06 §10), but Linux itself leaves verification to the
    /// stack, so this is off by default.
    pub rx_csum_trusted: bool,
    /// Receiver behaviour.
    pub rx: RxConfig,
}

/// The data path of the interface towards one peer.
#[derive(Debug)]
pub struct NetPort {
    route: Route,
    cfg: PortConfig,
    active: Option<Active>,
    tx_free: Vec<TxBuf>,
    rx_free: Vec<DmaBuf>,
    /// RX buffers of the packet in progress, with their payload lengths:
    /// delivered straight from them with one gathered write.
    rx_held: Vec<(DmaBuf, usize)>,
    rx: Reassembler,
    /// Frame read from the host, preceded by room for a vnet header on
    /// receive (`stage[..VNET_HDR_LEN]`).
    stage: Box<[u8]>,
    /// Length (vnet header included) of a frame in `stage` waiting for
    /// TX buffers.
    pending: Option<usize>,
    carrier: bool,
    stats: PortStats,
    /// TX counters of earlier connections.
    tx_base: TxStats,
}

impl NetPort {
    /// A port for the peer at `route`, paths down. Allocates every buffer
    /// the port will ever use.
    pub fn new(route: Route, cfg: PortConfig) -> Self {
        let hdr = if cfg.vnet_hdr { VNET_HDR_LEN } else { 0 };
        NetPort {
            route: route.without_cm(),
            cfg,
            active: None,
            tx_free: (0..RING_BUFFERS).map(|_| TxBuf(DmaBuf::new())).collect(),
            rx_free: (0..RING_BUFFERS).map(|_| DmaBuf::new()).collect(),
            rx_held: Vec::with_capacity(RX_MAX_FRAME_COUNT as usize),
            rx: Reassembler::new(cfg.rx),
            stage: vec![0u8; hdr + MAX_HOST_FRAME].into_boxed_slice(),
            pending: None,
            carrier: false,
            stats: PortStats::default(),
            tx_base: TxStats::default(),
        }
    }

    /// The peer's route.
    pub fn route(&self) -> Route {
        self.route
    }

    /// Whether the paths are up.
    pub fn is_up(&self) -> bool {
        self.active.is_some()
    }

    /// The carrier last set with [`NetPort::set_carrier`].
    pub fn carrier(&self) -> bool {
        self.carrier
    }

    /// The request the paths were brought up with.
    pub fn request(&self) -> Option<&PathRequest> {
        self.active.as_ref().map(|a| &a.req)
    }

    /// The TX and RX rings while up.
    pub fn rings(&self) -> Option<(RingId, RingId)> {
        self.active
            .as_ref()
            .map(|a| (tx_id(a.tx_ring), rx_id(a.rx_ring)))
    }

    /// Whether `ring` (e.g. from `poll_interrupt`) belongs to this port.
    pub fn owns(&self, ring: RingId) -> bool {
        self.rings().is_some_and(|(t, r)| ring == t || ring == r)
    }

    /// A frame read from the host waits for TX buffers.
    pub fn tx_blocked(&self) -> bool {
        self.pending.is_some()
    }

    /// Statistics since the port was created (spec 06 §14).
    pub fn stats(&self) -> PortStats {
        let mut s = self.stats;
        s.tx = self.tx_base;
        if let Some(a) = &self.active {
            add_tx(&mut s.tx, a.tx.stats());
        }
        s.tx.tx_errors += self.stats.tx_bad_vnet;
        s.rx = *self.rx.stats();
        s
    }

    /// Buffers currently owned by the port (not on a ring): TX, RX. Both
    /// are [`RING_BUFFERS`] when the paths are down.
    pub fn idle_buffers(&self) -> (usize, usize) {
        (self.tx_free.len(), self.rx_free.len())
    }

    /// Carrier on or off on the host device (`NetEvent::Carrier`). With
    /// vnet headers, carrier on first tells the device which offloads it
    /// may use towards this peer: checksums always (completed in
    /// software, spec 06 §10), TCP segmentation only when the peer takes
    /// 64 KiB packets (`64K_FRAMES`, spec 06 §11–12).
    pub fn set_carrier<T: FrameIo + ?Sized>(&mut self, io: &mut T, on: bool) -> io::Result<()> {
        if on
            && self.cfg.vnet_hdr
            && let Some(a) = &self.active
        {
            io.set_offload(true, a.req.tx.frames_64k)?;
        }
        io.set_carrier(on)?;
        self.carrier = on;
        Ok(())
    }

    /// Bring the data paths up for `req` on lane `adapter` (spec 06 §6.1
    /// *Connect*, 05 §13–14). On error every step done is undone.
    pub fn bring_up<H: HostInterface + ?Sized>(
        &mut self,
        hi: &mut H,
        req: &PathRequest,
        adapter: u8,
    ) -> Result<(), PortError> {
        if self.active.is_some() {
            return Err(PortError::AlreadyUp);
        }
        if req.route.without_cm() != self.route {
            return Err(PortError::WrongPeer);
        }
        let out_hopid = u16::try_from(req.out_hopid)
            .ok()
            .filter(|&h| h <= 2047)
            .ok_or(PortError::BadHopId(req.out_hopid))?;
        let in_hopid = u16::try_from(req.in_hopid)
            .ok()
            .filter(|&h| h <= 2047)
            .ok_or(PortError::BadHopId(req.in_hopid))?;
        let mut undo = Undo::default();
        match self.bring_up_steps(hi, req, adapter, out_hopid, in_hopid, &mut undo) {
            Ok(a) => {
                self.active = Some(a);
                self.stats.bring_ups += 1;
                Ok(())
            }
            Err(e) => {
                undo.run(hi, adapter, &mut self.tx_free, &mut self.rx_free);
                Err(e)
            }
        }
    }

    fn bring_up_steps<H: HostInterface + ?Sized>(
        &mut self,
        hi: &mut H,
        req: &PathRequest,
        adapter: u8,
        out_hopid: u16,
        in_hopid: u16,
        undo: &mut Undo,
    ) -> Result<Active, PortError> {
        // Spec 06 §7: the in HopID is exactly the peer's transmit_path.
        hi.alloc_hopid(adapter, HopDir::In, Some(in_hopid))
            .map_err(host(Step::ReserveInHopId))?;
        undo.in_hopid = Some(in_hopid);
        // Our out HopID, chosen by the driver in [8, peer maxhopid]; the
        // pool range is only checked against the value itself.
        hi.alloc_hopid(
            adapter,
            HopDir::Out {
                remote_max: out_hopid,
            },
            Some(out_hopid),
        )
        .map_err(host(Step::ReserveOutHopId))?;
        undo.out_hopid = Some(out_hopid);
        // Spec 05 §14: 256 descriptors, frame mode; E2E as negotiated.
        let mut tcfg = RingConfig::tx(RING_SIZE);
        tcfg.e2e = req.e2e;
        let t = hi.alloc_ring(tcfg).map_err(host(Step::AllocTxRing))?;
        undo.tx_ring = Some(t.number);
        let mut rcfg = RingConfig::rx(RING_SIZE, RX_SOF_MASK, RX_EOF_MASK);
        if req.e2e {
            rcfg = rcfg.e2e(t.number);
        }
        let r = hi.alloc_ring(rcfg).map_err(host(Step::AllocRxRing))?;
        undo.rx_ring = Some(r.number);
        // Spec 06 §6.1: start TX, start RX, post RX buffers, then paths.
        hi.start_ring(t).map_err(host(Step::StartRing))?;
        hi.start_ring(r).map_err(host(Step::StartRing))?;
        while let Some(b) = self.rx_free.pop() {
            if let Err(rej) = hi.post_rx(r.number, b) {
                self.rx_free.push(rej.item);
                return Err(PortError::Host {
                    step: Step::PostRx,
                    source: rej.error,
                });
            }
        }
        let paths = DmaPaths {
            transmit_path: out_hopid,
            transmit_ring: Some(t.number),
            receive_path: in_hopid,
            receive_ring: Some(r.number),
        };
        hi.enable_paths(adapter, paths)
            .map_err(host(Step::EnablePaths))?;
        // TX completions need no interrupt unless the ring fills up.
        hi.set_interrupt(t, false);
        self.rx.reset();
        let rx_no_desc_seen = hi.stats(r).map_or(0, |s| s.dropped_no_desc);
        Ok(Active {
            req: *req,
            adapter,
            tx_ring: t.number,
            rx_ring: r.number,
            out_hopid,
            in_hopid,
            tx: Transmitter::new(req.tx),
            tx_irq: false,
            rx_no_desc_seen,
        })
    }

    /// Tear the data paths down (spec 06 §6.1 *Tear-down*, 05 §13):
    /// disable the paths, stop the RX and TX rings, take every buffer
    /// back, free the rings, release the HopIDs. Every step is attempted;
    /// the first error is returned. A no-op when down.
    pub fn tear_down<H: HostInterface + ?Sized>(&mut self, hi: &mut H) -> Result<(), PortError> {
        let Some(a) = self.active.take() else {
            return Ok(());
        };
        let mut first: Option<PortError> = None;
        let paths = DmaPaths {
            transmit_path: a.out_hopid,
            transmit_ring: Some(a.tx_ring),
            receive_path: a.in_hopid,
            receive_ring: Some(a.rx_ring),
        };
        if let Err(e) = hi.disable_paths(a.adapter, paths) {
            first.get_or_insert(PortError::Host {
                step: Step::DisablePaths,
                source: e,
            });
        }
        self.fold_ring_stats(hi, &a);
        add_tx(&mut self.tx_base, a.tx.stats());
        let undo = Undo {
            in_hopid: Some(a.in_hopid),
            out_hopid: Some(a.out_hopid),
            tx_ring: Some(a.tx_ring),
            rx_ring: Some(a.rx_ring),
        };
        if let Some(e) = undo.run(hi, a.adapter, &mut self.tx_free, &mut self.rx_free) {
            first.get_or_insert(e);
        }
        if self.pending.take().is_some() {
            self.stats.tx_dropped += 1;
        }
        self.rx_free.extend(self.rx_held.drain(..).map(|(b, _)| b));
        self.rx.reset();
        first.map_or(Ok(()), Err)
    }

    fn fold_ring_stats<H: HostInterface + ?Sized>(&mut self, hi: &H, a: &Active) {
        if let Some(s) = hi.stats(rx_id(a.rx_ring)) {
            self.stats.rx_no_desc += s.dropped_no_desc.saturating_sub(a.rx_no_desc_seen);
        }
    }

    /// Take completed TX descriptors back.
    fn reap_tx<H: HostInterface + ?Sized>(&mut self, hi: &mut H, ring: u8) {
        while let Some(c) = hi.poll_tx(ring) {
            self.tx_free.push(TxBuf(c.buf));
        }
    }

    /// After the first packet of a pump, let the controller take it at
    /// once (through [`reap_tx`](Self::reap_tx), whose poll runs the
    /// emulator) instead of after the read that finds the device empty: a
    /// lone frame (a ping, a request) leaves one system call earlier. A
    /// stream pays one extra controller pass per pump.
    fn kick_first<H: HostInterface + ?Sized>(&mut self, hi: &mut H, ring: u8, packets: usize) {
        if packets == 1 {
            self.reap_tx(hi, ring);
        }
    }

    /// Move up to `budget` frames from the host device to the TX ring
    /// (spec 06 §8, §10, §11). When the ring lacks buffers for the next
    /// packet, that packet is kept, reading stops and the TX interrupt is
    /// enabled; a later call (on that interrupt) resumes. Frames are only
    /// dropped when they cannot be sent at all, and then counted in
    /// `tx_errors`. Does nothing while the paths are down.
    pub fn pump_tx<H: HostInterface + ?Sized, T: FrameIo + ?Sized>(
        &mut self,
        hi: &mut H,
        io: &mut T,
        budget: usize,
    ) -> TxPump {
        let mut out = TxPump::default();
        let Some((ring, mut tx_irq)) = self.active.as_ref().map(|a| (a.tx_ring, a.tx_irq)) else {
            return out;
        };
        self.reap_tx(hi, ring);
        while out.packets < budget {
            if self.pending.is_none() && self.tx_free.len() >= MAX_FRAMES {
                match self.send_direct(hi, ring, io) {
                    Direct::Queued => {
                        out.packets += 1;
                        self.kick_first(hi, ring, out.packets);
                        continue;
                    }
                    Direct::Dropped => continue,
                    Direct::Empty => {
                        out.drained = true;
                        break;
                    }
                    Direct::Interrupted => continue,
                    Direct::Failed => {
                        self.stats.host_read_errors += 1;
                        break;
                    }
                    Direct::Unsupported => {}
                }
            }
            let len = match self.pending {
                Some(l) => l,
                None => match io.recv_frame(&mut self.stage) {
                    Ok(0) => {
                        out.drained = true;
                        break;
                    }
                    Ok(l) => l,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        out.drained = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.stats.host_read_errors += 1;
                        break;
                    }
                },
            };
            match self.send_staged(hi, ring, len) {
                Sent::Queued => {
                    self.pending = None;
                    out.packets += 1;
                    self.kick_first(hi, ring, out.packets);
                }
                Sent::Dropped => self.pending = None,
                Sent::Busy(needed) => {
                    self.reap_tx(hi, ring);
                    if self.tx_free.len() >= needed {
                        self.pending = Some(len);
                        continue;
                    }
                    if self.pending.is_none() {
                        self.stats.tx_busy += 1;
                    }
                    self.pending = Some(len);
                    out.blocked = true;
                    break;
                }
            }
        }
        out.more = out.packets >= budget;
        // Process the batch (the emulator moves frames inside its calls).
        self.reap_tx(hi, ring);
        if out.blocked && self.pending.is_some() {
            if !tx_irq {
                hi.set_interrupt(tx_id(ring), true);
                tx_irq = true;
            }
        } else if tx_irq {
            hi.set_interrupt(tx_id(ring), false);
            tx_irq = false;
        }
        if let Some(a) = self.active.as_mut() {
            a.tx_irq = tx_irq;
        }
        out
    }

    /// Read one frame from the host straight into the last
    /// [`MAX_FRAMES`] free TX buffers (vnet header apart), complete it in
    /// place and post its DMA frames: no staging copy. Needs at least
    /// `MAX_FRAMES` free buffers and a device that reads vectored.
    fn send_direct<H: HostInterface + ?Sized, T: FrameIo + ?Sized>(
        &mut self,
        hi: &mut H,
        ring: u8,
        io: &mut T,
    ) -> Direct {
        let Some(a) = self.active.as_mut() else {
            return Direct::Unsupported;
        };
        let Some(start) = self.tx_free.len().checked_sub(MAX_FRAMES) else {
            return Direct::Unsupported;
        };
        let hlen = if self.cfg.vnet_hdr { VNET_HDR_LEN } else { 0 };
        let mut hdr = [0u8; VNET_HDR_LEN];
        let read = {
            let mut bufs = self
                .tx_free
                .get_mut(start..)
                .unwrap_or_default()
                .iter_mut()
                .map(|b| {
                    io::IoSliceMut::new(
                        b.0.as_mut_slice()
                            .get_mut(FRAME_HEADER_LEN..)
                            .unwrap_or_default(),
                    )
                });
            let mut parts =
                std::iter::once(io::IoSliceMut::new(hdr.get_mut(..hlen).unwrap_or_default()))
                    .chain(&mut bufs);
            let mut slices: [io::IoSliceMut<'_>; MAX_FRAMES + 1] = std::array::from_fn(|_| {
                parts.next().unwrap_or_else(|| io::IoSliceMut::new(&mut []))
            });
            io.recv_frame_vectored(&mut slices)
        };
        let n = match read {
            None => return Direct::Unsupported,
            Some(Ok(0)) => return Direct::Empty,
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return Direct::Empty,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => return Direct::Interrupted,
            Some(Err(_)) => return Direct::Failed,
        };
        let offload = if self.cfg.vnet_hdr {
            match vnet::parse(&hdr) {
                Ok((o, _)) if n > hlen => o,
                _ => {
                    self.stats.tx_bad_vnet += 1;
                    return Direct::Dropped;
                }
            }
        } else {
            Offload::None
        };
        let Some(bufs) = self.tx_free.get_mut(start..) else {
            return Direct::Dropped;
        };
        let p = match a.tx.encode_in_place(n - hlen, offload, bufs) {
            Ok(p) => p,
            Err(_) => return Direct::Dropped,
        };
        self.post_encoded(hi, ring, start, &p);
        Direct::Queued
    }

    /// Encode the staged frame and post its DMA frames.
    fn send_staged<H: HostInterface + ?Sized>(&mut self, hi: &mut H, ring: u8, len: usize) -> Sent {
        let Some(a) = self.active.as_mut() else {
            return Sent::Dropped;
        };
        let staged = self.stage.get(..len).unwrap_or(&[]);
        let (offload, packet) = if self.cfg.vnet_hdr {
            match vnet::parse(staged) {
                Ok((o, p)) => (o, p),
                Err(()) => {
                    self.stats.tx_bad_vnet += 1;
                    return Sent::Dropped;
                }
            }
        } else {
            (Offload::None, staged)
        };
        let want = Transmitter::frames_needed(packet.len()).clamp(1, MAX_FRAMES);
        if self.tx_free.len() < want {
            return Sent::Busy(want);
        }
        let start = self.tx_free.len() - want;
        let Some(bufs) = self.tx_free.get_mut(start..) else {
            return Sent::Busy(want);
        };
        let p = match a.tx.encode(packet, offload, bufs) {
            Ok(p) => p,
            Err(TxError::Busy { needed }) => return Sent::Busy(needed),
            Err(_) => return Sent::Dropped,
        };
        self.post_encoded(hi, ring, start, &p);
        Sent::Queued
    }

    /// Post the DMA frames of encoded packet `p`, whose buffers are the
    /// free TX buffers from `start` on.
    #[inline]
    fn post_encoded<H: HostInterface + ?Sized>(
        &mut self,
        hi: &mut H,
        ring: u8,
        start: usize,
        p: &TxPacket,
    ) {
        for &dl in p.desc_lens() {
            if start >= self.tx_free.len() {
                break;
            }
            let b = self.tx_free.remove(start);
            if let Err(rej) = hi.post_tx(ring, TxFrame::data(b.0, usize::from(dl))) {
                // Cannot happen while free buffers mirror ring room; the
                // peer drops the partial packet (spec 06 §9).
                self.tx_free.push(TxBuf(rej.item.buf));
                self.stats.tx_dropped += 1;
                break;
            }
        }
    }

    /// Poll up to `budget` RX completions NAPI style (spec 05 §11): mask
    /// the RX interrupt, reassemble (spec 06 §9) and deliver to the host,
    /// re-post each buffer; under budget unmask and re-check once. With
    /// `more` set the interrupt stays masked and the caller must call
    /// again. Does nothing while the paths are down.
    pub fn pump_rx<H: HostInterface + ?Sized, T: FrameIo + ?Sized>(
        &mut self,
        hi: &mut H,
        io: &mut T,
        budget: usize,
    ) -> RxPump {
        let mut out = RxPump::default();
        let Some(ring) = self.active.as_ref().map(|a| a.rx_ring) else {
            return out;
        };
        let id = rx_id(ring);
        hi.set_interrupt(id, false);
        // Buffers a failed re-post left with us.
        while let Some(b) = self.rx_free.pop() {
            if let Err(rej) = hi.post_rx(ring, b) {
                self.rx_free.push(rej.item);
                break;
            }
        }
        loop {
            while out.frames < budget {
                let Some(c) = hi.poll_rx(ring) else { break };
                out.frames += 1;
                out.packets += usize::from(self.rx_one(hi, io, ring, c));
            }
            if out.frames >= budget {
                out.more = true;
                break;
            }
            hi.set_interrupt(id, true);
            // A completion that landed between the last poll and the
            // unmask: mask again and keep polling (spec 05 §11).
            let Some(c) = hi.poll_rx(ring) else { break };
            hi.set_interrupt(id, false);
            out.frames += 1;
            out.packets += usize::from(self.rx_one(hi, io, ring, c));
        }
        if let Some(a) = self.active.take() {
            if let Some(s) = hi.stats(id) {
                self.stats.rx_no_desc += s.dropped_no_desc.saturating_sub(a.rx_no_desc_seen);
                self.active = Some(Active {
                    rx_no_desc_seen: s.dropped_no_desc,
                    ..a
                });
            } else {
                self.active = Some(a);
            }
        }
        out
    }
}

impl NetPort {
    /// Check one completion (spec 06 §9); keep its buffer while its
    /// packet is in progress; deliver a completed packet straight from the
    /// kept buffers (vnet header first if enabled) and re-post them.
    /// Returns whether a packet reached the host.
    fn rx_one<H: HostInterface + ?Sized, T: FrameIo + ?Sized>(
        &mut self,
        hi: &mut H,
        io: &mut T,
        ring: u8,
        c: tblink_hostif::RxCompletion,
    ) -> bool {
        let flags = RxFlags {
            crc_error: c.crc_error(),
            overrun: c.overrun(),
        };
        let field = (c.desc.word & 0xfff) as u16;
        let (payload, restarted, complete) =
            match self.rx.push_gather(c.buf.as_slice(), field, flags) {
                Gathered::Pending { payload, restarted } => (payload, restarted, false),
                Gathered::Packet {
                    payload, restarted, ..
                } => (payload, restarted, true),
                Gathered::Dropped(_) => {
                    self.release_held(hi, ring);
                    self.repost(hi, ring, c.buf);
                    return false;
                }
            };
        if restarted {
            self.release_held(hi, ring);
        }
        self.rx_held.push((c.buf, payload));
        if !complete {
            return false;
        }
        let mut hdr = [0u8; VNET_HDR_LEN];
        if self.cfg.rx_csum_trusted {
            hdr[0] = vnet::F_DATA_VALID;
        }
        let empty = io::IoSlice::new(&[]);
        let mut parts = [empty; RX_MAX_FRAME_COUNT as usize + 1];
        let mut n = 0;
        if self.cfg.vnet_hdr {
            parts[0] = io::IoSlice::new(&hdr);
            n = 1;
        }
        for (b, len) in &self.rx_held {
            let Some(slot) = parts.get_mut(n) else { break };
            *slot = io::IoSlice::new(
                b.as_slice()
                    .get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len)
                    .unwrap_or(&[]),
            );
            n += 1;
        }
        let delivered = match io.send_frame_vectored(parts.get(..n).unwrap_or(&[])) {
            Ok(true) => true,
            Ok(false) | Err(_) => {
                self.stats.rx_host_dropped += 1;
                false
            }
        };
        self.release_held(hi, ring);
        delivered
    }

    /// Re-post the kept buffers of an abandoned or delivered packet.
    fn release_held<H: HostInterface + ?Sized>(&mut self, hi: &mut H, ring: u8) {
        while let Some((b, _)) = self.rx_held.pop() {
            self.repost(hi, ring, b);
        }
    }

    fn repost<H: HostInterface + ?Sized>(&mut self, hi: &mut H, ring: u8, b: DmaBuf) {
        if let Err(rej) = hi.post_rx(ring, b) {
            self.rx_free.push(rej.item);
        }
    }
}

/// What [`NetPort::send_direct`] did.
enum Direct {
    Queued,
    Dropped,
    Empty,
    Interrupted,
    Failed,
    /// The device cannot read vectored (or no room): use the staged path.
    Unsupported,
}

enum Sent {
    Queued,
    Dropped,
    Busy(usize),
}

fn add_tx(acc: &mut TxStats, s: &TxStats) {
    acc.tx_packets += s.tx_packets;
    acc.tx_bytes += s.tx_bytes;
    acc.tx_errors += s.tx_errors;
}

fn tx_id(n: u8) -> RingId {
    RingId {
        dir: Dir::Tx,
        number: n,
    }
}

fn rx_id(n: u8) -> RingId {
    RingId {
        dir: Dir::Rx,
        number: n,
    }
}

/// What bring-up did so far, undone in reverse order.
#[derive(Debug, Default)]
struct Undo {
    in_hopid: Option<u16>,
    out_hopid: Option<u16>,
    tx_ring: Option<u8>,
    rx_ring: Option<u8>,
}

impl Undo {
    /// Stop RX then TX (spec 06 §6.1), reclaim buffers, free the rings,
    /// release the HopIDs. Returns the first error.
    fn run<H: HostInterface + ?Sized>(
        &self,
        hi: &mut H,
        adapter: u8,
        tx_free: &mut Vec<TxBuf>,
        rx_free: &mut Vec<DmaBuf>,
    ) -> Option<PortError> {
        let mut first = None;
        if let Some(r) = self.rx_ring {
            match hi.stop_ring(rx_id(r)) {
                Ok(bufs) => rx_free.extend(bufs),
                Err(e) => {
                    first.get_or_insert(PortError::Host {
                        step: Step::StopRing,
                        source: e,
                    });
                }
            }
        }
        if let Some(t) = self.tx_ring {
            match hi.stop_ring(tx_id(t)) {
                Ok(bufs) => tx_free.extend(bufs.into_iter().map(TxBuf)),
                Err(e) => {
                    first.get_or_insert(PortError::Host {
                        step: Step::StopRing,
                        source: e,
                    });
                }
            }
        }
        for id in [self.rx_ring.map(rx_id), self.tx_ring.map(tx_id)]
            .into_iter()
            .flatten()
        {
            if let Err(e) = hi.free_ring(id) {
                first.get_or_insert(PortError::Host {
                    step: Step::StopRing,
                    source: e,
                });
            }
        }
        if let Some(h) = self.in_hopid {
            hi.release_hopid(adapter, HopDir::In, h);
        }
        if let Some(h) = self.out_hopid {
            hi.release_hopid(adapter, HopDir::Out { remote_max: h }, h);
        }
        first
    }
}
