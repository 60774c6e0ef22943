//! Shared-memory cables between processes on one machine.
//!
//! One end listens on a Unix socket at a filesystem path (which works
//! across network namespaces); the other connects to it. Per connection the
//! listener creates a sealed memfd holding one lock-free SPSC ring per
//! direction and passes it, with its eventfd doorbell, over the socket; the
//! connector answers with its own doorbell. Packets are written into ring
//! slots in batches; a side with nothing to do spins briefly, then sleeps on
//! its doorbell, which the peer rings only when it sees the sleeping flag.
//!
//! Liveness: an orderly close sets a flag in the shared header; a crash is
//! seen as end-of-file on the socket. Either is an unplug: the memory, the
//! doorbells and the socket are released, and the end goes back to waiting
//! (the listener accepts the next connection, the connector retries), so a
//! reconnect is a plug. A connector started before its listener waits.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use super::inproc::{CableError, SLOT_SIZE};
use super::link::{RingLink, bell};
use super::{Cable, LinkState, Packet};
use crate::sys::{self, Region};

/// Default slots per direction (256 × 4 KiB ≈ 1 MiB): as deep as a
/// ThunderboltIP ring, so a full TX ring fits in the cable and the sender is
/// held back only by E2E credits, never by the cable. A shallower cable
/// (64) made the two processes work on the same few hundred KiB at once
/// (cache lines bouncing between the cores, sender stalled whenever the
/// receiver was descheduled): 2-3x less throughput.
pub const DEFAULT_SLOTS: u32 = 256;
const HANDSHAKE_MAGIC: [u8; 4] = *b"TBLK";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(10);
/// How often a busy caller (one that never sleeps) looks at the socket.
const LIVENESS: Duration = Duration::from_millis(2);
/// Busy callers poll many times per microsecond: read the clock for the
/// liveness check only every this many calls (a sleeping caller is woken by
/// the socket itself and checks it on its next call).
const CHECK_EVERY: u32 = 16;

#[derive(Debug)]
enum Mode {
    Listen(UnixListener),
    Connect,
}

#[derive(Debug)]
struct Conn {
    link: RingLink,
    sock: UnixStream,
}

/// A connection whose handshake is under way (never blocks the caller).
#[derive(Debug)]
enum Pending {
    /// Listener: memory and doorbell sent, waiting for the peer's doorbell.
    Listener {
        sock: UnixStream,
        end: crate::sys::DuplexEnd,
        mine: OwnedFd,
        since: Instant,
    },
    /// Connector: connected, waiting for memory and doorbell.
    Connector { sock: UnixStream, since: Instant },
}

/// One end of a shared-memory cable.
#[derive(Debug)]
pub struct ShmCable {
    mode: Mode,
    path: PathBuf,
    slots: u32,
    conn: Option<Conn>,
    pending: Option<Pending>,
    next_try: Instant,
    next_check: Instant,
    /// Calls left before `check_alive` reads the clock again.
    skip: u32,
}

impl ShmCable {
    /// Listen at `path` (a stale socket file there is replaced).
    pub fn listen(path: impl AsRef<Path>) -> Result<Self, CableError> {
        Self::listen_with(path, DEFAULT_SLOTS)
    }

    /// Listen at `path` with `slots` ring slots per direction.
    pub fn listen_with(path: impl AsRef<Path>, slots: u32) -> Result<Self, CableError> {
        let path = path.as_ref().to_path_buf();
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(CableError::new)?;
        l.set_nonblocking(true).map_err(CableError::new)?;
        Ok(Self::new(Mode::Listen(l), path, slots))
    }

    /// Connect to the listener at `path`, now or whenever it appears.
    pub fn connect(path: impl AsRef<Path>) -> Self {
        Self::new(Mode::Connect, path.as_ref().to_path_buf(), DEFAULT_SLOTS)
    }

