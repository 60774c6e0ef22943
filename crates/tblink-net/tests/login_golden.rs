//! Golden vectors: the driver's LOGIN, LOGIN_RESPONSE, LOGOUT and STATUS
//! equal spec 06 §16 byte for byte when set up with §16's hosts.
//!
//! Host A (UUID 4a7e2c1d-…, route 0x1 to B) runs the driver with Linux's
//! 1 s first-login delay; peer B (UUID 0b5e8f3a-…, route 0x3 to A) logs in
//! at once. A's first LOGIN (command_id 1, SN 0) is answered by B (§16.1,
//! §16.2). The test drops B's answers to A's first three attempts so that
//! A's fourth LOGIN is command_id 4; A's LOGOUT is then command_id 5, and
//! B's STATUS is B's second command (§16.3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tblink_net::driver::{NetConfig, NetDriver, NetEvent, NetTiming, with_net_driver};
use tblink_proto::driver::DriverId;
use tblink_proto::{Duration, Host, HostConfig, Instant};
use tblink_wire::Route;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::tbip::{TbipMessage, TbipType};
use tblink_wire::uuid::Uuid;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

const LOGIN_16_1: &str = "
00 00 00 00 00 00 00 01 00 00 00 14 9e 58 8f 79
47 8a 16 36 64 56 c6 97 dd c8 20 a9 1d 2c 7e 4a
60 4f b5 93 ff c0 21 8d 56 34 12 ee 3a 8f 5e 0b
19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 00 00 00 00
00 00 00 01 00 00 00 01 00 00 00 08 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00
77 bd 10 59";

const LOGIN_RESPONSE_16_2: &str = "
00 00 00 00 00 00 00 03 00 00 00 16 9e 58 8f 79
47 8a 16 36 64 56 c6 97 dd c8 20 a9 3a 8f 5e 0b
19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 1d 2c 7e 4a
60 4f b5 93 ff c0 21 8d 56 34 12 ee 00 00 00 01
00 00 00 01 00 00 00 00 8e 73 08 12 00 00 d9 7d
00 00 00 06 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00
fc 71 bc 6a";

const LOGOUT_16_3: &str = "
00 00 00 00 00 00 00 01 00 00 00 0e 9e 58 8f 79
47 8a 16 36 64 56 c6 97 dd c8 20 a9 1d 2c 7e 4a
60 4f b5 93 ff c0 21 8d 56 34 12 ee 3a 8f 5e 0b
19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 00 00 00 02
00 00 00 05
50 9f ea b5";

const STATUS_16_3: &str = "
00 00 00 00 00 00 00 03 00 00 00 0f 9e 58 8f 79
47 8a 16 36 64 56 c6 97 dd c8 20 a9 3a 8f 5e 0b
19 4e 2d 7c 3c 5d b4 a6 9e 0f 1a 2b 1d 2c 7e 4a
60 4f b5 93 ff c0 21 8d 56 34 12 ee 00 00 00 03
00 00 00 02 00 00 00 00
a2 a5 29 22";

const UUID_A: Uuid = Uuid::from_u128(0x4a7e2c1d_93b5_4f60_8d21_c0ffee123456);
const UUID_B: Uuid = Uuid::from_u128(0x0b5e8f3a_7c2d_4e19_a6b4_5d3c2b1a0f9e);
const ROUTE_A_TO_B: Route = Route::from_raw(1);
const ROUTE_B_TO_A: Route = Route::from_raw(3);

struct Side {
    host: Host,
    net: DriverId,
    /// Our route to the other side (written into delivered frames).
    route: Route,
    /// ThunderboltIP frames this side put on ring 0, in order.
    sent: Vec<FrameBuf>,
}

fn side(uuid: Uuid, route: Route, first_login_delay: Duration) -> Side {
    let mut host = Host::new(HostConfig {
        uuid,
        ..HostConfig::default()
    });
    let drv = NetDriver::new(NetConfig {
        timing: NetTiming {
            first_login_delay,
            ..NetTiming::default()
        },
        ..NetConfig::default()
    });
    let svc = drv.local_service();
    let net = host.register_driver(Box::new(drv)).unwrap();
    host.add_local_service(Instant::ZERO, svc).unwrap();
    Side {
        host,
        net,
        route,
        sent: Vec::new(),
    }
}

fn is_tbip(f: &FrameBuf) -> Option<TbipMessage> {
    TbipMessage::parse(f.body()).ok()
}

