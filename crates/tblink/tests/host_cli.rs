//! `tblink host`, `ls` and `port` as processes (no namespaces needed; the
//! two-namespace test is `tests/netns/discovery.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Daemon, bin};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    common::tmpdir("host-cli", tag)
}

fn ls_json(control: &Path) -> Option<serde_json::Value> {
    let o = bin()
        .arg("ls")
        .arg("--control")
        .arg(control)
        .arg("--json")
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    serde_json::from_slice(&o.stdout).ok()
}

/// Names of the peers the host enumerated with `echo` bound.
fn peers(control: &Path) -> Vec<String> {
    let Some(v) = ls_json(control) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in v["ports"].as_array().into_iter().flatten() {
        for x in p["xdomains"].as_array().into_iter().flatten() {
            let bound = x["services"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["key"] == "echo" && s["driver"] == "echo");
            if let (Some(n), true) = (x["host_name"].as_str(), bound) {
                out.push(n.to_string());
            }
        }
    }
    out
}

fn has_xdomain(control: &Path) -> bool {
    ls_json(control).is_none_or(|v| {
        v["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| !p["xdomains"].as_array().is_none_or(|x| x.is_empty()))
    })
}

fn wait_for(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port(control: &Path, adapter: &str, action: &str) -> Output {
    bin()
        .arg("port")
        .arg("--control")
        .arg(control)
        .args([adapter, action])
        .output()
        .unwrap()
}

#[test]
fn two_hosts_over_shared_memory() {
    let d = tmpdir("shm");
    let cable = d.join("cable.sock");
    let (ca, cb) = (d.join("a.sock"), d.join("b.sock"));
    let b = Daemon::start("bob", &format!("connect:{}", cable.display()), Some(&cb));
    let a = Daemon::start("alice", &format!("listen:{}", cable.display()), Some(&ca));
    wait_for(Duration::from_secs(10), "discovery", || {
        peers(&ca) == ["bob"] && peers(&cb) == ["alice"]
    });

    // Text output names the XDomain like Linux.
    let o = bin().arg("ls").arg("--control").arg(&ca).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Host alice"), "{text}");
    assert!(text.contains("XDomain 0-1  bob"), "{text}");
    assert!(text.contains("Service 0-1.0  key echo"), "{text}");

    // A second host on the same control socket is refused.
    let dup = bin()
        .args(["host", "--name", "alice", "--control"])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already running"));

    let o = port(&ca, "1", "unplug");
    assert!(o.status.success(), "{o:?}");
    wait_for(Duration::from_secs(2), "unplug", || {
        !has_xdomain(&ca) && !has_xdomain(&cb)
    });
    let o = port(&ca, "1", "unplug");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already unplugged"));
    let o = port(&ca, "7", "plug");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no port 7"));

    assert!(port(&ca, "1", "plug").status.success());
    wait_for(Duration::from_secs(10), "replug", || {
        peers(&ca) == ["bob"] && peers(&cb) == ["alice"]
    });

    assert_eq!(a.terminate(), Some(0));
    assert!(!ca.exists(), "control socket removed on exit");
    wait_for(Duration::from_secs(2), "bob sees alice go", || {
        !has_xdomain(&cb)
    });
    assert_eq!(b.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn two_hosts_over_udp() {
    let base = 20000 + (std::process::id() % 20000) as u16;
    let d = tmpdir("udp");
    let (ca, cb) = (d.join("a.sock"), d.join("b.sock"));
    let a = Daemon::start("ua", &format!("udp:{},{}", base, base + 1), Some(&ca));
    let b = Daemon::start(
        "ub",
        &format!("udp:127.0.0.1:{},:{}", base + 1, base),
        Some(&cb),
    );
    wait_for(Duration::from_secs(10), "discovery over UDP", || {
        peers(&ca) == ["ub"] && peers(&cb) == ["ua"]
    });
    assert_eq!(b.terminate(), Some(0));
    wait_for(Duration::from_secs(3), "goodbye seen", || !has_xdomain(&ca));
    assert_eq!(a.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn usage_errors_exit_2() {
    let o = bin()
        .args(["host", "--name", "x", "--port", "tcp:1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown cable kind"));
    let o = bin().args(["host", "--name", "a/b"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));

    let o = bin()
        .args(["ls", "--control", "/nonexistent/tblink.sock"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not running"));
    let o = bin()
        .args(["port", "--host", "no-such-host-tblink-test", "1", "unplug"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not running"));

    let o = bin().args(["host", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("/run/tblink/NAME.sock"), "{help}");
}
