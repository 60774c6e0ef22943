//! The daemon shell: the runtime's event loop on the calling thread, the
//! control socket served by a second thread, and a graceful shutdown.
//!
//! [`serve`] takes the bound control socket and a [`Shutdown`] handle (a
//! signal handler or a test triggers it), like mini-redis's `server::run`.
//!
//! The loop sleeps until there is something to do: its one `poll`
//! ([`Runtime::wait_with`]) covers the cables, the extensions' descriptors
//! and a self-pipe that the control side writes to when it
//! queues a command, asks for a status, or shuts the host down. The
//! snapshot `tblink ls` shows is built on demand: a `status` request rings
//! the loop, which builds a fresh one (at most every [`SNAPSHOT_MIN`] while
//! it is busy) and the request waits for it. An idle host wakes only for
//! its protocol timers.
//!
//! On shutdown
//! every port is unplugged, so each peer sees its cable end go away, the
//! control thread stops and the socket file is removed. Captures still
//! running get up to [`CAPTURE_FLUSH`] to send what they had queued and
//! their `end` record ([`crate::capture`]) before [`serve`] returns, so a
//! capture client sees a complete stream when its host stops.

use std::io::{BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::capture::{self, CaptureHub};
use crate::control::{ControlSocket, PortAction, Request, Response, read_line};
use crate::dmatest::{DmaTestError, DmaTestHandle, DmaTestReport};
use crate::runtime::Runtime;
use crate::snapshot::Snapshot;

/// Longest the loop sleeps when nothing is due: only a bound for the
/// `poll`, every event of interest wakes it earlier.
const IDLE: Duration = Duration::from_secs(3600);
/// Longest the loop sleeps when its [`Shutdown`] is a bare flag, which
/// cannot wake it.
const FLAG_POLL: Duration = Duration::from_millis(20);
/// Least time between two snapshots the loop builds on request (status
/// requests in a row do not make it build one per request).
pub const SNAPSHOT_MIN: Duration = Duration::from_millis(5);
/// Longest a `status` request waits for a fresh snapshot before it takes
/// the latest one.
const STATUS_WAIT: Duration = Duration::from_secs(1);

/// Longest shutdown waits for running captures to finish their streams.
pub const CAPTURE_FLUSH: Duration = Duration::from_secs(1);

/// Longest a `dmatest` request waits for the loop to take it.
const DMATEST_WAIT: Duration = Duration::from_secs(5);

type Command = (u8, PortAction, Sender<Response>);

/// A self-pipe: a byte written to one end makes the other readable, which
/// ends a `poll` that includes it.
#[derive(Debug)]
struct Bell {
    rx: UnixStream,
    tx: UnixStream,
    /// Set after each write: [`Bell::clear`] reads only when it is set.
    rung: AtomicBool,
}

impl Bell {
    fn new() -> std::io::Result<Self> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        Ok(Self {
            rx,
            tx,
            rung: AtomicBool::new(false),
        })
    }

    /// Wake the sleeper. A full socket buffer means a wake-up is pending
    /// already, so the error is of no interest.
    fn ring(&self) {
        let _ = (&self.tx).write(&[1]);
        // After the write: a clear that sees the flag finds the byte.
        self.rung.store(true, Ordering::Release);
    }

    /// Take the pending wake-ups: the next `poll` sleeps again. Reads
    /// only when a ring came since the last clear (no system call per
    /// turn otherwise). A byte written just before a clear took the flag
    /// makes the next `poll`s return at once until the ringer has set the
    /// flag (it is between two instructions, so at worst until it is
    /// scheduled again); that turn's clear reads it.
    fn clear(&self) {
        if !self.rung.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// The end to `poll` for reading.
    fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

/// Stops [`serve`]: [`Shutdown::trigger`] sets the flag and wakes the loop,
/// so it ends at once however long it meant to sleep. Clones share the
/// flag; trigger it from a signal-handling thread or a test.
///
/// A bare `Arc<AtomicBool>` converts into one, for callers that set a flag
/// (from a signal handler, say): it cannot wake the loop, which then looks
/// at it every 20 ms.
#[derive(Debug, Clone)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    bell: Option<Arc<Bell>>,
}

impl Shutdown {
    /// A handle not triggered yet.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            flag: Arc::new(AtomicBool::new(false)),
            bell: Some(Arc::new(Bell::new()?)),
        })
    }

    /// Ask [`serve`] to stop, and wake its loop.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Some(b) = &self.bell {
            b.ring();
        }
    }

    /// Whether [`Shutdown::trigger`] was called (or the flag set).
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl From<Arc<AtomicBool>> for Shutdown {
    fn from(flag: Arc<AtomicBool>) -> Self {
        Self { flag, bell: None }
    }
}

