//! `tblink top` as a process against two running hosts (no namespaces or
//! terminal needed: `--once` prints one frame; the interactive view is
//! driven in tmux by `tests/netns/top.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, bin};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    common::tmpdir("top-cli", tag)
}

fn top_once(args: &[&str]) -> Output {
    bin()
        .arg("top")
        .args(args)
        .args(["--once", "--interval", "0.2", "--width", "120"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn once_shows_the_peer_and_its_services() {
    let d = tmpdir("peer");
    let cable = d.join("cable.sock");
    let bob_sock = d.join("bob.sock");
    let alice = format!("topcli-alice-{}", std::process::id());
    let _bob = Daemon::start(
        "bob",
        &format!("connect:{}", cable.display()),
        Some(&bob_sock),
    );
    std::thread::sleep(Duration::from_millis(100));
    // Alice without --control: `top --host` finds her socket by name.
    let _alice = Daemon::start(&alice, &format!("listen:{}", cable.display()), None);
    let t = Instant::now();
    let screen = loop {
        let o = top_once(&["--host", &alice]);
        let s = text(&o);
        if o.status.success() && s.contains("enumerated") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no enumerated peer: {s}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        screen.starts_with(&format!("tblink top  host {alice}  uuid ")),
        "{screen}"
    );
    assert!(!screen.contains("q: quit"), "{screen}");
    let port = screen.lines().find(|l| l.starts_with("│1 ")).unwrap();
    assert!(port.contains("listen:") && port.contains(" up "), "{port}");
    assert!(port.contains("host at route 1"), "{port}");
    let peer = screen.lines().find(|l| l.starts_with("│0-1 ")).unwrap();
    assert!(peer.contains(" bob "), "{peer}");
    assert!(peer.contains("echo (echo)"), "{peer}");
    assert!(screen.contains("no network interfaces"), "{screen}");
    assert!(screen.contains("properties"), "events: {screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 120));

    // Bob's view, by socket path, names alice.
    let o = top_once(&["--control", bob_sock.to_str().unwrap()]);
    assert!(o.status.success());
    let peer_line = text(&o)
        .lines()
        .find(|l| l.starts_with("│0-1 "))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(peer_line.contains(&alice), "{}", text(&o));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn needs_a_terminal_without_once() {
    let d = tmpdir("tty");
    let sock = d.join("h.sock");
    let _h = Daemon::start(
        "solo",
        &format!("listen:{}", d.join("c").display()),
        Some(&sock),
    );
    let o = bin()
        .arg("top")
        .arg("--control")
        .arg(&sock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("--once"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn once_without_a_host_exits_2() {
    let d = tmpdir("none");
    let o = top_once(&["--control", d.join("nobody.sock").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not running"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = top_once(&["--host", &format!("no-such-host-{}", std::process::id())]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn bad_interval_is_a_usage_error() {
    let o = bin()
        .args(["top", "--control", "/nonexistent", "--interval", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("outside 0.1..=60"));
}
