//! End to end: two emulated controllers joined by a cable, two
//! `tblink_proto::Host`s running `NetDriver` over ring 0, a `NetPort` and
//! a TAP per side, each TAP in its own network namespace. IPv4 and IPv6
//! link-local pings must pass with no loss; unplug must drop both
//! carriers quickly; replug must bring the link back.
//!
//! Needs root, /dev/net/tun, `ip` and `ping`; otherwise prints
//! "skipped: …" and passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(target_os = "linux")]

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tblink_hostif::cable::{inproc, shm::ShmCable};
use tblink_hostif::{
    Cable, Dir, DmaBuf, EmulatedNhi, HostInterface, LinkEvent, NhiConfig, PeerKind, RingConfig,
    TxFrame,
};
use tblink_net::driver::{NetConfig, NetDriver, NetEvent, with_net_driver};
use tblink_net::sys::{Tap, TapOptions, tun_available};
use tblink_net::{NetPort, PortConfig};
use tblink_proto::Host;
use tblink_proto::driver::DriverId;
use tblink_wire::Route;
use tblink_wire::tbip::derive_mac;

const ADAPTER: u8 = 1;

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_reason() -> Option<String> {
    // Effective UID from /proc/self/status.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    if !root {
        return Some("not root".into());
    }
    if !tun_available() {
        return Some("/dev/net/tun missing".into());
    }
    if !have("ip") {
        return Some("`ip` not found".into());
    }
    if !Command::new("ping")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some("`ping` not found".into());
    }
    None
}

fn sh(args: &[&str]) -> std::process::Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A named network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Self {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&["ip", "netns", "add", &name]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// What the pump thread reports.
#[derive(Debug, Default)]
struct Shared {
    carrier: [bool; 2],
    /// Last carrier change per side.
    changed: [Option<Instant>; 2],
    log: Vec<String>,
}

enum Cmd {
    Unplug,
    Replug,
}

/// One host: controller, protocol host with the driver, port, TAP.
struct Side {
    i: usize,
    nhi: EmulatedNhi,
    host: Host,
    drv: DriverId,
    port: NetPort,
    tap: Tap,
    spare: Vec<DmaBuf>,
}

fn now_of(t0: Instant) -> tblink_proto::Instant {
    tblink_proto::Instant::from_nanos(t0.elapsed().as_nanos() as u64)
}

impl Side {
    fn new(i: usize, tap: Tap) -> Self {
        let mut cfg = tblink_sim::scenario::host_config(i, 0xe2e);
        cfg.max_hop_id = 15;
        let mut host = Host::new(cfg);
        let d = NetDriver::new(NetConfig::default());
        let svc = d.local_service();
        let drv = host.register_driver(Box::new(d)).unwrap();
        host.add_local_service(tblink_proto::Instant::ZERO, svc)
            .unwrap();
        let mut nhi = EmulatedNhi::new(NhiConfig::default());
        for d in [Dir::Tx, Dir::Rx] {
            let r = nhi.alloc_ring(RingConfig::control(d)).unwrap();
            nhi.start_ring(r).unwrap();
        }
        for _ in 0..9 {
            nhi.post_rx(0, DmaBuf::new()).unwrap();
        }
        Side {
            i,
            nhi,
            host,
            drv,
            port: NetPort::new(Route::from_raw(ADAPTER as u64), PortConfig::default()),
            tap,
            spare: (0..10).map(|_| DmaBuf::new()).collect(),
        }
    }

    /// One pass of the event loop the daemon runs; returns whether
    /// anything happened.
    fn step(&mut self, t0: Instant, shared: &Mutex<Shared>) -> bool {
        let mut busy = false;
        let now = now_of(t0);
        while let Some(ev) = self.nhi.poll_event() {
            busy = true;
            match ev {
                LinkEvent::Up {
                    route,
                    peer: PeerKind::Host,
                    ..
                } => {
                    let _ = self.host.handle_xdomain_connected(now, route);
                }
                LinkEvent::Down { route, .. } => {
                    self.host.handle_xdomain_disconnected(now, route);
                }
                LinkEvent::Up { .. } => {}
            }
        }
        while let Some(c) = self.nhi.poll_rx(0) {
            busy = true;
            if let Ok(f) = c.control_frame() {
                self.host.handle_frame(now, &f);
            }
            let _ = self.nhi.post_rx(0, c.buf);
        }
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            self.host.handle_timeout(now);
        }
        while let Some(c) = self.nhi.poll_tx(0) {
            self.spare.push(c.buf);
        }
        while let Some(f) = self.host.poll_transmit() {
            busy = true;
            let b = self.spare.pop().unwrap_or_default();
            if let Err(r) = self.nhi.post_tx(0, TxFrame::control(b, &f)) {
                self.spare.push(r.item.buf);
            }
        }
        while self.host.poll_event().is_some() {}
        // The driver's requests, in order.
        loop {
            let evs: Vec<NetEvent> = with_net_driver(&mut self.host, now, self.drv, |d, _| {
                std::iter::from_fn(|| d.poll_event()).collect()
            })
            .unwrap_or_default();
            if evs.is_empty() {
                break;
            }
            busy = true;
            for e in evs {
                self.apply(t0, e, shared);
            }
        }
        let t = self.port.pump_tx(&mut self.nhi, &mut self.tap, 64);
        let r = self.port.pump_rx(&mut self.nhi, &mut self.tap, 64);
        busy | (t.packets > 0) | (r.frames > 0) | t.more | r.more
    }

    fn apply(&mut self, t0: Instant, e: NetEvent, shared: &Mutex<Shared>) {
        let now = now_of(t0);
        let log = |s: String| shared.lock().unwrap().log.push(s);
        match e {
            NetEvent::BringUp(req) => {
                if self.port.is_up() {
                    let _ = self.port.tear_down(&mut self.nhi);
                }
                let adapter = req.route.port(0).unwrap_or(ADAPTER);
                let ok = self.port.bring_up(&mut self.nhi, &req, adapter);
                log(format!("{}: bring_up {:?} → {ok:?}", self.i, req.in_hopid));
                with_net_driver(&mut self.host, now, self.drv, |d, _| match ok {
                    Ok(()) => d.paths_up(req.route),
                    Err(_) => d.paths_failed(now, req.route),
                });
            }
            NetEvent::TearDown { .. } => {
                let r = self.port.tear_down(&mut self.nhi);
                log(format!("{}: tear_down → {r:?}", self.i));
            }
            NetEvent::Carrier { on, .. } => {
                self.port.set_carrier(&mut self.tap, on).unwrap();
                let mut s = shared.lock().unwrap();
                s.carrier[self.i] = on;
                s.changed[self.i] = Some(Instant::now());
                s.log.push(format!("{}: carrier {on}", self.i));
            }
            NetEvent::LoginTimedOut { .. } => log(format!("{}: login timed out", self.i)),
        }
    }
}

