//! A device router model, so that chains of routers and hosts can be built
//! (spec 01 §4).
//!
//! Control packets travelling down (arriving on the upstream port) leave by
//! the adapter named in their route at this router's depth. Packets arriving
//! on a downstream port go upstream; an XDomain packet (PDF 6/7) that enters
//! from another domain gets this router's route to the ingress adapter, with
//! the CRC recomputed (spec 01 §4). Downstream link changes are reported
//! upstream as hot-plug EVENT packets (PDF 5, spec 01 §6.3). Data frames
//! follow a path table `(in port, HopID) → (out port, HopID)`; E2E credits
//! follow it backwards.
//!
//! A READ request (PDF 1) addressed to this router's own route is answered
//! with a READ response from a small router config space (dword 0: vendor
//! and device ID), so that a connection manager can tell a router behind a
//! plugged adapter from another host's router, which does not answer
//! (spec 04 §6).

use std::time::{Duration, Instant};

use tblink_wire::ctl::{ConfigSpace, FrameBuf, Framed, ReadRequest, ReadResponse};
use tblink_wire::{Pdf, Route};

use crate::cable::{self, Cable, LinkState, Packet, Role};
use crate::nhi::{is_xdomain, packet_route, rewrite_route};

#[derive(Debug)]
struct Port {
    number: u8,
    cable: Option<Box<dyn Cable>>,
    up: bool,
    peer: Option<Role>,
}

/// Counters of a device router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Packets forwarded.
    pub forwarded: u64,
    /// Packets dropped (no route, no path, addressed to this router, port down).
    pub dropped: u64,
}

/// An emulated device router.
#[derive(Debug)]
pub struct DeviceRouter {
    route: Route,
    upstream: u8,
    ports: Vec<Port>,
    paths: Vec<((u8, u16), (u8, u16))>,
    stats: RouterStats,
    /// READ responses waiting for the upstream cable.
    replies: Vec<FrameBuf>,
}

/// Router config space dword 0 (vendor ID 0x8086, device ID), as answered
/// by [`DeviceRouter`].
pub const ROUTER_ID: u32 = 0x15ef_8086;

impl DeviceRouter {
    /// A router at `route` in its domain whose upstream adapter is `upstream`.
    pub fn new(route: Route, upstream: u8) -> Self {
        DeviceRouter {
            route,
            upstream,
            ports: Vec::new(),
            paths: Vec::new(),
            stats: Default::default(),
            replies: Vec::new(),
        }
    }

    /// This router's route.
    pub fn route(&self) -> Route {
        self.route
    }

    /// Counters.
    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    /// Plug `cable` into adapter `port`.
    pub fn attach(&mut self, port: u8, cable: impl Cable + 'static) {
        self.detach(port);
        self.ports.push(Port {
            number: port,
            cable: Some(Box::new(cable)),
            up: false,
            peer: None,
        });
    }

    /// Unplug adapter `port` (reported upstream if it was up).
    pub fn detach(&mut self, port: u8) -> Option<Box<dyn Cable>> {
        let i = self.ports.iter().position(|p| p.number == port)?;
        let p = self.ports.swap_remove(i);
        if p.peer.is_some() && port != self.upstream {
            self.send_event(port, true);
        }
        p.cable
    }

    /// Forward data frames arriving on `(in_port, in_hop)` to `(out_port, out_hop)`.
    pub fn add_path(&mut self, in_port: u8, in_hop: u16, out_port: u8, out_hop: u16) {
        self.paths.retain(|(i, _)| *i != (in_port, in_hop));
        self.paths.push(((in_port, in_hop), (out_port, out_hop)));
    }

    /// Remove the path entering at `(in_port, in_hop)`.
    pub fn remove_path(&mut self, in_port: u8, in_hop: u16) {
        self.paths.retain(|(i, _)| *i != (in_port, in_hop));
    }

    fn send_event(&mut self, port: u8, unplug: bool) {
        let r = self.route.with_cm();
        let mut body = [0u8; 12];
        body[..4].copy_from_slice(&r.hi().to_be_bytes());
        body[4..8].copy_from_slice(&r.lo().to_be_bytes());
        let dw2 = u32::from(port & 0x3f) | (u32::from(unplug) << 31);
        body[8..].copy_from_slice(&dw2.to_be_bytes());
        if let Ok(f) = FrameBuf::seal(Pdf::EVENT, &body) {
            let up = self.upstream;
            if let Some(c) = self.ports.iter_mut().find(|p| p.number == up && p.up)
                && let Some(cable) = &mut c.cable
            {
                let _ = cable.try_send(&Packet::Control {
                    pdf: f.pdf(),
                    bytes: f.as_bytes(),
                });
                cable.flush();
            }
        }
    }

