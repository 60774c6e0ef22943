//! Helpers shared by the tests that run the `tblink` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// The `tblink` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tblink"))
}

/// A fresh, empty directory `tblink-TEST-TAG-PID` under the temp dir.
pub fn tmpdir(test: &str, tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tblink-{test}-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running `tblink host`; stopped with SIGTERM when dropped (SIGKILL
/// when it does not exit within 5 s).
#[derive(Debug)]
pub struct Daemon(Child);

impl Daemon {
    /// `tblink host --name NAME --port PORT [--control PATH]`; without a
    /// control path the socket goes to the default places.
    pub fn start(name: &str, port: &str, control: Option<&Path>) -> Daemon {
        Daemon::start_with(name, port, control, &[])
    }

    /// [`Daemon::start`] with `extra` arguments after the others.
    pub fn start_with(name: &str, port: &str, control: Option<&Path>, extra: &[&str]) -> Daemon {
        let mut c = bin();
        c.args(["host", "--name", name, "--port", port]);
        if let Some(p) = control {
            c.arg("--control").arg(p);
        }
        let c = c
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Daemon(c)
    }

    /// SIGTERM, then the exit status (panics when it does not exit
    /// within 5 s).
    pub fn terminate(mut self) -> Option<i32> {
        self.signal_term();
        let t = Instant::now();
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal_term(&self) {
        let pid = Pid::from_child(&self.0);
        kill_process(pid, Signal::TERM).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Already reaped (by `terminate`): its pid may belong to another
        // process by now.
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = kill_process(Pid::from_child(&self.0), Signal::TERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
