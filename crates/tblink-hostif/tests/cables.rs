//! Every transport carries control frames and 4 KiB data frames in order;
//! plug/unplug produces link events.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tblink_hostif::cable::fault::{FaultInjector, Faults, LinkModel};
use tblink_hostif::cable::shm::ShmCable;
use tblink_hostif::cable::udp::UdpCable;
use tblink_hostif::cable::{Cable, LinkState, Packet, inproc};
use tblink_hostif::{DmaBuf, EmulatedNhi, HostInterface, LinkEvent, RingConfig, TxFrame};
use tblink_wire::Pdf;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tblink-hostif-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d.join("cable.sock")
}

#[test]
fn inproc_carries_control_and_data_in_order() {
    let (mut x, mut y) = inproc_pair();
    exercise(&mut x, &mut y, 2000);
}

#[test]
fn shm_carries_control_and_data_in_order() {
    let p = tmp("order");
    // Connector first: it waits for the listener to appear.
    let b = ShmCable::connect(&p);
    let a = ShmCable::listen(&p).unwrap();
    let (mut x, mut y) = pair_with(a, b);
    exercise(&mut x, &mut y, 2000);
}

#[test]
fn shm_two_threads() {
    let p = tmp("threads");
    let a = ShmCable::listen(&p).unwrap();
    let p2 = p.clone();
    const N: u32 = 3000;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done2 = done.clone();
    let rx_thread = std::thread::spawn(move || {
        let mut y = EmulatedNhi::new(cfg());
        y.attach(3, ShmCable::connect(&p2)).unwrap();
        let t = Instant::now();
        while !matches!(y.poll_event(), Some(LinkEvent::Up { .. })) {
            assert!(t.elapsed() < Duration::from_secs(5));
            y.wait(Duration::from_millis(1));
        }
        let rx = y.alloc_ring(RingConfig::rx(256, 2, 4).e2e(1)).unwrap();
        y.start_ring(rx).unwrap();
        for _ in 0..255 {
            y.post_rx(rx.number, DmaBuf::new()).unwrap();
        }
        y.alloc_hopid(3, tblink_hostif::HopDir::In, Some(8))
            .unwrap();
        y.enable_paths(
            3,
            tblink_hostif::DmaPaths {
                transmit_path: 8,
                transmit_ring: None,
                receive_path: 8,
                receive_ring: Some(rx.number),
            },
        )
        .unwrap();
        let mut got = 0;
        while got < N {
            assert!(t.elapsed() < Duration::from_secs(20), "stalled at {got}");
            match y.poll_rx(rx.number) {
                Some(c) => {
                    check(c.data(), got);
                    got += 1;
                    y.post_rx(rx.number, c.buf).unwrap();
                }
                None => y.wait(Duration::from_millis(5)),
            }
        }
        done2.store(true, std::sync::atomic::Ordering::Release);
        // Linger until the sender unplugs.
        while !matches!(y.poll_event(), Some(LinkEvent::Down { .. })) {
            assert!(t.elapsed() < Duration::from_secs(20));
            y.wait(Duration::from_millis(5));
        }
        got
    });
    let mut x = EmulatedNhi::new(cfg());
    x.attach(1, a).unwrap();
    let t = Instant::now();
    while !matches!(x.poll_event(), Some(LinkEvent::Up { .. })) {
        assert!(t.elapsed() < Duration::from_secs(5));
        x.wait(Duration::from_millis(1));
    }
    let tx = x.alloc_ring(RingConfig::tx(256).e2e(0)).unwrap();
    x.start_ring(tx).unwrap();
    x.enable_paths(
        1,
        tblink_hostif::DmaPaths {
            transmit_path: 8,
            transmit_ring: Some(tx.number),
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    let mut spare: Vec<DmaBuf> = (0..128).map(|_| DmaBuf::new()).collect();
    let mut sent = 0;
    while sent < N || spare.len() < 128 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "sender stalled at {sent}"
        );
        while sent < N {
            let Some(mut b) = spare.pop() else { break };
            fill(&mut b, 4096, sent);
            match x.post_tx(tx.number, TxFrame::data(b, 4096)) {
                Ok(()) => sent += 1,
                Err(r) => {
                    spare.push(r.item.buf);
                    break;
                }
            }
        }
        let before = spare.len();
        while let Some(c) = x.poll_tx(tx.number) {
            spare.push(c.buf);
        }
        if spare.len() == before {
            x.wait(Duration::from_millis(1));
        }
    }
    // Everything went out; wait for the receiver to have it (unplugging
    // earlier would drop frames still in flight), then unplug.
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        assert!(t.elapsed() < Duration::from_secs(20));
        x.wait(Duration::from_millis(1));
    }
    drop(x.detach(1));
    assert_eq!(rx_thread.join().unwrap(), N);
}

