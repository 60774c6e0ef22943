//! Service drivers (spec 04 §2): a driver declares an id table, is probed
//! when a matching remote service appears and removed when it goes, may
//! claim protocol UUIDs to exchange its own XDomain messages with the peer,
//! and may publish local services.
//!
//! Drivers are sans-IO like the rest of the stack: every callback gets a
//! [`DriverContext`] through which it queues frames, notices and local
//! service changes; it never blocks and never reads a clock.

use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;

use tblink_wire::Route;
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::Uuid;

use crate::device::{Key, Service, ServiceIdentity, XDomain};
use crate::error::MisuseError;
use crate::event::Event;
use crate::local::LocalService;
use crate::outbox::{LocalAction, Outbox};
use crate::time::Instant;

/// Match on the service key (`TBSVC_MATCH_PROTOCOL_KEY`, spec 04 §2).
pub const MATCH_KEY: u16 = 0x0001;
/// Match on `prtcid` (`TBSVC_MATCH_PROTOCOL_ID`).
pub const MATCH_ID: u16 = 0x0002;
/// Match on `prtcvers` (`TBSVC_MATCH_PROTOCOL_VERSION`).
pub const MATCH_VERSION: u16 = 0x0004;
/// Match on `prtcrevs` (`TBSVC_MATCH_PROTOCOL_REVISION`).
pub const MATCH_REVISION: u16 = 0x0008;

/// One entry of a driver's id table (`struct tb_service_id`, spec 04 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceId {
    /// Which fields take part in matching; 0 ends a table.
    pub match_flags: u16,
    /// Service key (compared exactly, case-sensitive).
    pub key: &'static [u8],
    /// Compared with `prtcid`.
    pub protocol_id: u32,
    /// Compared with `prtcvers`.
    pub protocol_version: u32,
    /// Compared with `prtcrevs`.
    pub protocol_revision: u32,
    /// Opaque to the stack; handed back on probe.
    pub driver_data: usize,
}

impl ServiceId {
    /// Linux's `TB_SERVICE(key, id)`: match key and `prtcid`.
    pub const fn service(key: &'static [u8], protocol_id: u32) -> Self {
        ServiceId {
            match_flags: MATCH_KEY | MATCH_ID,
            key,
            protocol_id,
            protocol_version: 0,
            protocol_revision: 0,
            driver_data: 0,
        }
    }

    /// Whether this entry matches a service (every flagged field equal).
    pub fn matches(&self, key: &Key, id: &ServiceIdentity) -> bool {
        if self.match_flags == 0 {
            return false;
        }
        (self.match_flags & MATCH_KEY == 0 || self.key == key.as_bytes())
            && (self.match_flags & MATCH_ID == 0 || self.protocol_id == id.prtcid)
            && (self.match_flags & MATCH_VERSION == 0 || self.protocol_version == id.prtcvers)
            && (self.match_flags & MATCH_REVISION == 0 || self.protocol_revision == id.prtcrevs)
    }

    /// The module alias Linux generates for this entry (spec 04 §2.1), e.g.
    /// `tbsvc:knetworkp00000001v*r*`.
    pub fn module_alias(&self) -> String {
        use core::fmt::Write;
        let mut s = String::from("tbsvc:k");
        if self.match_flags & MATCH_KEY != 0 {
            s.push_str(&String::from_utf8_lossy(self.key));
        } else {
            s.push('*');
        }
        for (flag, c, v) in [
            (MATCH_ID, 'p', self.protocol_id),
            (MATCH_VERSION, 'v', self.protocol_version),
            (MATCH_REVISION, 'r', self.protocol_revision),
        ] {
            s.push(c);
            if self.match_flags & flag != 0 {
                let _ = write!(s, "{v:08X}");
            } else {
                s.push('*');
            }
        }
        if !s.ends_with('*') {
            s.push('*');
        }
        s
    }
}

/// The first entry of `table` matching the service, stopping at a
/// terminator (`match_flags == 0`) — Linux's `__tb_service_match`.
pub fn match_table<'t>(
    table: &'t [ServiceId],
    key: &Key,
    id: &ServiceIdentity,
) -> Option<(usize, &'t ServiceId)> {
    table
        .iter()
        .take_while(|e| e.match_flags != 0)
        .enumerate()
        .find(|(_, e)| e.matches(key, id))
}

