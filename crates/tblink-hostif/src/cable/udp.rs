//! UDP cables between two machines: one packet per datagram.
//!
//! Bound to loopback unless an address is given explicitly. Both ends know
//! each other's address. Liveness: a small keep-alive every 100 ms; the link
//! is up while something arrived from the peer within the last second, and
//! an end that is dropped says goodbye so the peer sees the unplug at once.
//! UDP may lose datagrams under load, as a faulty cable would.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use super::inproc::CableError;
use super::{Cable, K_BYE, K_PING, LinkState, MAX_PACKET, PACKET_HEADER, Packet};

const KEEPALIVE: Duration = Duration::from_millis(100);
const DEAD_AFTER: Duration = Duration::from_secs(1);
const SOCKET_BUFFER: usize = 4 << 20;

/// One end of a UDP cable.
#[derive(Debug)]
pub struct UdpCable {
    sock: UdpSocket,
    peer: SocketAddr,
    last_rx: Option<Instant>,
    next_ping: Instant,
    tx: Box<[u8; MAX_PACKET]>,
    rx: Box<[u8; MAX_PACKET]>,
    /// A received datagram the consumer did not take yet.
    held: Option<usize>,
}

impl UdpCable {
    /// Bind `local` and talk to `peer`.
    pub fn new(local: SocketAddr, peer: SocketAddr) -> Result<Self, CableError> {
        let sock = UdpSocket::bind(local).map_err(CableError::new)?;
        sock.set_nonblocking(true).map_err(CableError::new)?;
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&sock, SOCKET_BUFFER);
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&sock, SOCKET_BUFFER);
        Ok(UdpCable {
            sock,
            peer,
            last_rx: None,
            next_ping: Instant::now(),
            tx: Box::new([0u8; MAX_PACKET]),
            rx: Box::new([0u8; MAX_PACKET]),
            held: None,
        })
    }

    /// Both ends on 127.0.0.1: bind `local_port`, talk to `peer_port`.
    pub fn loopback(local_port: u16, peer_port: u16) -> Result<Self, CableError> {
        let a = |p| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p));
        Self::new(a(local_port), a(peer_port))
    }

    /// The bound local address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sock.local_addr().ok()
    }

    fn up(&self) -> bool {
        self.last_rx.is_some_and(|t| t.elapsed() < DEAD_AFTER)
    }

    fn send_ctl(&self, kind: u8) {
        let mut h = [0u8; PACKET_HEADER];
        h[0] = kind;
        let _ = self.sock.send_to(&h, self.peer);
    }

    /// Receive one datagram from the peer into `rx`; internal kinds are
    /// handled here. Returns its length if it is for the consumer.
    fn recv_one(&mut self) -> Option<usize> {
        loop {
            let (n, from) = self.sock.recv_from(&mut self.rx[..]).ok()?;
            if from != self.peer {
                continue;
            }
            self.last_rx = Some(Instant::now());
            match self.rx.first() {
                Some(&K_PING) => continue,
                Some(&K_BYE) => {
                    self.last_rx = None;
                    continue;
                }
                _ => return Some(n),
            }
        }
    }
}

impl Drop for UdpCable {
    fn drop(&mut self) {
        self.send_ctl(K_BYE);
    }
}

impl Cable for UdpCable {
    fn poll_link(&mut self) -> LinkState {
        let now = Instant::now();
        if now >= self.next_ping {
            self.next_ping = now + KEEPALIVE;
            self.send_ctl(K_PING);
        }
        if self.held.is_none() && !self.up() {
            // Pick up keep-alives (and hold the first real datagram).
            self.held = self.recv_one();
        }
        if self.up() {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn try_send(&mut self, pkt: &Packet<'_>) -> bool {
        if !self.up() {
            return true;
        }
        let Some(n) = pkt.encode(&mut self.tx[..]) else {
            return true;
        };
        match self.sock.send_to(&self.tx[..n], self.peer) {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }

    fn flush(&mut self) {}

    fn recv(&mut self, max: usize, f: &mut dyn FnMut(Packet<'_>) -> bool) -> usize {
        let mut done = 0;
        while done < max {
            let n = match self.held.take() {
                Some(n) => n,
                None => match self.recv_one() {
                    Some(n) => n,
                    None => break,
                },
            };
            let consumed = match Packet::decode(&self.rx[..n]) {
                Some(p) => f(p),
                None => true,
            };
            if !consumed {
                self.held = Some(n);
                break;
            }
            done += 1;
        }
        done
    }

    fn prepare_wait(&mut self, _want_send: bool) -> bool {
        self.held.is_none()
    }

    fn finish_wait(&mut self, _ready: &[bool]) {}

    fn wait_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        (i == 0).then(|| self.sock.as_fd())
    }

    fn next_timer(&self) -> Option<Instant> {
        let dead = self.last_rx.map(|t| t + DEAD_AFTER);
        Some(dead.map_or(self.next_ping, |d| d.min(self.next_ping)))
    }
}
