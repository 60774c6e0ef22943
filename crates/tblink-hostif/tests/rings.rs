//! Ring semantics of spec 05 on the emulated controller.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tblink_hostif::cable::inproc;
use tblink_hostif::{
    Dir, DmaBuf, DmaPaths, EmulatedNhi, Error, HopDir, HostInterface, LinkEvent, ManualClock,
    NhiConfig, PeerKind, RingConfig, RingId, TxFrame,
};
use tblink_wire::ctl::FrameBuf;
use tblink_wire::{Pdf, Route};

fn run(x: &mut EmulatedNhi, y: &mut EmulatedNhi) {
    for _ in 0..4 {
        x.process();
        y.process();
    }
}

#[test]
fn frame_mode_delimiting_with_sof_eof_masks() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(16, 1 << 1, 1 << 2));
    for _ in 0..8 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    // One frame in one descriptor.
    x.post_tx(tx, frame(100, 1, 1, 2)).unwrap();
    // One frame over three TX descriptors: SOF 1 … EOF 2.
    x.post_tx(tx, frame(1000, 2, 1, 0)).unwrap();
    x.post_tx(tx, frame(1000, 3, 0, 0)).unwrap();
    x.post_tx(tx, frame(500, 4, 0, 2)).unwrap();
    // A unit outside any frame (SOF PDF not in the mask): dropped.
    x.post_tx(tx, frame(64, 5, 0, 2)).unwrap();
    // A full 4096-byte frame: length field 0.
    x.post_tx(tx, frame(4096, 6, 1, 2)).unwrap();
    run(&mut x, &mut y);

    let a = y.poll_rx(rx).unwrap();
    assert_eq!((a.len(), a.sof().value(), a.eof().value()), (100, 1, 2));
    check(a.data(), 1);
    assert_eq!(a.desc.flags(), 0x2, "DONE only; bit 22 clear");

    let b = y.poll_rx(rx).unwrap();
    assert_eq!((b.len(), b.sof().value(), b.eof().value()), (2500, 1, 2));
    check(&b.data()[..1000], 2);
    check(&b.data()[1000..2000], 3);
    check(&b.data()[2000..], 4);

    let c = y.poll_rx(rx).unwrap();
    assert_eq!(c.desc.word & 0xfff, 0, "4096 is encoded as 0");
    assert_eq!(c.len(), 4096);
    check(c.data(), 6);
    assert!(y.poll_rx(rx).is_none());
    let st = y.stats(rx_id(rx)).unwrap();
    assert_eq!(st.dropped_unframed, 1);
    assert_eq!(st.frames, 3);
    // TX completions in order, with DONE.
    for _ in 0..6 {
        assert!(x.poll_tx(tx).unwrap().desc.done());
    }
}

#[test]
fn overrun_sets_flag_and_next_frame_is_clean() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(16, 1 << 1, 1 << 2));
    for _ in 0..4 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    x.post_tx(tx, frame(4096, 1, 1, 0)).unwrap();
    x.post_tx(tx, frame(100, 2, 0, 2)).unwrap();
    x.post_tx(tx, frame(10, 3, 1, 2)).unwrap();
    run(&mut x, &mut y);
    let a = y.poll_rx(rx).unwrap();
    assert!(a.overrun());
    assert_eq!(a.desc.flags() & 0x4, 0x4);
    assert_eq!(a.len(), 4096);
    check(a.data(), 1);
    let b = y.poll_rx(rx).unwrap();
    assert!(!b.overrun());
    assert_eq!(b.len(), 10);
    assert_eq!(y.stats(rx_id(rx)).unwrap().overruns, 1);
}

