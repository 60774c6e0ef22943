//! The ThunderboltIP service driver (spec 06 §2–7, §15): publishes the
//! `network` directory, binds to every peer's `network` service and runs
//! the symmetric login/logout protocol with it.
//!
//! It is a [`ServiceDriver`] of `tblink_proto`: sans-IO, driven by the
//! host's callbacks (probe, remove, frames, timeouts). Everything that
//! needs the DMA rings is expressed as [`NetEvent`]s for the ring layer,
//! which answers with [`NetDriver::paths_up`] or [`NetDriver::paths_failed`].
//!
//! # Per-peer behaviour (spec 06 §6.2)
//! * On probe the out HopID (`transmit_path`) is chosen — lowest free in
//!   `[8, peer maxhopid]` — and our first LOGIN is sent **at once**
//!   ([`NetTiming::first_login_delay`], default 0; Linux waits 1 s).
//! * LOGIN: `command_id` pre-incremented, SN = retries % 4; 500 ms for a
//!   response, 4.5 s before the next attempt, 60 retries (61 attempts),
//!   then [`NetEvent::LoginTimedOut`]. Any ThunderboltIP message from the
//!   peer's route that is not a LOGIN or LOGOUT completes the pending
//!   request, as in Linux (§3.5 step 6).
//! * A peer's LOGIN is answered at once with LOGIN_RESPONSE (SN and
//!   `command_id` echoed, our MAC per §13), also while connected. If our
//!   own login is not done, a new attempt is made at once (retries reset),
//!   also when one is in flight: that one may have reached the peer before
//!   the peer had bound to us. Linux would wait for its scheduled attempt.
//! * Both logins done → [`NetEvent::BringUp`]; the ring layer reserves the
//!   in HopID, starts the rings, posts RX buffers, enables the paths
//!   (spec 05 §13–14) and calls [`NetDriver::paths_up`] → carrier on.
//!   [`NetDriver::paths_failed`] clears `login_sent` (Linux 6.1.y) and,
//!   unlike Linux, schedules a new login attempt after 4.5 s so the link
//!   can recover without the peer's help.
//! * A peer's LOGOUT is answered with STATUS (SN echoed, new
//!   `command_id`), then the link is torn down without our own LOGOUT;
//!   we do not log in again by ourselves (the peer's next LOGIN does).
//! * Remove (unplug, service gone) and [`NetDriver::shutdown`]: carrier
//!   off; if both logins were done, LOGOUT (up to 10 sends while each
//!   times out after 1 s; a response or a send error ends it); then
//!   [`NetEvent::TearDown`] (disable paths, stop rings) — Linux's order.
//! * Our `transmit_path` never changes while a link exists.
//!
//! # prtcstns we publish (spec 06 §2)
//! `MATCH_FRAGS_ID | 64K_FRAMES` (0x6): [`crate::tx::Transmitter`] and
//! [`crate::rx::Reassembler`] implement both. `E2E` (0x1) only with
//! [`NetConfig::e2e`]; the ring layer must then enable E2E flow control on
//! the RX ring when [`PathRequest::e2e`] is set (peer advertises E2E too).

use std::collections::VecDeque;

use tblink_proto::device::{Key, Service, XDomain};
use tblink_proto::driver::DriverId;
use tblink_proto::driver::{DriverContext, ProbeError, ServiceDriver, ServiceId};
use tblink_proto::{Duration, Host, Instant, LocalService};
use tblink_wire::Route;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::tbip::{
    self, Login, LoginResponse, Logout, NETWORK_DIRECTORY, PRTCID, PRTCREVS, PRTCSTNS_64K_FRAMES,
    PRTCSTNS_E2E, PRTCSTNS_MATCH_FRAGS_ID, PRTCVERS, Seq, Status, THUNDERBOLT_IP, TbipHeader,
    TbipMessage, TbipType, derive_mac,
};
use tblink_wire::uuid::Uuid;

use crate::tx::TxConfig;

