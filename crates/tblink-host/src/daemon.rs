//! The daemon shell: the runtime's event loop on the calling thread, the
//! control socket served by a second thread, and a graceful shutdown.
//!
//! [`serve`] takes the bound control socket and a shutdown flag (set by a
//! signal handler or a test), like mini-redis's `server::run`. On shutdown
//! every port is unplugged, so each peer sees its cable end go away, the
//! control thread stops and the socket file is removed.

use std::io::{BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::{self, CaptureHub};
use crate::control::{ControlSocket, PortAction, Request, Response, read_line};
use crate::dmatest::{DmaTestError, DmaTestHandle, DmaTestReport};
use crate::runtime::Runtime;
use crate::snapshot::Snapshot;

/// Longest the loop sleeps before looking at commands and the shutdown flag.
const TICK: Duration = Duration::from_millis(20);
/// How often ring counters are refreshed in the snapshot when idle.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);
/// Least time between two snapshots after changes (a busy loop does not
/// rebuild it on every turn).
const SNAPSHOT_MIN: Duration = Duration::from_millis(5);

/// Longest a `dmatest` request waits for the loop to take it.
const DMATEST_WAIT: Duration = Duration::from_secs(5);

type Command = (u8, PortAction, Sender<Response>);

/// Components the control socket reaches directly, besides the snapshot
/// and the port commands queued to the loop.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// `dma_test` runs ([`crate::dmatest::enable`]).
    pub dmatest: Option<DmaTestHandle>,
}