#[test]
fn raw_ring_overrun_on_256_byte_buffer() {
    let (mut x, mut y) = inproc_pair();
    for d in [Dir::Tx, Dir::Rx] {
        for h in [&mut x, &mut y] {
            let r = h.alloc_ring(RingConfig::control(d)).unwrap();
            h.start_ring(r).unwrap();
        }
    }
    y.post_rx(0, DmaBuf::new()).unwrap();
    let f = FrameBuf::seal(Pdf::READ, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    x.post_tx(0, TxFrame::control(DmaBuf::new(), &f)).unwrap();
    run(&mut x, &mut y);
    let c = y.poll_rx(0).unwrap();
    // Raw write-back: EOF = PDF, SOF = 0, length includes the CRC (spec 05 §5).
    assert_eq!((c.eof(), c.sof().value(), c.len()), (Pdf::READ, 0, 16));
    assert_eq!(
        c.control_frame().unwrap(),
        f,
        "not XDomain: route untouched"
    );
    assert!(matches!(
        x.post_tx(0, TxFrame { buf: DmaBuf::new(), len: 300, sof: Pdf::READ, eof: Pdf::READ }),
        Err(r) if r.error == Error::BadLength(300)
    ));
}

#[test]
fn drop_and_count_when_no_rx_descriptor() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(16, 1 << 1, 1 << 2));
    y.post_rx(rx, DmaBuf::new()).unwrap();
    y.post_rx(rx, DmaBuf::new()).unwrap();
    for i in 0..5 {
        x.post_tx(tx, frame(64, i, 1, 2)).unwrap();
    }
    run(&mut x, &mut y);
    check(y.poll_rx(rx).unwrap().data(), 0);
    check(y.poll_rx(rx).unwrap().data(), 1);
    assert!(y.poll_rx(rx).is_none());
    assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 3);
    assert!(y.take_rx_overflow(rx));
    assert!(!y.take_rx_overflow(rx));
    // The sender saw all five complete.
    assert_eq!(x.stats(tx_id(tx)).unwrap().frames, 5);
}

#[test]
fn e2e_is_lossless_with_a_slow_receiver() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(
        &mut x,
        &mut y,
        true,
        RingConfig::rx(8, 1 << 1, 1 << 2).e2e(1),
    );
    for _ in 0..7 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    let total = 300u32;
    let (mut sent, mut got, mut step) = (0u32, 0u32, 0u64);
    let mut spare: Vec<DmaBuf> = (0..255).map(|_| DmaBuf::new()).collect();
    while got < total {
        step += 1;
        assert!(step < 100_000, "stalled at {got}");
        post_numbered(&mut x, tx, &mut spare, &mut sent, total, 1500);
        while let Some(c) = x.poll_tx(tx) {
            spare.push(c.buf);
        }
        // Slow receiver: one frame every 7th step.
        if step % 7 == 0 {
            if let Some(c) = y.poll_rx(rx) {
                check(c.data(), got);
                got += 1;
                y.post_rx(rx, c.buf).unwrap();
            }
        } else {
            y.process();
        }
    }
    assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 0);
    assert!(!y.take_rx_overflow(rx));
}

/// Credits go back quietly while the sender holds plenty, yet a sender
/// that ran dry and sleeps without a timeout to save it is always woken:
/// by the grant that finds its balance low, or by a quarter of the ring
/// returned quietly. Both ring sizes (a quarter of 1 is every grant) and a
/// receiver that posts fewer buffers than the ring holds.
#[test]
fn a_sender_out_of_credits_is_woken() {
    for (size, posted) in [(256u16, 255usize), (256, 10), (2, 1), (16, 15)] {
        let (mut x, mut y, tx, rx) = e2e_pair_without_spin(inproc::DEFAULT_SLOTS, size, posted);
        const N: u32 = 600;
        let sender = std::thread::spawn(move || {
            let mut spare: Vec<DmaBuf> = (0..64).map(|_| DmaBuf::new()).collect();
            let (mut sent, mut longest) = (0u32, Duration::ZERO);
            while sent < N || spare.len() < 64 {
                post_numbered(&mut x, tx, &mut spare, &mut sent, N, 256);
                let before = spare.len();
                while let Some(c) = x.poll_tx(tx) {
                    spare.push(c.buf);
                }
                if spare.len() == before {
                    // Nothing completed: out of credits. Sleep with a
                    // timeout far beyond any wake-up; a wait that runs
                    // into it was a lost wake-up.
                    // Interrupts taken: the wait sleeps until something
                    // new happens.
                    while x.poll_interrupt().is_some() {}
                    // Taking them ran the controller, which may have
                    // completed frames (a grant came in): their interrupt
                    // is gone, so look before sleeping.
                    if let Some(c) = x.poll_tx(tx) {
                        spare.push(c.buf);
                        continue;
                    }
                    let t = Instant::now();
                    x.wait(Duration::from_secs(10));
                    longest = longest.max(t.elapsed());
                    if longest >= Duration::from_secs(10) {
                        break;
                    }
                }
            }
            (sent, longest, x)
        });
        let mut got = 0u32;
        let t = Instant::now();
        let mut held = Vec::new();
        while got < N && t.elapsed() < Duration::from_secs(30) {
            y.wait(Duration::from_millis(20));
            while let Some(c) = y.poll_rx(rx) {
                check(c.data(), got);
                got += 1;
                held.push(c.buf);
            }
            // Give the buffers back once the sender has gone to sleep, so
            // the credits are returned to a sleeper.
            std::thread::sleep(Duration::from_micros(200));
            for b in held.drain(..) {
                y.post_rx(rx, b).unwrap();
            }
        }
        let (sent, longest, _x) = sender.join().unwrap();
        assert_eq!((sent, got), (N, N), "ring {size}, {posted} posted");
        assert!(
            longest < Duration::from_secs(10),
            "ring {size}, {posted} posted: the sender slept through its credits"
        );
        assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 0);
    }
}

