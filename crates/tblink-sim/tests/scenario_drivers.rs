//! Drivers that publish services and talk over their own protocol UUID.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{MINUTE, count};
use tblink_proto::Event;
use tblink_proto::example::{EchoDriver, NOTICE_PONG};
use tblink_sim::{Sim, scenario};
use tblink_wire::Route;

#[test]
fn echo_drivers_ping_each_other() {
    let mut sim = Sim::new(31);
    let t = scenario::pair(&mut sim, 31);
    let mut ids = Vec::new();
    for &h in &t.hosts {
        let id = sim
            .host_mut(h)
            .register_driver(Box::new(EchoDriver::default()))
            .unwrap();
        // The driver publishes `echo` from inside a callback.
        let now = sim.now();
        sim.host_mut(h)
            .with_driver(now, id, |_, ctx| {
                ctx.add_local_service(EchoDriver::local_service())
            })
            .unwrap();
        assert_eq!(
            sim.host(h)
                .local_service_owner(&EchoDriver::local_service().key),
            Some(id)
        );
        ids.push(id);
    }
    sim.flush();
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    sim.advance(MINUTE);
    let r = Route::from_raw(1);
    for (&h, &id) in t.hosts.iter().zip(&ids) {
        let d = sim.host(h).driver::<EchoDriver>(id).unwrap();
        assert_eq!(d.bound, ["0-1.1"]);
        assert_eq!(d.pings_answered, 1);
        assert_eq!(d.pongs, [(r, 1)]);
        assert_eq!(
            count(&sim, h, |e| matches!(
                e,
                Event::DriverNotice {
                    code: NOTICE_PONG,
                    ..
                }
            )),
            1
        );
        // `network` has no driver here and stays unbound.
        assert_eq!(sim.host(h).bound_driver(r, b"network"), None);
    }
    // Unplug: the echo binding goes away through `remove`.
    sim.unplug(t.cables[0]);
    for (&h, &id) in t.hosts.iter().zip(&ids) {
        assert!(
            sim.host(h)
                .driver::<EchoDriver>(id)
                .unwrap()
                .bound
                .is_empty()
        );
    }
}

#[test]
fn driver_registered_late_is_offered_existing_services() {
    let mut sim = Sim::new(32);
    let t = scenario::pair(&mut sim, 32);
    let (a, b) = (t.hosts[0], t.hosts[1]);
    let now = sim.now();
    sim.host_mut(b)
        .add_local_service(now, EchoDriver::local_service())
        .unwrap();
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    let id = sim
        .host_mut(a)
        .register_driver(Box::new(EchoDriver::default()))
        .unwrap();
    let now = sim.now();
    sim.host_mut(a).reprobe(now);
    assert_eq!(
        sim.host(a).bound_driver(Route::from_raw(1), b"echo"),
        Some(id)
    );
    // B has no echo driver: the ping goes unanswered (unclaimed protocol).
    sim.advance(MINUTE);
    assert!(
        sim.host(a)
            .driver::<EchoDriver>(id)
            .unwrap()
            .pongs
            .is_empty()
    );
    assert_eq!(sim.host(b).stats().unclaimed, 1);
}
