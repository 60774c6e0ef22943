//! One local domain: responder, per-peer discovery, device model and drivers.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use tblink_wire::bytes::be32;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::property::{Directory, MAX_BLOCK_DWORDS};
use tblink_wire::uuid::{Uuid, XDOMAIN_DISCOVERY};
use tblink_wire::xdomain::{ErrorCode, Header, MAX_PROPERTIES_DATA, Message, MsgType, Seq};
use tblink_wire::{Pdf, Route};

use crate::config::HostConfig;
use crate::device::{Key, Service, ServiceIdentity, XDomain, device_name, service_name};
use crate::driver::{DriverContext, DriverId, DriverSlot, ServiceDriver, match_table};
use crate::engine::{Engine, Expect, Owner};
use crate::error::{MisuseError, PeerError, ProtoError, RequestKind};
use crate::event::{DisconnectReason, Event};
use crate::local::{Local, LocalService, page_len};
use crate::msg::{self, Received, Reject};
use crate::outbox::{LocalAction, Outbox, Stats};
use crate::rng::SplitMix64;
use crate::time::Instant;
use crate::timer::{Timer, TimerTable};

/// Discovery state of one peer (spec 02 §5.2; no lane bonding, so the
/// link-state states are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryState {
    /// Asking the peer's UUID (type 12).
    Uuid,
    /// Reading the peer's property block.
    Properties,
    /// Idle; the device model is current.
    Enumerated,
    /// Stopped after a failure (revived by a UUID request from the peer).
    Error,
}

/// An in-progress paged read (spec 02 §4.4, §8.3).
#[derive(Debug, Clone)]
struct Fetch {
    seq: Seq,
    offset: u16,
    data_length: u16,
    generation: u32,
    data: Vec<u32>,
}

#[derive(Debug)]
struct Peer {
    route: Route,
    name: String,
    uuid: Option<Uuid>,
    state: DiscoveryState,
    attempt: u8,
    last_error: Option<ProtoError>,
    fetch: Option<Fetch>,
    refetch: bool,
    timers: TimerTable,
    notify_left: u8,
    notify_seq: Seq,
    device: Option<XDomain>,
    /// The block a read that started at offset 0 is served from (spec 02 §8.3).
    serving: Option<(Arc<[u32]>, u32)>,
    /// Services bound to drivers: (service key, driver).
    bound: Vec<(Key, DriverId)>,
}

/// Sequence number of attempt `n` (1-based): the remaining-retry counter
/// mod 4, i.e. 2, 1, 0, 3, 2, … (spec 02 §5.1).
fn attempt_seq(attempts: u8, n: u8) -> Seq {
    Seq::new(attempts.saturating_sub(n) % 4)
}

/// One local domain: host router + ring 0 (see the crate docs for the call order).
#[derive(Debug)]
pub struct Host {
    cfg: HostConfig,
    local: Local,
    engine: Engine,
    peers: Vec<Peer>,
    drivers: Vec<DriverSlot>,
    out: Outbox,
}

