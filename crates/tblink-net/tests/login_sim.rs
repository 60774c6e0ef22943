//! Login scenarios in the simulator (spec 06 §6): two hosts running the
//! driver, a ring layer that brings paths up at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tblink_net::driver::{LoginState, NetConfig, NetDriver, NetEvent, with_net_driver};
use tblink_proto::driver::DriverId;
use tblink_proto::{Duration, Instant};
use tblink_sim::{NodeId, Sim, scenario};
use tblink_wire::Route;
use tblink_wire::tbip::{Login, Logout, TbipHeader, TbipType};
use tblink_wire::xdomain::Seq;

const R: Route = Route::from_raw(1);

struct Net {
    sim: Sim,
    hosts: Vec<NodeId>,
    ids: Vec<Option<DriverId>>,
    /// (host index, time, event) as the ring layer saw them.
    log: Vec<(usize, Instant, NetEvent)>,
    cable: tblink_sim::CableId,
    /// BringUp requests the ring layer fails before it succeeds.
    fail_bringups: usize,
}

/// Two hosts; host i runs the driver if `with_driver[i]`, otherwise it
/// only publishes a `network` directory (a silent peer).
fn setup(seed: u64, with_driver: [bool; 2]) -> Net {
    let mut sim = Sim::new(seed);
    let mut hosts = Vec::new();
    let mut ids = Vec::new();
    for (i, &drv) in with_driver.iter().enumerate() {
        let h = sim.add_host(scenario::host_config(i, seed));
        let now = sim.now();
        if drv {
            let d = NetDriver::new(NetConfig::default());
            let svc = d.local_service();
            let id = sim.host_mut(h).register_driver(Box::new(d)).unwrap();
            sim.host_mut(h).add_local_service(now, svc).unwrap();
            ids.push(Some(id));
        } else {
            sim.host_mut(h)
                .add_local_service(now, scenario::network_service())
                .unwrap();
            ids.push(None);
        }
        hosts.push(h);
    }
    let cable = sim.connect((hosts[0], 1), (hosts[1], 1));
    Net {
        sim,
        hosts,
        ids,
        log: Vec::new(),
        cable,
        fail_bringups: 0,
    }
}

impl Net {
    fn drv(&self, i: usize) -> &NetDriver {
        self.sim
            .host(self.hosts[i])
            .driver::<NetDriver>(self.ids[i].unwrap())
            .unwrap()
    }

    fn carrier(&self, i: usize) -> bool {
        self.drv(i).carrier(R)
    }

    /// The ring layer: drain events, answer BringUp with paths_up.
    fn service(&mut self) {
        let now = self.sim.now();
        for i in 0..self.hosts.len() {
            let Some(id) = self.ids[i] else { continue };
            let d = self
                .sim
                .host_mut(self.hosts[i])
                .driver_mut::<NetDriver>(id)
                .unwrap();
            while let Some(e) = d.poll_event() {
                if let NetEvent::BringUp(req) = e {
                    if self.fail_bringups > 0 {
                        self.fail_bringups -= 1;
                        assert!(d.paths_failed(now, req.route));
                    } else {
                        assert!(d.paths_up(req.route));
                    }
                }
                self.log.push((i, now, e));
            }
        }
    }

    /// Step until `pred` or `max` simulated time passed.
    fn run_until(&mut self, mut pred: impl FnMut(&Net) -> bool, max: Duration) -> bool {
        let deadline = self.sim.now() + max;
        loop {
            self.sim.flush();
            self.service();
            if pred(self) {
                return true;
            }
            match self.sim.next_wakeup() {
                Some(t) if t <= deadline => {
                    self.sim.step();
                }
                _ => return pred(self),
            }
        }
    }

    fn both_up(&self) -> bool {
        self.carrier(0) && self.carrier(1)
    }

    fn count(&self, i: usize, f: impl Fn(&NetEvent) -> bool) -> usize {
        self.log.iter().filter(|(h, _, e)| *h == i && f(e)).count()
    }
}

/// Two tblink hosts log in without Linux's 1 s delay: carrier in a few
/// round trips after discovery.
#[test]
fn link_comes_up_fast() {
    let mut n = setup(1, [true, true]);
    assert!(n.run_until(Net::both_up, Duration::from_secs(1)));
    let t = n.sim.now().as_nanos();
    println!("carrier on both sides after {t} ns of simulated time");
    assert!(t < 1_000_000, "carrier after {t} ns");
    for i in 0..2 {
        let l = n.drv(i).link(R).unwrap();
        assert!(l.login_sent && l.login_received);
        assert_eq!((l.out_hopid, l.in_hopid), (8, Some(8)));
        assert!(l.stats.logins_sent <= 2, "{:?}", l.stats);
        assert_eq!(n.count(i, |e| matches!(e, NetEvent::BringUp(_))), 1);
        assert_eq!(
            n.count(i, |e| matches!(e, NetEvent::Carrier { on: true, .. })),
            1
        );
    }
    // Steady state: nothing more happens, the peer's LOGINs stop.
    n.sim.advance(Duration::from_secs(60));
    n.service();
    assert!(n.both_up());
    assert_eq!(n.drv(0).link(R).unwrap().login, LoginState::Idle);
    assert_eq!(n.log.len(), 4);
}