#[test]
fn udp_carries_control_and_data_in_order() {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let s2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (pa, pb) = (
        s.local_addr().unwrap().port(),
        s2.local_addr().unwrap().port(),
    );
    drop((s, s2));
    let a = UdpCable::loopback(pa, pb).unwrap();
    let b = UdpCable::loopback(pb, pa).unwrap();
    let (mut x, mut y) = pair_with(a, b);
    exercise(&mut x, &mut y, 1000);
}

#[test]
fn shm_unplug_and_replug() {
    let p = tmp("replug");
    let mut a = ShmCable::listen(&p).unwrap();
    for _ in 0..3 {
        let mut b = ShmCable::connect(&p);
        let t = Instant::now();
        loop {
            let (sa, sb) = (a.poll_link(), b.poll_link());
            if sa == LinkState::Up && sb == LinkState::Up {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(5));
        }
        assert!(b.try_send(&Packet::Hello {
            role: tblink_hostif::Role::Host
        }));
        b.flush();
        let mut n = 0;
        a.recv(10, &mut |p| {
            assert_eq!(
                p,
                Packet::Hello {
                    role: tblink_hostif::Role::Host
                }
            );
            n += 1;
            true
        });
        assert_eq!(n, 1);
        drop(b);
        assert_eq!(a.poll_link(), LinkState::Down);
    }
}