impl Host {
    /// A host with no peers, no services and no drivers. The initial
    /// generation is drawn from `cfg.seed`, below 2^31 (spec 02 §8.1).
    pub fn new(cfg: HostConfig) -> Self {
        let generation = (SplitMix64::new(cfg.seed).next_u64() as u32) & 0x7fff_ffff;
        let local = Local::new(&cfg, generation);
        let out = Outbox::new(cfg.tx_queue, cfg.event_queue);
        Host {
            cfg,
            local,
            engine: Engine::default(),
            peers: Vec::new(),
            drivers: Vec::new(),
            out,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// Our domain UUID.
    pub fn uuid(&self) -> Uuid {
        self.local.uuid
    }

    /// Generation of our property block.
    pub fn generation(&self) -> u32 {
        self.local.generation
    }

    /// Our property block as served (dword values).
    pub fn local_block(&self) -> &[u32] {
        &self.local.block
    }

    /// Keys of our local services in registration order.
    pub fn local_services(&self) -> impl Iterator<Item = &LocalService> {
        self.local.services.iter().map(|p| &p.service)
    }

    /// The driver that published the local service `key`, if a driver did.
    pub fn local_service_owner(&self, key: &Key) -> Option<DriverId> {
        self.local
            .services
            .iter()
            .find(|p| &p.service.key == key)
            .and_then(|p| p.owner)
    }

    /// Drop and error counters.
    pub fn stats(&self) -> Stats {
        self.out.stats
    }

    /// Outstanding requests of the engine (bounded by 2 × peers).
    pub fn outstanding_requests(&self) -> usize {
        self.engine.len()
    }

    /// Frames waiting in the transmit queue.
    pub fn queued_frames(&self) -> usize {
        self.out.tx.len()
    }

    /// Events waiting in the event queue.
    pub fn queued_events(&self) -> usize {
        self.out.events.len()
    }

    /// Routes of the peers currently plugged.
    pub fn peer_routes(&self) -> impl Iterator<Item = Route> + '_ {
        self.peers.iter().map(|p| p.route)
    }

    /// The enumerated XDomain at `route`, if its first read has completed.
    pub fn xdomain(&self, route: Route) -> Option<&XDomain> {
        self.peer(route).and_then(|p| p.device.as_ref())
    }

    /// Every enumerated XDomain.
    pub fn xdomains(&self) -> impl Iterator<Item = &XDomain> {
        self.peers.iter().filter_map(|p| p.device.as_ref())
    }

    /// Discovery state of the peer at `route`.
    pub fn discovery_state(&self, route: Route) -> Option<DiscoveryState> {
        self.peer(route).map(|p| p.state)
    }

    /// Progress of the properties read from the peer at `route`: (next
    /// offset, data_length; 0 before the first page).
    pub fn fetch_progress(&self, route: Route) -> Option<(u16, u16)> {
        self.peer(route)
            .and_then(|p| p.fetch.as_ref())
            .map(|f| (f.offset, f.data_length))
    }

    /// The UUID learned for the peer at `route`.
    pub fn peer_uuid(&self, route: Route) -> Option<Uuid> {
        self.peer(route).and_then(|p| p.uuid)
    }

    /// Which driver is bound to the service `key` of the peer at `route`.
    pub fn bound_driver(&self, route: Route, key: &[u8]) -> Option<DriverId> {
        self.peer(route)?
            .bound
            .iter()
            .find(|(k, _)| k.as_bytes() == key)
            .map(|(_, d)| *d)
    }

    /// A registered driver, downcast to its concrete type.
    pub fn driver<T: ServiceDriver>(&self, id: DriverId) -> Option<&T> {
        let d: &dyn core::any::Any = &*self.drivers.get(usize::from(id.0))?.driver;
        d.downcast_ref::<T>()
    }

    /// A registered driver, mutably. Changes it makes are not seen by the
    /// stack until its next callback; use [`Host::with_driver`] to act.
    pub fn driver_mut<T: ServiceDriver>(&mut self, id: DriverId) -> Option<&mut T> {
        let d: &mut dyn core::any::Any = &mut *self.drivers.get_mut(usize::from(id.0))?.driver;
        d.downcast_mut::<T>()
    }

    fn peer(&self, route: Route) -> Option<&Peer> {
        let route = route.without_cm();
        self.peers.iter().find(|p| p.route == route)
    }

    fn peer_idx(&self, route: Route) -> Option<usize> {
        let route = route.without_cm();
        self.peers.iter().position(|p| p.route == route)
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// The next frame to put on ring 0 (its route says where).
    pub fn poll_transmit(&mut self) -> Option<FrameBuf> {
        self.out.tx.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`Host::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self.peers.iter().filter_map(|p| p.timers.next_timeout());
        let drivers = self.drivers.iter().filter_map(|d| d.driver.poll_timeout());
        self.engine
            .poll_timeout()
            .into_iter()
            .chain(peers)
            .chain(drivers)
            .min()
    }

    // ------------------------------------------------------------------
    // Hot plug
    // ------------------------------------------------------------------

    /// Another host appeared at `route` in our domain: start discovery at
    /// once (spec 02 §5.2 INIT → UUID, without Linux's initial delays).
    pub fn handle_xdomain_connected(
        &mut self,
        now: Instant,
        route: Route,
    ) -> Result<(), ProtoError> {
        let route = route.without_cm();
        if route.depth() == 0 {
            return Err(MisuseError::NoSuchPeer(route).into());
        }
        if self.peer_idx(route).is_some() {
            self.handle_xdomain_disconnected(now, route);
        }
        if self.peers.len() >= self.cfg.max_peers {
            return Err(MisuseError::Limit.into());
        }
        self.peers.push(Peer {
            route,
            name: device_name(self.cfg.domain, route),
            uuid: None,
            state: DiscoveryState::Uuid,
            attempt: 0,
            last_error: None,
            fetch: None,
            refetch: false,
            timers: TimerTable::default(),
            notify_left: 0,
            notify_seq: Seq::new(0),
            device: None,
            serving: None,
            bound: Vec::new(),
        });
        self.out.event(Event::Plugged { route });
        if let Some(i) = self.peer_idx(route) {
            self.peers[i].timers.set(Timer::Discovery, now);
            self.fire_timers(now);
        }
        Ok(())
    }

    /// The host at `route` went away: stop discovery, unbind drivers,
    /// remove its services then the XDomain (spec 04 §3).
    pub fn handle_xdomain_disconnected(&mut self, now: Instant, route: Route) {
        let route = route.without_cm();
        let Some(i) = self.peer_idx(route) else {
            return;
        };
        self.engine.cancel_route(route);
        self.teardown(now, i, DisconnectReason::Unplugged);
        self.peers.remove(i);
        self.apply_actions(now);
    }

    /// Remove the device and services of peer `i` (keeps the peer entry).
    fn teardown(&mut self, now: Instant, i: usize, reason: DisconnectReason) {
        let Some(dev) = self.peers[i].device.take() else {
            return;
        };
        let route = self.peers[i].route;
        for svc in dev.services.iter().rev() {
            self.unbind(now, i, &dev, svc);
            self.out.event(Event::ServiceRemoved {
                route,
                name: svc.name.clone(),
                key: svc.key,
            });
        }
        self.out.event(Event::Disconnected {
            route,
            name: dev.name.clone(),
            reason,
        });
    }

    // ------------------------------------------------------------------
    // Receive
    // ------------------------------------------------------------------

    /// A ring-0 frame arrived; its route was rewritten by our router to our
    /// own route to the ingress adapter (spec 01 §4).
    pub fn handle_frame(&mut self, now: Instant, frame: &FrameBuf) {
        self.out.stats.frames_received += 1;
        // Spec 01 §7.5: length rules, then CRC (dropped silently on mismatch).
        if frame.len() < 4 || !frame.len().is_multiple_of(4) {
            self.out.stats.malformed += 1;
            return;
        }
        if frame.pdf().crc_checked() && frame.verify_crc().is_err() {
            self.out.stats.crc_errors += 1;
            return;
        }
        match frame.pdf() {
            Pdf::ERROR => self.handle_error_packet(now, frame.body()),
            Pdf::XDOMAIN_REQ | Pdf::XDOMAIN_RESP => self.handle_xdomain(now, frame),
            _ => self.out.stats.malformed += 1,
        }
        self.apply_actions(now);
    }

    /// PDF 3 (spec 01 §6.2): asynchronous codes 1/12/13 are notifications;
    /// others complete the oldest request to the same route (01 §7.4).
    fn handle_error_packet(&mut self, now: Instant, body: &[u8]) {
        let (Some(hi), Some(lo), Some(dw2)) = (be32(body, 0), be32(body, 4), be32(body, 8)) else {
            self.out.stats.malformed += 1;
            return;
        };
        let code = (dw2 & 0xf) as u8;
        if matches!(code, 1 | 12 | 13) {
            return;
        }
        match self.engine.match_error_packet(Route::from_dwords(hi, lo)) {
            Some(owner) => self.request_failed(now, owner, PeerError::RouterError { code }.into()),
            None => self.out.stats.unmatched += 1,
        }
    }

    fn handle_xdomain(&mut self, now: Instant, frame: &FrameBuf) {
        let rx = match msg::decode(frame.body()) {
            Ok(rx) => rx,
            Err(Reject::Malformed) => {
                self.out.stats.malformed += 1;
                return;
            }
            Err(Reject::OtherProtocol(hdr)) => {
                self.dispatch_protocol(now, hdr, frame);
                return;
            }
        };
        if frame.pdf() == Pdf::XDOMAIN_REQ {
            self.respond(now, &rx);
            self.after_request(now, &rx);
        } else {
            let offset = match rx.message {
                Some(Message::PropertiesResponse { offset, .. }) => Some(offset),
                _ => None,
            };
            let hdr = rx.header;
            match self.engine.match_response(
                hdr.route,
                hdr.protocol,
                hdr.seq,
                rx.msg_type.value(),
                offset,
            ) {
                Some((owner, _)) => self.handle_reply(now, owner, rx.message),
                None => self.out.stats.unmatched += 1,
            }
        }
    }

    /// Frames of other protocols go to the driver that claimed the UUID
    /// (spec 02 §7); unclaimed ones are dropped without reply.
    fn dispatch_protocol(&mut self, now: Instant, hdr: Header, frame: &FrameBuf) {
        let Some(idx) = self
            .drivers
            .iter()
            .position(|d| d.driver.protocols().contains(&hdr.protocol))
        else {
            self.out.stats.unclaimed += 1;
            return;
        };
        let routes: Vec<Route> = self.peers.iter().map(|p| p.route).collect();
        let mut ctx = DriverContext {
            now,
            driver: DriverId(idx as u16),
            local_uuid: self.local.uuid,
            peers: &routes,
            out: &mut self.out,
        };
        self.drivers[idx]
            .driver
            .handle_frame(&mut ctx, hdr.route.without_cm(), frame);
    }

    // ------------------------------------------------------------------
    // Responder (spec 02 §7, §6 "Recommended Rust behaviour")
    // ------------------------------------------------------------------

    /// A request too short for its type's fields (`rx.message` is `None`)
    /// is treated as Linux 6.1 treats it (spec 02 §7): a PROPERTIES_REQUEST
    /// under 68 bytes gets no reply, any PROPERTIES_CHANGED_REQUEST gets
    /// type 6, LINK_STATE_CHANGE_REQUEST gets NOT_READY whatever its length,
    /// and other short requests are answered like an unknown type.
    fn respond(&mut self, _now: Instant, rx: &Received) {
        let route = rx.header.route.without_cm();
        let reply = match rx.message {
            Some(Message::UuidRequest | Message::UuidRequestOld) => Some(Message::UuidResponse {
                src_uuid: self.local.uuid,
                src_route: route,
            }),
            Some(Message::PropertiesRequest {
                src_uuid,
                dst_uuid,
                offset,
            }) => {
                if dst_uuid != self.local.uuid {
                    Some(msg::error(ErrorCode::UNKNOWN_DOMAIN))
                } else {
                    self.properties_page(route, offset, src_uuid)
                }
            }
            Some(Message::PropertiesChangedRequest { .. }) => {
                Some(Message::PropertiesChangedResponse)
            }
            Some(Message::LinkStateStatusRequest) => Some(msg::LINK_STATE_SINGLE_LANE),
            None if rx.msg_type == MsgType::PROPERTIES_REQUEST => None,
            None if rx.msg_type == MsgType::PROPERTIES_CHANGED_REQUEST => {
                Some(Message::PropertiesChangedResponse)
            }
            _ if rx.msg_type == MsgType::LINK_STATE_CHANGE_REQUEST => {
                Some(msg::error(ErrorCode::NOT_READY))
            }
            _ => Some(msg::error(ErrorCode::NOT_SUPPORTED)),
        };
        if let Some(f) = reply.and_then(|m| msg::frame(route, rx.header.seq, m)) {
            self.out.stats.requests_answered += 1;
            let _ = self.out.transmit(f);
        }
    }

    /// One PROPERTIES_RESPONSE page; `None` (no reply, like Linux) if the
    /// offset is past the end of the block.
    fn properties_page(&mut self, route: Route, offset: u16, requester: Uuid) -> Option<Message> {
        let current = (self.local.block.clone(), self.local.generation);
        let (block, generation) = match (self.cfg.serve_snapshots, self.peer_idx(route)) {
            (true, Some(i)) => {
                if offset == 0 || self.peers[i].serving.is_none() {
                    self.peers[i].serving = Some(current.clone());
                }
                self.peers[i].serving.clone().unwrap_or(current)
            }
            _ => current,
        };
        let off = usize::from(offset);
        if off >= block.len() {
            return None;
        }
        let n = page_len(block.len(), off);
        let page = block.get(off..off + n)?;
        // The request's src_uuid is echoed as dst_uuid (spec 02 §4.4).
        Some(Message::PropertiesResponse {
            src_uuid: self.local.uuid,
            dst_uuid: requester,
            offset,
            data_length: block.len() as u16,
            generation,
            data: page.to_vec(),
        })
    }

    /// Side effects of a peer's request on its discovery (spec 02 §5.2, §6).
    fn after_request(&mut self, now: Instant, rx: &Received) {
        let Some(i) = self.peer_idx(rx.header.route) else {
            return;
        };
        match rx.message {
            // Spec 02 §5.2 ERROR: a UUID request restarts discovery.
            Some(Message::UuidRequest | Message::UuidRequestOld)
                if self.peers[i].state == DiscoveryState::Error =>
            {
                let p = &mut self.peers[i];
                p.state = DiscoveryState::Uuid;
                p.attempt = 0;
                p.last_error = None;
                p.timers.set(Timer::Discovery, now);
                self.fire_timers(now);
            }
            Some(Message::PropertiesRequest { src_uuid, .. }) => {
                self.learn_from_request(now, i, src_uuid);
            }
            Some(Message::PropertiesChangedRequest { src_uuid }) => {
                if self.learn_from_request(now, i, src_uuid) {
                    return;
                }
                let p = &mut self.peers[i];
                match p.state {
                    DiscoveryState::Enumerated => {
                        p.state = DiscoveryState::Properties;
                        p.attempt = 0;
                        p.timers.set(Timer::Discovery, now);
                        self.fire_timers(now);
                    }
                    // A read in flight may predate the change: read again
                    // once it finishes (one flag, however many notifications).
                    DiscoveryState::Properties if p.fetch.is_some() => p.refetch = true,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A peer that never answers UUID requests still tells us its UUID in
    /// its own requests (spec 02 §6 step 2). Returns whether this moved
    /// discovery on.
    fn learn_from_request(&mut self, now: Instant, i: usize, src_uuid: Uuid) -> bool {
        if self.peers[i].uuid.is_none() && self.peers[i].state == DiscoveryState::Uuid {
            let route = self.peers[i].route;
            self.engine.cancel(Owner::Discovery(route));
            self.uuid_learned(now, i, src_uuid);
            return true;
        }
        false
    }

    // ------------------------------------------------------------------
    // Discovery (spec 02 §5)
    // ------------------------------------------------------------------

    fn fire_timers(&mut self, now: Instant) {
        // Each firing may schedule others at `now`; bounded passes.
        for _ in 0..4 {
            let mut fired = false;
            for i in 0..self.peers.len() {
                for t in Timer::ALL {
                    if i < self.peers.len() && self.peers[i].timers.take_expired(t, now) {
                        fired = true;
                        match t {
                            Timer::Discovery => self.discovery_step(now, i),
                            Timer::Notify => self.notify_step(now, i),
                        }
                    }
                }
            }
            if !fired {
                break;
            }
        }
    }

    /// Make the next attempt of the current state.
    fn discovery_step(&mut self, now: Instant, i: usize) {
        let timing = self.cfg.timing;
        let route = self.peers[i].route;
        let state = self.peers[i].state;
        let kind = match state {
            DiscoveryState::Uuid => RequestKind::Uuid,
            DiscoveryState::Properties => RequestKind::Properties,
            DiscoveryState::Enumerated | DiscoveryState::Error => return,
        };
        if self.peers[i].attempt >= timing.attempts {
            let err = self.peers[i]
                .last_error
                .clone()
                .unwrap_or(ProtoError::Timeout {
                    kind,
                    attempts: timing.attempts,
                });
            self.fail(i, err);
            return;
        }
        self.peers[i].attempt += 1;
        let seq = attempt_seq(timing.attempts, self.peers[i].attempt);
        match state {
            DiscoveryState::Uuid => {
                if let Some(f) = msg::frame(route, seq, Message::UuidRequest) {
                    self.send_request(
                        now,
                        Owner::Discovery(route),
                        MsgType::UUID_RESPONSE,
                        seq,
                        None,
                        f,
                    );
                }
            }
            _ => {
                self.peers[i].refetch = false;
                self.peers[i].fetch = Some(Fetch {
                    seq,
                    offset: 0,
                    data_length: 0,
                    generation: 0,
                    data: Vec::new(),
                });
                self.request_page(now, i);
            }
        }
    }

    fn request_page(&mut self, now: Instant, i: usize) {
        let route = self.peers[i].route;
        let (Some(dst), Some(f)) = (self.peers[i].uuid, self.peers[i].fetch.as_ref()) else {
            return;
        };
        let (seq, offset) = (f.seq, f.offset);
        let request = Message::PropertiesRequest {
            src_uuid: self.local.uuid,
            dst_uuid: dst,
            offset,
        };
        if let Some(frame) = msg::frame(route, seq, request) {
            self.send_request(
                now,
                Owner::Discovery(route),
                MsgType::PROPERTIES_RESPONSE,
                seq,
                Some(offset),
                frame,
            );
        }
    }

    fn send_request(
        &mut self,
        now: Instant,
        owner: Owner,
        response_type: MsgType,
        seq: Seq,
        offset: Option<u16>,
        frame: FrameBuf,
    ) {
        let route = match owner {
            Owner::Discovery(r) | Owner::Notify(r) => r,
        };
        let expect = Expect {
            route,
            protocol: XDOMAIN_DISCOVERY,
            response_type: response_type.value(),
            seq,
            offset,
        };
        let t = self.cfg.timing;
        self.engine.submit(
            now,
            owner,
            expect,
            frame.clone(),
            t.request_timeout,
            t.retransmits,
        );
        let _ = self.out.transmit(frame);
    }

    /// `m` is `None` for a reply too short for its type's fields: a
    /// success for PROPERTIES_CHANGED, unusable for discovery.
    fn handle_reply(&mut self, now: Instant, owner: Owner, m: Option<Message>) {
        match owner {
            Owner::Notify(route) => {
                let Some(i) = self.peer_idx(route) else {
                    return;
                };
                match m {
                    // Spec 02 §5.4: error codes 1–4 are failures, anything else success.
                    Some(Message::ErrorResponse { code }) if code.is_failure_for_linux() => {
                        let d = self.cfg.timing.retry_delay;
                        self.peers[i].timers.set(Timer::Notify, now + d);
                    }
                    _ => self.peers[i].notify_left = 0,
                }
            }
            Owner::Discovery(route) => {
                let Some(i) = self.peer_idx(route) else {
                    return;
                };
                match (self.peers[i].state, m) {
                    (_, Some(Message::ErrorResponse { code })) => {
                        let code = code.value();
                        self.request_failed(now, owner, PeerError::ErrorResponse { code }.into())
                    }
                    (DiscoveryState::Uuid, Some(Message::UuidResponse { src_uuid, .. })) => {
                        self.uuid_learned(now, i, src_uuid)
                    }
                    (
                        DiscoveryState::Properties,
                        Some(Message::PropertiesResponse {
                            offset,
                            data_length,
                            generation,
                            data,
                            ..
                        }),
                    ) => self.page_received(now, i, offset, data_length, generation, &data),
                    _ => self.out.stats.unmatched += 1,
                }
            }
        }
    }

    fn uuid_learned(&mut self, now: Instant, i: usize, uuid: Uuid) {
        let route = self.peers[i].route;
        // Spec 02 §5.2 / 04 §3: another host on the same port.
        if self.peers[i].uuid.is_some_and(|old| old != uuid) {
            self.teardown(now, i, DisconnectReason::UuidChanged);
        }
        let p = &mut self.peers[i];
        p.uuid = Some(uuid);
        p.state = DiscoveryState::Properties;
        p.attempt = 0;
        p.last_error = None;
        p.timers.set(Timer::Discovery, now);
        self.out.event(Event::UuidLearned { route, uuid });
        self.start_notify(now, i);
        self.fire_timers(now);
    }

    fn page_received(
        &mut self,
        now: Instant,
        i: usize,
        offset: u16,
        data_length: u16,
        generation: u32,
        data: &[u32],
    ) {
        let Some(mut f) = self.peers[i].fetch.take() else {
            return;
        };
        let route = self.peers[i].route;
        let dwords = data.len();
        let check = || -> Result<(), PeerError> {
            if !(2..=MAX_BLOCK_DWORDS as u16).contains(&data_length) {
                return Err(PeerError::BlockLength { len: data_length });
            }
            if f.offset != 0 && (data_length != f.data_length || generation != f.generation) {
                return Err(PeerError::InconsistentPages);
            }
            let end = usize::from(offset) + dwords;
            if dwords == 0 || dwords > MAX_PROPERTIES_DATA || end > usize::from(data_length) {
                return Err(PeerError::BadPage { offset, dwords });
            }
            Ok(())
        };
        if let Err(e) = check() {
            if e == PeerError::InconsistentPages {
                self.out.stats.inconsistent_reads += 1;
            }
            self.request_failed(now, Owner::Discovery(route), e.into());
            return;
        }
        f.data_length = data_length;
        f.generation = generation;
        f.data.extend_from_slice(data);
        f.offset = offset + dwords as u16;
        if f.offset < data_length {
            self.peers[i].fetch = Some(f);
            self.request_page(now, i);
        } else {
            self.block_complete(now, i, f);
        }
    }

    /// Validate and apply an assembled block (spec 02 §5.2 PROPERTIES, 03 §5).
    fn block_complete(&mut self, now: Instant, i: usize, f: Fetch) {
        let root = match Directory::parse_dwords(&f.data) {
            Ok(r) => r,
            Err(e) => {
                self.fail(i, PeerError::Parse(e).into());
                return;
            }
        };
        let Ok(ids) = root.check_xdomain_root() else {
            self.fail(i, PeerError::MissingIds.into());
            return;
        };
        let count = root.services().count();
        if count > self.cfg.max_services {
            self.fail(i, PeerError::TooManyServices { count }.into());
            return;
        }
        let route = self.peers[i].route;
        let name = self.peers[i].name.clone();
        let uuid = self.peers[i].uuid.unwrap_or_default();
        let text = |t: Option<&[u8]>| t.map(|b| String::from_utf8_lossy(b).into_owned());
        let first = self.peers[i].device.is_none();
        let changed = self.peers[i]
            .device
            .as_ref()
            .is_some_and(|d| d.generation != f.generation);
        if first || changed {
            let old_services = self.peers[i]
                .device
                .as_ref()
                .map(|d| d.services.clone())
                .unwrap_or_default();
            let dev = XDomain {
                name: name.clone(),
                route,
                uuid,
                vendor: ids.vendor_id,
                vendor_name: text(root.vendor_name()),
                device: ids.device_id,
                device_name: text(root.device_name()),
                maxhopid: ids.max_hop_id,
                generation: f.generation,
                block_len: f.data.len(),
                services: old_services,
            };
            self.peers[i].device = Some(dev);
            if first {
                self.out.event(Event::Connected {
                    route,
                    name,
                    uuid,
                    generation: f.generation,
                });
            } else {
                self.out.event(Event::Changed {
                    route,
                    generation: f.generation,
                });
            }
            self.enumerate_services(now, i, &root);
        }
        let p = &mut self.peers[i];
        p.state = DiscoveryState::Enumerated;
        p.attempt = 0;
        p.last_error = None;
        if p.refetch {
            p.state = DiscoveryState::Properties;
            p.timers.set(Timer::Discovery, now);
        }
    }

    /// Spec 04 §3 service enumeration.
    fn enumerate_services(&mut self, now: Instant, i: usize, root: &Directory) {
        let Some(dev) = self.peers[i].device.clone() else {
            return;
        };
        let route = dev.route;
        let present: Vec<Key> = root
            .services()
            .map(|(k, _)| Key::from_entry(k.wire()))
            .collect();
        // (1) services whose key is gone, in reverse order.
        let mut services = dev.services.clone();
        for svc in dev.services.iter().rev() {
            if !present.contains(&svc.key) {
                self.unbind(now, i, &dev, svc);
                services.retain(|s| s.key != svc.key);
                self.out.event(Event::ServiceRemoved {
                    route,
                    name: svc.name.clone(),
                    key: svc.key,
                });
            }
        }
        // (2) new keys in block order, lowest free id.
        let mut added = Vec::new();
        for (k, d) in root.services() {
            let key = Key::from_entry(k.wire());
            if services.iter().any(|s| s.key == key) {
                continue;
            }
            let mut id = 0u32;
            while services.iter().any(|s| s.id == id) {
                id += 1;
            }
            let svc = Service {
                id,
                name: service_name(&dev.name, id),
                key,
                dir_uuid: d.uuid,
                identity: ServiceIdentity {
                    prtcid: d.prtcid(),
                    prtcvers: d.prtcvers(),
                    prtcrevs: d.prtcrevs(),
                    prtcstns: d.prtcstns(),
                },
            };
            self.out.event(Event::ServiceAdded {
                route,
                name: svc.name.clone(),
                key,
                modalias: svc.modalias(),
            });
            services.push(svc.clone());
            added.push(svc);
        }
        services.sort_by_key(|s| s.id);
        if let Some(d) = self.peers[i].device.as_mut() {
            d.services = services;
        }
        for svc in added {
            self.probe(now, i, &svc);
        }
    }

    /// Offer a service to the drivers in registration order; the first whose
    /// table matches and whose probe succeeds is bound (spec 04 §2).
    fn probe(&mut self, now: Instant, i: usize, svc: &Service) {
        let Some(dev) = self.peers[i].device.clone() else {
            return;
        };
        let route = dev.route;
        let routes: Vec<Route> = self.peers.iter().map(|p| p.route).collect();
        for (idx, slot) in self.drivers.iter_mut().enumerate() {
            let Some((_, entry)) = match_table(slot.driver.id_table(), &svc.key, &svc.identity)
            else {
                continue;
            };
            let entry = *entry;
            let driver = DriverId(idx as u16);
            let mut ctx = DriverContext {
                now,
                driver,
                local_uuid: self.local.uuid,
                peers: &routes,
                out: &mut self.out,
            };
            match slot.driver.probe(&mut ctx, &dev, svc, &entry) {
                Ok(()) => {
                    slot.bound.push((route, svc.key));
                    self.peers[i].bound.push((svc.key, driver));
                    self.out.event(Event::DriverBound {
                        route,
                        service: svc.name.clone(),
                        driver,
                    });
                    return;
                }
                Err(e) => self.out.event(Event::DriverProbeFailed {
                    route,
                    service: svc.name.clone(),
                    driver,
                    reason: e.reason,
                }),
            }
        }
    }

    fn unbind(&mut self, now: Instant, i: usize, dev: &XDomain, svc: &Service) {
        let route = dev.route;
        let Some(pos) = self.peers[i].bound.iter().position(|(k, _)| *k == svc.key) else {
            return;
        };
        let (_, driver) = self.peers[i].bound.remove(pos);
        let routes: Vec<Route> = self.peers.iter().map(|p| p.route).collect();
        if let Some(slot) = self.drivers.get_mut(usize::from(driver.0)) {
            slot.bound.retain(|(r, k)| !(*r == route && *k == svc.key));
            let mut ctx = DriverContext {
                now,
                driver,
                local_uuid: self.local.uuid,
                peers: &routes,
                out: &mut self.out,
            };
            slot.driver.remove(&mut ctx, dev, svc);
        }
        self.out.event(Event::DriverUnbound {
            route,
            service: svc.name.clone(),
            driver,
        });
    }

    /// A request of `owner` failed (timeout after retransmissions, error
    /// response, bad page): retry after the delay (spec 02 §5.2).
    fn request_failed(&mut self, now: Instant, owner: Owner, err: ProtoError) {
        match owner {
            Owner::Discovery(route) => {
                let Some(i) = self.peer_idx(route) else {
                    return;
                };
                self.out.stats.failed_attempts += 1;
                let attempts = self.cfg.timing.attempts;
                let delay = self.cfg.timing.retry_delay;
                let p = &mut self.peers[i];
                p.fetch = None;
                if !matches!(p.state, DiscoveryState::Uuid | DiscoveryState::Properties) {
                    return;
                }
                if p.attempt >= attempts {
                    // The last attempt failed: ERROR now (spec 02 §5.2).
                    self.fail(i, err);
                } else {
                    p.last_error = Some(err);
                    p.timers.set(Timer::Discovery, now + delay);
                }
            }
            Owner::Notify(route) => {
                if let Some(i) = self.peer_idx(route) {
                    let d = self.cfg.timing.retry_delay;
                    self.peers[i].timers.set(Timer::Notify, now + d);
                }
            }
        }
    }

    /// Enter the ERROR state (spec 02 §5.2): stop and report.
    fn fail(&mut self, i: usize, error: ProtoError) {
        let route = self.peers[i].route;
        self.engine.cancel(Owner::Discovery(route));
        let p = &mut self.peers[i];
        p.state = DiscoveryState::Error;
        p.fetch = None;
        p.refetch = false;
        p.timers.stop(Timer::Discovery);
        self.out.event(Event::DiscoveryFailed { route, error });
    }

    // ------------------------------------------------------------------
    // PROPERTIES_CHANGED sender (spec 02 §5.4)
    // ------------------------------------------------------------------

    fn start_notify(&mut self, now: Instant, i: usize) {
        let p = &mut self.peers[i];
        p.notify_left = self.cfg.timing.notify_attempts;
        p.timers.set(Timer::Notify, now);
    }

    fn notify_step(&mut self, now: Instant, i: usize) {
        let route = self.peers[i].route;
        if self.peers[i].notify_left == 0 {
            let err = ProtoError::Timeout {
                kind: RequestKind::PropertiesChanged,
                attempts: self.cfg.timing.notify_attempts,
            };
            self.engine.cancel(Owner::Notify(route));
            self.out.event(Event::NotifyFailed { route, error: err });
            return;
        }
        self.peers[i].notify_left -= 1;
        let seq = self.peers[i].notify_seq;
        self.peers[i].notify_seq = seq.next();
        let request = Message::PropertiesChangedRequest {
            src_uuid: self.local.uuid,
        };
        if let Some(f) = msg::frame(route, seq, request) {
            self.send_request(
                now,
                Owner::Notify(route),
                MsgType::PROPERTIES_CHANGED_RESPONSE,
                seq,
                None,
                f,
            );
        }
    }

    // ------------------------------------------------------------------
    // Timers
    // ------------------------------------------------------------------

    /// Process everything due at `now`: request timeouts (retransmit or
    /// fail), discovery and notification timers, driver timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let expired = self.engine.handle_timeout(now, &mut resend);
        for f in resend {
            self.out.stats.retransmits += 1;
            let _ = self.out.transmit(f);
        }
        for owner in expired {
            let kind = match owner {
                Owner::Notify(_) => RequestKind::PropertiesChanged,
                Owner::Discovery(r) => match self.peer(r).map(|p| p.state) {
                    Some(DiscoveryState::Uuid) => RequestKind::Uuid,
                    _ => RequestKind::Properties,
                },
            };
            let attempts = self.cfg.timing.retransmits.saturating_add(1);
            self.request_failed(now, owner, ProtoError::Timeout { kind, attempts });
        }
        self.fire_timers(now);
        let routes: Vec<Route> = self.peers.iter().map(|p| p.route).collect();
        for (idx, slot) in self.drivers.iter_mut().enumerate() {
            if slot.driver.poll_timeout().is_some_and(|t| t <= now) {
                let mut ctx = DriverContext {
                    now,
                    driver: DriverId(idx as u16),
                    local_uuid: self.local.uuid,
                    peers: &routes,
                    out: &mut self.out,
                };
                slot.driver.handle_timeout(&mut ctx);
            }
        }
        self.apply_actions(now);
    }

    // ------------------------------------------------------------------
    // Local services and drivers
    // ------------------------------------------------------------------

    /// Publish a local service: generation + 1 and PROPERTIES_CHANGED to
    /// every peer whose UUID we know (spec 04 §3, 02 §8.2).
    pub fn add_local_service(
        &mut self,
        now: Instant,
        service: LocalService,
    ) -> Result<(), ProtoError> {
        self.local.add(service, None)?;
        self.local_changed(now);
        Ok(())
    }

    /// Withdraw a local service.
    pub fn remove_local_service(&mut self, now: Instant, key: &Key) -> Result<(), ProtoError> {
        self.local.remove(key)?;
        self.local_changed(now);
        Ok(())
    }

    fn local_changed(&mut self, now: Instant) {
        self.out.event(Event::LocalGenerationChanged {
            generation: self.local.generation,
        });
        for i in 0..self.peers.len() {
            if self.peers[i].uuid.is_some() {
                self.start_notify(now, i);
            }
        }
        self.fire_timers(now);
    }

    fn apply_actions(&mut self, now: Instant) {
        // Drivers may queue more actions from callbacks run here; bounded passes.
        for _ in 0..4 {
            if self.out.actions.is_empty() {
                return;
            }
            let actions = core::mem::take(&mut self.out.actions);
            let mut changed = false;
            for a in actions {
                let r = match a {
                    LocalAction::Add(d, s) => self.local.add(s, Some(d)),
                    LocalAction::Remove(k) => self.local.remove(&k),
                };
                changed |= r.is_ok();
            }
            if changed {
                self.local_changed(now);
            }
        }
        self.out.actions.clear();
    }

    /// Register a service driver; it is offered every current and future
    /// service of every peer (spec 04 §2).
    pub fn register_driver(
        &mut self,
        driver: Box<dyn ServiceDriver>,
    ) -> Result<DriverId, ProtoError> {
        if self.drivers.len() >= self.cfg.max_drivers {
            return Err(MisuseError::Limit.into());
        }
        for p in driver.protocols() {
            if *p == XDOMAIN_DISCOVERY
                || self
                    .drivers
                    .iter()
                    .any(|d| d.driver.protocols().contains(p))
            {
                return Err(MisuseError::ProtocolClaimed.into());
            }
        }
        let id = DriverId(self.drivers.len() as u16);
        self.drivers.push(DriverSlot {
            driver,
            bound: Vec::new(),
        });
        Ok(id)
    }

    /// Offer the services that no driver has bound yet to the drivers again
    /// (after registering a driver while peers are enumerated).
    pub fn reprobe(&mut self, now: Instant) {
        for i in 0..self.peers.len() {
            let Some(dev) = self.peers[i].device.clone() else {
                continue;
            };
            for svc in &dev.services {
                if !self.peers[i].bound.iter().any(|(k, _)| *k == svc.key) {
                    self.probe(now, i, svc);
                }
            }
        }
        self.apply_actions(now);
    }

    /// Run `f` on a driver with a context, e.g. to let it start sending.
    pub fn with_driver<R>(
        &mut self,
        now: Instant,
        id: DriverId,
        f: impl FnOnce(&mut dyn ServiceDriver, &mut DriverContext<'_>) -> R,
    ) -> Option<R> {
        let routes: Vec<Route> = self.peers.iter().map(|p| p.route).collect();
        let slot = self.drivers.get_mut(usize::from(id.0))?;
        let mut ctx = DriverContext {
            now,
            driver: id,
            local_uuid: self.local.uuid,
            peers: &routes,
            out: &mut self.out,
        };
        let r = f(&mut *slot.driver, &mut ctx);
        self.apply_actions(now);
        Some(r)
    }
}
