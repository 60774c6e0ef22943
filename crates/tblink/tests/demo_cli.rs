//! `tblink demo`: help, the userspace path (forced, and without root),
//! and cleanup after SIGINT (root only; the full namespace run is covered
//! by tests/netns/net.sh).
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
        "--userspace",
        "smoltcp",
        "iperf3",
        "built-in TCP test",
        "Needs root",
        "Ctrl-C",
        "10.77.0.1/24",
    ] {
        assert!(s.contains(want), "help lacks {want:?}:\n{s}");
    }
}

/// The numbers right before each `unit` in `line`, e.g. the two Gbit/s
/// figures of the throughput line.
fn numbers_before(line: &str, unit: &str) -> Vec<f64> {
    let parts: Vec<&str> = line.split(unit).collect();
    parts[..parts.len() - 1]
        .iter()
        .filter_map(|part| part.split_whitespace().last()?.parse().ok())
        .collect()
}

fn check_userspace_report(s: &str) {
    assert!(s.contains("smoltcp"), "{s}");
    for name in ["alice", "bob"] {
        let line = s
            .lines()
            .find(|l| l.starts_with(name) && l.contains("uuid"))
            .unwrap_or_else(|| panic!("no interface line for {name}:\n{s}"));
        assert!(
            line.contains("interface thunderbolt0 (userspace, smoltcp)"),
            "{line}"
        );
        let mac = line.split("mac ").nth(1).unwrap().split_whitespace().next();
        assert_eq!(mac.unwrap().len(), 17, "{line}");
    }
    let ping = s.lines().find(|l| l.starts_with("ping:")).unwrap();
    assert!(ping.contains("20/20 replies (0% loss)"), "{ping}");
    let rtt: Vec<f64> = ping
        .split("min/avg/max ")
        .nth(1)
        .unwrap_or_else(|| panic!("no RTT: {ping}"))
        .split_whitespace()
        .next()
        .unwrap()
        .split('/')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(rtt.len(), 3, "{ping}");
    assert!(
        0.0 < rtt[0] && rtt[0] <= rtt[1] && rtt[1] <= rtt[2],
        "{ping}"
    );
    let tput = s.lines().find(|l| l.starts_with("throughput")).unwrap();
    let gbit = numbers_before(tput, "Gbit/s");
    assert_eq!(gbit.len(), 2, "{tput}");
    assert!(gbit.iter().all(|g| *g > 0.0), "{tput}");
    assert!(
        s.contains("TCP data: every byte arrived in order and intact"),
        "{s}"
    );
    let row = |name: &str| {
        s.lines()
            .find(|l| l.trim_start().starts_with(name) && l.starts_with("  "))
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
    // Both interfaces moved the test's traffic.
    for name in ["alice", "bob"] {
        let stats = s
            .lines()
            .find(|l| l.starts_with(name) && l.contains("thunderbolt0: tx"))
            .unwrap_or_else(|| panic!("no counters for {name}:\n{s}"));
        let n = numbers_before(stats, "packets");
        assert!(n.len() == 2 && n[0] > 100.0 && n[1] > 100.0, "{stats}");
        assert!(stats.ends_with("rx errors 0, tx errors 0"), "{stats}");
    }
}

#[test]
fn userspace_pings_and_measures_both_ways() {
    let out = tblink()
        .args(["demo", "--userspace", "--duration", "1"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        s.lines()
            .next()
            .unwrap()
            .contains("userspace path (--userspace)"),
        "{s}"
    );
    check_userspace_report(&s);
}

#[test]
fn without_root_says_why_and_runs_userspace() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let mut cmd = if root && Command::new("setpriv").arg("--version").output().is_ok() {
        let mut c = Command::new("setpriv");
        c.args(nobody).arg(env!("CARGO_BIN_EXE_tblink"));
        c
    } else if !root {
        tblink()
    } else {
        println!("skipped: running as root without setpriv");
        return;
    };
    let out = cmd
        .args(["demo", "--duration", "1", "--mtu", "9000", "--link", "tb4"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    if s.is_empty() && !out.status.success() {
        // The binary is not reachable by an unprivileged user here.
        println!(
            "skipped: cannot run as nobody: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    assert!(
        out.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = s.lines().next().unwrap();
    assert!(first.contains("userspace path, because"), "{s}");
    assert!(first.contains("root (for network namespaces"), "{s}");
    assert!(s.contains("smoltcp"), "{s}");
    assert!(s.contains("link: tb4 (40 Gbit/s cap)  MTU 9000"), "{s}");
    check_userspace_report(&s);
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
