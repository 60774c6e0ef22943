//! A 500-dword block read in many pages while its generation changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::MINUTE;
use tblink_proto::device::Key;
use tblink_proto::{Event, LocalService, MisuseError, ProtoError};
use tblink_sim::{NodeId, Sim, scenario};
use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

fn svc(i: u32) -> LocalService {
    LocalService::standard(
        Key::new(format!("svc{i}").as_bytes()).unwrap(),
        Uuid::from_u128(u128::from(i) + 100),
        i,
        1,
        1,
        0,
    )
}

/// Two hosts; B's block is one service short of exactly 500 dwords (the
/// largest a Linux requester accepts, spec 02 §4.4). Each service
/// directory costs 25 dwords; B's 80-character host name makes the block
/// land on 500 exactly.
fn setup(seed: u64, snapshots: bool) -> (Sim, NodeId, NodeId, u32) {
    let mut sim = Sim::new(seed);
    let a = sim.add_host(scenario::host_config(0, seed));
    let b = sim.add_host(tblink_proto::HostConfig {
        serve_snapshots: snapshots,
        host_name: format!("host1-{}", "x".repeat(74)),
        ..scenario::host_config(1, seed)
    });
    let mut n = 0;
    loop {
        match sim
            .host_mut(b)
            .add_local_service(tblink_proto::Instant::ZERO, svc(n))
        {
            Ok(()) => n += 1,
            Err(ProtoError::Misuse(MisuseError::BlockTooLarge)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let now = sim.now();
    sim.host_mut(b)
        .remove_local_service(now, &svc(n - 1).key)
        .unwrap();
    assert_eq!(sim.host(b).local_block().len(), 500 - 25);
    sim.connect((a, 1), (b, 1));
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    (sim, a, b, n - 1)
}

fn change_mid_read(sim: &mut Sim, a: NodeId, b: NodeId, n: u32) {
    let r = Route::from_raw(1);
    let now = sim.now();
    sim.host_mut(b).add_local_service(now, svc(n)).unwrap();
    assert_eq!(sim.host(b).local_block().len(), 500);
    assert!(sim.run_until(
        |s| s.host(a).fetch_progress(r).is_some_and(|(o, _)| o >= 45),
        MINUTE
    ));
    let now = sim.now();
    sim.host_mut(b)
        .remove_local_service(now, &svc(0).key)
        .unwrap();
    assert!(sim.run_until(|s| s.converged(), MINUTE));
    sim.check_truth().unwrap();
    // Every block A accepted was one B really served: the generations A
    // reported are exactly B's, in order, and the final view matches.
    let gens: Vec<u32> = sim
        .log(a)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Connected { generation, .. } | Event::Changed { generation, .. } => {
                Some(*generation)
            }
            _ => None,
        })
        .collect();
    assert!(gens.windows(2).all(|w| w[0] < w[1]), "{gens:?}");
    assert_eq!(gens.last(), Some(&sim.host(b).generation()));
}

#[test]
fn generation_change_mid_read_without_snapshots_restarts() {
    let (mut sim, a, b, n) = setup(21, false);
    change_mid_read(&mut sim, a, b, n);
    // The pages disagreed, so the read restarted from offset 0 (spec 02 §8.3).
    assert!(sim.host(a).stats().inconsistent_reads >= 1);
}

#[test]
fn generation_change_mid_read_with_snapshots_is_consistent() {
    let (mut sim, a, b, n) = setup(22, true);
    change_mid_read(&mut sim, a, b, n);
    assert_eq!(sim.host(a).stats().inconsistent_reads, 0);
}
