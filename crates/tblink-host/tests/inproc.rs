//! Discovery scenarios over the real emulated controller: host runtimes in
//! one process, joined by in-process cables (directly or through a
//! `DeviceRouter`), with seeded loss, corruption and duplication, and an
//! unplug/replug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{bound_to, connected_pair, drive, host, lossy, no_peers};
use tblink_host::Handed;
use tblink_hostif::DeviceRouter;
use tblink_hostif::cable::inproc;
use tblink_wire::Route;

#[test]
fn pair_discovers_and_binds() {
    let (a, b) = connected_pair();
    let s = a.snapshot();
    let x = s.xdomains().next().unwrap();
    assert_eq!(x.device, "0-1");
    assert_eq!(
        x.uuid.as_deref(),
        Some(b.host().uuid().to_string().as_str())
    );
    assert_eq!(
        x.services[0].modalias,
        "tbsvc:kechop00000001v00000001r00000000"
    );
    assert!(a.is_bound(Route::from_raw(1), "echo"));
    assert!(s.rings.tx0.frames > 0 && s.rings.rx0.frames > 0);
}

#[test]
fn pair_with_faults_converges_survives_unplug_and_replug() {
    let (a_end, b_end) = inproc::pair().unwrap();
    let mut a = host("alice");
    let mut b = host("bob");
    a.add_port(3, Box::new(Handed::new(lossy(a_end, 1, true), "lossy")))
        .unwrap();
    b.add_port(5, Box::new(Handed::new(lossy(b_end, 2, true), "lossy")))
        .unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(20),
        "discovery with loss and corruption",
        |s| bound_to(&s[0], "bob") && bound_to(&s[1], "alice"),
    );
    assert_eq!(a.snapshot().xdomains().next().unwrap().device, "0-3");
    assert_eq!(b.snapshot().xdomains().next().unwrap().device, "0-5");

    // Unplug at alice: bob sees its cable end close.
    a.unplug(3).unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(2),
        "unplug seen by both",
        |s| no_peers(&s[0]) && no_peers(&s[1]),
    );
    assert!(a.unplug(3).is_err(), "already unplugged");

    // Replug with a new cable (an in-process cable cannot reconnect).
    let (a_end, b_end) = inproc::pair().unwrap();
    b.unplug(5).unwrap();
    a.plug_cable(3, lossy(a_end, 3, true)).unwrap();
    b.plug_cable(5, lossy(b_end, 4, true)).unwrap();
    drive(
        &mut [&mut a, &mut b],
        &mut [],
        Duration::from_secs(20),
        "rediscovery after replug",
        |s| bound_to(&s[0], "bob") && bound_to(&s[1], "alice"),
    );
    let st = a.snapshot().stack;
    let st_b = b.snapshot().stack;
    assert!(
        st.retransmits + st_b.retransmits + st.failed_attempts + st_b.failed_attempts > 0
            || st.cable_crc_drops + st_b.cable_crc_drops > 0,
        "faults were injected: {st:?} {st_b:?}"
    );
}

#[test]
fn star_through_a_device_router() {
    // alice adapter 1 — router R (alice's domain, route 1, upstream 1);
    // R port 3 — bob adapter 1; R port 5 — carol adapter 3.
    let (a1, r1) = inproc::pair().unwrap();
    let (r3, b1) = inproc::pair().unwrap();
    let (r5, c3) = inproc::pair().unwrap();
    let mut r = DeviceRouter::new(Route::from_raw(1), 1);
    // Loss and corruption on what alice sends and on what R sends down to
    // bob and carol. Bob and carol only lose packets: R re-seals the CRC of
    // XDomain packets entering alice's domain, which would hide corruption.
    // R's own packets up to alice are left alone: a hot-plug EVENT that is
    // lost is never sent again by the router model, so alice would never
    // learn of the XDomain.
    r.attach(1, r1);
    r.attach(3, lossy(r3, 12, true));
    r.attach(5, lossy(r5, 13, true));
    let mut a = host("alice");
    let mut b = host("bob");
    let mut c = host("carol");
    a.add_port(1, Box::new(Handed::new(lossy(a1, 14, true), "to-router")))
        .unwrap();
    b.add_port(1, Box::new(Handed::new(lossy(b1, 15, false), "to-router")))
        .unwrap();
    c.add_port(3, Box::new(Handed::new(lossy(c3, 16, false), "to-router")))
        .unwrap();
    drive(
        &mut [&mut a, &mut b, &mut c],
        &mut [&mut r],
        Duration::from_secs(30),
        "discovery through the router",
        |s| {
            bound_to(&s[0], "bob")
                && bound_to(&s[0], "carol")
                && bound_to(&s[1], "alice")
                && bound_to(&s[2], "alice")
        },
    );
    let s = a.snapshot();
    let mut devs: Vec<(String, Option<String>)> = s
        .xdomains()
        .map(|x| (x.device.clone(), x.host_name.clone()))
        .collect();
    devs.sort();
    assert_eq!(
        devs,
        vec![
            ("0-301".to_string(), Some("bob".to_string())),
            ("0-501".to_string(), Some("carol".to_string())),
        ]
    );
    assert_eq!(s.ports[0].peer_kind.as_deref(), Some("router"));
    assert!(s.stack.hotplug_events >= 2);
    assert_eq!(
        b.snapshot().ports[0].peer_kind.as_deref(),
        Some("foreign_router")
    );

    // Unplug bob's cable at the router: R reports it to alice with a
    // hot-plug EVENT; bob's own link goes down.
    drop(r.detach(3));
    drive(
        &mut [&mut a, &mut b, &mut c],
        &mut [&mut r],
        Duration::from_secs(5),
        "bob unplugged at the router",
        |s| {
            !s[0].xdomains().any(|x| x.device == "0-301")
                && bound_to(&s[0], "carol")
                && no_peers(&s[1])
        },
    );

    // Replug bob with a new cable: a plug EVENT, discovery again.
    let (r3, b1) = inproc::pair().unwrap();
    r.attach(3, r3);
    b.unplug(1).unwrap();
    b.plug_cable(1, b1).unwrap();
    drive(
        &mut [&mut a, &mut b, &mut c],
        &mut [&mut r],
        Duration::from_secs(20),
        "bob replugged at the router",
        |s| bound_to(&s[0], "bob") && bound_to(&s[0], "carol") && bound_to(&s[1], "alice"),
    );
}