/// Handle of a registered driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DriverId(pub u16);

/// Why a probe refused a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("probe failed: {reason}")]
pub struct ProbeError {
    /// A short reason for logs and events.
    pub reason: String,
}

/// A service driver. All callbacks are synchronous and must not block.
///
/// ```
/// use tblink_proto::driver::{DriverContext, ProbeError, ServiceDriver, ServiceId};
/// use tblink_proto::device::{Service, XDomain};
///
/// #[derive(Debug, Default)]
/// struct Net { bound: Vec<String> }
///
/// impl ServiceDriver for Net {
///     fn name(&self) -> &str { "net" }
///     fn id_table(&self) -> &[ServiceId] {
///         const IDS: &[ServiceId] = &[ServiceId::service(b"network", 1)];
///         IDS
///     }
///     fn probe(&mut self, _ctx: &mut DriverContext<'_>, _xd: &XDomain, svc: &Service, _id: &ServiceId)
///         -> Result<(), ProbeError> {
///         self.bound.push(svc.name.clone());
///         Ok(())
///     }
///     fn remove(&mut self, _ctx: &mut DriverContext<'_>, _xd: &XDomain, svc: &Service) {
///         self.bound.retain(|n| n != &svc.name);
///     }
/// }
///
/// let mut host = tblink_proto::Host::new(tblink_proto::HostConfig::default());
/// let id = host.register_driver(Box::new(Net::default())).unwrap();
/// assert_eq!(host.driver::<Net>(id).map(|d| d.bound.len()), Some(0));
/// ```
pub trait ServiceDriver: Any + core::fmt::Debug {
    /// Driver name (shown in events, like a Linux module name).
    fn name(&self) -> &str;

    /// The id table; the first matching entry wins (spec 04 §2).
    fn id_table(&self) -> &[ServiceId];

    /// Protocol UUIDs whose XDomain frames this driver receives via
    /// [`ServiceDriver::handle_frame`] (spec 02 §7: dispatched by UUID).
    fn protocols(&self) -> &[Uuid] {
        &[]
    }

    /// A matching service appeared on `xdomain`.
    fn probe(
        &mut self,
        ctx: &mut DriverContext<'_>,
        xdomain: &XDomain,
        service: &Service,
        id: &ServiceId,
    ) -> Result<(), ProbeError>;

    /// A service this driver was bound to went away (unplug or no longer
    /// in the peer's properties).
    fn remove(&mut self, ctx: &mut DriverContext<'_>, xdomain: &XDomain, service: &Service);

    /// An XDomain frame (PDF 6 or 7) with one of [`ServiceDriver::protocols`]
    /// arrived from the peer at `route` (CM bit cleared). The CRC has been checked.
    fn handle_frame(&mut self, ctx: &mut DriverContext<'_>, route: Route, frame: &FrameBuf) {
        let _ = (ctx, route, frame);
    }

    /// Called when [`ServiceDriver::poll_timeout`] has passed.
    fn handle_timeout(&mut self, ctx: &mut DriverContext<'_>) {
        let _ = ctx;
    }

    /// The next instant this driver wants [`ServiceDriver::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// What a driver callback may do: queue frames to peers, post notices,
/// publish or withdraw local services.
#[derive(Debug)]
pub struct DriverContext<'a> {
    pub(crate) now: Instant,
    pub(crate) driver: DriverId,
    pub(crate) local_uuid: Uuid,
    pub(crate) peers: &'a [Route],
    pub(crate) out: &'a mut Outbox,
}

impl DriverContext<'_> {
    /// The current time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// This driver's id.
    pub fn driver_id(&self) -> DriverId {
        self.driver
    }

    /// Our domain UUID.
    pub fn local_uuid(&self) -> Uuid {
        self.local_uuid
    }