/// LOGOUT from the peer: STATUS back, carrier down, no LOGOUT of our own,
/// and no new login until the peer sends LOGIN again.
#[test]
fn logout_from_peer_tears_down() {
    let mut n = setup(2, [true, true]);
    assert!(n.run_until(Net::both_up, Duration::from_secs(1)));
    let t0 = n.sim.now();
    let (h1, id1) = (n.hosts[1], n.ids[1].unwrap());
    with_net_driver(n.sim.host_mut(h1), t0, id1, |d, ctx| d.shutdown(ctx)).unwrap();
    n.service();
    // Host 1 waits for STATUS before tearing down its paths.
    assert_eq!(n.drv(1).leaving(), 1);
    assert!(n.run_until(|n| n.drv(1).leaving() == 0, Duration::from_secs(5)));
    // STATUS arrived within a round trip, not after the 1 s timeout.
    assert!(n.sim.now() - t0 < Duration::from_millis(1));
    assert!(!n.carrier(0));
    let l = n.drv(0).link(R).unwrap().clone();
    assert_eq!(l.stats.logouts_received, 1);
    assert!(!l.login_sent && !l.login_received);
    assert_eq!(l.login, LoginState::Idle);
    for i in 0..2 {
        assert_eq!(
            n.count(i, |e| matches!(e, NetEvent::Carrier { on: false, .. })),
            1
        );
        assert_eq!(n.count(i, |e| matches!(e, NetEvent::TearDown { .. })), 1);
    }
    // Host 0 does not log in again by itself.
    n.sim.advance(Duration::from_secs(30));
    n.service();
    assert_eq!(
        n.drv(0).link(R).unwrap().stats.logins_sent,
        l.stats.logins_sent
    );
}

/// Unplug drops carrier on both sides; replug brings it back, 20 times.
#[test]
fn unplug_replug_20_cycles() {
    let mut n = setup(3, [true, true]);
    assert!(n.run_until(Net::both_up, Duration::from_secs(1)));
    for cycle in 0..20 {
        n.sim.unplug(n.cable);
        n.service();
        assert!(n.drv(0).link(R).is_none() && n.drv(1).link(R).is_none());
        for i in 0..2 {
            let offs = n.count(i, |e| matches!(e, NetEvent::Carrier { on: false, .. }));
            assert_eq!(offs, cycle + 1, "host {i} cycle {cycle}");
        }
        // The LOGOUT to a vanished peer cannot be answered; paths are
        // released at the latest after the logout timeout.
        n.sim.advance(Duration::from_secs(2));
        n.service();
        for i in 0..2 {
            assert_eq!(n.drv(i).leaving(), 0);
            assert_eq!(
                n.count(i, |e| matches!(e, NetEvent::TearDown { .. })),
                cycle + 1
            );
        }
        let t = n.sim.now();
        n.sim.replug(n.cable);
        assert!(
            n.run_until(Net::both_up, Duration::from_secs(1)),
            "cycle {cycle}"
        );
        assert!(n.sim.now() - t < Duration::from_millis(1));
    }
    for i in 0..2 {
        assert_eq!(n.count(i, |e| matches!(e, NetEvent::BringUp(_))), 21);
        assert_eq!(
            n.count(i, |e| matches!(e, NetEvent::Carrier { on: true, .. })),
            21
        );
    }
}

/// A peer that publishes `network` but never answers: LOGIN every 5 s
/// (500 ms timeout + 4.5 s delay), 61 attempts, then give up.
#[test]
fn silent_peer_retries_then_gives_up() {
    let mut n = setup(4, [true, false]);
    let mut attempts: Vec<Instant> = Vec::new();
    let mut last = 0;
    let end = n.sim.now() + Duration::from_secs(400);
    while n.sim.now() < end {
        n.service();
        if let Some(l) = n.drv(0).link(R) {
            for _ in last..l.stats.logins_sent {
                attempts.push(n.sim.now());
            }
            last = l.stats.logins_sent;
        }
        if !n.sim.step() {
            break;
        }
    }
    n.service();
    assert_eq!(attempts.len(), 61);
    for w in attempts.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_secs(5));
    }
    let l = n.drv(0).link(R).unwrap();
    assert_eq!(l.login, LoginState::GaveUp);
    assert!(!l.carrier());
    assert_eq!(
        n.count(0, |e| matches!(e, NetEvent::LoginTimedOut { .. })),
        1
    );
    assert_eq!(n.count(0, |e| matches!(e, NetEvent::BringUp(_))), 0);
    // The unanswered LOGINs reached the peer (unclaimed protocol there).
    assert_eq!(n.sim.host(n.hosts[1]).stats().unclaimed, 61);
}

