//! `tblink capture` against hosts served in this process: alice (on
//! adapter 1) and bob (on adapter 3) run the real daemon (event loop +
//! control socket) on threads, joined by an in-process cable; the capture
//! binary records alice's port from before bob appears until SIGINT, and
//! the pcapng file must hold the whole discovery exchange, byte-exact
//! control packets with correct CRCs, consistent direction marks and the
//! routes the capture docs promise. Also: a host stopping ends its
//! captures with a complete stream, and a host runs at most 4 captures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcap_file::DataLink;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use tblink_host::capture::{CaptureClient, EndStats, Polled, Record as CapRecord};
use tblink_host::control::{ControlSocket, Request, request};
use tblink_host::{Handed, HostOptions, Runtime, register_default_drivers, uuid_from_name};
use tblink_hostif::NhiConfig;
use tblink_hostif::cable::inproc::{self, InProcCable};
use tblink_wire::crc::crc32c;
use tblink_wire::uuid::WireUuid;

/// The XDomain discovery protocol UUID as on the wire (spec 02 §1).
const DISCOVERY: [u8; 16] = [
    0x0e, 0xd7, 0x38, 0xb6, 0xbb, 0x40, 0xff, 0x42, 0xe2, 0x90, 0xc2, 0x97, 0x07, 0xff, 0xb2, 0xc0,
];

struct Served {
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Run host `name` with `cable` on adapter 1 and its control socket at
/// `sock`, on a thread.
fn serve(name: &'static str, cable: InProcCable, sock: &Path) -> Served {
    serve_on(name, 1, cable, sock)
}

/// [`serve`] with the cable on `adapter`.
fn serve_on(name: &'static str, adapter: u8, cable: InProcCable, sock: &Path) -> Served {
    let shutdown = Arc::new(AtomicBool::new(false));
    let ctl = ControlSocket::bind(sock, name).unwrap();
    let flag = shutdown.clone();
    let thread = std::thread::spawn(move || {
        let mut o = HostOptions::new(name);
        o.nhi = NhiConfig {
            throttle: Duration::ZERO,
            ..NhiConfig::default()
        };
        let mut rt = Runtime::new(o).unwrap();
        register_default_drivers(&mut rt).unwrap();
        rt.add_port(adapter, Box::new(Handed::new(cable, "inproc")))
            .unwrap();
        tblink_host::daemon::serve(rt, Some(ctl), flag).unwrap();
    });
    Served {
        shutdown,
        thread: Some(thread),
    }
}

fn enumerated(sock: &Path, peer: &str) -> bool {
    let Ok(r) = request(sock, &Request::Status, "h") else {
        return false;
    };
    r.status.is_some_and(|s| {
        s.xdomains()
            .any(|x| x.host_name.as_deref() == Some(peer) && x.state == "enumerated")
    })
}

fn until(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `tblink capture --control SOCK`.
fn capture(sock: &Path) -> Command {
    let mut c = common::bin();
    c.arg("capture").arg("--control").arg(sock);
    c
}

struct Record {
    dir_flag: u32,
    data: Vec<u8>,
}

fn read_control_records(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).unwrap();
    let mut r = PcapNgReader::new(&bytes[..]).unwrap();
    let mut ifaces = Vec::new();
    let mut out = Vec::new();
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(i) => ifaces.push(i.linktype),
            Block::EnhancedPacket(p) => {
                if ifaces[p.interface_id as usize] != DataLink::USER0 {
                    continue;
                }
                let dir_flag = p
                    .options
                    .iter()
                    .find_map(|o| match o {
                        EnhancedPacketOption::Flags(f) => Some(f & 3),
                        _ => None,
                    })
                    .unwrap();
                out.push(Record {
                    dir_flag,
                    data: p.data.to_vec(),
                });
            }
            _ => {}
        }
    }
    out
}

