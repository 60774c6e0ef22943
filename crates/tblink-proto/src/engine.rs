//! The control-channel request/response engine (spec 01 §7).
//!
//! Keeps our outstanding XDomain requests and matches replies more strictly
//! than Linux (spec 01 §7.4): route with bit 63 masked, PDF 7, protocol
//! UUID, expected response type or ERROR_RESPONSE, SN and — for property
//! pages — the echoed offset. A PDF 3 ERROR packet completes only the
//! oldest request to the same route. Every request has a deadline; on
//! expiry it is retransmitted unchanged (same SN) up to a configured number
//! of times, then reported as timed out.

use alloc::vec::Vec;

use tblink_wire::Route;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::Uuid;
use tblink_wire::xdomain::{MsgType, Seq};

use crate::time::{Duration, Instant};

/// Who waits for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// The discovery state machine of the peer at this route (UUID, PROPERTIES).
    Discovery(Route),
    /// The PROPERTIES_CHANGED sender for this route (spec 02 §5.4).
    Notify(Route),
}

/// What a reply must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expect {
    pub(crate) route: Route,
    pub(crate) protocol: Uuid,
    pub(crate) response_type: u32,
    pub(crate) seq: Seq,
    /// For PROPERTIES_RESPONSE: the offset the reply must echo.
    pub(crate) offset: Option<u16>,
}

#[derive(Debug, Clone)]
struct Outstanding {
    owner: Owner,
    expect: Expect,
    frame: FrameBuf,
    deadline: Instant,
    timeout: Duration,
    retransmits_left: u8,
}

/// A reply the engine accepted, as the discovery layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Message type of the reply (the expected type or 7 = ERROR_RESPONSE).
    pub(crate) msg_type: u32,
}

/// Outstanding requests, at most one per owner (so the table is bounded by
/// twice the number of peers).
#[derive(Debug, Default)]
pub(crate) struct Engine {
    reqs: Vec<Outstanding>,
}

/// ERROR_RESPONSE message type (spec 02 §3).
pub(crate) const ERROR_RESPONSE: u32 = MsgType::ERROR_RESPONSE.value();

impl Engine {
    /// Register a request whose frame the caller transmits now. Replaces any
    /// request the same owner still had (a new attempt supersedes the old).
    pub(crate) fn submit(
        &mut self,
        now: Instant,
        owner: Owner,
        expect: Expect,
        frame: FrameBuf,
        timeout: Duration,
        retransmits: u8,
    ) {
        self.cancel(owner);
        self.reqs.push(Outstanding {
            owner,
            expect,
            frame,
            deadline: now + timeout,
            timeout,
            retransmits_left: retransmits,
        });
    }

    /// Drop the request of `owner`, if any.
    pub(crate) fn cancel(&mut self, owner: Owner) {
        self.reqs.retain(|r| r.owner != owner);
    }

    /// Drop every request to `route`.
    pub(crate) fn cancel_route(&mut self, route: Route) {
        self.reqs.retain(|r| r.expect.route != route);
    }

    /// Whether `owner` has a request outstanding.
    #[cfg(test)]
    pub(crate) fn pending(&self, owner: Owner) -> bool {
        self.reqs.iter().any(|r| r.owner == owner)
    }

    /// Offer a received XDOMAIN_RESP; the first request it matches completes
    /// (spec 01 §7.1) and is removed.
    pub(crate) fn match_response(
        &mut self,
        route: Route,
        protocol: Uuid,
        seq: Seq,
        msg_type: u32,
        offset: Option<u16>,
    ) -> Option<(Owner, Reply)> {
        let route = route.without_cm();
        let idx = self.reqs.iter().position(|r| {
            let e = &r.expect;
            e.route == route
                && e.protocol == protocol
                && e.seq == seq
                && (msg_type == ERROR_RESPONSE
                    || (msg_type == e.response_type && (e.offset.is_none() || e.offset == offset)))
        })?;
        let r = self.reqs.remove(idx);
        Some((r.owner, Reply { msg_type }))
    }

    /// A PDF 3 ERROR packet from `route` completes the oldest request to
    /// that route (spec 01 §7.4).
    pub(crate) fn match_error_packet(&mut self, route: Route) -> Option<Owner> {
        let route = route.without_cm();
        let idx = self.reqs.iter().position(|r| r.expect.route == route)?;
        Some(self.reqs.remove(idx).owner)
    }

