//! Chains of device routers and rings of hosts; route validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::MINUTE;
use tblink_proto::Duration;
use tblink_sim::{Sim, scenario};
use tblink_wire::Route;

#[test]
fn chain_of_five_routers() {
    let mut sim = Sim::new(5);
    let t = scenario::chain(&mut sim, 5, 5);
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    let (a, b) = (t.hosts[0], t.hosts[1]);
    // Host 0 reaches host 1 through 5 routers: depth 6 (spec 04 §6).
    let far = Route::from_ports(&[1, 3, 3, 3, 3, 3]).unwrap();
    let xd = sim.host(a).xdomain(far).unwrap();
    assert_eq!(xd.name, "0-30303030301");
    assert_eq!(xd.services[0].name, "0-30303030301.0");
    assert_eq!(far.depth(), 6);
    // Host 1 sees host 0 right behind its adapter 1.
    assert_eq!(
        sim.host(b).xdomain(Route::from_raw(1)).unwrap().uuid,
        sim.uuid(a)
    );
    assert_eq!(sim.stats.bad_route, 0);
    // 6 hops each way: still a few microseconds.
    assert!(sim.time_to_enumerate(a, far).unwrap() < Duration::from_micros(200));
}

#[test]
fn bad_routes_are_dropped_and_counted() {
    let mut sim = Sim::new(6);
    let t = scenario::chain(&mut sim, 6, 2);
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    let a = t.hosts[0];
    // Route ending at a router (not crossing into another domain), a port
    // with no cable, and a route that continues past the peer.
    for r in [0x1u64, 0x301, 0x501, 0x0103_0301, 0x0] {
        assert!(sim.resolve(a, Route::from_raw(r)).is_none(), "{r:#x}");
    }
    let good = Route::from_raw(0x030301);
    let (dest, ingress, path) = sim.resolve(a, good).unwrap();
    assert_eq!(
        (dest, ingress, path.len()),
        (t.hosts[1], Route::from_raw(1), 3)
    );
    let before = sim.stats.bad_route;
    let frame =
        tblink_wire::ctl::FrameBuf::seal(tblink_wire::Pdf::XDOMAIN_REQ, &[0, 0, 0, 0, 0, 0, 5, 1])
            .unwrap();
    sim.inject(a, frame);
    assert_eq!(sim.stats.bad_route, before + 1);
}

#[test]
fn ring_of_16_hosts_discovers_both_neighbours() {
    let mut sim = Sim::new(16);
    let t = scenario::ring(&mut sim, 16, 16);
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    for (i, &h) in t.hosts.iter().enumerate() {
        let next = t.hosts[(i + 1) % 16];
        let prev = t.hosts[(i + 15) % 16];
        let host = sim.host(h);
        assert_eq!(host.xdomains().count(), 2);
        assert_eq!(
            host.xdomain(Route::from_raw(1)).unwrap().uuid,
            sim.uuid(next)
        );
        assert_eq!(
            host.xdomain(Route::from_raw(3)).unwrap().uuid,
            sim.uuid(prev)
        );
        assert_eq!(host.xdomain(Route::from_raw(3)).unwrap().name, "0-3");
    }
}