/// The receiver's view of the sender's credits counts frames still in the
/// cable: a grant it sends while they are on the way goes back quietly,
/// yet the sender has already spent everything and sleeps. Once those
/// frames arrive (and the receiver holds their buffers, as a partly
/// reassembled packet does) the receiver must wake the sender for the
/// credits it returned.
#[test]
fn quiet_credits_to_a_sender_that_ran_dry_are_followed_by_a_wake() {
    let (mut x, mut y, tx, rx) = e2e_pair_without_spin(512, 256, 255);
    // Credits for the whole ring are granted when the path comes up.
    for _ in 0..4 {
        y.process();
        x.process();
    }
    // 255 frames spend every credit; 10 more wait for credits.
    for i in 0..255 {
        x.post_tx(tx, frame(64, i, 1, 2)).unwrap();
    }
    x.process();
    while x.poll_tx(tx).is_some() {}
    for i in 255..265 {
        x.post_tx(tx, frame(64, i, 1, 2)).unwrap();
    }
    x.process();
    assert_eq!(x.stats(tx_id(tx)).unwrap().frames, 255, "out of credits");
    while x.poll_interrupt().is_some() {}
    let asleep = Arc::new(AtomicBool::new(false));
    let flag = asleep.clone();
    let sender = std::thread::spawn(move || {
        flag.store(true, Ordering::Release);
        let t = Instant::now();
        x.wait(Duration::from_secs(10));
        (t.elapsed(), x.stats(tx_id(tx)).unwrap().frames)
    });
    while !asleep.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(50));
    // One batch of 64 frames arrives; 10 buffers go back while the other
    // 191 frames are still in the cable: the grant is quiet.
    y.process();
    let mut held = Vec::new();
    for _ in 0..64 {
        // Completions already there: no processing in between.
        held.push(y.poll_rx(rx).unwrap().buf);
    }
    for b in held.drain(..10) {
        y.post_rx(rx, b).unwrap();
    }
    // The rest arrives; the receiver keeps those buffers.
    for _ in 0..8 {
        y.process();
    }
    let mut got = held.len();
    while y.poll_rx(rx).is_some() {
        got += 1;
    }
    assert_eq!(got, 255 - 10);
    let (slept, sent) = sender.join().unwrap();
    assert!(
        slept < Duration::from_secs(10),
        "the sender slept through its credits ({slept:?})"
    );
    assert_eq!(sent, 265, "woken, it sent the 10 frames that waited");
}

#[test]
fn without_tx_e2e_the_sender_is_not_held() {
    // Linux 6.1 ThunderboltIP: E2E on RX only → frames beyond the posted
    // descriptors are dropped (spec 05 §8).
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(
        &mut x,
        &mut y,
        false,
        RingConfig::rx(8, 1 << 1, 1 << 2).e2e(1),
    );
    for _ in 0..3 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    for i in 0..10 {
        x.post_tx(tx, frame(64, i, 1, 2)).unwrap();
    }
    run(&mut x, &mut y);
    assert_eq!(y.stats(rx_id(rx)).unwrap().frames, 3);
    assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 7);
}