#[test]
fn fault_injector_is_seeded_and_counts() {
    let run = |seed| {
        let (a, mut b) = inproc::pair_with(512).unwrap();
        let faults = Faults {
            drop: 0.1,
            corrupt: 0.1,
            duplicate: 0.1,
            ..Faults::default()
        };
        let mut f = FaultInjector::new(a, faults, seed);
        let data = [0u8; 64];
        for i in 0..200u16 {
            let pkt = Packet::Data {
                hop: i,
                sof: Pdf::new(1),
                eof: Pdf::new(2),
                crc_error: false,
                bytes: &data,
            };
            assert!(f.try_send(&pkt));
        }
        f.flush();
        let mut seen = Vec::new();
        b.recv(1000, &mut |p| {
            if let Packet::Data {
                hop,
                crc_error,
                bytes,
                ..
            } = p
            {
                seen.push((hop, crc_error, bytes.iter().any(|&x| x != 0)));
            }
            true
        });
        (f.stats(), seen)
    };
    let (s1, seen1) = run(7);
    let (s2, seen2) = run(7);
    assert_eq!(seen1, seen2, "same seed, same faults");
    assert!(
        s1.dropped > 5 && s1.corrupted > 5 && s1.duplicated > 5,
        "{s1:?}"
    );
    assert_eq!(s1, s2);
    assert_eq!(seen1.len() as u64, 200 - s1.dropped + s1.duplicated);
    // Order is kept (duplicates adjacent), corrupted frames are flagged.
    assert!(seen1.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(seen1.iter().filter(|s| s.1).count() as u64 >= s1.corrupted);
    assert!(seen1.iter().all(|s| s.1 == s.2));
}

#[test]
fn fault_delay_keeps_order() {
    let (a, mut b) = inproc::pair().unwrap();
    let faults = Faults {
        delay: 1.0,
        delay_by: Duration::from_millis(20),
        ..Faults::default()
    };
    let mut f = FaultInjector::new(a, faults, 1);
    let data = [1u8; 8];
    for i in 0..3u16 {
        f.try_send(&Packet::Data {
            hop: i,
            sof: Pdf::new(1),
            eof: Pdf::new(2),
            crc_error: false,
            bytes: &data,
        });
    }
    f.flush();
    assert_eq!(b.recv(10, &mut |_| true), 0, "held back");
    assert!(f.next_timer().is_some());
    std::thread::sleep(Duration::from_millis(25));
    f.flush();
    let mut hops = Vec::new();
    b.recv(10, &mut |p| {
        if let Packet::Data { hop, .. } = p {
            hops.push(hop);
        }
        true
    });
    assert_eq!(hops, [0, 1, 2]);
}

#[test]
fn link_model_caps_bandwidth_and_adds_latency() {
    let (a, mut b) = inproc::pair_with(512).unwrap();
    // 1 Gbit/s, 2 ms: 100 × 4104-byte packets ≈ 3.3 ms on the wire.
    let mut m = LinkModel::new(a, Some(1.0), Duration::from_millis(2));
    let data = [0u8; 4096];
    let t = Instant::now();
    for i in 0..100u16 {
        assert!(m.try_send(&Packet::Data {
            hop: i,
            sof: Pdf::new(1),
            eof: Pdf::new(2),
            crc_error: false,
            bytes: &data
        }));
    }
    let mut got = 0;
    let mut first = None;
    while got < 100 {
        assert!(t.elapsed() < Duration::from_secs(2));
        m.flush();
        got += b.recv(1000, &mut |_| true);
        if got > 0 && first.is_none() {
            first = Some(t.elapsed());
        }
    }
    let total = t.elapsed();
    assert!(
        first.unwrap() >= Duration::from_millis(2),
        "latency {first:?}"
    );
    assert!(
        total >= Duration::from_micros(5200),
        "bandwidth cap: {total:?}"
    );
}

/// The cap of `tblink host --link tb3|tb4|tb5` binds end to end: frames
/// posted on a TX ring as fast as the ring takes them reach the peer's RX
/// ring no faster than the link model's rate. At every moment the receiver
/// holds at most rate × elapsed bytes (plus the packet on the wire): a
/// bound that only a broken cap can violate, however slow the machine.
#[test]
fn link_model_caps_ring_to_ring_throughput() {
    const GBIT: f64 = 0.5;
    const FRAMES: u32 = 200;
    let (a, b) = inproc::pair_with(512).unwrap();
    let capped = LinkModel::new(a, Some(GBIT), Duration::ZERO);
    let (mut x, mut y) = pair_with(capped, b);
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(256, 1 << 1, 1 << 2));
    for _ in 0..255 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    let wire_bits = ((4096 + tblink_hostif::cable::PACKET_HEADER) * 8) as f64;
    let frames: Vec<TxFrame> = (0..FRAMES).map(|i| frame(4096, i, 1, 2)).collect();
    let t0 = Instant::now();
    for f in frames {
        x.post_tx(tx, f).unwrap();
    }
    let mut got = 0u32;
    while got < FRAMES {
        assert!(t0.elapsed() < Duration::from_secs(10), "only {got} frames");
        x.process();
        while let Some(c) = y.poll_rx(rx) {
            assert_eq!(seq_of(c.data()), got);
            got += 1;
            y.post_rx(rx, c.buf).unwrap();
        }
        let allowed = GBIT * 1e9 * t0.elapsed().as_secs_f64() + wire_bits;
        assert!(
            f64::from(got) * wire_bits <= allowed,
            "{got} frames after {:?}: above {GBIT} Gbit/s",
            t0.elapsed()
        );
    }
    // 200 frames at 0.5 Gbit/s take 13 ms on the wire.
    assert!(t0.elapsed().as_secs_f64() >= f64::from(FRAMES - 1) * wire_bits / (GBIT * 1e9));
}

/// A whole data frame (SOF 1, EOF 2) on HopID 8.
fn frame_on_hop8(bytes: &[u8]) -> Packet<'_> {
    Packet::Data {
        hop: 8,
        sof: Pdf::new(1),
        eof: Pdf::new(2),
        crc_error: false,
        bytes,
    }
}