/// Lowest HopID usable for DMA paths (spec 06 §7, 05 §12).
pub const MIN_HOPID: u32 = 8;
/// Events kept for the ring layer before the oldest are dropped.
pub const EVENT_QUEUE: usize = 4096;

/// Timing of the login protocol. Defaults are Linux's (spec 06 §1) except
/// the first login delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetTiming {
    /// Delay from probe to our first LOGIN. 0 (Linux: 1000 ms after
    /// interface up; tblink hosts need not wait).
    pub first_login_delay: Duration,
    /// Wait for a LOGIN_RESPONSE (500 ms).
    pub login_timeout: Duration,
    /// Delay after a failed login attempt (4500 ms).
    pub login_retry_delay: Duration,
    /// Retries after the first attempt (60).
    pub login_retries: u32,
    /// Wait for the STATUS answering a LOGOUT (1000 ms).
    pub logout_timeout: Duration,
    /// LOGOUT sends at most, while each times out (10).
    pub logout_tries: u32,
}

impl Default for NetTiming {
    fn default() -> Self {
        NetTiming {
            first_login_delay: Duration::ZERO,
            login_timeout: tbip::LOGIN_TIMEOUT,
            login_retry_delay: tbip::LOGIN_RETRY_DELAY,
            login_retries: tbip::LOGIN_RETRIES,
            logout_timeout: tbip::LOGOUT_TIMEOUT,
            logout_tries: tbip::LOGOUT_RETRIES,
        }
    }
}

/// Configuration of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// Advertise E2E flow control; the ring layer must honour
    /// [`PathRequest::e2e`] on the RX ring.
    pub e2e: bool,
    /// Our `maxhopid`: the peer's `transmit_path` must lie in `[8, this]`.
    pub max_hop_id: u32,
    /// Interface MTU (for [`PathRequest::tx`]).
    pub mtu: u32,
    /// Timing.
    pub timing: NetTiming,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            e2e: false,
            max_hop_id: 15,
            mtu: tbip::MTU_DEFAULT,
            timing: NetTiming::default(),
        }
    }
}

impl NetConfig {
    /// The `prtcstns` we publish (spec 06 §2).
    pub fn prtcstns(&self) -> u32 {
        PRTCSTNS_MATCH_FRAGS_ID | PRTCSTNS_64K_FRAMES | if self.e2e { PRTCSTNS_E2E } else { 0 }
    }
}

/// What the ring layer must set up for a peer (spec 05 §13–14, 06 §6.1
/// *Connect*): reserve `in_hopid`, start the TX and RX rings, post the RX
/// buffers, then enable the paths `TX ring → out_hopid` and
/// `in_hopid → RX ring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRequest {
    /// Our route to the peer.
    pub route: Route,
    /// The peer's host UUID.
    pub peer_uuid: Uuid,
    /// Our `transmit_path`: the HopID our frames carry.
    pub out_hopid: u32,
    /// The peer's `transmit_path`: the HopID its frames arrive with.
    pub in_hopid: u32,
    /// Enable E2E flow control on the RX ring (both sides advertise it
    /// and [`NetConfig::e2e`] is set).
    pub e2e: bool,
    /// Our interface MAC towards this peer (spec 06 §13).
    pub mac: [u8; 6],
    /// How to transmit to this peer (its `prtcstns` bits, our MTU).
    pub tx: TxConfig,
}

/// Requests and notices for the ring layer and the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetEvent {
    /// Both logins done: bring the data paths up, then call
    /// [`NetDriver::paths_up`] or [`NetDriver::paths_failed`].
    BringUp(PathRequest),
    /// Disable the paths, then stop the rings, free the buffers and
    /// release the in HopID (spec 05 §13, 06 §6.1 *Tear-down*). Only
    /// after a `BringUp`; not after `paths_failed` (the ring layer undid
    /// its own partial work).
    TearDown {
        /// The peer.
        route: Route,
    },
    /// Carrier of the interface towards the peer.
    Carrier {
        /// The peer.
        route: Route,
        /// On or off.
        on: bool,
    },
    /// 61 login attempts went unanswered; we stop trying (a LOGIN from
    /// the peer restarts).
    LoginTimedOut {
        /// The peer.
        route: Route,
    },
}