/// A message as host 1 would send it to host 0 (route as host 0's router
/// delivers it).
fn from_peer(n: &Net, msg_type: TbipType, command_id: u32, initiator_ok: bool) -> TbipHeader {
    let initiator = if initiator_ok {
        n.sim.uuid(n.hosts[1])
    } else {
        tblink_wire::uuid::Uuid::from_u128(0xbad)
    };
    TbipHeader {
        route: R.with_cm(),
        seq: Seq::new(2),
        initiator_uuid: initiator,
        target_uuid: n.sim.uuid(n.hosts[0]),
        msg_type,
        command_id,
    }
}

/// LOGIN while connected is answered and changes nothing (spec 06 §6.2);
/// messages with the wrong UUIDs are ignored.
#[test]
fn login_while_connected_and_foreign_messages() {
    let mut n = setup(5, [true, true]);
    assert!(n.run_until(Net::both_up, Duration::from_secs(1)));
    let before = n.drv(0).link(R).unwrap().clone();
    let h0 = n.hosts[0];
    let login = Login::new(from_peer(&n, TbipType::LOGIN, 77, true), 9);
    n.sim.deliver_raw(h0, &login.to_frame().unwrap());
    n.service();
    let l = n.drv(0).link(R).unwrap().clone();
    assert_eq!(l.stats.logins_received, before.stats.logins_received + 1);
    assert!(l.carrier());
    assert_eq!((l.out_hopid, l.in_hopid), (8, Some(8)));
    assert_eq!(l.stats.logins_sent, before.stats.logins_sent);
    // Foreign LOGIN and LOGOUT: ignored, still connected.
    let bad = Login::new(from_peer(&n, TbipType::LOGIN, 78, false), 9);
    n.sim.deliver_raw(h0, &bad.to_frame().unwrap());
    let bad = Logout::new(from_peer(&n, TbipType::LOGOUT, 79, false));
    n.sim.deliver_raw(h0, &bad.to_frame().unwrap());
    n.service();
    let l = n.drv(0).link(R).unwrap().clone();
    assert_eq!(l.stats.ignored, before.stats.ignored + 2);
    assert!(l.carrier());
    assert_eq!(n.count(0, |e| matches!(e, NetEvent::BringUp(_))), 1);
}

/// A failed bring-up clears login_sent (Linux 6.1.y); our retry after
/// 4.5 s logs in again and the link comes up.
#[test]
fn failed_bring_up_retries() {
    let mut n = setup(6, [true, true]);
    n.fail_bringups = 1;
    let t0 = n.sim.now();
    assert!(n.run_until(Net::both_up, Duration::from_secs(10)));
    let took = n.sim.now() - t0;
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_millis(4600),
        "{took:?}"
    );
    let bring_ups: usize = (0..2)
        .map(|i| n.count(i, |e| matches!(e, NetEvent::BringUp(_))))
        .sum();
    assert_eq!(bring_ups, 3);
}

/// Shutdown towards a peer that no longer answers: LOGOUT every 1 s, 10
/// sends, then the paths are torn down (spec 06 §6.1, §15).
#[test]
fn logout_gives_up_after_ten_tries() {
    let mut n = setup(7, [true, true]);
    assert!(n.run_until(Net::both_up, Duration::from_secs(1)));
    // Let the last login messages land (a stray response would end the
    // LOGOUT exchange, as it does in Linux).
    n.sim.advance(Duration::from_millis(1));
    n.service();
    n.sim.set_all_faults(tblink_sim::Faults {
        drop: 1.0,
        ..tblink_sim::Faults::NONE
    });
    let lost0 = n.sim.stats.lost;
    let t0 = n.sim.now();
    let (h0, id0) = (n.hosts[0], n.ids[0].unwrap());
    with_net_driver(n.sim.host_mut(h0), t0, id0, |d, ctx| d.shutdown(ctx)).unwrap();
    n.service();
    assert_eq!(
        n.count(0, |e| matches!(e, NetEvent::Carrier { on: false, .. })),
        1
    );
    assert!(n.run_until(
        |n| n.count(0, |e| matches!(e, NetEvent::TearDown { .. })) == 1,
        Duration::from_secs(60)
    ));
    assert_eq!(n.sim.now() - t0, Duration::from_secs(10));
    assert_eq!(n.sim.stats.lost - lost0, 10);
    assert_eq!(n.drv(0).leaving(), 0);
    // The peer saw nothing and keeps its carrier until told otherwise.
    assert!(n.carrier(1));
}
