//! `NetPort` on two emulated controllers joined by an in-process cable,
//! without TAPs: bring-up/tear-down order and resources (spec 06 §6.1,
//! 05 §13–14), data in both directions with back-pressure, NAPI-style
//! polling (05 §11), statistics (06 §14), the vnet-header path (06 §12).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tblink_hostif::cable::{Cable, LinkState, Packet, inproc};
use tblink_hostif::{
    Dir, EmulatedNhi, Error, HopDir, HostInterface, LinkEvent, NhiConfig, RingConfig, RingId,
};
use tblink_net::driver::PathRequest;
use tblink_net::port::{PortError, RING_BUFFERS, Step};
use tblink_net::tx::TxConfig;
use tblink_net::vnet::{F_NEEDS_CSUM, GSO_TCPV4, VNET_HDR_LEN};
use tblink_net::{FrameIo, NetPort, PortConfig};
use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

const R: Route = Route::from_raw(1);

/// A host side made of queues.
#[derive(Default)]
struct MemIo {
    to_send: VecDeque<Vec<u8>>,
    got: Vec<Vec<u8>>,
    carrier: Option<bool>,
    /// Refuse delivery (host device full).
    refuse: bool,
    /// If set: read at every read that found nothing to send, into `seen`.
    published: Option<Arc<AtomicUsize>>,
    seen: Vec<usize>,
}

impl FrameIo for MemIo {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.to_send.pop_front() {
            Some(f) => {
                buf[..f.len()].copy_from_slice(&f);
                Ok(f.len())
            }
            None => {
                if let Some(p) = &self.published {
                    self.seen.push(p.load(Ordering::Relaxed));
                }
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
    }
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<bool> {
        if self.refuse {
            return Ok(false);
        }
        self.got.push(frame.to_vec());
        Ok(true)
    }
    fn set_carrier(&mut self, on: bool) -> io::Result<()> {
        self.carrier = Some(on);
        Ok(())
    }
}

fn nhi() -> EmulatedNhi {
    EmulatedNhi::new(NhiConfig {
        throttle: Duration::ZERO,
        ..NhiConfig::default()
    })
}

/// A cable that counts the data frames it has published (flushed).
#[derive(Debug)]
struct Counting<C> {
    inner: C,
    queued: usize,
    published: Arc<AtomicUsize>,
}

impl<C: Cable> Cable for Counting<C> {
    fn poll_link(&mut self) -> LinkState {
        self.inner.poll_link()
    }
    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        let ok = self.inner.try_send(pkt);
        self.queued += usize::from(ok && matches!(pkt, Packet::Data { .. }));
        ok
    }
    fn flush(&mut self) {
        self.inner.flush();
        self.published.fetch_add(self.queued, Ordering::Relaxed);
        self.queued = 0;
    }
    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        self.inner.recv(max, f)
    }
    fn prepare_wait(&mut self, want_send: bool) -> bool {
        self.inner.prepare_wait(want_send)
    }
    fn finish_wait(&mut self, ready: &[bool]) {
        self.inner.finish_wait(ready)
    }
    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        self.inner.wait_fd(i)
    }
    fn next_timer(&self) -> Option<Instant> {
        self.inner.next_timer()
    }
}

/// Two controllers, cable on adapter 1 of each, link up.
fn pair() -> (EmulatedNhi, EmulatedNhi) {
    pair_counting(None)
}

/// [`pair`], A's end counting its published data frames into `count`.
fn pair_counting(count: Option<Arc<AtomicUsize>>) -> (EmulatedNhi, EmulatedNhi) {
    let (ca, cb) = inproc::pair().unwrap();
    let (mut a, mut b) = (nhi(), nhi());
    match count {
        Some(published) => a
            .attach(
                1,
                Counting {
                    inner: ca,
                    queued: 0,
                    published,
                },
            )
            .unwrap(),
        None => a.attach(1, ca).unwrap(),
    }
    b.attach(1, cb).unwrap();
    let (mut ua, mut ub) = (false, false);
    let t = Instant::now();
    while !(ua && ub) {
        assert!(t.elapsed() < Duration::from_secs(5), "link never came up");
        while let Some(e) = a.poll_event() {
            ua |= matches!(e, LinkEvent::Up { adapter: 1, .. });
        }
        while let Some(e) = b.poll_event() {
            ub |= matches!(e, LinkEvent::Up { adapter: 1, .. });
        }
    }
    (a, b)
}

