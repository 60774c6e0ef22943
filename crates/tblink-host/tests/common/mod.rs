//! Helpers shared by the in-process scenario tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use tblink_host::{HostOptions, Runtime, Snapshot, register_default_drivers};
use tblink_hostif::cable::fault::{FaultInjector, Faults};
use tblink_hostif::cable::inproc::InProcCable;
use tblink_hostif::{DeviceRouter, NhiConfig};
use tblink_proto::Timing;

/// A host with the echo driver and fast timing.
pub fn host(name: &str) -> Runtime {
    host_with(
        name,
        Timing {
            request_timeout: Duration::from_millis(60),
            retry_delay: Duration::from_millis(30),
            ..Timing::default()
        },
    )
}

/// A host with the echo driver and `timing`.
pub fn host_with(name: &str, timing: Timing) -> Runtime {
    let mut o = HostOptions::new(name);
    o.nhi = NhiConfig {
        throttle: Duration::ZERO,
        ..NhiConfig::default()
    };
    // Faster than Linux's 1 s so that lossy runs finish quickly.
    o.timing = timing;
    let mut rt = Runtime::new(o).unwrap();
    register_default_drivers(&mut rt).unwrap();
    rt
}

/// Alice and Bob joined by a clean in-process cable on adapter 1, driven
/// until each has bound the other's service.
pub fn connected_pair() -> (Runtime, Runtime) {
    let (a_end, b_end) = tblink_hostif::cable::inproc::pair().unwrap();
    let mut a = host("alice");
    let mut b = host("bob");
    a.add_port(1, Box::new(tblink_host::Handed::new(a_end, "inproc")))
        .unwrap();
    b.add_port(1, Box::new(tblink_host::Handed::new(b_end, "inproc")))
        .unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(5),
        "discovery",
        |s| bound_to(&s[0], "bob") && bound_to(&s[1], "alice"),
    );
    (a, b)
}

pub fn lossy(c: InProcCable, seed: u64, corrupt: bool) -> FaultInjector<InProcCable> {
    let faults = Faults {
        drop: 0.15,
        corrupt: if corrupt { 0.1 } else { 0.0 },
        duplicate: 0.05,
        ..Faults::default()
    };
    FaultInjector::new(c, faults, seed)
}

/// Turn every runtime and router until `done` holds; panics after `limit`.
pub fn drive(
    hosts: &mut [&mut Runtime],
    routers: &mut [&mut DeviceRouter],
    limit: Duration,
    what: &str,
    done: impl Fn(&[Snapshot]) -> bool,
) {
    let t = Instant::now();
    loop {
        let mut busy = false;
        for h in hosts.iter_mut() {
            busy |= h.turn();
        }
        for r in routers.iter_mut() {
            busy |= r.pump() > 0;
        }
        let snaps: Vec<Snapshot> = hosts.iter().map(|h| h.snapshot()).collect();
        if done(&snaps) {
            return;
        }
        if t.elapsed() > limit {
            for s in &snaps {
                eprintln!("{}", serde_json::to_string_pretty(s).unwrap());
            }
            panic!("{what}: not within {limit:?}");
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// `s` enumerated a peer named `peer` and bound `echo` on it.
pub fn bound_to(s: &Snapshot, peer: &str) -> bool {
    s.xdomains().any(|x| {
        x.host_name.as_deref() == Some(peer)
            && x.state == "enumerated"
            && x.services
                .iter()
                .any(|sv| sv.key == "echo" && sv.driver.as_deref() == Some("echo"))
    })
}

pub fn no_peers(s: &Snapshot) -> bool {
    s.xdomains().next().is_none()
}