#[test]
fn ring_number_allocation() {
    let mut n = EmulatedNhi::new(NhiConfig {
        hop_count: 4,
        ..cfg()
    });
    assert_eq!(n.alloc_ring(RingConfig::tx(8)).unwrap().number, 1);
    assert_eq!(n.alloc_ring(RingConfig::tx(8)).unwrap().number, 2);
    assert_eq!(
        n.alloc_ring(RingConfig::rx(8, 2, 4)).unwrap().number,
        1,
        "per direction"
    );
    assert_eq!(
        n.alloc_ring(RingConfig::tx(8).number(2)),
        Err(Error::RingTaken(Dir::Tx, 2))
    );
    assert_eq!(
        n.alloc_ring(RingConfig::tx(8).number(0)),
        Err(Error::RingReserved(0))
    );
    assert_eq!(
        n.alloc_ring(RingConfig::tx(8).number(4)),
        Err(Error::RingOutOfRange {
            number: 4,
            hop_count: 4
        })
    );
    assert_eq!(n.alloc_ring(RingConfig::tx(8).number(3)).unwrap().number, 3);
    assert_eq!(
        n.alloc_ring(RingConfig::tx(8)),
        Err(Error::NoFreeRing(Dir::Tx))
    );
    assert_eq!(
        n.alloc_ring(RingConfig::control(Dir::Tx)).unwrap(),
        RingId::CTL_TX
    );
    n.free_ring(RingId {
        dir: Dir::Tx,
        number: 2,
    })
    .unwrap();
    assert_eq!(n.alloc_ring(RingConfig::tx(8)).unwrap().number, 2);
    assert_eq!(n.alloc_ring(RingConfig::tx(1)), Err(Error::BadRingSize(1)));
}

#[test]
fn hopid_allocation_from_ranges() {
    let (mut x, _y) = inproc_pair();
    let out = HopDir::Out { remote_max: 10 };
    assert_eq!(x.alloc_hopid(1, out, None), Ok(8));
    assert_eq!(x.alloc_hopid(1, out, Some(10)), Ok(10));
    assert_eq!(x.alloc_hopid(1, out, Some(10)), Err(Error::HopIdTaken(10)));
    assert_eq!(
        x.alloc_hopid(1, out, Some(7)),
        Err(Error::HopIdOutOfRange {
            hop: 7,
            min: 8,
            max: 10
        })
    );
    assert_eq!(x.alloc_hopid(1, out, None), Ok(9));
    assert_eq!(x.alloc_hopid(1, out, None), Err(Error::NoFreeHopId));
    // The in pool is independent and ends at our max input HopID (15).
    for h in 8..=15 {
        assert_eq!(x.alloc_hopid(1, HopDir::In, None), Ok(h));
    }
    assert_eq!(x.alloc_hopid(1, HopDir::In, None), Err(Error::NoFreeHopId));
    x.release_hopid(1, HopDir::In, 12);
    assert_eq!(x.alloc_hopid(1, HopDir::In, None), Ok(12));
    assert_eq!(
        x.alloc_hopid(2, HopDir::In, None),
        Err(Error::NoSuchAdapter(2))
    );
}

#[test]
fn stop_during_traffic_then_restart_resets_indices() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(32, 1 << 1, 1 << 2));
    let pool = tblink_hostif::BufPool::new();
    for _ in 0..20 {
        y.post_rx(rx, pool.alloc()).unwrap();
    }
    for i in 0..10 {
        x.post_tx(tx, frame(512, i, 1, 2)).unwrap();
    }
    run(&mut x, &mut y);
    let first = y.poll_rx(rx).unwrap();
    check(first.data(), 0);
    // Stop with 9 completed-unpolled and 10 empty descriptors outstanding.
    let back = y.stop_ring(rx_id(rx)).unwrap();
    assert_eq!(back.len(), 19, "every buffer comes back");
    let before = y.stats(rx_id(rx)).unwrap();
    for i in 10..20 {
        x.post_tx(tx, frame(512, i, 1, 2)).unwrap();
    }
    run(&mut x, &mut y);
    assert!(y.poll_rx(rx).is_none(), "no DMA after stop");
    assert_eq!(y.stats(rx_id(rx)).unwrap(), before);
    assert!(matches!(y.post_rx(rx, DmaBuf::new()), Err(r) if r.error == Error::RingStopped));
    // Restart: indices start at 0 again.
    y.start_ring(rx_id(rx)).unwrap();
    y.post_rx(rx, first.buf).unwrap();
    x.post_tx(tx, frame(512, 99, 1, 2)).unwrap();
    run(&mut x, &mut y);
    let c = y.poll_rx(rx).unwrap();
    assert_eq!(c.desc.addr, 0, "first descriptor after start is index 0");
    check(c.data(), 99);
    drop((back, c));
    assert_eq!(pool.live(), 0);

    // Stopping a TX ring with frames queued hands them back too.
    x.stop_ring(tx_id(tx)).unwrap();
    x.start_ring(tx_id(tx)).unwrap();
    for i in 0..5 {
        x.post_tx(tx, frame(64, i, 1, 2)).unwrap();
    }
    assert_eq!(x.stop_ring(tx_id(tx)).unwrap().len(), 5);
}

