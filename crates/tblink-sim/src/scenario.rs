//! Ready-made topologies and host configurations.

use tblink_proto::device::Key;
use tblink_proto::{HostConfig, LocalService};
use tblink_wire::uuid::{NETWORK_DIRECTORY, Uuid};

use crate::{CableId, NodeId, ROUTER_UPSTREAM, Sim};

/// A host configuration with a UUID and name derived from `index` and `seed`.
pub fn host_config(index: usize, seed: u64) -> HostConfig {
    let hi = 0x7b11_0000_0000_4000u128 | ((seed as u128 & 0xffff) << 16);
    HostConfig {
        uuid: Uuid::from_u128((hi << 64) | 0x8000_0000_0000_0000 | index as u128),
        host_name: format!("host{index}"),
        seed: seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        max_hop_id: 19,
        ..HostConfig::default()
    }
}

/// The `network` service as Linux publishes it (spec 03 §8.2: prtcid 1,
/// prtcvers 1, prtcrevs 1, prtcstns 0x7).
pub fn network_service() -> LocalService {
    let key = Key::new(b"network").unwrap_or_default();
    LocalService::standard(key, NETWORK_DIRECTORY, 1, 1, 1, 7)
}

/// A built topology.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Hosts in order.
    pub hosts: Vec<NodeId>,
    /// Device routers in order.
    pub routers: Vec<NodeId>,
    /// Cables in order.
    pub cables: Vec<CableId>,
}

/// Hosts from `host_config(i, seed)`, each publishing `network`.
fn add_hosts(sim: &mut Sim, n: usize, seed: u64) -> Vec<NodeId> {
    (0..n)
        .map(|i| {
            let h = sim.add_host(host_config(i, seed));
            let now = sim.now();
            // The base block plus one `network` directory always fits.
            let _ = sim.host_mut(h).add_local_service(now, network_service());
            h
        })
        .collect()
}

/// Two hosts, one cable between their adapters 1.
pub fn pair(sim: &mut Sim, seed: u64) -> Topology {
    let hosts = add_hosts(sim, 2, seed);
    let c = sim.connect((hosts[0], 1), (hosts[1], 1));
    Topology {
        hosts,
        routers: Vec::new(),
        cables: vec![c],
    }
}

/// Two hosts with `k` device routers between them, all in the first
/// host's domain: host 0 adapter 1 → R1 … each router's adapter 3 → the
/// next router's upstream → … Rk adapter 3 → host 1 adapter 1. Host 0
/// sees host 1 at depth `k + 1` (e.g. `0x3030301` for k = 3).
pub fn chain(sim: &mut Sim, seed: u64, k: usize) -> Topology {
    let hosts = add_hosts(sim, 2, seed);
    let routers: Vec<NodeId> = (0..k).map(|_| sim.add_router()).collect();
    let mut cables = Vec::new();
    let mut prev = (hosts[0], 1u8);
    for &r in &routers {
        cables.push(sim.connect(prev, (r, ROUTER_UPSTREAM)));
        prev = (r, 3);
    }
    cables.push(sim.connect(prev, (hosts[1], 1)));
    Topology {
        hosts,
        routers,
        cables,
    }
}

/// `n` hosts in a ring: host i adapter 1 ↔ host i+1 adapter 3.
pub fn ring(sim: &mut Sim, seed: u64, n: usize) -> Topology {
    let hosts = add_hosts(sim, n, seed);
    let cables = (0..n)
        .map(|i| sim.connect((hosts[i], 1), (hosts[(i + 1) % n], 3)))
        .collect();
    Topology {
        hosts,
        routers: Vec::new(),
        cables,
    }
}
