//! Discovery under loss, corruption, duplication and reordering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{MINUTE, NetDriver};
use tblink_proto::Event;
use tblink_sim::{Faults, Sim, scenario};
use tblink_wire::Route;

fn run_seed(seed: u64, faults: Faults) -> (u64, u64) {
    let mut sim = Sim::new(seed);
    let t = scenario::pair(&mut sim, seed);
    for &h in &t.hosts {
        sim.host_mut(h)
            .register_driver(Box::new(NetDriver::default()))
            .unwrap();
    }
    sim.set_all_faults(faults);
    let ok = sim.run_until(|s| s.converged(), 10 * MINUTE);
    assert!(ok, "seed {seed}: {:?}", sim.check_truth());
    let mut crc = 0;
    for &h in &t.hosts {
        // Nothing but the true `network` service ever reached the device
        // model or a driver (the driver also checks the modalias).
        for (_, e) in sim.log(h) {
            match e {
                Event::ServiceAdded { key, modalias, .. } => {
                    assert_eq!(key.as_bytes(), b"network", "seed {seed}");
                    assert_eq!(modalias, "tbsvc:knetworkp00000001v00000001r00000001");
                }
                Event::DiscoveryFailed { .. } | Event::Disconnected { .. } => {
                    panic!("seed {seed}: {e:?}")
                }
                _ => {}
            }
        }
        assert_eq!(
            sim.log(h)
                .iter()
                .filter(|(_, e)| matches!(e, Event::Connected { .. }))
                .count(),
            1
        );
        crc += sim.host(h).stats().crc_errors;
        assert!(sim.host(h).outstanding_requests() <= 2);
        assert!(sim.time_to_enumerate(h, Route::from_raw(1)).is_some());
    }
    (sim.stats.corrupted, crc)
}

#[test]
fn loss_30_corrupt_5_converges_for_200_seeds() {
    let f = Faults {
        drop: 0.3,
        corrupt: 0.05,
        ..Faults::NONE
    };
    let (mut corrupted, mut caught) = (0, 0);
    for seed in 0..200 {
        let (c, k) = run_seed(seed, f);
        corrupted += c;
        caught += k;
    }
    // Every corrupted frame that reached a host was caught by the CRC (some
    // were lost after being corrupted, so caught ≤ corrupted).
    assert!(corrupted > 100, "{corrupted}");
    assert!(caught > 50 && caught <= corrupted, "{caught}/{corrupted}");
}

#[test]
fn duplicates_and_reordering_converge() {
    let f = Faults {
        drop: 0.1,
        corrupt: 0.02,
        duplicate: 0.2,
        jitter: tblink_proto::Duration::from_micros(20),
    };
    for seed in 1000..1060 {
        run_seed(seed, f);
    }
}