#[test]
fn interrupt_throttling_under_load() {
    let clock = ManualClock::new();
    let (a, b) = inproc::pair().unwrap();
    let mut x = EmulatedNhi::new(cfg());
    let mut y = EmulatedNhi::with_clock(NhiConfig::default(), clock.clone());
    x.attach(1, a).unwrap();
    y.attach(3, b).unwrap();
    link_up(&mut x, 1, &mut y, 3);
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(256, 1 << 1, 1 << 2));
    for _ in 0..255 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    let mut irqs = Vec::new();
    let mut frames = 0;
    // 2 ms of load in 10 µs steps: one frame per step.
    for step in 0..200u32 {
        if let Err(r) = x.post_tx(tx, frame(64, step, 1, 2)) {
            panic!("{:?}", r.error);
        }
        while x.poll_tx(tx).is_some() {}
        while let Some(r) = y.poll_interrupt() {
            if r == rx_id(rx) {
                irqs.push(step);
            }
        }
        while let Some(c) = y.poll_rx(rx) {
            frames += 1;
            y.post_rx(rx, c.buf).unwrap();
        }
        clock.advance(Duration::from_micros(10));
    }
    assert_eq!(frames, 200);
    // 128 µs = 12.8 steps: at most one interrupt per window, and under
    // constant load one per window.
    for w in irqs.windows(2) {
        assert!(w[1] - w[0] >= 13, "interrupts {irqs:?}");
    }
    assert!((14..=16).contains(&irqs.len()), "{} interrupts", irqs.len());
}

#[test]
fn completion_while_masked_fires_on_unmask() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(&mut x, &mut y, false, RingConfig::rx(16, 1 << 1, 1 << 2));
    for _ in 0..8 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    x.post_tx(tx, frame(64, 0, 1, 2)).unwrap();
    run(&mut x, &mut y);
    assert_eq!(y.poll_interrupt(), Some(rx_id(rx)));
    // NAPI: mask, poll until empty.
    y.set_interrupt(rx_id(rx), false);
    assert!(y.poll_rx(rx).is_some());
    assert!(y.poll_rx(rx).is_none());
    // A frame lands after the last poll, before the unmask.
    x.post_tx(tx, frame(64, 1, 1, 2)).unwrap();
    run(&mut x, &mut y);
    assert_eq!(y.poll_interrupt(), None, "masked");
    y.set_interrupt(rx_id(rx), true);
    assert_eq!(
        y.poll_interrupt(),
        Some(rx_id(rx)),
        "pending status fires on unmask"
    );
    check(y.poll_rx(rx).unwrap().data(), 1);
}