    /// Send the queued READ responses upstream.
    fn send_replies(&mut self) {
        if self.replies.is_empty() {
            return;
        }
        let up = self.upstream;
        let replies = std::mem::take(&mut self.replies);
        if let Some(c) = self.ports.iter_mut().find(|p| p.number == up && p.up)
            && let Some(cable) = &mut c.cable
        {
            for f in &replies {
                let _ = cable.try_send(&Packet::Control {
                    pdf: f.pdf(),
                    bytes: f.as_bytes(),
                });
            }
            cable.flush();
        }
    }

    /// Answer a READ request addressed to this router (queued in `replies`).
    fn answer_read(&mut self, bytes: &[u8]) {
        let Ok(f) = FrameBuf::from_wire(Pdf::READ, bytes) else {
            return;
        };
        let Ok(req) = ReadRequest::from_frame(&f) else {
            return;
        };
        let data: Vec<u32> = (0..u16::from(req.addr.length))
            .map(
                |i| match (req.addr.space, req.addr.offset.saturating_add(i)) {
                    (ConfigSpace::Switch, 0) => ROUTER_ID,
                    _ => 0,
                },
            )
            .collect();
        let mut addr = req.addr;
        addr.port = self.upstream;
        let resp = ReadResponse {
            route: self.route,
            addr,
            data,
        };
        if let Ok(f) = resp.to_frame() {
            self.replies.push(f);
            self.stats.forwarded += 1;
        }
    }

    /// Move every packet that can move now; returns how many were forwarded.
    pub fn pump(&mut self) -> usize {
        for i in 0..self.ports.len() {
            self.poll_link(i);
        }
        let before = self.stats.forwarded;
        for i in 0..self.ports.len() {
            let Some(mut c) = self.ports.get_mut(i).and_then(|p| p.cable.take()) else {
                continue;
            };
            let (number, peer) = match self.ports.get(i) {
                Some(p) => (p.number, p.peer),
                None => continue,
            };
            let mut new_peer = None;
            let mut scratch = [0u8; tblink_wire::ctl::MAX_FRAME_LEN];
            c.recv(64, &mut |pkt| {
                self.forward(number, peer, pkt, &mut new_peer, &mut scratch)
            });
            if let Some(p) = self.ports.get_mut(i) {
                p.cable = Some(c);
            }
            self.send_replies();
            if let Some(role) = new_peer {
                let first = self
                    .ports
                    .get_mut(i)
                    .is_some_and(|p| p.peer.replace(role).is_none());
                if first && number != self.upstream {
                    self.send_event(number, false);
                }
            }
        }
        for p in self.ports.iter_mut().filter(|p| p.up) {
            if let Some(c) = &mut p.cable {
                c.flush();
            }
        }
        (self.stats.forwarded - before) as usize
    }

    fn poll_link(&mut self, i: usize) {
        let upstream = self.upstream;
        let Some(p) = self.ports.get_mut(i) else {
            return;
        };
        let Some(c) = &mut p.cable else { return };
        match (p.up, c.poll_link()) {
            (false, LinkState::Up) => {
                p.up = true;
                let role = if p.number == upstream {
                    Role::RouterUpstream
                } else {
                    Role::RouterDownstream
                };
                let _ = c.try_send(&Packet::Hello { role });
            }
            (true, LinkState::Down) => {
                p.up = false;
                let n = p.number;
                if p.peer.take().is_some() && n != upstream {
                    self.send_event(n, true);
                }
            }
            _ => {}
        }
    }

    /// Route one packet that arrived on `port`; `false` = keep it for later.
    fn forward(
        &mut self,
        port: u8,
        peer: Option<Role>,
        pkt: Packet<'_>,
        new_peer: &mut Option<Role>,
        scratch: &mut [u8; tblink_wire::ctl::MAX_FRAME_LEN],
    ) -> bool {
        // A Hello earlier in the same batch counts for what follows it.
        let peer = new_peer.or(peer);
        let (out, out_pkt) = match pkt {
            Packet::Hello { role } => {
                *new_peer = Some(role);
                return true;
            }
            Packet::Control { pdf, bytes } => {
                if port == self.upstream
                    && pdf == Pdf::READ
                    && packet_route(bytes) == Some(self.route)
                {
                    self.answer_read(bytes);
                    return true;
                } else if port == self.upstream {
                    let depth = self.route.depth();
                    match packet_route(bytes).and_then(|r| r.port(depth)) {
                        Some(q) => (q, pkt),
                        None => (0, pkt),
                    }
                } else if peer == Some(Role::RouterUpstream) {
                    (self.upstream, pkt)
                } else if is_xdomain(pdf) {
                    let n = bytes.len().min(scratch.len());
                    scratch[..n].copy_from_slice(&bytes[..n]);
                    if let Some(r) = self.route.push(port) {
                        rewrite_route(&mut scratch[..n], r);
                    }
                    (
                        self.upstream,
                        Packet::Control {
                            pdf,
                            bytes: &scratch[..n],
                        },
                    )
                } else {
                    (0, pkt)
                }
            }
            Packet::Data {
                hop,
                sof,
                eof,
                crc_error,
                bytes,
            } => match self.paths.iter().find(|(i, _)| *i == (port, hop)) {
                Some(&(_, (q, h))) => (
                    q,
                    Packet::Data {
                        hop: h,
                        sof,
                        eof,
                        crc_error,
                        bytes,
                    },
                ),
                None => (0, pkt),
            },
            Packet::Credit { hop, credit } => {
                match self.paths.iter().find(|(_, o)| *o == (port, hop)) {
                    Some(&((q, h), _)) => (q, Packet::Credit { hop: h, credit }),
                    None => (0, pkt),
                }
            }
        };
        let target = self.ports.iter_mut().find(|p| p.number == out && p.up);
        match target.and_then(|p| p.cable.as_mut()) {
            Some(c) => {
                if !c.try_send(&out_pkt) {
                    return false;
                }
                self.stats.forwarded += 1;
            }
            None => self.stats.dropped += 1,
        }
        true
    }

