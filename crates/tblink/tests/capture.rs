//! `tblink capture` against hosts served in this process: alice and bob
//! run the real daemon (event loop + control socket) on threads, joined by
//! an in-process cable; the capture binary records alice's port from
//! before bob appears until SIGINT, and the pcapng file must hold the whole
//! discovery exchange, byte-exact control packets with correct CRCs and
//! consistent direction marks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        rt.add_port(1, Box::new(Handed::new(cable, "inproc")))
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
    let dir = std::env::temp_dir().join(format!("tblink-capture-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a_sock, b_sock): (PathBuf, PathBuf) = (dir.join("alice.sock"), dir.join("bob.sock"));
    let file = dir.join("alice.pcapng");
    let (a_end, b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &a_sock);

    let mut child = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .arg("capture")
        .arg("--control")
        .arg(&a_sock)
        .args(["--port", "1", "-w"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("capturing port 1"), "{first}");

    // Bob appears only now: the capture sees discovery from its start.
    let bob = serve("bob", b_end, &b_sock);
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
    let dir = std::env::temp_dir().join(format!("tblink-capture-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("alice.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .arg("capture")
        .arg("--control")
        .arg(&sock)
        .arg("-w")
        .arg(dir.join("x.pcapng"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));

    let (a_end, _b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &sock);
    let out = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .arg("capture")
        .arg("--control")
        .arg(&sock)
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
