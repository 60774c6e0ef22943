//! An example service driver: `echo`, a ping/pong service over its own
//! XDomain protocol UUID. It shows the whole driver API: an id table,
//! probe/remove, a claimed protocol, frames to and from the peer, notices.
//!
//! Wire format (PDF 6 ping, PDF 7 pong): the 28-byte XDomain header with
//! [`ECHO_PROTOCOL`], then DW7 = 1 (ping) or 2 (pong), DW8 = cookie.

use alloc::vec::Vec;

use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::Uuid;
use tblink_wire::xdomain::{HEADER_LEN, Header, Seq};
use tblink_wire::{Pdf, Route};

use crate::device::{Key, Service, XDomain};
use crate::driver::{DriverContext, ProbeError, ServiceDriver, ServiceId};
use crate::local::LocalService;

/// Protocol UUID of echo messages.
pub const ECHO_PROTOCOL: Uuid = Uuid::from_u128(0x7b1e_c4a0_0000_4e55_9a1c_0e1c_4f00_0001);
/// Directory UUID of the `echo` service.
pub const ECHO_DIRECTORY: Uuid = Uuid::from_u128(0x7b1e_c4a0_0000_4e55_9a1c_0e1c_4f00_0002);
/// Notice code posted when a pong comes back.
pub const NOTICE_PONG: u32 = 1;

const PING: u32 = 1;
const PONG: u32 = 2;

/// The echo driver: pings every peer that publishes `echo`, answers pings.
#[derive(Debug, Default)]
pub struct EchoDriver {
    /// Services currently bound (device names).
    pub bound: Vec<alloc::string::String>,
    /// Pongs received: (route, cookie).
    pub pongs: Vec<(Route, u32)>,
    /// Pings answered.
    pub pings_answered: u32,
    next_cookie: u32,
}

impl EchoDriver {
    /// The `echo` service directory to publish locally (prtcid 1, vers 1).
    pub fn local_service() -> LocalService {
        // "echo" is a valid key (4 bytes, no NUL).
        let key = Key::new(b"echo").unwrap_or_default();
        LocalService::standard(key, ECHO_DIRECTORY, 1, 1, 0, 0)
    }

    fn frame(pdf: Pdf, route: Route, seq: Seq, kind: u32, cookie: u32) -> Option<FrameBuf> {
        let total = HEADER_LEN + 8;
        let hdr = Header::for_body(route, seq, ECHO_PROTOCOL, total).ok()?;
        FrameBuf::build(pdf, |buf| {
            hdr.emit(buf)?;
            buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&kind.to_be_bytes());
            buf[HEADER_LEN + 4..total].copy_from_slice(&cookie.to_be_bytes());
            Ok(total)
        })
        .ok()
    }
}

impl ServiceDriver for EchoDriver {
    fn name(&self) -> &str {
        "echo"
    }

    fn id_table(&self) -> &[ServiceId] {
        const IDS: &[ServiceId] = &[ServiceId::service(b"echo", 1)];
        IDS
    }

    fn protocols(&self) -> &[Uuid] {
        const P: &[Uuid] = &[ECHO_PROTOCOL];
        P
    }

    fn probe(
        &mut self,
        ctx: &mut DriverContext<'_>,
        xdomain: &XDomain,
        service: &Service,
        _id: &ServiceId,
    ) -> Result<(), ProbeError> {
        self.bound.push(service.name.clone());
        self.next_cookie = self.next_cookie.wrapping_add(1);
        let f = Self::frame(
            Pdf::XDOMAIN_REQ,
            xdomain.route,
            Seq::new(0),
            PING,
            self.next_cookie,
        )
        .ok_or_else(|| ProbeError {
            reason: "cannot build ping".into(),
        })?;
        // A full queue only loses this ping; the binding stands.
        let _ = ctx.send(f);
        Ok(())
    }

    fn remove(&mut self, _ctx: &mut DriverContext<'_>, _xdomain: &XDomain, service: &Service) {
        self.bound.retain(|n| n != &service.name);
    }

    fn handle_frame(&mut self, ctx: &mut DriverContext<'_>, route: Route, frame: &FrameBuf) {
        let Ok(hdr) = Header::parse(frame.body()) else {
            return;
        };
        let p = tblink_wire::xdomain::Packet::new_unchecked(frame.body());
        let pl = p.payload();
        let (Some(kind), Some(cookie)) = (
            tblink_wire::bytes::be32(pl, 0),
            tblink_wire::bytes::be32(pl, 4),
        ) else {
            return;
        };
        match (frame.pdf(), kind) {
            (Pdf::XDOMAIN_REQ, PING) => {
                if let Some(f) = Self::frame(Pdf::XDOMAIN_RESP, route, hdr.seq, PONG, cookie)
                    && ctx.send(f).is_ok()
                {
                    self.pings_answered += 1;
                }
            }
            (Pdf::XDOMAIN_RESP, PONG) => {
                self.pongs.push((route, cookie));
                ctx.notify(route, NOTICE_PONG);
            }
            _ => {}
        }
    }
}