    fn new(mode: Mode, path: PathBuf, slots: u32) -> Self {
        let now = Instant::now();
        ShmCable {
            mode,
            path,
            slots,
            conn: None,
            pending: None,
            next_try: now,
            next_check: now,
            skip: 0,
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn try_connect(&mut self) {
        let now = Instant::now();
        if let Some(p) = self.pending.take() {
            match advance(p) {
                Ok(Step::Done(c)) => {
                    self.conn = Some(c);
                    self.next_check = now + LIVENESS;
                }
                Ok(Step::Wait(p)) => self.pending = Some(p),
                Err(_) => {}
            }
            return;
        }
        match &self.mode {
            Mode::Listen(l) => {
                if let Ok((s, _)) = l.accept() {
                    self.pending = start_listener(s, self.slots).ok();
                }
            }
            Mode::Connect => {
                if now < self.next_try {
                    return;
                }
                self.next_try = now + RETRY;
                if let Ok(s) = UnixStream::connect(&self.path)
                    && s.set_nonblocking(true).is_ok()
                {
                    self.pending = Some(Pending::Connector {
                        sock: s,
                        since: now,
                    });
                }
            }
        }
        if self.pending.is_some() {
            self.try_connect();
        }
    }

    fn check_alive(&mut self) {
        let Some(c) = &self.conn else { return };
        let mut dead = c.link.is_dead();
        if !dead && self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.skip = CHECK_EVERY - 1;
        let now = Instant::now();
        if !dead && now >= self.next_check {
            self.next_check = now + LIVENESS;
            let mut b = [0u8; 1];
            dead = match rustix::net::recv(&c.sock, &mut b, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
                Ok((0, _)) => true,
                Ok(_) => false,
                Err(e) => e != rustix::io::Errno::AGAIN && e != rustix::io::Errno::INTR,
            };
        }
        if dead {
            self.conn = None;
        }
    }
}

impl Drop for ShmCable {
    fn drop(&mut self) {
        if matches!(self.mode, Mode::Listen(_)) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn send_fds(sock: &UnixStream, msg: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !cmsg.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let n = rustix::net::sendmsg(sock, &[IoSlice::new(msg)], &mut cmsg, SendFlags::NOSIGNAL)?;
    if n != msg.len() {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(())
}

fn recv_fds(sock: &UnixStream, msg: &mut [u8; 16]) -> std::io::Result<Vec<OwnedFd>> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let r = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(msg)],
        &mut cmsg,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    )?;
    let mut fds = Vec::new();
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    if r.bytes != msg.len() || msg[..4] != HANDSHAKE_MAGIC {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(fds)
}

fn handshake_msg(len: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&HANDSHAKE_MAGIC);
    m[4..8].copy_from_slice(&1u32.to_le_bytes());
    m[8..].copy_from_slice(&len.to_le_bytes());
    m
}

enum Step {
    Done(Conn),
    Wait(Pending),
}

/// Listener side, on accept: create and seal the memory, send it with our doorbell.
fn start_listener(sock: UnixStream, slots: u32) -> Result<Pending, CableError> {
    sock.set_nonblocking(true).map_err(CableError::new)?;
    let len = sys::duplex_len(slots, SLOT_SIZE);
    let memfd = rustix::fs::memfd_create(
        "tblink-cable",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(CableError::new)?;
    rustix::fs::ftruncate(&memfd, len as u64).map_err(CableError::new)?;
    rustix::fs::fcntl_add_seals(
        &memfd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
    )
    .map_err(CableError::new)?;
    let region = Region::map(memfd.as_fd(), len).map_err(CableError::new)?;
    let end = sys::create(region, slots, SLOT_SIZE).map_err(CableError::new)?;
    let mine = bell().map_err(CableError::new)?;
    send_fds(
        &sock,
        &handshake_msg(len as u64),
        &[memfd.as_fd(), mine.as_fd()],
    )
    .map_err(CableError::new)?;
    Ok(Pending::Listener {
        sock,
        end,
        mine,
        since: Instant::now(),
    })
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

/// Move a handshake on without blocking.
fn advance(p: Pending) -> Result<Step, CableError> {
    match p {
        Pending::Listener {
            sock,
            end,
            mine,
            since,
        } => {
            let mut m = [0u8; 16];
            match recv_fds(&sock, &mut m) {
                Ok(mut fds) => {
                    let peer = fds
                        .pop()
                        .ok_or_else(|| CableError::new("no doorbell from peer"))?;
                    Ok(Step::Done(Conn {
                        link: RingLink::new(end, mine, peer),
                        sock,
                    }))
                }
                Err(e) if would_block(&e) && since.elapsed() < HANDSHAKE_TIMEOUT => {
                    Ok(Step::Wait(Pending::Listener {
                        sock,
                        end,
                        mine,
                        since,
                    }))
                }
                Err(e) => Err(CableError::new(e)),
            }
        }
        Pending::Connector { sock, since } => {
            let mut m = [0u8; 16];
            let fds = match recv_fds(&sock, &mut m) {
                Ok(fds) => fds,
                Err(e) if would_block(&e) && since.elapsed() < HANDSHAKE_TIMEOUT => {
                    return Ok(Step::Wait(Pending::Connector { sock, since }));
                }
                Err(e) => return Err(CableError::new(e)),
            };
            let mut fds = fds.into_iter();
            let (Some(memfd), Some(peer)) = (fds.next(), fds.next()) else {
                return Err(CableError::new("handshake without memory and doorbell"));
            };
            let mut l = [0u8; 8];
            l.copy_from_slice(&m[8..]);
            let len = u64::from_le_bytes(l);
            let st = rustix::fs::fstat(&memfd).map_err(CableError::new)?;
            let seals = rustix::fs::fcntl_get_seals(&memfd).map_err(CableError::new)?;
            // The mapping must never fault: the file must be as large as
            // announced and sealed against shrinking.
            if (st.st_size as u64) < len || !seals.contains(SealFlags::SHRINK) || len > (1 << 30) {
                return Err(CableError::new("shared memory too small or not sealed"));
            }
            let region = Region::map(memfd.as_fd(), len as usize).map_err(CableError::new)?;
            drop(memfd);
            let end = sys::attach(region).map_err(CableError::new)?;
            let mine = bell().map_err(CableError::new)?;
            send_fds(&sock, &handshake_msg(0), &[mine.as_fd()]).map_err(CableError::new)?;
            Ok(Step::Done(Conn {
                link: RingLink::new(end, mine, peer),
                sock,
            }))
        }
    }
}

impl Cable for ShmCable {
    fn poll_link(&mut self) -> LinkState {
        self.check_alive();
        if self.conn.is_none() {
            self.try_connect();
        }
        if self.conn.is_some() {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        match &mut self.conn {
            Some(c) => c.link.try_send(pkt),
            None => true,
        }
    }

    fn try_send_quiet(&mut self, pkt: &Packet<'_>) -> bool {
        match &mut self.conn {
            Some(c) => c.link.try_send_quiet(pkt),
            None => true,
        }
    }

    fn flush(&mut self) {
        if let Some(c) = &mut self.conn {
            c.link.flush();
        }
    }

    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        match &mut self.conn {
            Some(c) => c.link.recv(max, f),
            None => 0,
        }
    }

    fn prepare_wait(&mut self, want_send: bool) -> bool {
        match &mut self.conn {
            Some(c) => c.link.prepare_wait(want_send),
            None => true,
        }
    }

    fn finish_wait(&mut self, ready: &[bool]) {
        if let Some(c) = &mut self.conn {
            c.link.finish_wait(ready.first().copied().unwrap_or(false));
            match ready.get(1) {
                // The socket only becomes readable at end-of-file (a
                // crashed peer): look at it on the next `poll_link`
                // instead of after a timer.
                Some(true) => {
                    self.skip = 0;
                    self.next_check = Instant::now();
                }
                // Watched for the whole sleep and still quiet: the peer
                // was alive when we woke, so the next look (a system call)
                // can wait a full period. Keeps it off a lone frame's path.
                Some(false) => {
                    self.skip = CHECK_EVERY - 1;
                    self.next_check = Instant::now() + LIVENESS;
                }
                // Not watched (the wait ended before the poll).
                None => {}
            }
        }
    }

    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        match (&self.conn, &self.mode, i) {
            (Some(c), _, 0) => Some(c.link.bell_fd()),
            (Some(c), _, 1) => Some(c.sock.as_fd()),
            (None, _, 0) => match (&self.pending, &self.mode) {
                (Some(Pending::Listener { sock, .. } | Pending::Connector { sock, .. }), _) => {
                    Some(sock.as_fd())
                }
                (None, Mode::Listen(l)) => Some(l.as_fd()),
                (None, Mode::Connect) => None,
            },
            _ => None,
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        match (&self.conn, &self.mode) {
            // Connected: a sleeper watches the socket (end-of-file when the
            // peer dies) and the doorbell (rung on an orderly close), so no
            // timer is needed and an idle link costs no wake-ups.
            (Some(_), _) => None,
            (None, Mode::Connect) if self.pending.is_none() => Some(self.next_try),
            (None, _) => self.pending.as_ref().map(|_| Instant::now() + RETRY),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_watched_quiet_socket_defers_the_liveness_look() {
        let d = std::env::temp_dir().join(format!("tblink-shm-live-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("cable.sock");
        let mut a = ShmCable::listen(&p).unwrap();
        let mut b = ShmCable::connect(&p);
        let t = Instant::now();
        loop {
            let (sa, sb) = (a.poll_link(), b.poll_link());
            if sa == LinkState::Up && sb == LinkState::Up {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "no link");
        }
        // Watched, quiet: the peer was alive at wake-up; no look for a period.
        let before = Instant::now();
        a.finish_wait(&[true, false]);
        assert!(a.next_check >= before + LIVENESS);
        assert_eq!(a.skip, CHECK_EVERY - 1);
        // Not watched: nothing learnt, nothing changes.
        a.next_check = before;
        a.skip = 3;
        a.finish_wait(&[]);
        assert_eq!((a.next_check, a.skip), (before, 3));
        // Readable socket: look on the next call.
        a.finish_wait(&[false, true]);
        assert_eq!(a.skip, 0);
        assert!(a.next_check <= Instant::now());
        // And that look finds the peer gone once it is.
        drop(b);
        assert_eq!(a.poll_link(), LinkState::Down);
        let _ = std::fs::remove_dir_all(&d);
    }
}