/// Whether the doorbell of `c` (its first wait descriptor) was rung.
fn bell_rung(c: &impl Cable) -> bool {
    c.wait_fd(0)
        .is_some_and(|fd| tblink_hostif::cable::any_readable(&[fd]))
}

#[test]
fn quiet_packets_do_not_wake_a_sleeper_and_keep_its_sleep_bit() {
    let (a, b) = inproc::pair().unwrap();
    quiet_then_loud(a, b);
}

/// The wrappers keep a quiet packet quiet, also when it waits in their
/// line behind delayed packets.
#[test]
fn wrapped_cables_keep_quiet_packets_quiet() {
    let (a, b) = inproc::pair().unwrap();
    quiet_then_loud(a, LinkModel::new(b, Some(100.0), Duration::ZERO));
    let (a, b) = inproc::pair().unwrap();
    let faults = Faults {
        delay: 1.0,
        delay_by: Duration::ZERO,
        ..Faults::default()
    };
    quiet_then_loud(a, FaultInjector::new(b, faults, 1));
}

/// `b` sends to sleeping `a`: quiet batches leave it asleep, a loud one
/// wakes it, everything arrives in order.
fn quiet_then_loud(mut a: impl Cable, mut b: impl Cable) {
    assert_eq!(a.poll_link(), LinkState::Up);
    assert_eq!(b.poll_link(), LinkState::Up);
    // `a` goes to sleep.
    assert!(a.prepare_wait(false));
    let credit = Packet::Credit {
        hop: 8,
        credit: tblink_hostif::cable::Credit::Grant(3),
    };
    assert!(b.try_send_quiet(&credit));
    b.flush();
    assert!(!bell_rung(&a), "a quiet batch leaves the sleeper asleep");
    // A second quiet batch still does not ring, and the next loud one does:
    // the quiet publishes kept the sleep bit.
    assert!(b.try_send_quiet(&credit));
    b.flush();
    assert!(!bell_rung(&a));
    let data = [5u8; 64];
    let pkt = frame_on_hop8(&data);
    assert!(b.try_send(&pkt));
    b.flush();
    assert!(bell_rung(&a), "a loud batch wakes the sleeper");
    a.finish_wait(&[true]);
    // All three arrive, in order.
    let mut got = Vec::new();
    a.recv(16, &mut |p| {
        got.push(matches!(p, Packet::Data { .. }));
        true
    });
    assert_eq!(got, [false, false, true]);
    // A batch with a quiet and a loud packet rings too.
    assert!(a.prepare_wait(false));
    assert!(b.try_send_quiet(&credit));
    assert!(b.try_send(&pkt));
    b.flush();
    assert!(bell_rung(&a));
    a.finish_wait(&[true]);
}

/// A doorbell that ended a sleep is emptied before the next one: the
/// second wait sleeps to its deadline instead of returning at once (which
/// would turn an idle loop into a busy one).
#[test]
fn a_rung_doorbell_is_emptied_before_the_next_sleep() {
    use tblink_hostif::cable::wait_any;
    let (mut a, mut b) = inproc::pair().unwrap();
    assert_eq!(a.poll_link(), LinkState::Up);
    assert_eq!(b.poll_link(), LinkState::Up);
    let data = [1u8; 16];
    let pkt = frame_on_hop8(&data);
    for round in 0..3 {
        // `b` rings while `a` sleeps: the wait ends early.
        let t = Instant::now();
        let waker = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                assert!(b.try_send(&pkt));
                b.flush();
            });
            wait_any(&mut [&mut a], false, t + Duration::from_secs(5));
            t.elapsed()
        });
        assert!(waker < Duration::from_secs(5), "round {round}: not woken");
        assert_eq!(a.recv(16, &mut |_| true), 1);
        // Nothing rings now: the next wait sleeps its whole 50 ms.
        let t = Instant::now();
        wait_any(&mut [&mut a], false, t + Duration::from_millis(50));
        assert!(
            t.elapsed() >= Duration::from_millis(50),
            "round {round}: a stale doorbell ended the sleep at once"
        );
    }
}