type MakeCables = Box<dyn FnMut() -> (Box<dyn Cable>, Box<dyn Cable>) + Send>;

/// Both sides, a pump thread, namespaces and addresses.
struct Rig {
    ns: [Netns; 2],
    names: [String; 2],
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    cmd: mpsc::Sender<Cmd>,
    thread: Option<thread::JoinHandle<[tblink_net::PortStats; 2]>>,
}

impl Rig {
    fn new(tag: &str, mut make: MakeCables) -> Rig {
        let pid = std::process::id();
        let ns = [
            Netns::new(format!("tbltest-a-{tag}{pid}")),
            Netns::new(format!("tbltest-b-{tag}{pid}")),
        ];
        let names = [format!("tb{tag}a{pid}"), format!("tb{tag}b{pid}")];
        let addrs = ["10.99.0.1/24", "10.99.0.2/24"];
        let ll = ["fe80::a/64", "fe80::b/64"];
        let mut taps = Vec::new();
        for i in 0..2 {
            let tap = Tap::open(&names[i], TapOptions::default()).unwrap();
            let cfg = tblink_sim::scenario::host_config(i, 0xe2e);
            tap.set_mac(derive_mac(&cfg.uuid, Route::from_raw(ADAPTER as u64)))
                .unwrap();
            tap.set_mtu(1500).unwrap();
            tap.set_carrier(false).unwrap();
            tap.set_nonblocking(true).unwrap();
            let n = &ns[i].0;
            sh(&["ip", "link", "set", &names[i], "netns", n]);
            sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", n, "addr", "add", addrs[i], "dev", &names[i]]);
            sh(&[
                "ip", "-n", n, "addr", "add", ll[i], "dev", &names[i], "nodad",
            ]);
            sh(&["ip", "-n", n, "link", "set", &names[i], "up"]);
            taps.push(tap);
        }
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (cmd, rx) = mpsc::channel::<Cmd>();
        let (sh2, st2) = (shared.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut b = Side::new(1, taps.pop().unwrap());
            let mut a = Side::new(0, taps.pop().unwrap());
            let (ca, cb) = make();
            a.nhi.attach(ADAPTER, ca).unwrap();
            b.nhi.attach(ADAPTER, cb).unwrap();
            let t0 = Instant::now();
            while !st2.load(Ordering::Relaxed) {
                match rx.try_recv() {
                    Ok(Cmd::Unplug) => {
                        drop(a.nhi.detach(ADAPTER));
                        drop(b.nhi.detach(ADAPTER));
                    }
                    Ok(Cmd::Replug) => {
                        let (ca, cb) = make();
                        a.nhi.attach(ADAPTER, ca).unwrap();
                        b.nhi.attach(ADAPTER, cb).unwrap();
                    }
                    Err(_) => {}
                }
                let busy = a.step(t0, &sh2) | b.step(t0, &sh2);
                if !busy {
                    // The TAPs are not among the controller's wake-up
                    // sources: sleep briefly.
                    a.nhi.wait(Duration::from_micros(100));
                    b.nhi.wait(Duration::from_micros(100));
                }
            }
            let _ = a.port.tear_down(&mut a.nhi);
            let _ = b.port.tear_down(&mut b.nhi);
            [a.port.stats(), b.port.stats()]
        });
        Rig {
            ns,
            names,
            shared,
            stop,
            cmd,
            thread: Some(thread),
        }
    }

    fn wait_carrier(&self, on: bool, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.shared.lock().unwrap().carrier == [on, on] {
                return Some(t.elapsed());
            }
            thread::sleep(Duration::from_millis(1));
        }
        None
    }

    fn log(&self) -> String {
        self.shared.lock().unwrap().log.join("\n")
    }

    fn ping(&self, from: usize, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.ns[from].0, "ping"];
        v.extend_from_slice(args);
        let out = Command::new(v[0]).args(&v[1..]).output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && s.contains(" 0% packet loss"),
            "ping {args:?}: {s}{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        s
    }

    fn finish(mut self) -> [tblink_net::PortStats; 2] {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(tag: &str, make: MakeCables, unplug: bool) {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    let rig = Rig::new(tag, make);
    let up = rig.wait_carrier(true, Duration::from_secs(10));
    assert!(up.is_some(), "no carrier:\n{}", rig.log());
    println!("{tag}: carrier up after {up:?}");
    // `-W 5`: a reply delayed by a loaded CI machine is not a loss; a
    // dropped packet still is.
    let out = rig.ping(0, &["-c", "20", "-i", "0.01", "-W", "5", "10.99.0.2"]);
    println!("{}", out.lines().last().unwrap_or(""));
    let link_b = format!("fe80::b%{}", rig.names[0]);
    rig.ping(0, &["-6", "-c", "5", "-i", "0.01", "-W", "5", &link_b]);
    if unplug {
        let t = Instant::now();
        rig.cmd.send(Cmd::Unplug).unwrap();
        let down = rig.wait_carrier(false, Duration::from_secs(2));
        let took = rig
            .shared
            .lock()
            .unwrap()
            .changed
            .iter()
            .map(|c| c.map(|c| c.saturating_duration_since(t)))
            .collect::<Vec<_>>();
        println!("{tag}: unplug → carriers down after {took:?}");
        assert!(down.is_some(), "carrier stayed on:\n{}", rig.log());
        for c in took {
            assert!(c.unwrap() < Duration::from_millis(100), "{c:?}");
        }
        let t = Instant::now();
        rig.cmd.send(Cmd::Replug).unwrap();
        let up = rig.wait_carrier(true, Duration::from_secs(10));
        assert!(up.is_some(), "no carrier after replug:\n{}", rig.log());
        println!("{tag}: replug → carriers up after {:?}", t.elapsed());
        rig.ping(1, &["-c", "10", "-i", "0.01", "-W", "5", "10.99.0.1"]);
    }
    let [sa, sb] = rig.finish();
    println!("{tag}: a {sa:?}\n{tag}: b {sb:?}");
    assert!(sa.tx.tx_packets >= 25 && sb.rx.rx_packets >= 25);
    assert_eq!(sa.rx.rx_errors() + sb.rx.rx_errors(), 0);
}

fn inproc_cables() -> MakeCables {
    Box::new(|| {
        let (a, b) = inproc::pair().unwrap();
        (Box::new(a) as Box<dyn Cable>, Box::new(b) as Box<dyn Cable>)
    })
}

#[test]
fn ping_over_inproc_cable_unplug_replug() {
    run("i", inproc_cables(), true);
}

#[test]
fn ping_over_shm_cable() {
    let path = std::env::temp_dir().join(format!("tbl-e2e-{}.sock", std::process::id()));
    run(
        "s",
        Box::new(move || {
            let l = ShmCable::listen(&path).unwrap();
            let c = ShmCable::connect(&path);
            (Box::new(l) as Box<dyn Cable>, Box::new(c) as Box<dyn Cable>)
        }),
        false,
    );
}
