//! Wire-format benchmarks (see BENCHMARKS.md).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn crc(c: &mut Criterion) {
    let pkt = [0xa5u8; 252];
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(pkt.len() as u64));
    g.bench_function("252-byte body", |b| {
        b.iter(|| tblink_wire::crc::crc32c(black_box(&pkt)))
    });
    g.finish();
}

criterion_group!(benches, crc);
criterion_main!(benches);
