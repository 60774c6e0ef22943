//! Shared helpers for the scenario tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tblink_proto::device::{Service, XDomain};
use tblink_proto::driver::{DriverContext, ProbeError, ServiceDriver, ServiceId};
use tblink_proto::{Duration, Event};
use tblink_sim::{NodeId, Sim};

/// A test driver for `network` (prtcid 1): records probes and removes.
#[derive(Debug, Default)]
pub struct NetDriver {
    pub probed: Vec<String>,
    pub removed: Vec<String>,
}

impl ServiceDriver for NetDriver {
    fn name(&self) -> &str {
        "test-net"
    }
    fn id_table(&self) -> &[ServiceId] {
        const IDS: &[ServiceId] = &[ServiceId::service(b"network", 1)];
        IDS
    }
    fn probe(
        &mut self,
        _: &mut DriverContext<'_>,
        _: &XDomain,
        s: &Service,
        _: &ServiceId,
    ) -> Result<(), ProbeError> {
        assert_eq!(s.modalias(), "tbsvc:knetworkp00000001v00000001r00000001");
        self.probed.push(s.name.clone());
        Ok(())
    }
    fn remove(&mut self, _: &mut DriverContext<'_>, _: &XDomain, s: &Service) {
        self.removed.push(s.name.clone());
    }
}

pub fn count(sim: &Sim, h: NodeId, f: impl Fn(&Event) -> bool) -> usize {
    sim.log(h).iter().filter(|(_, e)| f(e)).count()
}

pub const MINUTE: Duration = Duration::from_secs(60);