/// Where our own login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginState {
    /// No attempt scheduled (logged in, torn down by the peer, or idle).
    Idle,
    /// Next attempt at this instant.
    Scheduled(Instant),
    /// LOGIN sent; response due by this instant.
    Waiting(Instant),
    /// Retries exhausted.
    GaveUp,
}

/// Where the data paths stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathState {
    /// No paths.
    Down,
    /// [`NetEvent::BringUp`] emitted, no answer yet.
    Requested,
    /// Paths up, carrier on.
    Up,
}

/// Control-plane counters of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// LOGINs sent.
    pub logins_sent: u32,
    /// Our LOGINs answered.
    pub logins_answered: u32,
    /// LOGINs received from the peer (and answered).
    pub logins_received: u32,
    /// LOGOUTs received (answered with STATUS).
    pub logouts_received: u32,
    /// Messages ignored: wrong UUIDs, unexpected responses, unparsable.
    pub ignored: u32,
    /// Times carrier went on.
    pub carrier_ups: u32,
}

/// A peer's state, as the driver sees it.
#[derive(Debug, Clone)]
pub struct Link {
    /// Our route to the peer.
    pub route: Route,
    /// The peer's host UUID.
    pub peer_uuid: Uuid,
    /// The peer's `prtcstns`, read once at probe (spec 06 §2).
    pub peer_prtcstns: u32,
    /// The peer's `maxhopid`.
    pub peer_maxhopid: u32,
    /// Our MAC towards the peer (spec 06 §13).
    pub mac: [u8; 6],
    /// Our `transmit_path`.
    pub out_hopid: u32,
    /// The peer's `transmit_path`, once it logged in.
    pub in_hopid: Option<u32>,
    /// Our LOGIN was answered.
    pub login_sent: bool,
    /// We answered the peer's LOGIN.
    pub login_received: bool,
    /// Our login attempts.
    pub login: LoginState,
    /// Failed attempts since the last success.
    pub retries: u32,
    /// Data paths.
    pub paths: PathState,
    /// Last `command_id` used (pre-incremented, spec 06 §5).
    pub command_id: u32,
    /// Counters.
    pub stats: LinkStats,
}

impl Link {
    /// Carrier: both logins done and paths up (spec 06 §6).
    pub fn carrier(&self) -> bool {
        self.paths == PathState::Up
    }

    fn next_command_id(&mut self) -> u32 {
        self.command_id = self.command_id.wrapping_add(1);
        self.command_id
    }