#[test]
fn napi_poll_reenable_race_across_threads() {
    let (mut x, mut y) = inproc_pair();
    let (tx, rx) = data_path(
        &mut x,
        &mut y,
        true,
        RingConfig::rx(64, 1 << 1, 1 << 2).e2e(1),
    );
    for _ in 0..63 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    const N: u32 = 5000;
    let done = Arc::new(AtomicBool::new(false));
    let done_tx = done.clone();
    let sender = std::thread::spawn(move || {
        let mut spare: Vec<DmaBuf> = (0..32).map(|_| DmaBuf::new()).collect();
        let mut sent = 0;
        let t = Instant::now();
        while sent < N && t.elapsed() < Duration::from_secs(20) {
            // Bursts of random-ish size so arrivals race with the unmask.
            let burst = 1 + (sent * 7 % 13) as usize;
            for _ in 0..burst {
                let Some(mut b) = spare.pop() else { break };
                if sent == N {
                    spare.push(b);
                    break;
                }
                fill(&mut b, 64, sent);
                match x.post_tx(tx, TxFrame::data(b, 64)) {
                    Ok(()) => sent += 1,
                    Err(r) => {
                        spare.push(r.item.buf);
                        break;
                    }
                }
            }
            while let Some(c) = x.poll_tx(tx) {
                spare.push(c.buf);
            }
            if spare.is_empty() {
                x.wait(Duration::from_millis(1));
            }
        }
        // Keep serving credits until everything completed.
        while spare.len() < 32 && t.elapsed() < Duration::from_secs(20) {
            x.wait(Duration::from_millis(1));
            while let Some(c) = x.poll_tx(tx) {
                spare.push(c.buf);
            }
        }
        // A TX completion means the frame left this controller, not that the
        // receiver has it: up to a credit window of frames can still be in the
        // cable. Dropping `x` unplugs the cable and loses them (see
        // `tx_completion_is_not_delivery`), so stay plugged in until the
        // receiver has counted every frame.
        while !done_tx.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(20) {
            x.wait(Duration::from_millis(1));
        }
        (sent, spare.len())
    });
    let mut got = 0u32;
    let t = Instant::now();
    while got < N {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "lost a completion at {got}"
        );
        y.wait(Duration::from_millis(50));
        while let Some(r) = y.poll_interrupt() {
            if r != rx_id(rx) {
                continue;
            }
            y.set_interrupt(r, false);
            loop {
                let mut n = 0;
                while n < 16 {
                    let Some(c) = y.poll_rx(rx) else { break };
                    check(c.data(), got);
                    got += 1;
                    n += 1;
                    y.post_rx(rx, c.buf).unwrap();
                }
                if n < 16 {
                    break;
                }
            }
            y.set_interrupt(r, true);
        }
    }
    done.store(true, Ordering::Release);
    assert_eq!(
        sender.join().unwrap(),
        (N, 32),
        "every frame sent and completed"
    );
    assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 0);
}

/// The interleaving behind the old flake of
/// `napi_poll_reenable_race_across_threads`, driven step by step: the sender
/// has every TX completion back before the receiver's controller has run, so
/// the frames are still in the cable. A sender that stays plugged in gets
/// them all delivered through the mask / drain / unmask cycle; one that
/// unplugs at that point (drops its controller, as the old test's sender
/// thread did on exit) loses them, as unplugging a cable does.
#[test]
fn tx_completion_is_not_delivery() {
    const N: u32 = 40;
    for unplug in [false, true] {
        let (mut x, mut y) = inproc_pair();
        let (tx, rx) = data_path(
            &mut x,
            &mut y,
            true,
            RingConfig::rx(64, 1 << 1, 1 << 2).e2e(1),
        );
        for _ in 0..63 {
            y.post_rx(rx, DmaBuf::new()).unwrap();
        }
        // The receiver's hardware returns the credits for its descriptors.
        y.process();
        for seq in 0..N {
            let mut b = DmaBuf::new();
            fill(&mut b, 64, seq);
            x.post_tx(tx, TxFrame::data(b, 64)).unwrap();
        }
        let mut completed = 0;
        for _ in 0..4 {
            while x.poll_tx(tx).is_some() {
                completed += 1;
            }
        }
        assert_eq!(completed, N, "the sender has every completion back");
        assert_eq!(
            y.stats(rx_id(rx)).unwrap().frames,
            0,
            "while every frame is still in the cable"
        );
        let sender = (!unplug).then_some(x);

        let mut got = 0u32;
        for _ in 0..4 {
            while let Some(r) = y.poll_interrupt() {
                assert_eq!(r, rx_id(rx));
                y.set_interrupt(r, false);
                while let Some(c) = y.poll_rx(rx) {
                    check(c.data(), got);
                    got += 1;
                    y.post_rx(rx, c.buf).unwrap();
                }
                y.set_interrupt(r, true);
            }
        }
        let events: Vec<_> = std::iter::from_fn(|| y.poll_event()).collect();
        if unplug {
            assert_eq!(got, 0, "frames in flight are lost with the cable");
            assert!(
                matches!(events[..], [LinkEvent::Down { adapter: 3, .. }]),
                "{events:?}"
            );
        } else {
            assert_eq!(got, N, "a plugged-in sender loses nothing");
            assert!(events.is_empty(), "{events:?}");
        }
        assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 0);
        drop(sender);
    }
}

