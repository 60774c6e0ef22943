//! Wire-format benchmarks: CRC-32C on control-frame sized buffers, and
//! parsing and formatting a 500-dword property block (the largest a Linux
//! requester accepts). Results and the command are in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tblink_wire::property::Directory;
use tblink_wire::uuid::NETWORK_DIRECTORY;

/// A Linux-shaped root (spec 03 §8.1) grown with service directories and a
/// data property until the block is exactly 500 dwords.
fn block_500() -> Directory {
    let mut root = Directory::new();
    root.add_immediate("vendorid", 0x8086).unwrap();
    root.add_text("vendorid", "Intel Corp.").unwrap();
    root.add_immediate("deviceid", 0x1).unwrap();
    root.add_immediate("devicerv", 0x8000_0100).unwrap();
    for i in 0..18u32 {
        let key = format!("svc{i:02}");
        let dir = root.add_directory(&key, NETWORK_DIRECTORY).unwrap();
        dir.add_immediate("prtcid", 1).unwrap();
        dir.add_immediate("prtcvers", 1).unwrap();
        dir.add_immediate("prtcrevs", 1).unwrap();
        dir.add_immediate("prtcstns", i).unwrap();
    }
    root.add_text("deviceid", "benchmark-host").unwrap();
    root.add_immediate("maxhopid", 15).unwrap();
    let have = root.block_len().unwrap();
    assert!(have < 500, "base block is {have} dwords");
    // A data entry costs 4 dwords of entry plus its payload.
    let pad = 500 - have - 4;
    root.add_data("padding", vec![0x5a; pad * 4]).unwrap();
    assert_eq!(root.block_len().unwrap(), 500);
    root
}

fn crc(c: &mut Criterion) {
    let pkt = [0xa5u8; 252];
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(pkt.len() as u64));
    g.bench_function("252-byte frame body (256-byte frame)", |b| {
        b.iter(|| tblink_wire::crc::crc32c(black_box(&pkt)))
    });
    g.finish();
}

fn memcpy(c: &mut Criterion) {
    let src = [0xa5u8; 2000];
    let mut dst = [0u8; 2000];
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.bench_function("memcpy 2000 bytes", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    g.finish();
}

fn property(c: &mut Criterion) {
    let tree = block_500();
    let bytes = tree.format_bytes().unwrap();
    assert_eq!(bytes.len(), 2000);
    let mut g = c.benchmark_group("property block 500 dwords");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| Directory::parse(black_box(&bytes)).unwrap())
    });
    g.bench_function("format", |b| b.iter(|| black_box(&tree).format().unwrap()));
    g.finish();
}

criterion_group!(benches, crc, memcpy, property);
criterion_main!(benches);