/// The snapshot the control side answers with, and the requests for a
/// fresh one: a request counts itself in `asked` and waits until the loop
/// has `served` it, with a snapshot built after the loop saw the request.
#[derive(Debug)]
struct Published {
    snap: Snapshot,
    asked: u64,
    served: u64,
    /// The loop has ended: nothing is served any more.
    closed: bool,
}

/// The meeting point of the loop and the control side.
#[derive(Debug)]
struct Shared {
    state: Mutex<Published>,
    fresh: Condvar,
    /// Rung when a command or a request is queued for the loop.
    bell: Arc<Bell>,
}

impl Shared {
    fn new(snap: Snapshot, bell: Arc<Bell>) -> Self {
        Self {
            state: Mutex::new(Published {
                snap,
                asked: 0,
                served: 0,
                closed: false,
            }),
            fresh: Condvar::new(),
            bell,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The latest snapshot, however old.
    fn latest(&self) -> Snapshot {
        self.lock().snap.clone()
    }

    /// A snapshot built after this call began, or the latest one if the
    /// loop does not serve it within `wait` (it has ended, or a turn takes
    /// that long).
    fn fresh(&self, wait: Duration) -> Snapshot {
        let mut g = self.lock();
        if g.closed {
            return g.snap.clone();
        }
        g.asked += 1;
        let want = g.asked;
        self.bell.ring();
        let (g, _) = self
            .fresh
            .wait_timeout_while(g, wait, |p| p.served < want && !p.closed)
            .unwrap_or_else(PoisonError::into_inner);
        g.snap.clone()
    }

    /// The latest request the loop has not served yet.
    fn pending(&self) -> Option<u64> {
        let g = self.lock();
        (g.asked > g.served).then_some(g.asked)
    }

    /// Publish `snap`, built after the loop saw requests up to `serves`.
    fn publish(&self, snap: Snapshot, serves: Option<u64>) {
        let mut g = self.lock();
        g.snap = snap;
        if let Some(n) = serves {
            g.served = g.served.max(n);
            self.fresh.notify_all();
        }
    }

    /// The loop has ended: requests waiting take the latest snapshot.
    fn close(&self) {
        self.lock().closed = true;
        self.fresh.notify_all();
    }
}

/// The stop flag of the control side, and the capture streams in
/// progress: shutdown sets the flag under the same lock a stream takes to
/// begin, so no stream begins unseen after it.
#[derive(Debug)]
struct Stop {
    flag: AtomicBool,
    streams: Mutex<usize>,
    done: Condvar,
    /// Rung when the flag is set: wakes the thread accepting connections.
    bell: Bell,
}

impl Stop {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            flag: AtomicBool::new(false),
            streams: Mutex::new(0),
            done: Condvar::new(),
            bell: Bell::new()?,
        })
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Count a capture stream in, unless shutdown began.
    fn begin_stream(&self) -> Option<StreamGuard<'_>> {
        let mut n = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_set() {
            return None;
        }
        *n += 1;
        Some(StreamGuard(self))
    }

    /// Set the flag, then wait up to `limit` for the streams to end; how
    /// many did not.
    fn set_and_drain(&self, limit: Duration) -> usize {
        let n = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        self.flag.store(true, Ordering::SeqCst);
        self.bell.ring();
        let (n, _) = self
            .done
            .wait_timeout_while(n, limit, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *n
    }
}

/// A capture stream in progress; dropping it counts the stream out.
struct StreamGuard<'a>(&'a Stop);

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        let mut n = self
            .0
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        self.0.done.notify_all();
    }
}

/// Components the control socket reaches directly, besides the snapshot
/// and the port commands queued to the loop.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// `dma_test` runs ([`crate::dmatest::enable`]).
    pub dmatest: Option<DmaTestHandle>,
}

/// Run `rt` until `shutdown` is triggered, answering on `control` if
/// given.
pub fn serve(
    rt: Runtime,
    control: Option<ControlSocket>,
    shutdown: impl Into<Shutdown>,
) -> std::io::Result<()> {
    serve_with(rt, control, shutdown, Services::default())
}