#[test]
fn xdomain_route_is_rewritten_through_a_device_router() {
    use tblink_hostif::DeviceRouter;
    // Host A adapter 1 — router R (A's domain, route 0x1, upstream 1) port 3 — host B adapter 2.
    let (a1, r1) = inproc::pair().unwrap();
    let (r3, b2) = inproc::pair().unwrap();
    let mut a = EmulatedNhi::new(cfg());
    let mut b = EmulatedNhi::new(cfg());
    let mut r = DeviceRouter::new(Route::from_raw(1), 1);
    a.attach(1, a1).unwrap();
    r.attach(1, r1);
    r.attach(3, r3);
    b.attach(2, b2).unwrap();
    for h in [&mut a, &mut b] {
        for d in [Dir::Tx, Dir::Rx] {
            let id = h.alloc_ring(RingConfig::control(d)).unwrap();
            h.start_ring(id).unwrap();
        }
        for _ in 0..9 {
            h.post_rx(0, DmaBuf::new()).unwrap();
        }
    }
    let mut ev_a = Vec::new();
    let mut ev_b = Vec::new();
    for _ in 0..20 {
        r.pump();
        ev_a.extend(std::iter::from_fn(|| a.poll_event()));
        ev_b.extend(std::iter::from_fn(|| b.poll_event()));
    }
    assert!(ev_a.contains(&LinkEvent::Up {
        adapter: 1,
        route: Route::from_raw(1),
        peer: PeerKind::Router
    }));
    assert!(ev_b.contains(&LinkEvent::Up {
        adapter: 2,
        route: Route::from_raw(2),
        peer: PeerKind::ForeignRouter
    }));
    // R reported the plug on its port 3 upstream as a hot-plug EVENT (spec 01 §6.3).
    let ev = a.poll_rx(0).unwrap().control_frame().unwrap();
    assert_eq!(ev.pdf(), Pdf::EVENT);
    ev.verify_crc().unwrap();
    assert_eq!(ev.body(), &[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3]);

    // A → B: XDomain request to route 0x301.
    let req = FrameBuf::seal(Pdf::XDOMAIN_REQ, &[0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 9]).unwrap();
    a.post_tx(0, TxFrame::control(DmaBuf::new(), &req)).unwrap();
    for _ in 0..4 {
        a.process();
        r.pump();
        b.process();
    }
    let got = b.poll_rx(0).unwrap().control_frame().unwrap();
    got.verify_crc().unwrap();
    assert_eq!(
        &got.body()[..8],
        &[0, 0, 0, 0, 0, 0, 0, 2],
        "B sees its own route 0x2"
    );
    // B → A: reply to route 0x2; R rewrites to its route to port 3 (0x301).
    let resp = FrameBuf::seal(Pdf::XDOMAIN_RESP, &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9]).unwrap();
    b.post_tx(0, TxFrame::control(DmaBuf::new(), &resp))
        .unwrap();
    for _ in 0..4 {
        b.process();
        r.pump();
        a.process();
    }
    let got = a.poll_rx(0).unwrap().control_frame().unwrap();
    got.verify_crc().unwrap();
    assert_eq!(&got.body()[..8], &[0, 0, 0, 0, 0, 0, 3, 1], "A sees 0x301");

    // Data through the router's path table: A HopID 8 → R port 1 → port 3 HopID 9 → B.
    r.add_path(1, 8, 3, 9);
    let tx = a.alloc_ring(RingConfig::tx(16)).unwrap();
    a.start_ring(tx).unwrap();
    a.enable_paths(
        1,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: Some(tx.number),
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    let rx = b.alloc_ring(RingConfig::rx(16, 2, 4)).unwrap();
    b.start_ring(rx).unwrap();
    b.post_rx(rx.number, DmaBuf::new()).unwrap();
    b.enable_paths(
        2,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: None,
            receive_path: 9,
            receive_ring: Some(rx.number),
        },
    )
    .unwrap();
    a.post_tx(tx.number, frame(300, 42, 1, 2)).unwrap();
    for _ in 0..4 {
        a.process();
        r.pump();
        b.process();
    }
    check(b.poll_rx(rx.number).unwrap().data(), 42);

    // Unplugging B: R reports it upstream, B sees link down.
    drop(r.detach(3));
    for _ in 0..4 {
        a.process();
        b.process();
    }
    assert!(std::iter::from_fn(|| b.poll_event()).any(|e| e
        == LinkEvent::Down {
            adapter: 2,
            route: Route::from_raw(2)
        }));
    let ev = a.poll_rx(0).unwrap().control_frame().unwrap();
    assert_eq!(ev.body(), &[0x80, 0, 0, 0, 0, 0, 0, 1, 0x80, 0, 0, 3]);
}