/// Move frames between the two hosts until both are quiet, rewriting the
/// route as the receiving host router does (spec 06 §3.4). `drop_to_a`
/// decides whether a ThunderboltIP frame B sends is lost.
fn pump(a: &mut Side, b: &mut Side, now: Instant, drop_to_a: &mut dyn FnMut(&TbipMessage) -> bool) {
    loop {
        let mut moved = false;
        for dir in 0..2 {
            let (from, to) = if dir == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(f) = from.host.poll_transmit() {
                moved = true;
                let msg = is_tbip(&f);
                if let Some(m) = &msg {
                    from.sent.push(f.clone());
                    if dir == 1 && drop_to_a(m) {
                        continue;
                    }
                }
                let mut g = f.clone();
                let r = to.route.with_cm();
                g.as_mut_bytes()[0..4].copy_from_slice(&r.hi().to_be_bytes());
                g.as_mut_bytes()[4..8].copy_from_slice(&r.lo().to_be_bytes());
                g.reseal().unwrap();
                to.host.handle_frame(now, &g);
            }
            // The ring layer: bring paths up at once.
            let events: Vec<NetEvent> = {
                let d = to.host.driver_mut::<NetDriver>(to.net).unwrap();
                std::iter::from_fn(|| d.poll_event()).collect()
            };
            for e in events {
                if let NetEvent::BringUp(req) = e {
                    assert!(
                        to.host
                            .driver_mut::<NetDriver>(to.net)
                            .unwrap()
                            .paths_up(req.route)
                    );
                }
            }
        }
        if !moved {
            return;
        }
    }
}

/// Run both hosts until `until`, firing timers.
fn run(
    a: &mut Side,
    b: &mut Side,
    now: &mut Instant,
    until: Instant,
    drop_to_a: &mut dyn FnMut(&TbipMessage) -> bool,
) {
    loop {
        pump(a, b, *now, drop_to_a);
        let next = [a.host.poll_timeout(), b.host.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= until => {
                *now = (*now).max(t);
                for s in [&mut *a, &mut *b] {
                    if s.host.poll_timeout().is_some_and(|t| t <= *now) {
                        s.host.handle_timeout(*now);
                    }
                }
            }
            _ => {
                *now = until;
                pump(a, b, *now, drop_to_a);
                return;
            }
        }
    }
}

fn find(sent: &[FrameBuf], t: TbipType, cmd: u32) -> Vec<u8> {
    sent.iter()
        .find(|f| {
            let h = *is_tbip(f).unwrap().header();
            h.msg_type == t && h.command_id == cmd
        })
        .unwrap_or_else(|| panic!("no {t} with command_id {cmd}"))
        .as_bytes()
        .to_vec()
}

#[test]
fn spec_16_control_messages_byte_exact() {
    let mut a = side(UUID_A, ROUTE_A_TO_B, Duration::from_millis(1000));
    let mut b = side(UUID_B, ROUTE_B_TO_A, Duration::ZERO);
    let mut now = Instant::ZERO;
    a.host.handle_xdomain_connected(now, ROUTE_A_TO_B).unwrap();
    b.host.handle_xdomain_connected(now, ROUTE_B_TO_A).unwrap();

    // Lose B's answers to A's LOGINs with command_id 1..=3.
    let mut drop_to_a =
        |m: &TbipMessage| matches!(m, TbipMessage::LoginResponse(r) if r.header.command_id <= 3);
    run(
        &mut a,
        &mut b,
        &mut now,
        Instant::from_nanos(20_000_000_000),
        &mut drop_to_a,
    );

    // §16.1 and §16.2.
    assert_eq!(find(&a.sent, TbipType::LOGIN, 1), hex(LOGIN_16_1));
    assert_eq!(
        find(&b.sent, TbipType::LOGIN_RESPONSE, 1),
        hex(LOGIN_RESPONSE_16_2)
    );
    // A's retries: SN = retries % 4.
    for cmd in 2..=4u32 {
        let f = find(&a.sent, TbipType::LOGIN, cmd);
        assert_eq!((f[8] >> 3) & 3, (cmd - 1) as u8 % 4);
    }
    let la = a
        .host
        .driver::<NetDriver>(a.net)
        .unwrap()
        .link(ROUTE_A_TO_B)
        .unwrap()
        .clone();
    assert!(la.carrier());
    assert_eq!(la.command_id, 4);
    assert_eq!(la.mac, [0x02, 0xc5, 0x45, 0xcb, 0xde, 0x01]);
    assert_eq!((la.out_hopid, la.in_hopid), (8, Some(8)));
    let lb = b
        .host
        .driver::<NetDriver>(b.net)
        .unwrap()
        .link(ROUTE_B_TO_A)
        .unwrap()
        .clone();
    assert!(lb.carrier());
    assert_eq!(lb.mac, [0x12, 0x08, 0x73, 0x8e, 0x7d, 0xd9]);

    // A shuts down: LOGOUT (command_id 5), B answers STATUS (its 2nd command).
    with_net_driver(&mut a.host, now, a.net, |d, ctx| d.shutdown(ctx)).unwrap();
    let until = now + Duration::from_millis(10);
    run(&mut a, &mut b, &mut now, until, &mut |_| false);
    assert_eq!(find(&a.sent, TbipType::LOGOUT, 5), hex(LOGOUT_16_3));
    assert_eq!(find(&b.sent, TbipType::STATUS, 2), hex(STATUS_16_3));
    assert!(
        !b.host
            .driver::<NetDriver>(b.net)
            .unwrap()
            .carrier(ROUTE_B_TO_A)
    );
    assert_eq!(a.host.driver::<NetDriver>(a.net).unwrap().leaving(), 0);
}
