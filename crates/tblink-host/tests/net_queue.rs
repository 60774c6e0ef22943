//! The ThunderboltIP extension with in-memory queue interfaces instead of
//! TAPs: the same login, bring-up, carrier and statistics, frames in both
//! directions between two runtimes in one process, carrier off on unplug
//! and the same interfaces back on replug.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use tblink_host::net::{NetOptions, enable_networking_with};
use tblink_net::queue::{QueueDevices, QueueEnd};

fn frame(dst: [u8; 6], src: [u8; 6], i: usize, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend((14..len).map(|k| (k + i) as u8));
    f
}

#[test]
fn queue_interfaces_carry_frames_both_ways_and_survive_a_replug() {
    let (ca, cb) = tblink_hostif::cable::inproc::pair().unwrap();
    let mut a = common::host("alice");
    let mut b = common::host("bob");
    let qa = QueueDevices::new(64);
    let qb = QueueDevices::new(64);
    enable_networking_with(&mut a, NetOptions::default(), qa.clone()).unwrap();
    enable_networking_with(&mut b, NetOptions::default(), qb.clone()).unwrap();
    a.add_port(1, Box::new(tblink_host::Handed::new(ca, "inproc")))
        .unwrap();
    b.add_port(1, Box::new(tblink_host::Handed::new(cb, "inproc")))
        .unwrap();
    common::drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(10),
        "login",
        |s| s.iter().all(|s| s.net.first().is_some_and(|n| n.carrier)),
    );
    let ends: [QueueEnd; 2] = [qa.interfaces().remove(0), qb.interfaces().remove(0)];
    for e in &ends {
        assert_eq!(e.name(), "thunderbolt0");
        assert!(e.carrier());
        assert_eq!(e.mtu(), 1500);
    }
    let macs = [ends[0].mac(), ends[1].mac()];
    assert_ne!(macs[0], macs[1]);
    let snaps = [a.snapshot(), b.snapshot()];
    for (i, s) in snaps.iter().enumerate() {
        assert_eq!(s.net.len(), 1);
        assert_eq!(s.net[0].ifname, "thunderbolt0");
        assert_eq!(
            s.net[0].mac,
            macs[i]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        );
        assert!(s.timeline.iter().any(|e| e.event == "carrier_on"));
    }

    // More frames than a queue holds: the senders wait for room.
    const N: usize = 200;
    let mut sent = [0usize; 2];
    let mut got: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    let t = std::time::Instant::now();
    while got.iter().any(|g| g.len() < N) {
        for from in 0..2 {
            while sent[from] < N && ends[from].can_send() {
                let f = frame(macs[1 - from], macs[from], sent[from], 1514);
                assert!(ends[from].send_with(f.len(), |b| b.copy_from_slice(&f)).1);
                sent[from] += 1;
            }
        }
        a.turn();
        b.turn();
        for to in 0..2 {
            while let Some(f) = ends[to].recv() {
                got[to].push(f);
            }
        }
        assert!(t.elapsed() < Duration::from_secs(20), "stuck: {got:?}");
    }
    for to in 0..2 {
        for (i, f) in got[to].iter().enumerate() {
            assert_eq!(*f, frame(macs[to], macs[1 - to], i, 1514), "frame {i}");
        }
        assert_eq!(ends[to].dropped(), (0, 0));
    }
    let snaps = [a.snapshot(), b.snapshot()];
    for s in &snaps {
        let n = &s.net[0];
        assert_eq!(n.tx_packets, N as u64);
        assert_eq!(n.rx_packets, N as u64);
        assert_eq!(n.rx_errors + n.tx_errors + n.rx_host_dropped, 0);
    }

    // Unplug: the paths come down and carrier goes off on both queues.
    a.unplug(1).unwrap();
    b.unplug(1).unwrap();
    common::drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(10),
        "carrier off",
        |s| s.iter().all(|s| s.net.first().is_some_and(|n| !n.carrier)),
    );
    assert!(ends.iter().all(|e| !e.carrier()));

    // Replug: the same interfaces come back and carry frames again.
    let (ca, cb) = tblink_hostif::cable::inproc::pair().unwrap();
    a.plug_cable(1, ca).unwrap();
    b.plug_cable(1, cb).unwrap();
    common::drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(10),
        "carrier back",
        |s| s.iter().all(|s| s.net.first().is_some_and(|n| n.carrier)),
    );
    assert_eq!(qa.interfaces().len(), 1);
    assert_eq!(qb.interfaces().len(), 1);
    assert!(ends.iter().all(QueueEnd::carrier));
    let f = frame(macs[1], macs[0], 7, 600);
    assert!(ends[0].send_with(f.len(), |b| b.copy_from_slice(&f)).1);
    let t = std::time::Instant::now();
    let back = loop {
        a.turn();
        b.turn();
        if let Some(g) = ends[1].recv() {
            break g;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no frame after replug"
        );
    };
    assert_eq!(back, f);
    let s = a.snapshot();
    assert_eq!(s.net.len(), 1);
    assert_eq!(s.net[0].bring_ups, 2);
    assert_eq!(s.net[0].tx_packets, N as u64 + 1);
}