    /// Sleep until a port needs attention or `timeout` passes.
    pub fn wait(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut cables: Vec<&mut dyn Cable> = self
            .ports
            .iter_mut()
            .filter_map(|p| p.cable.as_mut().map(|c| c as &mut dyn Cable))
            .collect();
        cable::wait_any(&mut cables, false, deadline);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::cable::inproc;
    use tblink_wire::ctl::{Address, HotPlugEvent};
    use tblink_wire::xdomain::Seq;

    /// Control frames `c` has received, as (pdf, bytes).
    fn control(c: &mut dyn Cable) -> Vec<(Pdf, Vec<u8>)> {
        let mut v = Vec::new();
        c.recv(64, &mut |p| {
            if let Packet::Control { pdf, bytes } = p {
                v.push((pdf, bytes.to_vec()));
            }
            true
        });
        v
    }

    #[test]
    fn second_router_answers_reads_and_its_plug_event_goes_up() {
        // CM end — R1 (route 1) port 3 — R2 (route 0x301, upstream 1) port 5 — far end.
        let (mut cm, r1u) = inproc::pair().unwrap();
        let (r13, r21) = inproc::pair().unwrap();
        let (r25, mut far) = inproc::pair().unwrap();
        let mut r1 = DeviceRouter::new(Route::from_raw(1), 1);
        let mut r2 = DeviceRouter::new(Route::from_raw(0x301), 1);
        r1.attach(1, r1u);
        r1.attach(3, r13);
        r2.attach(1, r21);
        r2.attach(5, r25);
        assert!(cm.try_send(&Packet::Hello { role: Role::Host }));
        cm.flush();
        // The far side says Hello: R2 reports port 5, R1 reports port 3
        // (R2's Hello and its EVENT may arrive in one batch).
        assert!(far.try_send(&Packet::Hello { role: Role::Host }));
        far.flush();
        let mut got = Vec::new();
        for _ in 0..10 {
            r2.pump();
            r1.pump();
            let _ = cm.poll_link();
            got.extend(control(&mut cm));
        }
        let mut evs: Vec<(Route, u8)> = got
            .iter()
            .map(|(pdf, b)| {
                assert_eq!(*pdf, Pdf::EVENT);
                let f = FrameBuf::from_wire(*pdf, b).unwrap();
                let e = HotPlugEvent::from_frame(&f).unwrap();
                assert!(!e.unplug);
                (e.route.without_cm(), e.port)
            })
            .collect();
        evs.sort();
        assert_eq!(
            evs,
            vec![(Route::from_raw(1), 3), (Route::from_raw(0x301), 5)]
        );

        // A READ to 0x301 is answered by R2 and not forwarded further.
        let req = ReadRequest {
            route: Route::from_raw(0x301),
            addr: Address {
                offset: 0,
                length: 1,
                port: 0,
                space: ConfigSpace::Switch,
                seq: Seq::new(2),
            },
        }
        .to_frame()
        .unwrap();
        assert!(cm.try_send(&Packet::Control {
            pdf: req.pdf(),
            bytes: req.as_bytes()
        }));
        cm.flush();
        let mut got = Vec::new();
        for _ in 0..10 {
            r1.pump();
            r2.pump();
            got.extend(control(&mut cm));
        }
        assert_eq!(got.len(), 1);
        let f = FrameBuf::from_wire(got[0].0, &got[0].1).unwrap();
        let resp = ReadResponse::from_frame(&f).unwrap();
        assert_eq!(resp.route, Route::from_raw(0x301));
        assert_eq!(resp.data, vec![ROUTER_ID]);
        assert_eq!(resp.addr.port, 1, "R2's upstream adapter");
        assert_eq!(resp.addr.seq, Seq::new(2));
        assert!(control(&mut far).is_empty(), "READ not forwarded");
    }
}