#[test]
fn capture_records_discovery_until_sigint() {
    let dir = common::tmpdir("capture", "test");
    let (a_sock, b_sock): (PathBuf, PathBuf) = (dir.join("alice.sock"), dir.join("bob.sock"));
    let file = dir.join("alice.pcapng");
    let (a_end, b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &a_sock);

    let mut child = capture(&a_sock)
        .args(["--port", "1", "-w"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("capturing port 1"), "{first}");

    // Bob appears only now, on his adapter 3: the capture sees discovery
    // from its start.
    let bob = serve_on("bob", 3, b_end, &b_sock);
    until(Duration::from_secs(10), "discovery", || {
        enumerated(&a_sock, "bob") && enumerated(&b_sock, "alice")
    });

    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains(" 0 dropped by the host"), "{rest}");
    drop(bob);
    drop(alice);

    let recs = read_control_records(&file);
    assert!(!recs.is_empty());
    let mut seen = Vec::new();
    let mut routes = Vec::new();
    for r in &recs {
        let d = &r.data;
        // Pseudo-header: version 1, direction, port 1, PDF.
        assert_eq!(d[0], 1);
        assert_eq!(d[2], 1);
        assert!(d[3] < 16);
        // The epb_flags direction agrees: inbound (1) = received (0).
        assert_eq!(r.dir_flag, if d[1] == 0 { 1 } else { 2 }, "{d:02x?}");
        let pkt = &d[4..];
        let n = pkt.len();
        assert!(n >= 12 && n.is_multiple_of(4));
        let crc = u32::from_be_bytes(pkt[n - 4..].try_into().unwrap());
        assert_eq!(crc32c(&pkt[..n - 4]), crc, "bad CRC in {pkt:02x?}");
        if matches!(d[3], 6 | 7) {
            routes.push((d[1], u64::from_be_bytes(pkt[..8].try_into().unwrap())));
        }
        if matches!(d[3], 6 | 7) && n >= 36 && pkt[12..28] == DISCOVERY {
            let ty = u32::from_be_bytes(pkt[28..32].try_into().unwrap());
            seen.push((d[1], d[3], ty, pkt.to_vec()));
        }
    }
    let has = |dir: u8, pdf: u8, ty: u32| seen.iter().any(|s| (s.0, s.1, s.2) == (dir, pdf, ty));
    // UUID request both ways, answered both ways (spec 02 §4.1-4.2).
    assert!(has(1, 6, 12) && has(0, 6, 12));
    assert!(has(1, 7, 2) && has(0, 7, 2));
    // Properties read both ways (§4.3-4.4).
    assert!(has(1, 6, 3) && has(0, 7, 4) && has(0, 6, 3) && has(1, 7, 4));
    // XDomain packets carry the sender's route (capture module docs, spec
    // 01 §4): alice sends to her adapter 1 (0x1); what she receives was
    // recorded before her router rewrote it, so it carries bob's route to
    // his adapter 3 (0x3), CM bit clear.
    assert!(routes.iter().any(|r| r.0 == 0) && routes.iter().any(|r| r.0 == 1));
    for (dir, route) in &routes {
        let want = if *dir == 1 { 0x1 } else { 0x3 };
        assert_eq!(*route, want, "direction {dir}: route {route:#x}");
    }
    // Bob's UUID response carries bob's UUID in wire order (Rule 2).
    let resp = seen.iter().find(|s| (s.0, s.1, s.2) == (0, 7, 2)).unwrap();
    assert_eq!(
        resp.3[32..48],
        WireUuid::from_uuid(&uuid_from_name("bob")).0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn capture_refuses_unknown_port_and_missing_host() {
    let dir = common::tmpdir("capture", "refuse");
    let sock = dir.join("alice.sock");
    let out = capture(&sock)
        .arg("-w")
        .arg(dir.join("x.pcapng"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));

    let (a_end, _b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &sock);
    let out = capture(&sock)
        .args(["--port", "5", "-w"])
        .arg(dir.join("x.pcapng"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no port 5 (adapters: 1)"), "{err}");
    // Refused before the output file is created.
    assert!(!dir.join("x.pcapng").exists());
    drop(alice);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every record of `c` until its `end` record, reading only what is
/// already there: `None` if the stream has no `end` yet.
fn drain(c: &mut CaptureClient) -> Option<(usize, EndStats)> {
    let mut frames = 0;
    loop {
        match c.poll().unwrap() {
            Polled::Record(CapRecord::Frame(_)) => frames += 1,
            Polled::Record(CapRecord::End(e)) => return Some((frames, e)),
            Polled::Idle | Polled::Closed => return None,
        }
    }
}

/// A host that stops lets its captures finish: when `serve` returns, each
/// stream already holds its queued packets and its `end` record.
#[test]
fn stopping_host_finishes_its_capture_streams() {
    let dir = common::tmpdir("capture", "stop");
    let sock = dir.join("alice.sock");
    let (a_end, _b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &sock);
    let never = AtomicBool::new(false);
    let start = || {
        CaptureClient::start(&sock, "alice", None, None, Duration::from_millis(1), &never)
            .unwrap()
            .unwrap()
    };
    let (mut c1, mut c2) = (start(), start());
    // Joins the daemon's thread: `serve` has returned after this.
    drop(alice);
    for c in [&mut c1, &mut c2] {
        let (frames, end) = drain(c).expect("stream complete when the host stopped");
        assert_eq!(end.dropped, 0);
        // Shutdown unplugs the port: nothing else crosses it here.
        assert_eq!(frames, 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn host_runs_at_most_four_captures() {
    let dir = common::tmpdir("capture", "cap");
    let sock = dir.join("alice.sock");
    let (a_end, _b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &sock);
    let never = AtomicBool::new(false);
    let start = || {
        CaptureClient::start(
            &sock,
            "alice",
            None,
            None,
            Duration::from_millis(50),
            &never,
        )
        .unwrap()
    };
    let mut running: Vec<CaptureClient> = (0..4).map(|_| start().unwrap()).collect();
    let refused = start().unwrap_err();
    assert!(refused.contains("at most 4 at once"), "{refused}");
    // The binary reports the refusal and exits 1.
    let out = capture(&sock)
        .arg("-w")
        .arg(dir.join("x.pcapng"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 captures are running already"), "{err}");
    // A stopped capture makes room again.
    let mut first = running.remove(0);
    first.stop().unwrap();
    let t = Instant::now();
    while !matches!(first.poll().unwrap(), Polled::Record(CapRecord::End(_))) {
        assert!(t.elapsed() < Duration::from_secs(10), "no end record");
    }
    drop(first);
    until(Duration::from_secs(10), "room for a capture", || {
        start().is_ok()
    });
    drop(running);
    drop(alice);
    let _ = std::fs::remove_dir_all(&dir);
}