fn request(out_hopid: u32, in_hopid: u32, e2e: bool) -> PathRequest {
    PathRequest {
        route: R,
        peer_uuid: Uuid::from_u128(7),
        out_hopid,
        in_hopid,
        e2e,
        mac: [2, 0, 0, 0, 0, 1],
        // Linux peer bits (MATCH_FRAGS_ID | 64K_FRAMES | E2E).
        tx: TxConfig::from_prtcstns(0x7, 1500),
    }
}

struct Side {
    hi: EmulatedNhi,
    port: NetPort,
    io: MemIo,
}

fn up(e2e: bool, cfg: PortConfig) -> (Side, Side) {
    up_with(e2e, cfg, TxConfig::from_prtcstns(0x7, 1500))
}

fn up_with(e2e: bool, cfg: PortConfig, tx: TxConfig) -> (Side, Side) {
    up_counting(e2e, cfg, tx, None)
}

fn up_counting(
    e2e: bool,
    cfg: PortConfig,
    tx: TxConfig,
    count: Option<Arc<AtomicUsize>>,
) -> (Side, Side) {
    let (mut a, mut b) = pair_counting(count);
    let mut pa = NetPort::new(R, cfg);
    let mut pb = NetPort::new(R, cfg);
    let (ra, rb) = (request(8, 9, e2e), request(9, 8, e2e));
    pa.bring_up(&mut a, &PathRequest { tx, ..ra }, 1).unwrap();
    pb.bring_up(&mut b, &PathRequest { tx, ..rb }, 1).unwrap();
    (
        Side {
            hi: a,
            port: pa,
            io: MemIo::default(),
        },
        Side {
            hi: b,
            port: pb,
            io: MemIo::default(),
        },
    )
}

fn pump(s: &mut Side, budget: usize) -> bool {
    let t = s.port.pump_tx(&mut s.hi, &mut s.io, budget);
    let r = s.port.pump_rx(&mut s.hi, &mut s.io, budget);
    t.packets > 0 || r.frames > 0 || t.more || r.more
}

/// Pump both sides until `done` or a deadline.
fn run(a: &mut Side, b: &mut Side, budget: usize, mut done: impl FnMut(&Side, &Side) -> bool) {
    let t = Instant::now();
    while !done(a, b) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "stalled: a got {} b got {}; a {:?} b {:?}",
            a.io.got.len(),
            b.io.got.len(),
            a.port.stats(),
            b.port.stats()
        );
        pump(a, budget);
        pump(b, budget);
    }
}

