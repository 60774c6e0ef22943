//! The daemon's loop sleeps until it is woken: an idle host still answers
//! `status` with a snapshot built for the request (its uptime moves on
//! between two requests, a state change shows at once), and a triggered
//! [`Shutdown`] ends `serve` without waiting for a timer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tblink_host::Handed;
use tblink_host::control::{ControlSocket, PortAction, Request, request};
use tblink_host::daemon::{self, Shutdown};
use tblink_host::snapshot::{PortLink, Snapshot};
use tblink_hostif::cable::inproc::{self, InProcCable};
use tblink_proto::Timing;

/// Hang guard of the waits below (not a timing goal).
const GUARD: Duration = Duration::from_secs(20);

struct Served {
    shutdown: Shutdown,
    thread: Option<JoinHandle<()>>,
    /// Sent to when `serve` has returned.
    ended: mpsc::Receiver<std::io::Result<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tblink-wake-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run host `name` with `cable` on adapter 1 and its control socket at
/// `sock`, on a thread.
fn serve(name: &'static str, cable: InProcCable, sock: &Path) -> Served {
    let shutdown = Shutdown::new().unwrap();
    let ctl = ControlSocket::bind(sock, name).unwrap();
    let handle = shutdown.clone();
    let (tx, ended) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut rt = common::host_with(name, Timing::default());
        rt.add_port(1, Box::new(Handed::new(cable, "inproc")))
            .unwrap();
        let _ = tx.send(daemon::serve(rt, Some(ctl), handle));
    });
    Served {
        shutdown,
        thread: Some(thread),
        ended,
    }
}

fn status(sock: &Path) -> Snapshot {
    let r = request(sock, &Request::Status, "h").unwrap();
    assert!(r.ok, "status refused: {:?}", r.error);
    r.status.unwrap()
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < GUARD, "{what}: not within {GUARD:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn enumerated(s: &Snapshot, peer: &str) -> bool {
    s.xdomains()
        .any(|x| x.host_name.as_deref() == Some(peer) && x.state == "enumerated")
}

#[test]
fn idle_host_answers_status_with_a_fresh_snapshot() {
    let d = dir("status");
    let (a_sock, b_sock) = (d.join("alice.sock"), d.join("bob.sock"));
    let (a_end, b_end) = inproc::pair().unwrap();
    let alice = serve("alice", a_end, &a_sock);
    let bob = serve("bob", b_end, &b_sock);
    until("discovery", || {
        enumerated(&status(&a_sock), "bob") && enumerated(&status(&b_sock), "alice")
    });

    // Each answer is built for its request: the uptime moves on between
    // two requests in a row, though nothing else happens.
    let first = status(&a_sock);
    let second = status(&a_sock);
    assert!(
        second.uptime_s > first.uptime_s,
        "the same snapshot twice: {} then {}",
        first.uptime_s,
        second.uptime_s
    );
    assert_eq!(first.name, "alice");

    // A change made by a command shows in the next status at once.
    let r = request(
        &a_sock,
        &Request::Port {
            adapter: 1,
            action: PortAction::Unplug,
        },
        "alice",
    )
    .unwrap();
    assert!(r.ok, "unplug refused: {:?}", r.error);
    let s = status(&a_sock);
    assert_eq!(s.ports[0].link, PortLink::Unplugged);
    assert!(!enumerated(&s, "bob"));

    // A change the idle peer only learns from its cable: bob's loop wakes
    // for the cable event, and its status shows it.
    until("bob sees the unplug", || {
        let s = status(&b_sock);
        s.ports[0].link != PortLink::Up && !enumerated(&s, "alice")
    });

    drop(alice);
    drop(bob);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn triggered_shutdown_ends_an_idle_serve() {
    let d = dir("shutdown");
    let sock = d.join("alice.sock");
    let (a_end, _b_end) = inproc::pair().unwrap();
    let mut alice = serve("alice", a_end, &sock);
    // Running and answering: the loop is asleep between requests.
    assert_eq!(status(&sock).name, "alice");
    std::thread::sleep(Duration::from_millis(50));

    alice.shutdown.trigger();
    assert!(alice.shutdown.is_triggered());
    // A hang guard, not a timing goal: without the wake-up the loop would
    // sleep for its idle bound (an hour).
    let r = alice
        .ended
        .recv_timeout(GUARD)
        .expect("serve did not return after the shutdown was triggered");
    r.unwrap();
    alice.thread.take().unwrap().join().unwrap();
    assert!(!sock.exists(), "control socket left behind");
    let _ = std::fs::remove_dir_all(&d);
}
