//! 1000 plug/unplug cycles per transport leak no buffers and no file
//! descriptors. One test per binary: descriptor counts are process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::time::{Duration, Instant};

use common::*;
use tblink_hostif::cable::shm::ShmCable;
use tblink_hostif::cable::udp::UdpCable;
use tblink_hostif::cable::{Cable, inproc};
use tblink_hostif::{
    BufPool, Dir, DmaPaths, EmulatedNhi, HopDir, HostInterface, LinkEvent, RingConfig, RingId,
    TxFrame,
};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One plug/traffic/unplug cycle between `x` (adapter 1, keeps its cable
/// end `a` or gets a fresh one) and a fresh `y`.
fn cycle(x: &mut EmulatedNhi, y_cable: impl Cable + 'static, pool: &BufPool, rings: (u8, u8)) {
    let mut y = EmulatedNhi::new(cfg());
    y.attach(3, y_cable).unwrap();
    let t = Instant::now();
    let (mut up_x, mut up_y) = (false, false);
    while !(up_x && up_y) {
        assert!(t.elapsed() < Duration::from_secs(5), "no link up");
        while let Some(e) = x.poll_event() {
            up_x |= matches!(e, LinkEvent::Up { adapter: 1, .. });
        }
        while let Some(e) = y.poll_event() {
            up_y |= matches!(e, LinkEvent::Up { adapter: 3, .. });
        }
    }
    let (tx, _) = rings;
    // Receiver: ring, buffers, path.
    let rx = y.alloc_ring(RingConfig::rx(16, 2, 4)).unwrap();
    y.start_ring(rx).unwrap();
    for _ in 0..8 {
        y.post_rx(rx.number, pool.alloc()).unwrap();
    }
    y.enable_paths(
        3,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: None,
            receive_path: 8,
            receive_ring: Some(rx.number),
        },
    )
    .unwrap();
    let out = x
        .alloc_hopid(1, HopDir::Out { remote_max: 15 }, None)
        .unwrap();
    assert_eq!(out, 8, "pools were reset by the previous unplug");
    x.enable_paths(
        1,
        DmaPaths {
            transmit_path: out,
            transmit_ring: Some(tx),
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    // Frames in flight when the cable goes: some sent, one received.
    let mut b = pool.alloc();
    fill(&mut b, 4096, 1);
    x.post_tx(tx, TxFrame::data(b, 4096)).unwrap();
    let mut got = None;
    while got.is_none() {
        assert!(t.elapsed() < Duration::from_secs(5), "no frame");
        got = y.poll_rx(rx.number);
        x.process();
    }
    check(got.as_ref().unwrap().data(), 1);
    for _ in 0..3 {
        let mut b = pool.alloc();
        fill(&mut b, 4096, 2);
        let _ = x.post_tx(tx, TxFrame::data(b, 4096));
    }
    x.process();
    // Unplug: y goes away with its rings.
    drop(y.stop_ring(rx).unwrap());
    drop(y);
    drop(got);
    while !matches!(x.poll_event(), Some(LinkEvent::Down { adapter: 1, .. })) {
        assert!(t.elapsed() < Duration::from_secs(5), "no link down");
        x.wait(Duration::from_millis(1));
    }
    while x.poll_tx(tx).is_some() {}
    assert_eq!(
        x.enable_paths(
            1,
            DmaPaths {
                transmit_path: 8,
                transmit_ring: None,
                receive_path: 8,
                receive_ring: None
            }
        ),
        Ok(())
    );
}

fn host_x() -> (EmulatedNhi, u8) {
    let mut x = EmulatedNhi::new(cfg());
    let tx = x.alloc_ring(RingConfig::tx(16)).unwrap();
    x.start_ring(tx).unwrap();
    (x, tx.number)
}

fn finish(mut x: EmulatedNhi, tx: u8, pool: &BufPool) {
    drop(
        x.stop_ring(RingId {
            dir: Dir::Tx,
            number: tx,
        })
        .unwrap(),
    );
    drop(x);
    assert_eq!(pool.live(), 0, "DMA buffers leaked");
}

#[test]
fn thousand_plug_cycles_leak_nothing() {
    let fds0 = open_fds();

    // In-process: a new cable pair per plug.
    let pool = BufPool::new();
    let (mut x, tx) = host_x();
    for _ in 0..1000 {
        let (a, b) = inproc::pair().unwrap();
        x.attach(1, a).unwrap();
        cycle(&mut x, b, &pool, (tx, 0));
        drop(x.detach(1));
    }
    finish(x, tx, &pool);
    assert_eq!(open_fds(), fds0, "in-process: fds leaked");

    // Shared memory: the listener stays, the peer reconnects each time.
    let dir = std::env::temp_dir().join(format!("tblink-hostif-leak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cable.sock");
    let (mut x, tx) = host_x();
    x.attach(1, ShmCable::listen(&path).unwrap()).unwrap();
    let fds1 = open_fds();
    for _ in 0..1000 {
        cycle(&mut x, ShmCable::connect(&path), &pool, (tx, 0));
    }
    x.process();
    assert_eq!(open_fds(), fds1, "shm: fds leaked");
    drop(x.detach(1));
    finish(x, tx, &pool);
    assert!(!path.exists(), "socket file removed");
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(open_fds(), fds0);

    // UDP: the local end stays, the peer comes and goes.
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let s2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (pa, pb) = (
        s.local_addr().unwrap().port(),
        s2.local_addr().unwrap().port(),
    );
    drop((s, s2));
    let (mut x, tx) = host_x();
    x.attach(1, UdpCable::loopback(pa, pb).unwrap()).unwrap();
    let fds1 = open_fds();
    for _ in 0..1000 {
        cycle(&mut x, UdpCable::loopback(pb, pa).unwrap(), &pool, (tx, 0));
    }
    assert_eq!(open_fds(), fds1, "udp: fds leaked");
    drop(x.detach(1));
    finish(x, tx, &pool);
    assert_eq!(open_fds(), fds0);
}
