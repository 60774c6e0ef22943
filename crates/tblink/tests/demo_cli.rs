//! `tblink demo`: help, the in-process part, and cleanup after SIGINT
//! (root only; the full run is covered by tests/netns/net.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tblink() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tblink"))
}

#[test]
fn help_explains_everything() {
    let out = tblink().args(["demo", "--help"]).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    for want in [
        "--mtu",
        "--duration",
        "--link",
        "--keep",
        "--in-process",
        "iperf3",
        "built-in TCP test",
        "Needs root",
        "Ctrl-C",
        "10.77.0.1/24",
    ] {
        assert!(s.contains(want), "help lacks {want:?}:\n{s}");
    }
}

#[test]
fn in_process_logs_in_and_moves_frames() {
    let out = tblink().args(["demo", "--in-process"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.contains("all frames arrived intact"), "{s}");
    let row = |name: &str| {
        s.lines()
            .find(|l| l.trim_start().starts_with(name) && !l.contains("uuid"))
            .unwrap_or_else(|| panic!("no timeline row for {name}:\n{s}"))
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse::<f64>().unwrap_or(-1.0))
            .collect::<Vec<_>>()
    };
    for name in ["alice", "bob"] {
        let r = row(name);
        assert_eq!(r.len(), 4, "{s}");
        assert!(r.iter().all(|v| *v >= 0.0), "{name}: {r:?}\n{s}");
        // UUID before properties before login; carrier with login.
        assert!(
            r[0] <= r[1] && r[1] <= r[2] && r[2] <= r[3],
            "{name}: {r:?}"
        );
    }
}

fn root_with_netns() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    root && std::path::Path::new("/dev/net/tun").exists()
        && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn sigint_cleans_up_everything() {
    if !root_with_netns() {
        println!("skipped: needs root, /dev/net/tun and ip");
        return;
    }
    let mut child = tblink()
        .args(["demo", "--duration", "5", "--builtin-tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let t = Instant::now();
    let mut seen = Vec::new();
    loop {
        let l = lines
            .next()
            .unwrap_or_else(|| panic!("demo ended early: {seen:?}"))
            .unwrap();
        let done = l.contains("built-in TCP test, 5 s");
        seen.push(l);
        if done {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{seen:?}");
    }
    let ns = format!("tbdemo-a-{pid}");
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        listed.contains(&ns),
        "namespace {ns} missing while running: {listed}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let st = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted demo must not exit 0");
    assert!(t.elapsed() < Duration::from_secs(40));
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(!listed.contains(&format!("tbdemo-a-{pid}")), "{listed}");
    assert!(!listed.contains(&format!("tbdemo-b-{pid}")), "{listed}");
    let dir = std::env::temp_dir().join(format!("tblink-demo-{pid}"));
    assert!(!dir.exists(), "{} left behind", dir.display());
    let hosts = Command::new("pgrep")
        .args(["-f", &format!("tblink-demo-{pid}/")])
        .output()
        .unwrap();
    assert!(
        hosts.stdout.is_empty(),
        "hosts still running: {}",
        String::from_utf8_lossy(&hosts.stdout)
    );
}