/// [`serve`], with `services` reachable from the control socket.
pub fn serve_with(
    mut rt: Runtime,
    control: Option<ControlSocket>,
    shutdown: impl Into<Shutdown>,
    services: Services,
) -> std::io::Result<()> {
    let shutdown = shutdown.into();
    // A bare flag cannot wake the loop: it gets a bell of its own for the
    // control side, and a bounded sleep to see the flag.
    let (bell, longest) = match &shutdown.bell {
        Some(b) => (b.clone(), IDLE),
        None => (Arc::new(Bell::new()?), FLAG_POLL),
    };
    let shared = Arc::new(Shared::new(rt.snapshot(), bell.clone()));
    let (tx, rx) = mpsc::channel::<Command>();
    let stop = Arc::new(Stop::new()?);
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
    run_loop(&mut rt, &shared, &rx, &shutdown, &bell, longest);
    shared.close();
    tracing::info!("shutting down: unplugging every port");
    rt.unplug_all();
    rt.turn();
    let unfinished = stop.set_and_drain(CAPTURE_FLUSH);
    if unfinished > 0 {
        tracing::warn!(unfinished, "captures did not finish their streams in time");
    }
    if let Some(h) = server {
        let _ = h.join();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Turn `rt` until `shutdown`; sleep at most `longest` when nothing is
/// due, woken early by `bell`.
fn run_loop(
    rt: &mut Runtime,
    shared: &Shared,
    rx: &Receiver<Command>,
    shutdown: &Shutdown,
    bell: &Bell,
    longest: Duration,
) {
    let mut last: Option<Instant> = None;
    while !shutdown.is_triggered() {
        let mut changed = rt.turn();
        while let Ok((adapter, action, reply)) = rx.try_recv() {
            let r = match action {
                PortAction::Unplug => rt.unplug(adapter),
                PortAction::Plug => rt.plug(adapter),
            };
            rt.turn();
            shared.publish(rt.snapshot(), None);
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
        let mut sleep = longest;
        if let Some(asked) = shared.pending() {
            let age = last.map_or(SNAPSHOT_MIN, |t| t.elapsed());
            if age >= SNAPSHOT_MIN {
                shared.publish(rt.snapshot(), Some(asked));
                last = Some(Instant::now());
            } else {
                sleep = SNAPSHOT_MIN - age;
            }
        }
        if !changed {
            rt.wait_with(sleep, &[bell.fd()]);
            // Whatever rang is looked at in the next turn.
            bell.clear();
        }
    }
}

fn control_thread(
    sock: ControlSocket,
    shared: Arc<Shared>,
    tx: Sender<Command>,
    stop: Arc<Stop>,
    hub: Arc<CaptureHub>,
    services: Services,
) {
    if let Err(e) = sock.listener().set_nonblocking(true) {
        tracing::error!("control socket: {e}");
        return;
    }
    while !stop.is_set() {
        // Sleep until a client connects or shutdown rings.
        let mut fds = [
            rustix::event::PollFd::from_borrowed_fd(
                sock.listener().as_fd(),
                rustix::event::PollFlags::IN,
            ),
            rustix::event::PollFd::from_borrowed_fd(stop.bell.fd(), rustix::event::PollFlags::IN),
        ];
        let _ = rustix::event::poll(&mut fds, None);
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
    stop: &Stop,
    f: impl FnOnce(&DmaTestHandle) -> Result<DmaTestReport, DmaTestError>,
) -> Response {
    if stop.is_set() {
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
    shared: &Shared,
    tx: &Sender<Command>,
    stop: &Stop,
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
            Ok(Request::Capture { adapter, snaplen }) => {
                let guard = stop.begin_stream();
                // Subscribe before answering: nothing after the answer is
                // missed.
                let started = capture_check(shared, adapter).and_then(|what| {
                    guard.as_ref().ok_or("host is shutting down")?;
                    let sub = hub
                        .subscribe(adapter, capture::QUEUE_BYTES)
                        .map_err(|e| e.to_string())?;
                    Ok((what, sub))
                });
                match started {
                    Err(e) => Response::error(e),
                    Ok((what, sub)) => {
                        let mut out = serde_json::to_string(&Response::done(what))
                            .unwrap_or_else(|_| r#"{"ok":true}"#.to_string());
                        out.push('\n');
                        w.write_all(out.as_bytes())?;
                        tracing::info!(?adapter, "capture started");
                        let res = capture::stream(sub, snaplen, &mut r, w, &stop.flag);
                        tracing::info!(?adapter, "capture stopped");
                        drop(guard);
                        return res;
                    }
                }
            }
            Ok(Request::Status) => Response {
                ok: true,
                status: Some(shared.fresh(STATUS_WAIT)),
                ..Default::default()
            },
            Ok(Request::Port { adapter, action }) => {
                if stop.is_set() {
                    Response::error("host is shutting down")
                } else {
                    let (rtx, rrx) = mpsc::channel();
                    let sent = tx.send((adapter, action, rtx));
                    shared.bell.ring();
                    match sent {
                        Ok(()) => rrx
                            .recv_timeout(Duration::from_secs(5))
                            .unwrap_or_else(|_| Response::error("host did not answer")),
                        Err(_) => Response::error("host is shutting down"),
                    }
                }
            }
            Ok(Request::Dmatest(req)) => dmatest(services, stop, |h| {
                let ticket = h.submit_start(req)?;
                shared.bell.ring();
                ticket.wait(DMATEST_WAIT)
            }),
            Ok(Request::DmatestStatus { adapter }) => {
                dmatest(services, stop, |h| h.status(adapter))
            }
            Ok(Request::DmatestCancel { adapter }) => dmatest(services, stop, |h| {
                let ticket = h.submit_cancel(adapter)?;
                shared.bell.ring();
                ticket.wait(DMATEST_WAIT)
            }),
        };
        let mut out = serde_json::to_string(&resp)
            .unwrap_or_else(|_| r#"{"ok":false,"error":"cannot encode response"}"#.to_string());
        out.push('\n');
        w.write_all(out.as_bytes())?;
    }
    Ok(())
}

/// Whether a capture of `adapter` can start; what it captures. The ports
/// are fixed when the host starts: the latest snapshot has them.
fn capture_check(shared: &Shared, adapter: Option<u8>) -> Result<String, String> {
    let g = shared.latest();
    let ports: Vec<String> = g.ports.iter().map(|p| p.adapter.to_string()).collect();
    match adapter {
        None => Ok(format!("capturing every port ({})", ports.join(", "))),
        Some(a) if g.ports.iter().any(|p| p.adapter == a) => Ok(format!("capturing port {a}")),
        Some(a) => Err(format!("no port {a} (adapters: {})", ports.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shutdown waits for a stream in progress to end, and no stream
    /// begins after it.
    #[test]
    fn shutdown_waits_for_capture_streams() {
        let stop = Stop::new().unwrap();
        let finished = AtomicBool::new(false);
        std::thread::scope(|s| {
            let guard = stop.begin_stream().unwrap();
            s.spawn(|| {
                let _guard = guard;
                // The stream still has its last records to send.
                while !stop.is_set() {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_millis(20));
                finished.store(true, Ordering::SeqCst);
            });
            assert_eq!(stop.set_and_drain(Duration::from_secs(60)), 0);
            assert!(finished.load(Ordering::SeqCst));
        });
        assert!(stop.begin_stream().is_none());
    }

    /// A status request waits for a snapshot the loop builds after it
    /// asked, not the one published before.
    #[test]
    fn status_waits_for_a_snapshot_built_after_the_request() {
        let bell = Arc::new(Bell::new().unwrap());
        let old = Snapshot {
            name: "old".into(),
            ..Default::default()
        };
        let shared = Shared::new(old, bell.clone());
        assert_eq!(shared.pending(), None);
        std::thread::scope(|s| {
            let asker = s.spawn(|| shared.fresh(Duration::from_secs(60)));
            // The loop's side: woken by the bell, it sees the request.
            let mut fds = [rustix::event::PollFd::from_borrowed_fd(
                bell.fd(),
                rustix::event::PollFlags::IN,
            )];
            rustix::event::poll(&mut fds, None).unwrap();
            bell.clear();
            let asked = loop {
                if let Some(n) = shared.pending() {
                    break n;
                }
                std::thread::yield_now();
            };
            // Published without serving a request: not what it waits for.
            shared.publish(
                Snapshot {
                    name: "unasked".into(),
                    ..Default::default()
                },
                None,
            );
            shared.publish(
                Snapshot {
                    name: "new".into(),
                    ..Default::default()
                },
                Some(asked),
            );
            assert_eq!(asker.join().unwrap().name, "new");
        });
        assert_eq!(shared.pending(), None);
        // After the loop has ended, requests take the latest at once.
        shared.close();
        assert_eq!(shared.fresh(Duration::from_secs(60)).name, "new");
    }

    /// A stream that never ends delays shutdown by the limit only.
    #[test]
    fn shutdown_gives_up_on_a_stuck_stream() {
        let stop = Stop::new().unwrap();
        let _stuck = stop.begin_stream().unwrap();
        assert_eq!(stop.set_and_drain(Duration::from_millis(10)), 1);
    }
}
