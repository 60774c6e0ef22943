//! Two hosts discover each other and bind each other's `network` service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NetDriver, count};
use tblink_proto::driver::DriverId;
use tblink_proto::{Duration, Event};
use tblink_sim::{Sim, scenario};
use tblink_wire::Route;

#[test]
fn pair_discovers_and_binds_network() {
    let mut sim = Sim::new(1);
    let t = scenario::pair(&mut sim, 1);
    let (a, b) = (t.hosts[0], t.hosts[1]);
    let da = sim
        .host_mut(a)
        .register_driver(Box::new(NetDriver::default()))
        .unwrap();
    let db = sim
        .host_mut(b)
        .register_driver(Box::new(NetDriver::default()))
        .unwrap();
    assert!(sim.run_until(|s| s.converged(), Duration::from_secs(5)));
    // Settles: no more traffic pending beyond idle.
    sim.advance(Duration::from_secs(30));
    sim.check_truth().unwrap();

    let r = Route::from_raw(1);
    for (h, d, peer) in [(a, da, b), (b, db, a)] {
        let xd = sim.host(h).xdomain(r).unwrap();
        assert_eq!(xd.name, "0-1");
        assert_eq!(xd.uuid, sim.uuid(peer));
        assert_eq!(xd.vendor, 0x8086);
        assert_eq!(xd.vendor_name.as_deref(), Some("Intel Corp."));
        assert_eq!(xd.services.len(), 1);
        assert_eq!(xd.services[0].name, "0-1.0");
        assert_eq!(xd.services[0].identity.prtcstns, 7);
        assert_eq!(sim.host(h).bound_driver(r, b"network"), Some(DriverId(0)));
        let drv = sim.host(h).driver::<NetDriver>(d).unwrap();
        assert_eq!(drv.probed, ["0-1.0"]);
        assert!(drv.removed.is_empty());
        assert_eq!(count(&sim, h, |e| matches!(e, Event::Connected { .. })), 1);
        assert_eq!(
            count(&sim, h, |e| matches!(e, Event::ServiceAdded { .. })),
            1
        );
        assert_eq!(
            count(&sim, h, |e| matches!(e, Event::DriverBound { .. })),
            1
        );
        assert_eq!(
            count(&sim, h, |e| matches!(e, Event::DiscoveryFailed { .. })),
            0
        );
        let s = sim.host(h).stats();
        assert_eq!((s.crc_errors, s.malformed, s.tx_dropped), (0, 0, 0));
        // A clean pair needs a handful of round trips of 1 µs each.
        let took = sim.time_to_enumerate(h, r).unwrap();
        assert!(took < Duration::from_micros(50), "{took:?}");
    }
    assert_eq!(sim.stats.bad_route, 0);
}

#[test]
fn unplug_removes_devices_once() {
    let mut sim = Sim::new(2);
    let t = scenario::pair(&mut sim, 2);
    let (a, b) = (t.hosts[0], t.hosts[1]);
    let da = sim
        .host_mut(a)
        .register_driver(Box::new(NetDriver::default()))
        .unwrap();
    assert!(sim.run_until(|s| s.converged(), Duration::from_secs(5)));
    sim.unplug(t.cables[0]);
    sim.advance(Duration::from_secs(10));
    let r = Route::from_raw(1);
    assert!(sim.host(a).xdomain(r).is_none());
    assert!(sim.host(b).xdomain(r).is_none());
    let drv = sim.host(a).driver::<NetDriver>(da).unwrap();
    assert_eq!(drv.removed, ["0-1.0"]);
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::Disconnected { .. })),
        1
    );
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::ServiceRemoved { .. })),
        1
    );
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::DriverUnbound { .. })),
        1
    );
    assert_eq!(sim.host(a).outstanding_requests(), 0);
    assert_eq!(sim.host(a).poll_timeout(), None);
}
