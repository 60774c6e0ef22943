//! `tblink dmatest` against two `tblink host` processes joined by a
//! shared-memory cable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, bin};

fn tmpdir(tag: &str) -> PathBuf {
    common::tmpdir("dmatest-cli", tag)
}

/// `tblink dmatest --control SOCK`.
fn dmatest(control: &Path) -> Command {
    let mut c = bin();
    c.arg("dmatest").arg("--control").arg(control);
    c
}

/// One raw request line on a control socket.
fn raw(control: &Path, line: &str) -> Option<serde_json::Value> {
    let mut s = UnixStream::connect(control).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut r = BufReader::new(s);
    let mut out = String::new();
    r.read_line(&mut out).ok()?;
    serde_json::from_str(&out).ok()
}

/// Whether the host enumerated `peer` on adapter 1 with `key` bound to a driver.
fn bound(control: &Path, peer: &str, key: &str) -> bool {
    let Some(v) = raw(control, r#"{"cmd":"status"}"#) else {
        return false;
    };
    v["status"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| {
            p["xdomains"].as_array().into_iter().flatten().any(|x| {
                x["host_name"] == peer
                    && x["services"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| s["key"] == key && !s["driver"].is_null())
            })
        })
}

fn wait_for(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Alice (listen) and Bob (connect), discovered with `echo` bound both ways.
fn pair(tag: &str, bob_extra: &[&str]) -> (PathBuf, PathBuf, Daemon, Daemon) {
    let d = tmpdir(tag);
    let cable = d.join("cable.sock");
    let (ca, cb) = (d.join("a.sock"), d.join("b.sock"));
    let b = Daemon::start_with(
        "bob",
        &format!("connect:{}", cable.display()),
        Some(&cb),
        bob_extra,
    );
    let a = Daemon::start("alice", &format!("listen:{}", cable.display()), Some(&ca));
    wait_for(Duration::from_secs(15), "discovery", || {
        bound(&ca, "bob", "echo") && bound(&cb, "alice", "echo")
    });
    (ca, cb, a, b)
}

#[test]
fn transfer_between_two_hosts() {
    let (ca, cb, _a, _b) = pair("pair", &[]);
    wait_for(Duration::from_secs(10), "dma_test bound", || {
        bound(&ca, "bob", "dma_test") && bound(&cb, "alice", "dma_test")
    });

    let o = dmatest(&ca)
        .arg("--peer-control")
        .arg(&cb)
        .args(["--port", "1", "--packets", "1000", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["result"], "success");
    let (s, r) = (&v["sender"], &v["receiver"]);
    assert_eq!(s["packets_sent"], 1000);
    assert_eq!(s["packets_completed"], 1000);
    assert_eq!(s["out_hopid"], r["in_hopid"]);
    assert_eq!(s["peer"], "bob");
    assert_eq!(r["peer"], "alice");
    assert_eq!(r["packets_received"], 1000);
    assert_eq!(r["bytes_received"], 4_096_000);
    for k in [
        "crc_errors",
        "buffer_overflow_errors",
        "length_errors",
        "pattern_errors",
        "missing",
        "rx_dropped_no_desc",
    ] {
        assert_eq!(r[k], 0, "{k}");
    }
    assert!(r["rx_gbit_s"].as_f64().is_some_and(|g| g > 0.0), "{r}");
    assert!(
        r["status"]
            .as_str()
            .unwrap()
            .starts_with("result: success\npackets received: 1000\n")
    );

    // Text output, short frames.
    let o = dmatest(&ca)
        .arg("--peer-control")
        .arg(&cb)
        .args(["--packets", "200", "--size", "512"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(text.contains(": success"), "{text}");
    assert!(text.contains("frames sent      200 of 200"), "{text}");
    assert!(text.contains("frames received  200 of 200"), "{text}");
    assert!(
        text.contains("crc 0, overflow 0, length 0, pattern 0, missing 0"),
        "{text}"
    );
    assert!(text.contains("Gbit/s sender"), "{text}");

    // Linux's procedure by hand: receiver first, then the sender.
    let rx = dmatest(&cb)
        .args(["--receive-only", "--packets", "100", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), "receiver armed", || {
        raw(&cb, r#"{"cmd":"dmatest_status","adapter":1}"#)
            .is_some_and(|v| v["dmatest"]["running"] == true && v["dmatest"]["receive"] == 100)
    });
    // A second run on the same service is refused while it runs.
    let busy = raw(&cb, r#"{"cmd":"dmatest","adapter":1,"receive":5}"#).unwrap();
    assert_eq!(busy["ok"], false);
    assert!(
        busy["error"].as_str().unwrap().contains("already running"),
        "{busy}"
    );
    let o = dmatest(&ca)
        .args(["--send-only", "--packets", "100", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(s["receiver"].is_null());
    assert_eq!(s["sender"]["packets_sent"], 100);
    let o = rx.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["sender"].is_null());
    assert_eq!(r["receiver"]["packets_received"], 100);

    // The sender cannot set up (out HopID 200 is above the peer's
    // maxhopid): the receiver, armed to wait forever, is cancelled at once.
    let mut c = dmatest(&ca)
        .arg("--peer-control")
        .arg(&cb)
        .args(["--packets", "10", "--timeout", "0", "--out-hopid", "200"])
        .args(["--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = c.kill();
            panic!("tblink dmatest still waiting for a receiver nobody sends to");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "failed");
    assert_eq!(v["sender"]["error"], "DMA ring setup failed");
    assert!(
        v["sender"]["detail"]
            .as_str()
            .unwrap()
            .contains("out HopID"),
        "{v}"
    );
    assert_eq!(v["receiver"]["error"], "interrupted by signal");
    assert_eq!(v["receiver"]["running"], false);
    // --loopback: one run sending and receiving on alice's service. Bob
    // is no dongle: nothing comes back, and the receive timeout ends it.
    let o = dmatest(&ca)
        .args(["--loopback", "--packets", "5", "--timeout", "0.3", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sender"], v["receiver"]);
    let r = &v["receiver"];
    assert_eq!(
        (&r["send"], &r["receive"], &r["e2e"]),
        (&5.into(), &5.into(), &true.into())
    );
    assert_eq!((&r["packets_sent"], &r["missing"]), (&5.into(), &5.into()));
    assert!(r["detail"].as_str().unwrap().contains("timed out"), "{r}");
    // Both services are free again.
    let o = dmatest(&ca)
        .arg("--peer-control")
        .arg(&cb)
        .args(["--packets", "10"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn clear_errors() {
    let (ca, cb, _a, _b) = pair("errors", &["--no-dmatest"]);
    let run = |args: &[&str]| {
        let o = dmatest(&ca).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--packets", "10"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("peer bob on port 1 has no dma_test service"),
        "{err}"
    );
    let (code, err) = run(&["--port", "3"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has no port 3"), "{err}");
    let (code, err) = run(&["--packets", "10000001"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("10000001"), "{err}");
    let (code, err) = run(&["--size", "4097"]);
    assert_eq!(code, Some(2), "{err}");
    // Options that would be ignored in a one-sided run are refused.
    for args in [
        &["--send-only", "--in-hopid", "9"][..],
        &["--receive-only", "--out-hopid", "9"],
        &["--send-only", "--peer-port", "1"],
    ] {
        let (code, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
    // Bob runs without the service: the control socket says so.
    let v = raw(&cb, r#"{"cmd":"dmatest","adapter":1,"send":1}"#).unwrap();
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not run the dma_test service"),
        "{v}"
    );
    // No such host.
    let o = dmatest(&ca.with_file_name("nobody.sock")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not running"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// One host, a cable from its port 1 to its port 3 (spec 07 §1): the peer
/// is the host itself, reached through the same control socket.
#[test]
fn cable_looped_back_to_the_same_host() {
    let d = tmpdir("loop");
    let cable = d.join("cable.sock");
    let ca = d.join("a.sock");
    let connect = format!("connect:{}", cable.display());
    let _a = Daemon::start_with(
        "loopy",
        &format!("listen:{}", cable.display()),
        Some(&ca),
        &["--port", &connect],
    );
    wait_for(Duration::from_secs(15), "discovery of ourselves", || {
        raw(&ca, r#"{"cmd":"status"}"#).is_some_and(|v| {
            v["status"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| {
                    p["xdomains"].as_array().into_iter().flatten().any(|x| {
                        x["services"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|s| s["key"] == "dma_test" && s["driver"] == "dma_test")
                    })
                })
                .count()
                == 2
        })
    });
    let o = dmatest(&ca)
        .args(["--port", "3", "--packets", "500", "--json"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sender"]["adapter"], 3);
    assert_eq!(v["receiver"]["adapter"], 1);
    assert_eq!(v["receiver"]["packets_received"], 500);
    assert_eq!(v["receiver"]["peer"], "loopy");
}
