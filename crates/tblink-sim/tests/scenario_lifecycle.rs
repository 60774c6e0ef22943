//! Unplug/replug during a read, and service churn while connected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{MINUTE, NetDriver, count};
use tblink_proto::device::Key;
use tblink_proto::{DiscoveryState, Event, LocalService};
use tblink_sim::{Sim, scenario};
use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

#[test]
fn unplug_during_property_fetch_then_replug() {
    let mut sim = Sim::new(11);
    let t = scenario::pair(&mut sim, 11);
    let (a, b) = (t.hosts[0], t.hosts[1]);
    let da = sim
        .host_mut(a)
        .register_driver(Box::new(NetDriver::default()))
        .unwrap();
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    let r = Route::from_raw(1);

    // B publishes another service; A starts re-reading; unplug mid-read.
    let now = sim.now();
    let extra = LocalService::standard(Key::new(b"extra").unwrap(), Uuid::from_u128(9), 2, 1, 1, 0);
    sim.host_mut(b).add_local_service(now, extra).unwrap();
    assert!(sim.run_until(
        |s| s.host(a).fetch_progress(r).is_some_and(|(o, _)| o > 0),
        MINUTE
    ));
    assert_eq!(
        sim.host(a).discovery_state(r),
        Some(DiscoveryState::Properties)
    );
    sim.unplug(t.cables[0]);
    sim.advance(MINUTE);
    assert!(sim.host(a).xdomain(r).is_none());
    assert_eq!(sim.host(a).poll_timeout(), None);

    sim.replug(t.cables[0]);
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    sim.advance(MINUTE);
    sim.check_truth().unwrap();

    let drv = sim.host(a).driver::<NetDriver>(da).unwrap();
    assert_eq!(drv.probed, ["0-1.0", "0-1.0"]);
    assert_eq!(drv.removed, ["0-1.0"]);
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::Disconnected { .. })),
        1
    );
    assert_eq!(count(&sim, a, |e| matches!(e, Event::Connected { .. })), 2);
    // network (twice) and extra (once, after the replug).
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::ServiceAdded { .. })),
        3
    );
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::ServiceRemoved { .. })),
        1
    );
    assert_eq!(sim.host(a).xdomain(r).unwrap().services.len(), 2);
}

#[test]
fn service_added_and_removed_100_times() {
    let mut sim = Sim::new(12);
    let t = scenario::pair(&mut sim, 12);
    let (a, b) = (t.hosts[0], t.hosts[1]);
    let r = Route::from_raw(1);
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    let g0 = sim.host(b).generation();
    for i in 0..100u32 {
        let key = Key::new(format!("svc{}", i % 7).as_bytes()).unwrap();
        let now = sim.now();
        let svc = LocalService::standard(key, Uuid::from_u128(u128::from(i) + 1), i, 1, 0, 0);
        sim.host_mut(b).add_local_service(now, svc).unwrap();
        assert!(sim.run_until(|s| s.converged(), MINUTE), "add {i}");
        assert!(
            sim.host(a)
                .xdomain(r)
                .unwrap()
                .service(key.as_bytes())
                .is_some()
        );
        let now = sim.now();
        sim.host_mut(b).remove_local_service(now, &key).unwrap();
        assert!(sim.run_until(|s| s.converged(), MINUTE), "remove {i}");
        assert!(
            sim.host(a)
                .xdomain(r)
                .unwrap()
                .service(key.as_bytes())
                .is_none()
        );
    }
    // Generation +1 per change (spec 02 §8.1).
    assert_eq!(sim.host(b).generation(), g0 + 200);
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::ServiceAdded { .. })),
        101
    );
    assert_eq!(
        count(&sim, a, |e| matches!(e, Event::ServiceRemoved { .. })),
        100
    );
    // The re-added service always got the lowest free id: 1.
    assert!(sim.log(a).iter().all(|(_, e)| match e {
        Event::ServiceAdded { name, key, .. } if key.as_bytes() != b"network" => name == "0-1.1",
        _ => true,
    }));
}

#[test]
fn many_changes_at_once_coalesce() {
    let mut sim = Sim::new(13);
    let t = scenario::pair(&mut sim, 13);
    let (a, b) = (t.hosts[0], t.hosts[1]);
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    // 20 changes in one instant: B sends PROPERTIES_CHANGED each time but A
    // keeps at most one read plus one pending re-read.
    for i in 0..10u32 {
        let now = sim.now();
        let key = Key::new(format!("k{i}").as_bytes()).unwrap();
        let svc = LocalService::standard(key, Uuid::from_u128(7), 1, 1, 1, 0);
        sim.host_mut(b).add_local_service(now, svc).unwrap();
        if i % 2 == 1 {
            sim.host_mut(b).remove_local_service(now, &key).unwrap();
        }
    }
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    assert_eq!(
        sim.host(a)
            .xdomain(Route::from_raw(1))
            .unwrap()
            .services
            .len(),
        6
    );
    assert!(sim.host(a).outstanding_requests() <= 2);
}
