//! Wall time of a whole simulated discovery, from plug to every host having
//! enumerated all its neighbours, for 2, 16 and 64 hosts (results in
//! BENCHMARKS.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tblink_proto::Duration;
use tblink_sim::{Sim, scenario};

fn run(hosts: usize) -> Sim {
    let mut sim = Sim::new(1);
    if hosts == 2 {
        scenario::pair(&mut sim, 1);
    } else {
        scenario::ring(&mut sim, 1, hosts);
    }
    assert!(sim.run_until(|s| s.converged(), Duration::from_secs(60)));
    sim
}

fn discovery(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulated discovery");
    for hosts in [2usize, 16, 64] {
        let sim = run(hosts);
        eprintln!("{hosts} hosts: converged at simulated t = {:?}", sim.now());
        g.bench_with_input(BenchmarkId::from_parameter(hosts), &hosts, |b, &n| {
            b.iter(|| run(n))
        });
    }
    g.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