#[test]
fn paths_follow_linux_order_and_disable() {
    let (mut x, mut y) = inproc_pair();
    // DMA test order: enable paths first, then start rings, then post (spec 05 §13).
    let tx = x.alloc_ring(RingConfig::tx(64).e2e(0)).unwrap();
    let rx = y.alloc_ring(RingConfig::rx(256, 2, 4).e2e(1)).unwrap();
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
    x.enable_paths(
        1,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: Some(tx.number),
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    x.start_ring(tx).unwrap();
    y.start_ring(rx).unwrap();
    for _ in 0..4 {
        y.post_rx(rx.number, DmaBuf::new()).unwrap();
    }
    for i in 0..6 {
        x.post_tx(tx.number, frame(64, i, 1, 2)).unwrap();
    }
    run(&mut x, &mut y);
    for i in 0..4 {
        let c = y.poll_rx(rx.number).unwrap();
        check(c.data(), i);
        y.post_rx(rx.number, c.buf).unwrap();
    }
    run(&mut x, &mut y);
    for i in 4..6 {
        check(y.poll_rx(rx.number).unwrap().data(), i);
    }
    // Disable: frames now go nowhere, nothing arrives.
    y.disable_paths(
        3,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: None,
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    x.disable_paths(
        1,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: None,
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    x.post_tx(tx.number, frame(64, 7, 1, 2)).unwrap();
    run(&mut x, &mut y);
    assert!(y.poll_rx(rx.number).is_none());
    assert_eq!(x.stats(tx).unwrap().dropped_no_path, 1);
    // Ring 0 can never carry a path; a second path on a busy ring conflicts.
    x.enable_paths(
        1,
        DmaPaths {
            transmit_path: 9,
            transmit_ring: Some(tx.number),
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    assert_eq!(
        x.enable_paths(
            1,
            DmaPaths {
                transmit_path: 10,
                transmit_ring: Some(tx.number),
                receive_path: 8,
                receive_ring: None
            }
        ),
        Err(Error::PathInUse)
    );
}

/// `wait_for` says whether the caller's descriptors were watched: quiet
/// after a poll that found nothing, readable when one is, unwatched when
/// the controller had work at once (the caller must then look itself).
#[test]
fn wait_for_reports_whether_the_descriptors_were_watched() {
    use std::io::Write;
    use std::os::fd::AsFd;
    use tblink_hostif::WaitEnd;

    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut idle = EmulatedNhi::new(cfg());
    assert_eq!(
        idle.wait_for(Duration::from_millis(5), &[r.as_fd()]),
        WaitEnd::Quiet
    );
    (&w).write_all(&[1]).unwrap();
    assert_eq!(
        idle.wait_for(Duration::from_secs(5), &[r.as_fd()]),
        WaitEnd::Extra
    );
    // A link event is waiting: the controller returns before any poll,
    // even though the descriptor is readable.
    let (a, b) = inproc::pair().unwrap();
    let mut x = EmulatedNhi::new(cfg());
    let mut y = EmulatedNhi::new(cfg());
    x.attach(1, a).unwrap();
    y.attach(3, b).unwrap();
    for _ in 0..3 {
        x.process();
        y.process();
    }
    assert_eq!(
        x.wait_for(Duration::from_secs(5), &[r.as_fd()]),
        WaitEnd::Unwatched
    );
    assert!(matches!(x.poll_event(), Some(LinkEvent::Up { .. })));
}