    fn header(&mut self, local: Uuid, msg_type: TbipType, seq: Seq) -> TbipHeader {
        TbipHeader {
            route: self.route,
            seq,
            initiator_uuid: local,
            target_uuid: self.peer_uuid,
            msg_type,
            command_id: self.next_command_id(),
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        match self.login {
            LoginState::Scheduled(t) | LoginState::Waiting(t) => Some(t),
            LoginState::Idle | LoginState::GaveUp => None,
        }
    }
}

/// A link being logged out after its service went away.
#[derive(Debug, Clone)]
struct Leaving {
    link: Link,
    local: Uuid,
    tries: u32,
    deadline: Instant,
}

/// The ThunderboltIP driver.
#[derive(Debug)]
pub struct NetDriver {
    cfg: NetConfig,
    links: Vec<Link>,
    leaving: Vec<Leaving>,
    events: VecDeque<NetEvent>,
    /// Events lost because the queue was full.
    pub events_dropped: u64,
}

const IDS: &[ServiceId] = &[ServiceId::service(b"network", PRTCID)];
const PROTOCOLS: &[Uuid] = &[THUNDERBOLT_IP];

impl NetDriver {
    /// A driver with no links.
    pub fn new(cfg: NetConfig) -> Self {
        NetDriver {
            cfg,
            links: Vec::new(),
            leaving: Vec::new(),
            events: VecDeque::new(),
            events_dropped: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// The `network` directory to publish (spec 06 §2): directory UUID,
    /// `prtcid` 1, `prtcvers` 1, `prtcrevs` 1, `prtcstns` per
    /// [`NetConfig::prtcstns`].
    pub fn local_service(&self) -> LocalService {
        let key = Key::new(tbip::SERVICE_KEY.as_bytes()).unwrap_or_default();
        LocalService::standard(
            key,
            NETWORK_DIRECTORY,
            PRTCID,
            PRTCVERS,
            PRTCREVS,
            self.cfg.prtcstns(),
        )
    }

    /// The next request or notice for the ring layer.
    pub fn poll_event(&mut self) -> Option<NetEvent> {
        self.events.pop_front()
    }

    /// The link to the peer at `route`.
    pub fn link(&self, route: Route) -> Option<&Link> {
        self.links.iter().find(|l| l.route == route)
    }

    /// Every link.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.iter()
    }

    /// Whether the interface towards `route` has carrier.
    pub fn carrier(&self, route: Route) -> bool {
        self.link(route).is_some_and(Link::carrier)
    }

    /// Links still logging out.
    pub fn leaving(&self) -> usize {
        self.leaving.len()
    }

    /// The ring layer brought the paths of `route` up (after
    /// [`NetEvent::BringUp`]): carrier on. Returns whether it was expected.
    pub fn paths_up(&mut self, route: Route) -> bool {
        let Some(i) = self.idx(route) else {
            return false;
        };
        if self.links[i].paths != PathState::Requested {
            return false;
        }
        self.links[i].paths = PathState::Up;
        self.links[i].stats.carrier_ups += 1;
        self.emit(NetEvent::Carrier { route, on: true });
        true
    }

    /// The ring layer could not bring the paths of `route` up (and undid
    /// its partial work): clear `login_sent` (Linux 6.1.y) and retry the
    /// login after the retry delay.
    pub fn paths_failed(&mut self, now: Instant, route: Route) -> bool {
        let delay = self.cfg.timing.login_retry_delay;
        let Some(l) = self.links.iter_mut().find(|l| l.route == route) else {
            return false;
        };
        if l.paths != PathState::Requested {
            return false;
        }
        l.paths = PathState::Down;
        l.login_sent = false;
        l.retries = 0;
        l.login = LoginState::Scheduled(now.saturating_add(delay));
        true
    }

    /// Orderly shutdown or suspend: every link is torn down with LOGOUT,
    /// as on remove (spec 06 §6.1, §15).
    pub fn shutdown(&mut self, ctx: &mut DriverContext<'_>) {
        let routes: Vec<Route> = self.links.iter().map(|l| l.route).collect();
        for r in routes {
            self.leave(ctx, r);
        }
    }

    fn idx(&self, route: Route) -> Option<usize> {
        self.links.iter().position(|l| l.route == route)
    }

    fn emit(&mut self, e: NetEvent) {
        if self.events.len() >= EVENT_QUEUE {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(e);
    }

    /// Lowest HopID in `[8, max]` not used as out HopID by another link
    /// through the same lane adapter (spec 06 §7).
    fn free_out_hopid(&self, route: Route, max: u32) -> Option<u32> {
        let port = route.port(0);
        let used = |h: u32| {
            self.links
                .iter()
                .chain(self.leaving.iter().map(|l| &l.link))
                .any(|l| l.route.port(0) == port && l.out_hopid == h)
        };
        (MIN_HOPID..=max).find(|&h| !used(h))
    }

    /// In HopID `h` is in `[8, our maxhopid]` and not taken by another link
    /// through the same adapter (spec 06 §7).
    fn in_hopid_ok(&self, route: Route, h: u32) -> bool {
        let port = route.port(0);
        (MIN_HOPID..=self.cfg.max_hop_id).contains(&h)
            && !self
                .links
                .iter()
                .chain(self.leaving.iter().map(|l| &l.link))
                .any(|l| {
                    l.route != route
                        && l.route.port(0) == port
                        && l.paths != PathState::Down
                        && l.in_hopid == Some(h)
                })
    }

    /// Send our LOGIN now (spec 06 §6.1 *Login attempt*).
    fn attempt_login(&mut self, ctx: &mut DriverContext<'_>, i: usize) {
        let now = ctx.now();
        let local = ctx.local_uuid();
        let timing = self.cfg.timing;
        let l = &mut self.links[i];
        if l.paths == PathState::Up {
            l.login = LoginState::Idle;
            return;
        }
        let seq = Seq::new((l.retries % 4) as u8);
        let hdr = l.header(local, TbipType::LOGIN, seq);
        let sent = Login::new(hdr, l.out_hopid)
            .to_frame()
            .ok()
            .is_some_and(|f| ctx.send(f).is_ok());
        l.stats.logins_sent += 1;
        if sent {
            l.login = LoginState::Waiting(now.saturating_add(timing.login_timeout));
        } else {
            self.login_failed(now, i);
        }
    }

    /// A login attempt timed out or could not be sent.
    fn login_failed(&mut self, now: Instant, i: usize) {
        let timing = self.cfg.timing;
        let l = &mut self.links[i];
        if l.retries < timing.login_retries {
            l.retries += 1;
            l.login = LoginState::Scheduled(now.saturating_add(timing.login_retry_delay));
        } else {
            l.login = LoginState::GaveUp;
            let route = l.route;
            self.emit(NetEvent::LoginTimedOut { route });
        }
    }

    /// *Connect* (spec 06 §6.1): both logins done → ask for the paths.
    fn try_connect(&mut self, now: Instant, i: usize) {
        let l = &self.links[i];
        if !(l.login_sent && l.login_received) || l.paths != PathState::Down {
            return;
        }
        let Some(in_hopid) = l.in_hopid.filter(|&h| self.in_hopid_ok(l.route, h)) else {
            // Linux cannot connect either; clear login_sent (6.1.y) and
            // try again later, the peer may have chosen another HopID.
            let delay = self.cfg.timing.login_retry_delay;
            let l = &mut self.links[i];
            l.login_sent = false;
            l.login = LoginState::Scheduled(now.saturating_add(delay));
            return;
        };
        let req = PathRequest {
            route: l.route,
            peer_uuid: l.peer_uuid,
            out_hopid: l.out_hopid,
            in_hopid,
            e2e: self.cfg.e2e && l.peer_prtcstns & PRTCSTNS_E2E != 0,
            mac: l.mac,
            tx: TxConfig::from_prtcstns(l.peer_prtcstns, self.cfg.mtu),
        };
        self.links[i].paths = PathState::Requested;
        self.emit(NetEvent::BringUp(req));
    }

    /// Tear down without LOGOUT: carrier off, paths down, flags cleared
    /// (spec 06 §6.1 *Tear-down*).
    fn tear_down(&mut self, i: usize) {
        let l = &mut self.links[i];
        let route = l.route;
        let paths = l.paths;
        l.paths = PathState::Down;
        l.login_sent = false;
        l.login_received = false;
        l.retries = 0;
        l.login = LoginState::Idle;
        if paths == PathState::Up {
            self.emit(NetEvent::Carrier { route, on: false });
        }
        if paths != PathState::Down {
            self.emit(NetEvent::TearDown { route });
        }
    }

    /// Remove the link at `route`, logging out first if logged in.
    fn leave(&mut self, ctx: &mut DriverContext<'_>, route: Route) {
        let Some(i) = self.idx(route) else {
            return;
        };
        let mut link = self.links.remove(i);
        if link.paths == PathState::Up {
            self.emit(NetEvent::Carrier { route, on: false });
        }
        if link.login_sent && link.login_received {
            let local = ctx.local_uuid();
            if send_logout(ctx, &mut link, local) {
                let deadline = ctx.now().saturating_add(self.cfg.timing.logout_timeout);
                self.leaving.push(Leaving {
                    link,
                    local,
                    tries: 1,
                    deadline,
                });
                return;
            }
        }
        if link.paths != PathState::Down {
            self.emit(NetEvent::TearDown { route });
        }
    }

    /// A logout finished (response, error or tries exhausted).
    fn left(&mut self, j: usize) {
        let lv = self.leaving.remove(j);
        if lv.link.paths != PathState::Down {
            self.emit(NetEvent::TearDown {
                route: lv.link.route,
            });
        }
    }

    fn handle_message(&mut self, ctx: &mut DriverContext<'_>, route: Route, msg: TbipMessage) {
        let now = ctx.now();
        let local = ctx.local_uuid();
        let Some(i) = self.idx(route) else {
            // Interface down for this peer: LOGIN/LOGOUT silently consumed
            // (spec 06 §6.1); anything else may end a pending LOGOUT.
            if !matches!(msg, TbipMessage::Login(_) | TbipMessage::Logout(_))
                && let Some(j) = self.leaving.iter().position(|l| l.link.route == route)
            {
                self.left(j);
            }
            return;
        };
        let h = *msg.header();
        let ours = h.initiator_uuid == self.links[i].peer_uuid && h.target_uuid == local;
        match msg {
            TbipMessage::Login(login) if ours => {
                // Answer at once, echoing SN and command_id (spec 06 §4.2, §5).
                let l = &mut self.links[i];
                let reply =
                    LoginResponse::new(h.reply(TbipType::LOGIN_RESPONSE, h.command_id), l.mac);
                let sent = reply.to_frame().ok().is_some_and(|f| ctx.send(f).is_ok());
                if !sent {
                    return;
                }
                l.stats.logins_received += 1;
                l.login_received = true;
                // Keep the in HopID while paths exist (Linux does not
                // reprogram them either).
                if l.paths == PathState::Down {
                    l.in_hopid = Some(login.transmit_path);
                }
                // Our login is not done: send LOGIN now, even with an
                // attempt in flight (the peer may have dropped it before it
                // bound to us); any response completes it (spec 06 §6.2).
                if !l.login_sent {
                    l.retries = 0;
                    self.attempt_login(ctx, i);
                }
                self.try_connect(now, i);
            }
            TbipMessage::Logout(_) if ours => {
                let l = &mut self.links[i];
                let cmd = l.next_command_id();
                let sent = Status::new(h.reply(TbipType::STATUS, cmd))
                    .to_frame()
                    .ok()
                    .is_some_and(|f| ctx.send(f).is_ok());
                l.stats.logouts_received += 1;
                if sent {
                    self.tear_down(i);
                }
            }
            TbipMessage::Login(_) | TbipMessage::Logout(_) => {
                self.links[i].stats.ignored += 1;
            }
            _ => {
                let l = &mut self.links[i];
                if matches!(l.login, LoginState::Waiting(_)) {
                    l.retries = 0;
                    l.login_sent = true;
                    l.login = LoginState::Idle;
                    l.stats.logins_answered += 1;
                    self.try_connect(now, i);
                } else {
                    l.stats.ignored += 1;
                }
            }
        }
    }
}

/// Run `f` on the [`NetDriver`] registered as `id` on `host`, with a
/// context (e.g. [`NetDriver::shutdown`]); `None` if `id` is not one.
pub fn with_net_driver<R>(
    host: &mut Host,
    now: Instant,
    id: DriverId,
    f: impl FnOnce(&mut NetDriver, &mut DriverContext<'_>) -> R,
) -> Option<R> {
    host.with_driver(now, id, |d, ctx| {
        let any: &mut dyn core::any::Any = d;
        any.downcast_mut::<NetDriver>().map(|n| f(n, ctx))
    })
    .flatten()
}

fn send_logout(ctx: &mut DriverContext<'_>, link: &mut Link, local: Uuid) -> bool {
    let hdr = link.header(local, TbipType::LOGOUT, Seq::new(0));
    Logout::new(hdr)
        .to_frame()
        .ok()
        .is_some_and(|f| ctx.send(f).is_ok())
}

impl ServiceDriver for NetDriver {
    fn name(&self) -> &str {
        "thunderbolt-net"
    }

    fn id_table(&self) -> &[ServiceId] {
        IDS
    }

    fn protocols(&self) -> &[Uuid] {
        PROTOCOLS
    }

    fn probe(
        &mut self,
        ctx: &mut DriverContext<'_>,
        xd: &XDomain,
        service: &Service,
        _id: &ServiceId,
    ) -> Result<(), ProbeError> {
        let route = xd.route.without_cm();
        if self.idx(route).is_some() {
            return Err(ProbeError {
                reason: "already bound to this peer".into(),
            });
        }
        // A previous link on this route still logging out: finish it.
        if let Some(j) = self.leaving.iter().position(|l| l.link.route == route) {
            self.left(j);
        }
        let out_hopid = self
            .free_out_hopid(route, xd.maxhopid)
            .ok_or_else(|| ProbeError {
                reason: format!("no free HopID in [8, {}]", xd.maxhopid),
            })?;
        let now = ctx.now();
        let delay = self.cfg.timing.first_login_delay;
        self.links.push(Link {
            route,
            peer_uuid: xd.uuid,
            peer_prtcstns: service.identity.prtcstns,
            peer_maxhopid: xd.maxhopid,
            mac: derive_mac(&ctx.local_uuid(), route),
            out_hopid,
            in_hopid: None,
            login_sent: false,
            login_received: false,
            login: LoginState::Scheduled(now.saturating_add(delay)),
            retries: 0,
            paths: PathState::Down,
            command_id: 0,
            stats: LinkStats::default(),
        });
        if delay.is_zero() {
            let i = self.links.len() - 1;
            self.attempt_login(ctx, i);
        }
        Ok(())
    }

    fn remove(&mut self, ctx: &mut DriverContext<'_>, xd: &XDomain, _service: &Service) {
        self.leave(ctx, xd.route.without_cm());
    }

    fn handle_frame(&mut self, ctx: &mut DriverContext<'_>, route: Route, frame: &FrameBuf) {
        match TbipMessage::parse(frame.body()) {
            Ok(msg) => self.handle_message(ctx, route.without_cm(), msg),
            Err(_) => {
                if let Some(i) = self.idx(route.without_cm()) {
                    self.links[i].stats.ignored += 1;
                }
            }
        }
    }

    fn handle_timeout(&mut self, ctx: &mut DriverContext<'_>) {
        let now = ctx.now();
        for i in 0..self.links.len() {
            match self.links[i].login {
                LoginState::Scheduled(t) if t <= now => self.attempt_login(ctx, i),
                LoginState::Waiting(t) if t <= now => {
                    self.login_failed(now, i);
                    // A retry delay of 0 (tests) fires at once.
                    if matches!(self.links[i].login, LoginState::Scheduled(t) if t <= now) {
                        self.attempt_login(ctx, i);
                    }
                }
                _ => {}
            }
        }
        let mut j = 0;
        while j < self.leaving.len() {
            if self.leaving[j].deadline > now {
                j += 1;
                continue;
            }
            let tries = self.cfg.timing.logout_tries;
            let timeout = self.cfg.timing.logout_timeout;
            let lv = &mut self.leaving[j];
            if lv.tries < tries && send_logout(ctx, &mut lv.link, lv.local) {
                lv.tries += 1;
                lv.deadline = now.saturating_add(timeout);
                j += 1;
            } else {
                self.left(j);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.links
            .iter()
            .filter_map(Link::next_timeout)
            .chain(self.leaving.iter().map(|l| l.deadline))
            .min()
    }
}