fn frame(len: usize, seed: u32) -> Vec<u8> {
    let mut f = common::bytes(len, seed);
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

#[test]
fn bring_up_reserves_and_tear_down_releases() {
    let (mut a, mut b) = up(false, PortConfig::default());
    let (t, r) = a.port.rings().unwrap();
    assert_eq!((t.number, r.number), (1, 1));
    // In HopID 9 (the peer's transmit_path) and out HopID 8 are reserved.
    assert_eq!(
        a.hi.alloc_hopid(1, HopDir::In, Some(9)),
        Err(Error::HopIdTaken(9))
    );
    assert_eq!(
        a.hi.alloc_hopid(1, HopDir::Out { remote_max: 15 }, Some(8)),
        Err(Error::HopIdTaken(8))
    );
    // Every RX buffer is on the ring (255 of 256 descriptors, spec 05 §4).
    assert_eq!(a.port.idle_buffers(), (RING_BUFFERS, 0));
    assert!(a.port.owns(r) && a.port.owns(t));
    assert!(matches!(
        a.port.bring_up(&mut a.hi, &request(8, 9, false), 1),
        Err(PortError::AlreadyUp)
    ));

    a.port.tear_down(&mut a.hi).unwrap();
    assert!(!a.port.is_up());
    assert_eq!(a.port.idle_buffers(), (RING_BUFFERS, RING_BUFFERS));
    assert!(a.hi.stats(r).is_none(), "rings freed");
    assert_eq!(a.hi.alloc_hopid(1, HopDir::In, Some(9)), Ok(9));
    a.hi.release_hopid(1, HopDir::In, 9);
    // Frames sent to a torn-down port are dropped by the router, not
    // delivered to a stale ring.
    b.io.to_send.push_back(frame(100, 1));
    for _ in 0..20 {
        pump(&mut b, 64);
        a.hi.process();
    }
    assert_eq!(b.port.stats().tx.tx_packets, 1);
    // Idempotent.
    a.port.tear_down(&mut a.hi).unwrap();

    // Up again: traffic flows, counters accumulate.
    a.port
        .bring_up(&mut a.hi, &request(8, 9, false), 1)
        .unwrap();
    b.io.to_send.push_back(frame(200, 2));
    a.io.to_send.push_back(frame(300, 3));
    run(&mut a, &mut b, 64, |a, b| {
        !a.io.got.is_empty() && !b.io.got.is_empty()
    });
    assert_eq!(a.io.got, vec![frame(200, 2)]);
    assert_eq!(b.io.got, vec![frame(300, 3)]);
    assert_eq!(a.port.stats().bring_ups, 2);
    assert_eq!(b.port.stats().tx.tx_packets, 2);
    assert_eq!(b.port.stats().tx.tx_bytes, 300);
}

#[test]
fn failed_bring_up_undoes_everything() {
    let (mut a, _b) = pair();
    let mut p = NetPort::new(R, PortConfig::default());
    // In HopID taken by someone else (spec 06 §7: Linux cannot connect).
    a.alloc_hopid(1, HopDir::In, Some(8)).unwrap();
    assert!(matches!(
        p.bring_up(&mut a, &request(8, 8, false), 1),
        Err(PortError::Host {
            step: Step::ReserveInHopId,
            ..
        })
    ));
    a.release_hopid(1, HopDir::In, 8);
    // No TX ring left: HopIDs must come back.
    let taken: Vec<RingId> = (0..11)
        .map(|_| a.alloc_ring(RingConfig::tx(4)).unwrap())
        .collect();
    assert!(matches!(
        p.bring_up(&mut a, &request(8, 8, false), 1),
        Err(PortError::Host {
            step: Step::AllocTxRing,
            ..
        })
    ));
    assert_eq!(a.alloc_hopid(1, HopDir::In, Some(8)), Ok(8));
    a.release_hopid(1, HopDir::In, 8);
    for r in taken {
        a.free_ring(r).unwrap();
    }
    // Paths refused (in HopID above the adapter's max of 15) after the
    // rings were started and buffers posted: all undone.
    assert!(p.bring_up(&mut a, &request(8, 16, false), 1).is_err());
    assert_eq!(p.idle_buffers(), (RING_BUFFERS, RING_BUFFERS));
    assert!(
        a.stats(RingId {
            dir: Dir::Tx,
            number: 1
        })
        .is_none()
    );
    // No such lane adapter.
    assert!(matches!(
        p.bring_up(&mut a, &request(8, 8, false), 2),
        Err(PortError::Host { .. })
    ));
    p.bring_up(&mut a, &request(8, 8, false), 1).unwrap();
    assert!(p.is_up());
    // Wrong peer.
    let mut q = NetPort::new(Route::from_raw(3), PortConfig::default());
    assert_eq!(
        q.bring_up(&mut a, &request(8, 8, false), 1),
        Err(PortError::WrongPeer)
    );
}

/// Many packets of every size both ways at once: back-pressure stops the
/// reader, nothing is lost (E2E), order and content kept.
#[test]
fn bulk_both_ways_with_backpressure() {
    let (mut a, mut b) = up(true, PortConfig::default());
    let sizes = [60usize, 1514, 4084 + 14, 9000, 40_000, 65_536, 65_535];
    let n = 300;
    let want_a: Vec<Vec<u8>> = (0..n)
        .map(|i| frame(sizes[i % sizes.len()], i as u32))
        .collect();
    let want_b: Vec<Vec<u8>> = (0..n)
        .map(|i| frame(sizes[(i + 3) % sizes.len()], 1000 + i as u32))
        .collect();
    a.io.to_send.extend(want_a.iter().cloned());
    b.io.to_send.extend(want_b.iter().cloned());
    run(&mut a, &mut b, 32, |a, b| {
        a.io.got.len() == n && b.io.got.len() == n
    });
    assert!(b.io.got == want_a, "a → b content/order");
    assert!(a.io.got == want_b, "b → a content/order");
    let sa = a.port.stats();
    assert!(sa.tx_busy > 0, "the reader was held back: {sa:?}");
    assert_eq!(sa.tx.tx_packets, n as u64);
    assert_eq!(sa.tx.tx_errors, 0);
    assert_eq!(sa.rx.rx_packets, n as u64);
    assert_eq!(sa.rx.rx_errors(), 0);
    assert_eq!(sa.rx_no_desc, 0);
    let bytes: u64 = want_b.iter().map(|f| f.len() as u64).sum();
    assert_eq!(sa.rx.rx_bytes, bytes);
    // Everything came back.
    a.port.tear_down(&mut a.hi).unwrap();
    assert_eq!(a.port.idle_buffers(), (RING_BUFFERS, RING_BUFFERS));
}

/// A lone frame is on the cable before the read that finds the host
/// device empty: that read is not on a ping's path. With two frames
/// waiting, the first is published before the second is read.
#[test]
fn first_frame_leaves_before_the_next_read() {
    for vnet in [false, true] {
        let count = Arc::new(AtomicUsize::new(0));
        let cfg = PortConfig {
            vnet_hdr: vnet,
            ..PortConfig::default()
        };
        let tx = TxConfig::from_prtcstns(0x7, 1500);
        let (mut a, _b) = up_counting(true, cfg, tx, Some(count.clone()));
        a.io.published = Some(count.clone());
        let hdr = if vnet { VNET_HDR_LEN } else { 0 };
        let with_hdr = |f: Vec<u8>| [vec![0u8; hdr], f].concat();
        a.io.to_send.push_back(with_hdr(frame(98, 1)));
        let t = a.port.pump_tx(&mut a.hi, &mut a.io, 64);
        assert_eq!(t.packets, 1);
        assert_eq!(
            a.io.seen,
            [1],
            "vnet {vnet}: published frames at the empty read"
        );
        // A pump of several: only the first is hurried.
        a.io.seen.clear();
        count.store(0, Ordering::Relaxed);
        for i in 0..3 {
            a.io.to_send.push_back(with_hdr(frame(98, 10 + i)));
        }
        let t = a.port.pump_tx(&mut a.hi, &mut a.io, 64);
        assert_eq!(t.packets, 3);
        assert_eq!(a.io.seen, [1], "vnet {vnet}");
        a.port.tear_down(&mut a.hi).unwrap();
    }
}

/// A frame that can never be sent is counted in tx_errors and does not
/// block the ones after it.
#[test]
fn oversize_is_an_error_not_a_stall() {
    // A peer without 64K_FRAMES: at most MTU + 14 (spec 06 §11).
    let (mut a, mut b) = up_with(
        false,
        PortConfig::default(),
        TxConfig::from_prtcstns(0x2, 1500),
    );
    a.io.to_send.push_back(frame(1515, 1));
    a.io.to_send.push_back(frame(64, 2));
    run(&mut a, &mut b, 8, |_, b| !b.io.got.is_empty());
    assert_eq!(b.io.got, vec![frame(64, 2)]);
    assert_eq!(a.port.stats().tx.tx_errors, 1);
    assert_eq!(a.port.stats().tx.tx_packets, 1);
    // The host refusing a packet is counted.
    b.io.refuse = true;
    a.io.to_send.push_back(frame(64, 3));
    run(&mut a, &mut b, 8, |_, b| {
        b.port.stats().rx_host_dropped == 1
    });
    assert_eq!(b.port.stats().rx.rx_packets, 2);
}

/// Spec 05 §11: with the budget spent the RX interrupt stays masked and
/// `more` is set; under budget it is unmasked, and the next completion
/// raises it.
#[test]
fn napi_budget_and_interrupt() {
    let (mut a, mut b) = up(false, PortConfig::default());
    let (_, brx) = b.port.rings().unwrap();
    for i in 0..5 {
        a.io.to_send.push_back(frame(100, i));
    }
    a.port.pump_tx(&mut a.hi, &mut a.io, 64);
    // Let the frames land in b's ring.
    let t = Instant::now();
    loop {
        a.hi.process();
        b.hi.process();
        if b.hi.stats(brx).unwrap().frames == 5 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    while b.hi.poll_interrupt().is_some() {}
    let r = b.port.pump_rx(&mut b.hi, &mut b.io, 2);
    assert_eq!((r.frames, r.packets, r.more), (2, 2, true));
    // Masked: nothing fires although completions wait.
    assert_eq!(b.hi.poll_interrupt(), None);
    let r = b.port.pump_rx(&mut b.hi, &mut b.io, 64);
    assert_eq!((r.frames, r.more), (3, false));
    assert_eq!(b.io.got.len(), 5);
    // Unmasked: a new frame raises the RX interrupt.
    a.io.to_send.push_back(frame(100, 9));
    a.port.pump_tx(&mut a.hi, &mut a.io, 64);
    let t = Instant::now();
    let mut fired = false;
    while !fired && t.elapsed() < Duration::from_secs(5) {
        a.hi.process();
        b.hi.wait(Duration::from_millis(10));
        fired = b.hi.poll_interrupt() == Some(brx);
    }
    assert!(fired, "RX interrupt after unmask");
    // TX interrupt only while blocked.
    let (atx, _) = a.port.rings().unwrap();
    assert!(!a.port.tx_blocked());
    a.hi.process();
    while let Some(i) = a.hi.poll_interrupt() {
        assert_ne!(i, atx, "TX interrupt while not blocked");
    }
}

#[test]
fn carrier_follows_calls() {
    let (mut a, _b) = up(false, PortConfig::default());
    a.port.set_carrier(&mut a.io, true).unwrap();
    assert_eq!(a.io.carrier, Some(true));
    assert!(a.port.carrier());
    a.port.set_carrier(&mut a.io, false).unwrap();
    assert_eq!(a.io.carrier, Some(false));
}

/// vnet header: a TSO super-packet (NEEDS_CSUM, GSO TCPv4) goes out as
/// one ThunderboltIP packet with completed checksums (spec 06 §12); the
/// receiver gets a zero vnet header in front.
#[test]
fn vnet_tso_superpacket_is_one_packet() {
    let cfg = PortConfig {
        vnet_hdr: true,
        ..PortConfig::default()
    };
    let (mut a, mut b) = up(false, cfg);
    let pkt = common::ipv4(6, 60_000, false, 0, 5);
    let mut hdr = [0u8; VNET_HDR_LEN];
    hdr[0] = F_NEEDS_CSUM;
    hdr[1] = GSO_TCPV4;
    hdr[4..6].copy_from_slice(&1448u16.to_le_bytes());
    hdr[6..8].copy_from_slice(&34u16.to_le_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
    let mut f = hdr.to_vec();
    f.extend_from_slice(&pkt);
    a.io.to_send.push_back(f);
    // Unsupported GSO type: dropped and counted.
    let mut bad = vec![0u8; VNET_HDR_LEN];
    bad[1] = 3;
    bad.extend_from_slice(&frame(100, 1));
    a.io.to_send.push_back(bad);
    run(&mut a, &mut b, 8, |_, b| !b.io.got.is_empty());
    let got = &b.io.got[0];
    assert_eq!(&got[..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
    assert_eq!(got.len() - VNET_HDR_LEN, pkt.len());
    common::verify(&got[VNET_HDR_LEN..]);
    assert_eq!(b.port.stats().rx.rx_packets, 1);
    assert_eq!(a.port.stats().tx_bad_vnet, 1);
    assert_eq!(a.port.stats().tx.tx_errors, 1);
}