/// Run `rt` until `shutdown` is set, answering on `control` if given.
pub fn serve(
    rt: Runtime,
    control: Option<ControlSocket>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<()> {
    serve_with(rt, control, shutdown, Services::default())
}

/// [`serve`], with `services` reachable from the control socket.
pub fn serve_with(
    mut rt: Runtime,
    control: Option<ControlSocket>,
    shutdown: Arc<AtomicBool>,
    services: Services,
) -> std::io::Result<()> {
    let shared = Arc::new(Mutex::new(rt.snapshot()));
    let (tx, rx) = mpsc::channel::<Command>();
    let stop = Arc::new(AtomicBool::new(false));
    let hub = rt.capture_hub();
    let server = match control {
        Some(sock) => {
            tracing::info!(path = %sock.path().display(), "control socket ready");
            let (shared, stop) = (shared.clone(), stop.clone());
            Some(
                std::thread::Builder::new()
                    .name("tblink-control".into())
                    .spawn(move || control_thread(sock, shared, tx, stop, hub, services))?,
            )
        }
        None => None,
    };
    run_loop(&mut rt, &shared, &rx, &shutdown);
    tracing::info!("shutting down: unplugging every port");
    rt.unplug_all();
    rt.turn();
    stop.store(true, Ordering::SeqCst);
    if let Some(h) = server {
        let _ = h.join();
    }
    tracing::info!("stopped");
    Ok(())
}

fn publish(shared: &Mutex<Snapshot>, s: Snapshot) {
    if let Ok(mut g) = shared.lock() {
        *g = s;
    }
}

fn run_loop(
    rt: &mut Runtime,
    shared: &Mutex<Snapshot>,
    rx: &Receiver<Command>,
    shutdown: &AtomicBool,
) {
    let mut last = Instant::now();
    let mut dirty = false;
    while !shutdown.load(Ordering::SeqCst) {
        let mut changed = rt.turn();
        while let Ok((adapter, action, reply)) = rx.try_recv() {
            let r = match action {
                PortAction::Unplug => rt.unplug(adapter),
                PortAction::Plug => rt.plug(adapter),
            };
            rt.turn();
            publish(shared, rt.snapshot());
            last = Instant::now();
            dirty = false;
            let resp = match r {
                Ok(()) => Response::done(format!(
                    "port {adapter} {}",
                    match action {
                        PortAction::Unplug => "unplugged",
                        PortAction::Plug => "plugged",
                    }
                )),
                Err(e) => Response::error(e.to_string()),
            };
            let _ = reply.send(resp);
            changed = true;
        }
        dirty |= changed;
        let age = last.elapsed();
        if (dirty && age >= SNAPSHOT_MIN) || age >= SNAPSHOT_EVERY {
            publish(shared, rt.snapshot());
            last = Instant::now();
            dirty = false;
        }
        if !changed {
            rt.wait(if dirty { SNAPSHOT_MIN } else { TICK });
        }
    }
}

fn control_thread(
    sock: ControlSocket,
    shared: Arc<Mutex<Snapshot>>,
    tx: Sender<Command>,
    stop: Arc<AtomicBool>,
    hub: Arc<CaptureHub>,
    services: Services,
) {
    if let Err(e) = sock.listener().set_nonblocking(true) {
        tracing::error!("control socket: {e}");
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        let fd = sock.listener().as_fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        let _ = rustix::event::poll(&mut fds, Some(&ts));
        match sock.listener().accept() {
            Ok((s, _)) => {
                let (shared, tx, stop) = (shared.clone(), tx.clone(), stop.clone());
                let hub = hub.clone();
                let services = services.clone();
                let spawned = std::thread::Builder::new()
                    .name("tblink-client".into())
                    .spawn(move || {
                        if let Err(e) = client(s, &shared, &tx, &stop, &hub, &services) {
                            tracing::debug!("control client: {e}");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!("control client thread: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::warn!("control socket accept: {e}"),
        }
    }
    // Dropping `sock` removes the socket file.
}

/// Answer a `dmatest*` request with `f` on the `dma_test` handle.
fn dmatest(
    services: &Services,
    stop: &AtomicBool,
    f: impl FnOnce(&DmaTestHandle) -> Result<DmaTestReport, DmaTestError>,
) -> Response {
    if stop.load(Ordering::SeqCst) {
        return Response::error("host is shutting down");
    }
    let r = match &services.dmatest {
        Some(h) => f(h),
        None => Err(DmaTestError::NotEnabled),
    };
    match r {
        Ok(rep) => Response {
            ok: true,
            dmatest: Some(rep),
            ..Default::default()
        },
        Err(e) => Response::error(e.to_string()),
    }
}

fn client(
    s: UnixStream,
    shared: &Mutex<Snapshot>,
    tx: &Sender<Command>,
    stop: &AtomicBool,
    hub: &Arc<CaptureHub>,
    services: &Services,
) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    while let Some(line) = read_line(&mut r)? {
        if line.is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::error(format!("bad request: {e}")),
            Ok(Request::Capture { adapter, snaplen }) => match capture_check(shared, adapter) {
                Err(e) => Response::error(e),
                Ok(what) => {
                    // Subscribe before answering: nothing after the answer
                    // is missed.
                    let sub = hub.subscribe(adapter, capture::QUEUE_BYTES);
                    let mut out = serde_json::to_string(&Response::done(what))
                        .unwrap_or_else(|_| r#"{"ok":true}"#.to_string());
                    out.push('\n');
                    w.write_all(out.as_bytes())?;
                    tracing::info!(?adapter, "capture started");
                    let res = capture::stream(sub, snaplen, &mut r, w, stop);
                    tracing::info!(?adapter, "capture stopped");
                    return res;
                }
            },
            Ok(Request::Status) => match shared.lock() {
                Ok(g) => Response {
                    ok: true,
                    status: Some(g.clone()),
                    ..Default::default()
                },
                Err(_) => Response::error("status unavailable"),
            },
            Ok(Request::Port { adapter, action }) => {
                if stop.load(Ordering::SeqCst) {
                    Response::error("host is shutting down")
                } else {
                    let (rtx, rrx) = mpsc::channel();
                    match tx.send((adapter, action, rtx)) {
                        Ok(()) => rrx
                            .recv_timeout(Duration::from_secs(5))
                            .unwrap_or_else(|_| Response::error("host did not answer")),
                        Err(_) => Response::error("host is shutting down"),
                    }
                }
            }
            Ok(Request::Dmatest(req)) => dmatest(services, stop, |h| h.start(req, DMATEST_WAIT)),
            Ok(Request::DmatestStatus { adapter }) => {
                dmatest(services, stop, |h| h.status(adapter))
            }
            Ok(Request::DmatestCancel { adapter }) => {
                dmatest(services, stop, |h| h.cancel(adapter, DMATEST_WAIT))
            }
        };
        let mut out = serde_json::to_string(&resp)
            .unwrap_or_else(|_| r#"{"ok":false,"error":"cannot encode response"}"#.to_string());
        out.push('\n');
        w.write_all(out.as_bytes())?;
    }
    Ok(())
}

/// Whether a capture of `adapter` can start; what it captures.
fn capture_check(shared: &Mutex<Snapshot>, adapter: Option<u8>) -> Result<String, String> {
    let Ok(g) = shared.lock() else {
        return Err("status unavailable".into());
    };
    let ports: Vec<String> = g.ports.iter().map(|p| p.adapter.to_string()).collect();
    match adapter {
        None => Ok(format!("capturing every port ({})", ports.join(", "))),
        Some(a) if g.ports.iter().any(|p| p.adapter == a) => Ok(format!("capturing port {a}")),
        Some(a) => Err(format!("no port {a} (adapters: {})", ports.join(", "))),
    }
}
