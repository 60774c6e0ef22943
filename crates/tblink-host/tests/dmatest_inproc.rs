//! `dma_test` (spec 07) between host runtimes in one process, joined by an
//! in-process cable: a clean transfer, a lossy one, refusals, and a peer
//! that goes away mid-run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use tblink_host::dmatest::{self, DmaTestError, DmaTestHandle, DmaTestReport, DmaTestRequest};
use tblink_host::{Handed, Runtime, Snapshot};
use tblink_hostif::cable::fault::{FaultInjector, Faults};
use tblink_hostif::cable::inproc;

/// `s` enumerated `peer` and bound its `dma_test` service.
fn dmatest_bound(s: &Snapshot, peer: &str) -> bool {
    s.xdomains().any(|x| {
        x.host_name.as_deref() == Some(peer)
            && x.services
                .iter()
                .any(|sv| sv.key == "dma_test" && sv.driver.as_deref() == Some("dma_test"))
    })
}

struct Pair {
    a: Runtime,
    b: Runtime,
    ha: DmaTestHandle,
    hb: DmaTestHandle,
}

/// Alice (adapter 1) and Bob (adapter 3), both with `dma_test`, joined by
/// `faults` on each cable end, driven until each bound the other's service.
fn pair(faults: Option<Faults>) -> Pair {
    let (a_end, b_end) = inproc::pair().unwrap();
    let mut a = common::host("alice");
    let mut b = common::host("bob");
    let ha = dmatest::enable(&mut a).unwrap();
    let hb = dmatest::enable(&mut b).unwrap();
    match faults {
        Some(f) => {
            a.add_port(
                1,
                Box::new(Handed::new(FaultInjector::new(a_end, f, 7), "lossy")),
            )
            .unwrap();
            b.add_port(
                3,
                Box::new(Handed::new(FaultInjector::new(b_end, f, 8), "lossy")),
            )
            .unwrap();
        }
        None => {
            a.add_port(1, Box::new(Handed::new(a_end, "inproc")))
                .unwrap();
            b.add_port(3, Box::new(Handed::new(b_end, "inproc")))
                .unwrap();
        }
    }
    common::drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(20),
        "discovery",
        |s| dmatest_bound(&s[0], "bob") && dmatest_bound(&s[1], "alice"),
    );
    Pair { a, b, ha, hb }
}