    /// Earliest deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.reqs.iter().map(|r| r.deadline).min()
    }

    /// Process expired requests: retransmit those with retransmissions left
    /// (pushed to `resend`) and return the owners of the others.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        resend: &mut Vec<FrameBuf>,
    ) -> Vec<Owner> {
        let mut expired = Vec::new();
        self.reqs.retain_mut(|r| {
            if r.deadline > now {
                return true;
            }
            if r.retransmits_left > 0 {
                r.retransmits_left -= 1;
                r.deadline = now + r.timeout;
                resend.push(r.frame.clone());
                true
            } else {
                expired.push(r.owner);
                false
            }
        });
        expired
    }

    /// Number of outstanding requests.
    pub(crate) fn len(&self) -> usize {
        self.reqs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tblink_wire::Pdf;
    use tblink_wire::uuid::{THUNDERBOLT_IP, XDOMAIN_DISCOVERY};

    fn frame() -> FrameBuf {
        FrameBuf::seal(Pdf::XDOMAIN_REQ, &[0u8; 32]).unwrap()
    }

    fn expect(route: u64, ty: u32, seq: u8, offset: Option<u16>) -> Expect {
        Expect {
            route: Route::from_raw(route),
            protocol: XDOMAIN_DISCOVERY,
            response_type: ty,
            seq: Seq::new(seq),
            offset,
        }
    }

    #[test]
    fn strict_matching() {
        let mut e = Engine::default();
        let t0 = Instant::ZERO;
        let o = Owner::Discovery(Route::from_raw(1));
        e.submit(
            t0,
            o,
            expect(1, 4, 2, Some(45)),
            frame(),
            Duration::from_secs(1),
            0,
        );
        let r = Route::from_raw(1);
        // Wrong SN, route, type, offset, protocol: no match.
        assert!(
            e.match_response(r, XDOMAIN_DISCOVERY, Seq::new(1), 4, Some(45))
                .is_none()
        );
        assert!(
            e.match_response(
                Route::from_raw(3),
                XDOMAIN_DISCOVERY,
                Seq::new(2),
                4,
                Some(45)
            )
            .is_none()
        );
        assert!(
            e.match_response(r, XDOMAIN_DISCOVERY, Seq::new(2), 2, Some(45))
                .is_none()
        );
        assert!(
            e.match_response(r, XDOMAIN_DISCOVERY, Seq::new(2), 4, Some(0))
                .is_none()
        );
        assert!(
            e.match_response(r, THUNDERBOLT_IP, Seq::new(2), 4, Some(45))
                .is_none()
        );
        // CM bit ignored.
        let got = e.match_response(r.with_cm(), XDOMAIN_DISCOVERY, Seq::new(2), 4, Some(45));
        assert_eq!(got, Some((o, Reply { msg_type: 4 })));
        assert_eq!(e.len(), 0);
        // ERROR_RESPONSE matches whatever the expected type.
        e.submit(
            t0,
            o,
            expect(1, 2, 0, None),
            frame(),
            Duration::from_secs(1),
            0,
        );
        assert_eq!(
            e.match_response(r, XDOMAIN_DISCOVERY, Seq::new(0), ERROR_RESPONSE, None),
            Some((
                o,
                Reply {
                    msg_type: ERROR_RESPONSE
                }
            ))
        );
    }

    #[test]
    fn retransmit_then_expire() {
        let mut e = Engine::default();
        let o = Owner::Notify(Route::from_raw(1));
        e.submit(
            Instant::ZERO,
            o,
            expect(1, 6, 0, None),
            frame(),
            Duration::from_secs(1),
            1,
        );
        let mut out = Vec::new();
        assert!(
            e.handle_timeout(Instant::from_nanos(999_999_999), &mut out)
                .is_empty()
        );
        assert!(out.is_empty());
        let t1 = Instant::ZERO + Duration::from_secs(1);
        assert!(e.handle_timeout(t1, &mut out).is_empty());
        assert_eq!(out.len(), 1);
        assert_eq!(e.poll_timeout(), Some(t1 + Duration::from_secs(1)));
        assert_eq!(e.handle_timeout(t1 + Duration::from_secs(1), &mut out), [o]);
        assert!(!e.pending(o));
    }

    #[test]
    fn error_packet_matches_same_route_only() {
        let mut e = Engine::default();
        let a = Owner::Discovery(Route::from_raw(1));
        let b = Owner::Notify(Route::from_raw(3));
        e.submit(
            Instant::ZERO,
            a,
            expect(1, 2, 0, None),
            frame(),
            Duration::from_secs(1),
            0,
        );
        e.submit(
            Instant::ZERO,
            b,
            expect(3, 6, 0, None),
            frame(),
            Duration::from_secs(1),
            0,
        );
        assert_eq!(e.match_error_packet(Route::from_raw(3).with_cm()), Some(b));
        assert_eq!(e.match_error_packet(Route::from_raw(3)), None);
    }
}