    /// Queue an XDomain frame for the peer its route names. The frame must
    /// be PDF 6 or 7 with a valid XDomain header whose route is a connected peer's.
    pub fn send(&mut self, frame: FrameBuf) -> Result<(), MisuseError> {
        let pdf = frame.pdf();
        if pdf != tblink_wire::Pdf::XDOMAIN_REQ && pdf != tblink_wire::Pdf::XDOMAIN_RESP {
            return Err(MisuseError::BadFrame("not an XDomain PDF"));
        }
        let hdr = tblink_wire::xdomain::Header::parse(frame.body())
            .map_err(|_| MisuseError::BadFrame("bad XDomain header"))?;
        let route = hdr.route.without_cm();
        if !self.peers.contains(&route) {
            return Err(MisuseError::NoSuchPeer(route));
        }
        self.out.transmit(frame)
    }

    /// Post a driver-defined notice as [`Event::DriverNotice`].
    pub fn notify(&mut self, route: Route, code: u32) {
        let driver = self.driver;
        self.out.event(Event::DriverNotice {
            driver,
            route,
            code,
        });
    }

    /// Publish a local service once this callback returns (generation + 1,
    /// PROPERTIES_CHANGED to every peer; spec 04 §3).
    pub fn add_local_service(&mut self, service: LocalService) {
        let d = self.driver;
        self.out.actions.push(LocalAction::Add(d, service));
    }

    /// Withdraw a local service once this callback returns.
    pub fn remove_local_service(&mut self, key: Key) {
        self.out.actions.push(LocalAction::Remove(key));
    }
}

/// A registered driver and what it is bound to.
#[derive(Debug)]
pub(crate) struct DriverSlot {
    pub(crate) driver: alloc::boxed::Box<dyn ServiceDriver>,
    /// (route, service key) pairs bound to this driver.
    pub(crate) bound: Vec<(Route, Key)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(id: u32, v: u32, r: u32) -> ServiceIdentity {
        ServiceIdentity {
            prtcid: id,
            prtcvers: v,
            prtcrevs: r,
            prtcstns: 0,
        }
    }

    #[test]
    fn match_flags_and_first_wins() {
        let net = Key::new(b"network").unwrap();
        let table = [
            ServiceId {
                match_flags: MATCH_KEY | MATCH_VERSION,
                key: b"network",
                protocol_version: 2,
                ..ServiceId::service(b"network", 0)
            },
            ServiceId::service(b"network", 1),
            ServiceId::service(b"network", 1),
        ];
        assert_eq!(
            match_table(&table, &net, &ident(1, 1, 1)).map(|m| m.0),
            Some(1)
        );
        assert_eq!(
            match_table(&table, &net, &ident(9, 2, 1)).map(|m| m.0),
            Some(0)
        );
        assert_eq!(match_table(&table, &net, &ident(9, 1, 1)), None);
        let other = Key::new(b"Network").unwrap();
        assert_eq!(match_table(&table, &other, &ident(1, 1, 1)), None);
        // A terminator ends the table.
        let term = [
            ServiceId {
                match_flags: 0,
                ..ServiceId::service(b"", 0)
            },
            ServiceId::service(b"network", 1),
        ];
        assert_eq!(match_table(&term, &net, &ident(1, 1, 1)), None);
        // Revision flag.
        let rev = [ServiceId {
            match_flags: MATCH_REVISION,
            protocol_revision: 3,
            ..ServiceId::service(b"", 0)
        }];
        assert!(match_table(&rev, &net, &ident(0, 0, 3)).is_some());
        assert!(match_table(&rev, &net, &ident(0, 0, 4)).is_none());
    }

    #[test]
    fn module_alias_spec_04_2_1() {
        assert_eq!(
            ServiceId::service(b"network", 1).module_alias(),
            "tbsvc:knetworkp00000001v*r*"
        );
        let all = ServiceId {
            match_flags: MATCH_KEY | MATCH_ID | MATCH_VERSION | MATCH_REVISION,
            key: b"dma_test",
            protocol_id: 1,
            protocol_version: 1,
            protocol_revision: 0,
            driver_data: 0,
        };
        assert_eq!(
            all.module_alias(),
            "tbsvc:kdma_testp00000001v00000001r00000000*"
        );
    }
}