impl Pair {
    fn turn(&mut self) {
        let busy = self.a.turn() | self.b.turn();
        if !busy {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Submit on `h` and turn both hosts until the loop answers.
    fn start(&mut self, alice: bool, req: DmaTestRequest) -> Result<DmaTestReport, DmaTestError> {
        let h = if alice { &self.ha } else { &self.hb };
        let mut t = h.submit_start(req)?;
        let t0 = Instant::now();
        loop {
            self.turn();
            if let Some(r) = t.try_answer() {
                return r;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "no answer");
        }
    }

    /// Turn until the runs on alice's adapter 1 and bob's adapter 3 (as
    /// given) have finished; panics after `limit`.
    fn finish(
        &mut self,
        alice: bool,
        bob: bool,
        limit: Duration,
    ) -> (Option<DmaTestReport>, Option<DmaTestReport>) {
        let t0 = Instant::now();
        loop {
            self.turn();
            let ra = alice.then(|| self.ha.status(1).unwrap());
            let rb = bob.then(|| self.hb.status(3).unwrap());
            if ra.iter().chain(rb.iter()).all(|r| !r.running) {
                return (ra, rb);
            }
            assert!(
                t0.elapsed() < limit,
                "run not finished within {limit:?}: {ra:?} {rb:?}"
            );
        }
    }
}

fn receive(adapter: u8, n: u32) -> DmaTestRequest {
    DmaTestRequest {
        receive: n,
        ..DmaTestRequest::new(adapter)
    }
}

fn send(adapter: u8, n: u32, hop: Option<u16>) -> DmaTestRequest {
    DmaTestRequest {
        send: n,
        out_hopid: hop,
        ..DmaTestRequest::new(adapter)
    }
}

#[test]
fn thousand_frames_between_two_hosts() {
    let mut p = pair(None);
    // Receiver first (spec 07 §2).
    let rx = p.start(false, receive(3, 1000)).unwrap();
    assert!(rx.running, "{rx:?}");
    assert_eq!(rx.service, "0-3.1", "echo is service 0, dma_test 1");
    assert_eq!(rx.peer.as_deref(), Some("alice"));
    // Lowest free in HopID ≥ 8 (spec 07 §3).
    assert_eq!(rx.in_hopid, Some(8));
    let tx = p.start(true, send(1, 1000, rx.in_hopid)).unwrap();
    assert_eq!(tx.out_hopid, Some(8));

    let (ra, rb) = p.finish(true, true, Duration::from_secs(30));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    eprintln!(
        "1000 x 4096 in process: receiver {:?} Gbit/s, sender {:?} Gbit/s",
        rb.rx_gbit_s, ra.tx_gbit_s
    );
    assert!(ra.success(), "{ra:?}");
    assert_eq!(
        (ra.packets_sent, ra.packets_completed, ra.bytes_sent),
        (1000, 1000, 4_096_000)
    );
    assert_eq!(ra.packets_received, 0);
    assert!(rb.success(), "{rb:?}");
    assert_eq!((rb.packets_received, rb.bytes_received), (1000, 4_096_000));
    assert_eq!(
        (
            rb.crc_errors,
            rb.buffer_overflow_errors,
            rb.length_errors,
            rb.pattern_errors,
            rb.missing
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(
        rb.status,
        "result: success\npackets received: 1000\npackets sent: 0\nCRC errors: 0\n\
         buffer overflow errors: 0\nerror: no errors\n"
    );
    assert!(rb.rx_gbit_s.is_some_and(|g| g > 0.0));

    // Everything was given back: the same HopID is free again, and a
    // second run with short frames and E2E flow control works as well.
    let rx = p
        .start(
            false,
            DmaTestRequest {
                size: 100,
                e2e: true,
                ..receive(3, 300)
            },
        )
        .unwrap();
    assert_eq!(rx.in_hopid, Some(8));
    assert!(rx.e2e);
    let tx = p
        .start(
            true,
            DmaTestRequest {
                size: 100,
                e2e: true,
                ..send(1, 300, rx.in_hopid)
            },
        )
        .unwrap();
    assert_eq!(tx.id, 2);
    let (ra, rb) = p.finish(true, true, Duration::from_secs(30));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.success() && rb.success(), "{ra:?} {rb:?}");
    assert_eq!(rb.bytes_received, 30_000);
    assert_eq!(rb.rx_dropped_no_desc, 0);
}

#[test]
fn size_mismatch_is_a_length_error() {
    let mut p = pair(None);
    let rx = p.start(false, receive(3, 50)).unwrap();
    p.start(
        true,
        DmaTestRequest {
            size: 2048,
            ..send(1, 50, rx.in_hopid)
        },
    )
    .unwrap();
    let (ra, rb) = p.finish(true, true, Duration::from_secs(30));
    assert!(ra.unwrap().success());
    let rb = rb.unwrap();
    assert_eq!(
        (rb.packets_received, rb.length_errors, rb.pattern_errors),
        (50, 50, 0)
    );
    assert_eq!(
        (rb.result.as_str(), rb.error.as_str()),
        ("failed", "packet check failed")
    );
}

#[test]
fn faults_are_counted_not_hung() {
    let faults = Faults {
        drop: 0.05,
        corrupt: 0.05,
        ..Faults::default()
    };
    let mut p = pair(Some(faults));
    let rx = p
        .start(
            false,
            DmaTestRequest {
                timeout_ms: 300,
                ..receive(3, 1000)
            },
        )
        .unwrap();
    p.start(true, send(1, 1000, rx.in_hopid)).unwrap();
    let (ra, rb) = p.finish(true, true, Duration::from_secs(30));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // The sender cannot know: all its frames left the controller.
    assert!(ra.success(), "{ra:?}");
    assert_eq!(rb.result, "failed");
    assert_eq!(rb.error, "packet check failed");
    assert!(rb.crc_errors > 0, "{rb:?}");
    assert!(rb.missing > 0, "{rb:?}");
    assert_eq!(rb.packets_received + rb.missing, 1000);
    assert!(
        rb.detail
            .as_deref()
            .is_some_and(|d| d.contains("timed out")),
        "{rb:?}"
    );
    assert!(
        rb.status
            .contains(&format!("CRC errors: {}\n", rb.crc_errors))
    );
}

#[test]
fn refusals() {
    let mut p = pair(None);
    assert_eq!(
        p.start(true, send(5, 10, None)),
        Err(DmaTestError::NoPeer(5))
    );
    assert_eq!(
        p.ha.submit_start(send(1, 0, None)).err(),
        Some(DmaTestError::NothingToDo)
    );
    assert!(matches!(
        p.ha.submit_start(send(1, dmatest::MAX_PACKETS + 1, None)),
        Err(DmaTestError::TooMany { .. })
    ));
    let first = p
        .start(
            false,
            DmaTestRequest {
                timeout_ms: 0,
                ..receive(3, 10)
            },
        )
        .unwrap();
    assert!(first.running);
    assert_eq!(
        p.start(false, receive(3, 10)),
        Err(DmaTestError::Busy("0-3.1".into()))
    );
    // Cancel: "interrupted by signal", the nearest Linux error.
    let mut t = p.hb.submit_cancel(3).unwrap();
    let rep = loop {
        p.turn();
        if let Some(r) = t.try_answer() {
            break r.unwrap();
        }
    };
    assert_eq!(
        (rep.result.as_str(), rep.error.as_str()),
        ("failed", "interrupted by signal")
    );
    assert_eq!(rep.missing, 10);

    // A peer without the service.
    let (a_end, c_end) = inproc::pair().unwrap();
    let mut c = common::host("carol");
    p.a.add_port(5, Box::new(Handed::new(a_end, "inproc")))
        .unwrap();
    c.add_port(1, Box::new(Handed::new(c_end, "inproc")))
        .unwrap();
    common::drive(
        &mut [&mut p.a, &mut c],
        &mut [],
        Duration::from_secs(10),
        "discovery with carol",
        |s| common::bound_to(&s[0], "carol"),
    );
    let mut t = p.ha.submit_start(send(5, 10, None)).unwrap();
    let r = loop {
        p.a.turn();
        c.turn();
        if let Some(r) = t.try_answer() {
            break r;
        }
    };
    assert_eq!(
        r,
        Err(DmaTestError::NoService {
            adapter: 5,
            peer: "carol".into()
        })
    );
}

#[test]
fn peer_unplugged_mid_run_ends_the_run() {
    let mut p = pair(None);
    let rx = p
        .start(
            false,
            DmaTestRequest {
                timeout_ms: 0,
                ..receive(3, 100)
            },
        )
        .unwrap();
    assert!(rx.running);
    p.a.unplug(1).unwrap();
    let (_, rb) = p.finish(false, true, Duration::from_secs(10));
    let rb = rb.unwrap();
    assert_eq!(rb.result, "failed");
    assert_eq!(rb.missing, 100);
    assert!(
        rb.detail
            .as_deref()
            .is_some_and(|d| d.contains("went away")),
        "{rb:?}"
    );
}

/// A cable from one port of a host back to another port of the same host:
/// two XDomain connections, two `dma_test` services (spec 07 §1); the
/// test runs from one to the other inside one event loop.
#[test]
fn cable_looped_back_to_the_same_host() {
    let (e1, e3) = inproc::pair().unwrap();
    let mut a = common::host("alice");
    let h = dmatest::enable(&mut a).unwrap();
    a.add_port(1, Box::new(Handed::new(e1, "inproc"))).unwrap();
    a.add_port(3, Box::new(Handed::new(e3, "inproc"))).unwrap();
    common::drive(
        &mut [&mut a],
        &mut [],
        Duration::from_secs(20),
        "discovery of ourselves",
        |s| {
            s[0].xdomains()
                .filter(|x| {
                    x.services
                        .iter()
                        .any(|sv| sv.key == "dma_test" && sv.driver.as_deref() == Some("dma_test"))
                })
                .count()
                == 2
        },
    );
    let answer = |a: &mut Runtime, req| {
        let mut t = h.submit_start(req).unwrap();
        loop {
            a.turn();
            if let Some(r) = t.try_answer() {
                break r.unwrap();
            }
        }
    };
    let rx = answer(&mut a, receive(3, 500));
    assert_eq!(rx.peer.as_deref(), Some("alice"));
    assert_eq!(rx.peer_uuid, a.host().uuid().to_string());
    let tx = answer(&mut a, send(1, 500, rx.in_hopid));
    assert!(tx.running);
    let t0 = Instant::now();
    let (ra, rb) = loop {
        a.turn();
        let (ra, rb) = (h.status(1).unwrap(), h.status(3).unwrap());
        if !ra.running && !rb.running {
            break (ra, rb);
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{ra:?} {rb:?}");
    };
    assert!(ra.success() && rb.success(), "{ra:?} {rb:?}");
    assert_eq!((ra.packets_sent, rb.packets_received), (500, 500));
}

/// A start the loop does not take in time is withdrawn: the requester is
/// told nothing was done, and the loop's next turn does not start it.
#[test]
fn start_not_taken_in_time_never_runs() {
    let mut p = pair(None);
    // Nobody turns the loop while the request waits.
    let r = p.hb.start(receive(3, 10), Duration::from_millis(50));
    assert_eq!(r, Err(DmaTestError::NoAnswer));
    let r = p.hb.cancel(3, Duration::from_millis(50));
    assert_eq!(r, Err(DmaTestError::NoAnswer));
    // A dropped ticket without an answer is withdrawn as well.
    drop(p.hb.submit_start(receive(3, 10)).unwrap());
    for _ in 0..20 {
        p.turn();
    }
    assert_eq!(p.hb.status(3), Err(DmaTestError::NoRun(3)));
    // The service is free and the HopID too: a run taken in time starts.
    let rx = p.start(false, receive(3, 10)).unwrap();
    assert!(rx.running);
    assert_eq!((rx.id, rx.in_hopid), (1, Some(8)));
}

/// With ThunderboltIP bound to the same peer, automatic HopIDs start at 9:
/// HopID 8 stays free for ThunderboltIP's paths, whose bring-up then never
/// collides with a run, before or after its logins (spec 06 §7, 07 §3).
#[cfg(target_os = "linux")]
#[test]
fn thunderbolt_ip_keeps_hopid_8() {
    use tblink_host::net::{NetOptions, enable_networking_with};
    use tblink_net::queue::QueueDevices;

    let (a_end, b_end) = inproc::pair().unwrap();
    let mut a = common::host("alice");
    let mut b = common::host("bob");
    let ha = dmatest::enable(&mut a).unwrap();
    let hb = dmatest::enable(&mut b).unwrap();
    enable_networking_with(&mut a, NetOptions::default(), QueueDevices::new(8)).unwrap();
    enable_networking_with(&mut b, NetOptions::default(), QueueDevices::new(8)).unwrap();
    a.add_port(1, Box::new(Handed::new(a_end, "inproc")))
        .unwrap();
    b.add_port(3, Box::new(Handed::new(b_end, "inproc")))
        .unwrap();
    let mut p = Pair { a, b, ha, hb };
    // The first run starts in the turn bob binds alice's services, before
    // ThunderboltIP's logins are through.
    let t0 = Instant::now();
    let first = loop {
        let mut t = p.hb.submit_start(receive(3, 200)).unwrap();
        p.turn();
        match t.try_answer() {
            Some(Ok(rep)) => break rep,
            Some(Err(
                DmaTestError::NoPeer(_)
                | DmaTestError::NotReady(_)
                | DmaTestError::NoService { .. },
            ))
            | None => {}
            Some(Err(e)) => panic!("{e}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no discovery");
    };
    assert!(p.b.snapshot().net.iter().all(|n| !n.carrier));
    for round in 0..2 {
        let rx = match round {
            0 => first.clone(),
            _ => p.start(false, receive(3, 200)).unwrap(),
        };
        assert_eq!(rx.in_hopid, Some(9), "round {round}: {rx:?}");
        let tx = p.start(true, send(1, 200, None)).unwrap();
        assert_eq!(tx.out_hopid, Some(9), "round {round}: {tx:?}");
        let (ra, rb) = p.finish(true, true, Duration::from_secs(30));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.success() && rb.success(), "{ra:?} {rb:?}");
        // ThunderboltIP comes up on HopID 8 (or already is).
        common::drive(
            &mut [&mut p.a, &mut p.b],
            &mut [],
            Duration::from_secs(20),
            "ThunderboltIP carrier",
            |s| s.iter().all(|s| s.net.first().is_some_and(|n| n.carrier)),
        );
    }
}
