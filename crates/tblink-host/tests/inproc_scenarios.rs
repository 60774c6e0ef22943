//! The discovery scenarios `tblink-sim` proves against the simulator, over
//! the real emulated controller: host runtimes in one process joined by
//! in-process cables, directly or through chains of `DeviceRouter`s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{bound_to, connected_pair, drive, host, host_with, no_peers};
use tblink_host::{Handed, Runtime, Snapshot};
use tblink_hostif::DeviceRouter;
use tblink_hostif::cable::fault::{FaultInjector, Faults};
use tblink_hostif::cable::inproc;
use tblink_proto::device::Key;
use tblink_proto::{LocalService, Timing};
use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

/// (device, route, host name, state) of every XDomain `s` knows, sorted.
fn peers(s: &Snapshot) -> Vec<(String, String, Option<String>, String)> {
    let mut v: Vec<_> = s
        .xdomains()
        .map(|x| {
            (
                x.device.clone(),
                x.route.clone(),
                x.host_name.clone(),
                x.state.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn chain_of_five_device_routers() {
    // alice adapter 1 — R1 (route 1) port 3 — R2 (0x301) port 3 — R3 —
    // R4 — R5 (0x303030301) port 3 — bob adapter 1. Every router's
    // upstream adapter is 1. Bob is at depth 6, route 0x30303030301.
    let routes = [0x1u64, 0x301, 0x3_0301, 0x303_0301, 0x3_0303_0301];
    let mut routers: Vec<DeviceRouter> = routes
        .iter()
        .map(|&r| DeviceRouter::new(Route::from_raw(r), 1))
        .collect();
    let (a1, r_up) = inproc::pair().unwrap();
    routers[0].attach(1, r_up);
    for i in 0..4 {
        let (down, up) = inproc::pair().unwrap();
        routers[i].attach(3, down);
        routers[i + 1].attach(1, up);
    }
    let (r_down, b1) = inproc::pair().unwrap();
    routers[4].attach(3, r_down);
    let mut a = host("alice");
    let mut b = host("bob");
    a.add_port(1, Box::new(Handed::new(a1, "to-chain")))
        .unwrap();
    b.add_port(1, Box::new(Handed::new(b1, "to-chain")))
        .unwrap();
    {
        let mut rs: Vec<&mut DeviceRouter> = routers.iter_mut().collect();
        drive(
            &mut [&mut a, &mut b],
            &mut rs,
            Duration::from_secs(10),
            "discovery through five routers",
            |s| bound_to(&s[0], "bob") && bound_to(&s[1], "alice"),
        );
    }
    let s = a.snapshot();
    // Only bob is an XDomain: none of R2..R5 was taken for a host.
    assert_eq!(
        peers(&s),
        vec![(
            "0-30303030301".to_string(),
            "30303030301".to_string(),
            Some("bob".to_string()),
            "enumerated".to_string()
        )]
    );
    assert!(a.is_bound(Route::from_raw(0x303_0303_0301), "echo"));
    assert_eq!(s.ports[0].peer_kind.as_deref(), Some("router"));
    // One plug EVENT per router downstream link (R2..R5 and bob).
    assert!(s.stack.hotplug_events >= 5, "{:?}", s.stack);
    let found: Vec<&str> = s
        .timeline
        .iter()
        .filter(|e| e.event == "router")
        .filter_map(|e| e.route.as_deref())
        .collect();
    for r in &routes[1..] {
        assert!(
            found.contains(&Route::from_raw(*r).to_string().as_str()),
            "router {r:#x} recognised: {found:?}"
        );
    }
    let sb = b.snapshot();
    assert_eq!(
        peers(&sb),
        vec![(
            "0-1".to_string(),
            "1".to_string(),
            Some("alice".to_string()),
            "enumerated".to_string()
        )]
    );
    assert_eq!(sb.ports[0].peer_kind.as_deref(), Some("foreign_router"));

    // Cut the chain between R3 and R4 and take R4, R5 away (a dock chain
    // unplugged): R3 reports the unplug and alice forgets everything
    // behind it; bob's link goes down.
    drop(routers[2].detach(3));
    routers.truncate(3);
    {
        let mut rs: Vec<&mut DeviceRouter> = routers.iter_mut().collect();
        drive(
            &mut [&mut a, &mut b],
            &mut rs,
            Duration::from_secs(5),
            "chain cut",
            |s| no_peers(&s[0]) && no_peers(&s[1]),
        );
    }
    // Plug the chain back: R4 and R5 are routers again, bob is rediscovered.
    for &r in &routes[3..] {
        routers.push(DeviceRouter::new(Route::from_raw(r), 1));
    }
    for i in 2..4 {
        let (down, up) = inproc::pair().unwrap();
        routers[i].attach(3, down);
        routers[i + 1].attach(1, up);
    }
    let (r_down, b1) = inproc::pair().unwrap();
    routers[4].attach(3, r_down);
    b.unplug(1).unwrap();
    b.plug_cable(1, b1).unwrap();
    {
        let mut rs: Vec<&mut DeviceRouter> = routers.iter_mut().collect();
        drive(
            &mut [&mut a, &mut b],
            &mut rs,
            Duration::from_secs(10),
            "chain rejoined",
            |s| bound_to(&s[0], "bob") && bound_to(&s[1], "alice"),
        );
    }
    assert_eq!(peers(&a.snapshot()).len(), 1);
    assert_eq!(
        peers(&a.snapshot())[0].1,
        Route::from_raw(routes[4]).push(3).unwrap().to_string()
    );
}

#[test]
fn ring_of_sixteen_hosts() {
    // Host i adapter 1 — host i+1 adapter 2 (mod 16).
    const N: usize = 16;
    let names: Vec<String> = (0..N).map(|i| format!("h{i:02}")).collect();
    let mut hosts: Vec<Runtime> = names.iter().map(|n| host(n)).collect();
    for i in 0..N {
        let (e1, e2) = inproc::pair().unwrap();
        hosts[i]
            .add_port(1, Box::new(Handed::new(e1, "next")))
            .unwrap();
        hosts[(i + 1) % N]
            .add_port(2, Box::new(Handed::new(e2, "prev")))
            .unwrap();
    }
    let mut hs: Vec<&mut Runtime> = hosts.iter_mut().collect();
    let want = |i: usize| {
        let mut v = vec![
            (
                "0-1".to_string(),
                "1".to_string(),
                Some(names[(i + 1) % N].clone()),
                "enumerated".to_string(),
            ),
            (
                "0-2".to_string(),
                "2".to_string(),
                Some(names[(i + N - 1) % N].clone()),
                "enumerated".to_string(),
            ),
        ];
        v.sort();
        v
    };
    drive(
        &mut hs,
        &mut [],
        Duration::from_secs(10),
        "ring discovery",
        |s| {
            s.iter().enumerate().all(|(i, s)| {
                bound_to(s, &names[(i + 1) % N]) && bound_to(s, &names[(i + N - 1) % N])
            })
        },
    );
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(peers(&h.snapshot()), want(i), "host {}", names[i]);
    }
}

fn faulty(c: inproc::InProcCable, seed: u64) -> FaultInjector<inproc::InProcCable> {
    let faults = Faults {
        drop: 0.3,
        corrupt: 0.05,
        ..Faults::default()
    };
    FaultInjector::new(c, faults, seed)
}

#[test]
fn heavy_loss_and_corruption_converge_for_many_seeds() {
    // 20 pairs, each cable losing 30% and corrupting 5% in both
    // directions, all driven together so their timeouts overlap.
    const SEEDS: u64 = 20;
    let timing = Timing {
        request_timeout: Duration::from_millis(20),
        retry_delay: Duration::from_millis(10),
        ..Timing::default()
    };
    let mut hosts = Vec::new();
    for seed in 0..SEEDS {
        let (e1, e2) = inproc::pair().unwrap();
        let mut a = host_with(&format!("a{seed}"), timing);
        let mut b = host_with(&format!("b{seed}"), timing);
        a.add_port(
            1,
            Box::new(Handed::new(faulty(e1, 2 * seed + 100), "lossy")),
        )
        .unwrap();
        b.add_port(
            2,
            Box::new(Handed::new(faulty(e2, 2 * seed + 101), "lossy")),
        )
        .unwrap();
        hosts.push(a);
        hosts.push(b);
    }
    let mut hs: Vec<&mut Runtime> = hosts.iter_mut().collect();
    drive(
        &mut hs,
        &mut [],
        Duration::from_secs(20),
        "lossy pairs",
        |s| {
            (0..SEEDS as usize).all(|k| {
                bound_to(&s[2 * k], &format!("b{k}")) && bound_to(&s[2 * k + 1], &format!("a{k}"))
            })
        },
    );
    let mut faults_seen = 0;
    for (k, pair) in hosts.chunks(2).enumerate() {
        let (sa, sb) = (pair[0].snapshot(), pair[1].snapshot());
        assert_eq!(peers(&sa).len(), 1, "seed {k}");
        assert_eq!(peers(&sb).len(), 1, "seed {k}");
        assert_eq!(sa.xdomains().next().unwrap().device, "0-1");
        assert_eq!(sb.xdomains().next().unwrap().device, "0-2");
        assert_eq!(
            sa.xdomains().next().unwrap().uuid.as_deref(),
            Some(pair[1].host().uuid().to_string().as_str())
        );
        faults_seen += sa.stack.cable_crc_drops
            + sb.stack.cable_crc_drops
            + sa.stack.retransmits
            + sb.stack.retransmits;
    }
    assert!(faults_seen > 0);
}

#[test]
fn unplug_during_property_fetch_then_replug() {
    let (a_end, b_end) = inproc::pair().unwrap();
    let mut a = host("alice");
    let mut b = host("bob");
    a.add_port(1, Box::new(Handed::new(a_end, "inproc")))
        .unwrap();
    b.add_port(1, Box::new(Handed::new(b_end, "inproc")))
        .unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(5),
        "alice fetching bob's properties",
        |s| s[0].xdomains().any(|x| x.state == "properties"),
    );
    let x = a.snapshot();
    let x = x.xdomains().next().unwrap();
    assert_eq!(x.state, "properties");
    assert_eq!(x.host_name, None, "not enumerated yet");
    a.unplug(1).unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(2),
        "unplug mid-fetch",
        |s| no_peers(&s[0]) && no_peers(&s[1]),
    );
    // Let stale timers run out: nothing comes back by itself.
    let until = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < until {
        a.turn();
        b.turn();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(no_peers(&a.snapshot()) && no_peers(&b.snapshot()));

    let (a_end, b_end) = inproc::pair().unwrap();
    b.unplug(1).unwrap();
    a.plug_cable(1, a_end).unwrap();
    b.plug_cable(1, b_end).unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(5),
        "rediscovery after replug",
        |s| bound_to(&s[0], "bob") && bound_to(&s[1], "alice"),
    );
    assert_eq!(peers(&a.snapshot()).len(), 1);
    assert_eq!(peers(&b.snapshot()).len(), 1);
}

fn service(key: &str, n: u32) -> LocalService {
    LocalService::standard(
        Key::new(key.as_bytes()).unwrap(),
        Uuid::from_u128(0x1234_5678_9abc_def0_0000_0000_0000_0000 | u128::from(n)),
        0x100 + n,
        1,
        0,
        0,
    )
}

/// Keys of the services `s` sees on its single peer.
fn remote_keys(s: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = s
        .xdomains()
        .flat_map(|x| x.services.iter().map(|sv| sv.key.clone()))
        .collect();
    v.sort();
    v
}

fn local_keys(s: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = s.local_services.iter().map(|l| l.key.clone()).collect();
    v.sort();
    v
}

#[test]
fn services_added_and_removed_while_connected() {
    let (mut a, mut b) = connected_pair();
    let gen0 = a.snapshot().xdomains().next().unwrap().generation;
    // One change at a time: alice follows each.
    for round in 0..6u32 {
        let now = b.now();
        let key = format!("svc{}", round % 3);
        let k = Key::new(key.as_bytes()).unwrap();
        if b.host().local_services().any(|s| s.key == k) {
            b.host_mut().remove_local_service(now, &k).unwrap();
        } else {
            b.host_mut()
                .add_local_service(now, service(&key, round))
                .unwrap();
        }
        let truth = local_keys(&b.snapshot());
        drive(
            &mut [&mut a, &mut b],
            &mut [],
            Duration::from_secs(5),
            &format!("round {round}"),
            |s| remote_keys(&s[0]) == truth && s[0].xdomains().all(|x| x.state == "enumerated"),
        );
    }
    // A burst of changes without waiting: alice converges on the last one.
    for round in 0..10u32 {
        let now = b.now();
        let key = format!("burst{}", round % 2);
        let k = Key::new(key.as_bytes()).unwrap();
        if b.host().local_services().any(|s| s.key == k) {
            b.host_mut().remove_local_service(now, &k).unwrap();
        } else {
            b.host_mut()
                .add_local_service(now, service(&key, 10 + round))
                .unwrap();
        }
        b.turn();
        a.turn();
    }
    let truth = local_keys(&b.snapshot());
    assert!(truth.contains(&"echo".to_string()));
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(5),
        "after the burst",
        |s| remote_keys(&s[0]) == truth && s[0].xdomains().all(|x| x.state == "enumerated"),
    );
    let x = a.snapshot();
    let x = x.xdomains().next().unwrap();
    assert!(x.generation > gen0, "{:?} > {gen0:?}", x.generation);
    assert_eq!(x.host_name.as_deref(), Some("bob"));
    // The echo binding survived all the churn.
    assert!(bound_to(&a.snapshot(), "bob"));
}
