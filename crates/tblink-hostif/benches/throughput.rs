//! Throughput and latency of the data path across two processes:
//! TX ring → shared-memory cable → RX ring, next to plain memcpy of the
//! same bytes measured in the same run.
//!
//! `cargo bench -p tblink-hostif --bench throughput` (the bench binary
//! re-executes itself as the receiving process). Optional arguments:
//! `frames=N` (default 2 000 000), `pings=N` (default 20 000), `cap=G`
//! (wrap the sending end in a [`LinkModel`] capped at G Gbit/s, as `tblink
//! host --link tb3|tb4|tb5` does with 20, 40 or 80; default: no cap).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tblink_hostif::Cable;
use tblink_hostif::cable::fault::LinkModel;
use tblink_hostif::cable::shm::ShmCable;
use tblink_hostif::{
    DmaBuf, DmaPaths, EmulatedNhi, HopDir, HostInterface, LinkEvent, NhiConfig, RingConfig, TxFrame,
};

const CHILD_ENV: &str = "TBLINK_BENCH_CHILD";
const DATA: usize = 4096;
const PING: usize = 64;
const QUIT: usize = 1;

fn controller(cable: impl Cable + 'static, adapter: u8) -> (EmulatedNhi, u8, u8) {
    let cfg = NhiConfig {
        throttle: Duration::ZERO,
        ..NhiConfig::default()
    };
    let mut n = EmulatedNhi::new(cfg);
    n.attach(adapter, cable).unwrap();
    let t = Instant::now();
    while !matches!(n.poll_event(), Some(LinkEvent::Up { .. })) {
        assert!(t.elapsed() < Duration::from_secs(10), "no link");
        n.wait(Duration::from_millis(1));
    }
    // ThunderboltIP-sized rings, E2E on both so nothing is dropped.
    let tx = n.alloc_ring(RingConfig::tx(256).e2e(0)).unwrap();
    let rx = n
        .alloc_ring(RingConfig::rx(256, 1 << 1, 1 << 2).e2e(1))
        .unwrap();
    n.start_ring(tx).unwrap();
    n.start_ring(rx).unwrap();
    for _ in 0..255 {
        n.post_rx(rx.number, DmaBuf::new()).unwrap();
    }
    let hop = n
        .alloc_hopid(adapter, HopDir::Out { remote_max: 15 }, None)
        .unwrap();
    n.alloc_hopid(adapter, HopDir::In, Some(hop)).unwrap();
    n.enable_paths(
        adapter,
        DmaPaths {
            transmit_path: hop,
            transmit_ring: Some(tx.number),
            receive_path: hop,
            receive_ring: Some(rx.number),
        },
    )
    .unwrap();
    (n, tx.number, rx.number)
}

/// The receiving process: count 4 KiB frames, echo 64-byte frames, report on QUIT.
fn child(path: &str) {
    let (mut n, tx, rx) = controller(ShmCable::connect(path), 3);
    println!("ready");
    let mut spare: Vec<DmaBuf> = (0..64).map(|_| DmaBuf::new()).collect();
    let (mut frames, mut bytes, mut expect) = (0u64, 0u64, 0u32);
    let (mut first, mut last) = (None, Instant::now());
    loop {
        let Some(c) = n.poll_rx(rx) else {
            while let Some(t) = n.poll_tx(tx) {
                spare.push(t.buf);
            }
            // Idle: take the interrupts, then spin briefly and sleep
            // (interrupt-driven, like a driver; latency pings arrive while
            // spinning).
            while n.poll_interrupt().is_some() {}
            n.wait(Duration::from_millis(1));
            continue;
        };
        match c.len() {
            DATA => {
                let seq = u32::from_le_bytes(c.data()[..4].try_into().unwrap());
                assert_eq!(seq, expect, "order");
                expect += 1;
                frames += 1;
                bytes += DATA as u64;
                last = Instant::now();
                first.get_or_insert(last);
                n.post_rx(rx, c.buf).unwrap();
            }
            PING => {
                let mut b = spare.pop().unwrap_or_default();
                b.as_mut_slice()[..PING].copy_from_slice(c.data());
                n.post_rx(rx, c.buf).unwrap();
                n.post_tx(tx, TxFrame::data(b, PING)).unwrap();
                n.process();
            }
            _ => break,
        }
    }
    let secs = first.map_or(0.0, |f| (last - f).as_secs_f64());
    println!("rx {frames} {bytes} {secs}");
}

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .find_map(|a| {
            a.strip_prefix(&format!("{name}="))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(default)
}

fn memcpy_gbps(total: u64) -> f64 {
    // Same shape as the data path: 4 KiB frames from a rotating set of
    // source buffers into a rotating set of destination buffers.
    let src: Vec<DmaBuf> = (0..64).map(|_| DmaBuf::new()).collect();
    let mut dst: Vec<DmaBuf> = (0..256).map(|_| DmaBuf::new()).collect();
    let n = total / DATA as u64;
    let t = Instant::now();
    for i in 0..n as usize {
        let s = &src[i % src.len()];
        let k = i % dst.len();
        dst[k]
            .as_mut_slice()
            .copy_from_slice(std::hint::black_box(s.as_slice()));
    }
    std::hint::black_box(&dst);
    (n * DATA as u64 * 8) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    if let Ok(p) = std::env::var(CHILD_ENV) {
        child(&p);
        return;
    }
    let frames = arg("frames", 2_000_000);
    let pings = arg("pings", 20_000);
    let dir = std::env::temp_dir().join(format!("tblink-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cable.sock");
    let listener = ShmCable::listen(&path).unwrap();
    let mut kid = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(kid.stdout.take().unwrap());
    let cap = arg("cap", 0);
    let (mut n, tx, rx) = if cap > 0 {
        let capped = LinkModel::new(listener, Some(cap as f64), Duration::ZERO);
        controller(capped, 1)
    } else {
        controller(listener, 1)
    };
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    // Throughput: keep the TX ring full; buffers are reused.
    let mut spare: Vec<DmaBuf> = (0..255).map(|_| DmaBuf::new()).collect();
    let mut sent = 0u64;
    let t = Instant::now();
    while sent < frames || spare.len() < 255 {
        while sent < frames {
            let Some(mut b) = spare.pop() else { break };
            b.as_mut_slice()[..4].copy_from_slice(&(sent as u32).to_le_bytes());
            match n.post_tx(tx, TxFrame::data(b, DATA)) {
                Ok(()) => sent += 1,
                Err(r) => {
                    spare.push(r.item.buf);
                    break;
                }
            }
        }
        let before = spare.len();
        while let Some(c) = n.poll_tx(tx) {
            spare.push(c.buf);
        }
        if spare.len() == before {
            while n.poll_interrupt().is_some() {}
            n.wait(Duration::from_millis(1));
        }
    }
    let tx_secs = t.elapsed().as_secs_f64();

    // Latency: one 64-byte frame at a time, echoed back; one way = RTT / 2.
    let mut rtts = Vec::with_capacity(pings as usize);
    for i in 0..pings {
        let mut b = spare.pop().unwrap();
        b.as_mut_slice()[..4].copy_from_slice(&(i as u32).to_le_bytes());
        let t0 = Instant::now();
        n.post_tx(tx, TxFrame::data(b, PING)).unwrap();
        n.process();
        let c = loop {
            if let Some(c) = n.poll_rx(rx) {
                break c;
            }
        };
        rtts.push(t0.elapsed());
        n.post_rx(rx, c.buf).unwrap();
        while let Some(c) = n.poll_tx(tx) {
            spare.push(c.buf);
        }
    }
    let b = spare.pop().unwrap();
    n.post_tx(tx, TxFrame::data(b, QUIT)).unwrap();
    n.process();
    line.clear();
    out.read_line(&mut line).unwrap();
    kid.wait().unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.first(), Some(&"rx"), "child said {line:?}");
    let rx_frames: u64 = f[1].parse().unwrap();
    let rx_bytes: u64 = f[2].parse().unwrap();
    let rx_secs: f64 = f[3].parse().unwrap();
    assert_eq!(rx_frames, frames, "frames lost");

    let gbps = rx_bytes as f64 * 8.0 / rx_secs / 1e9;
    let mem = memcpy_gbps(rx_bytes.min(8 << 30));
    rtts.sort();
    let pct = |p: f64| rtts[((rtts.len() as f64 * p) as usize).min(rtts.len() - 1)] / 2;
    let capped = if cap > 0 {
        format!(", sender capped at {cap} Gbit/s by the link model")
    } else {
        String::new()
    };
    println!("shm cable, two processes, 4 KiB frames, TX ring 256 → RX ring 256 (E2E){capped}:");
    println!(
        "  throughput   {gbps:6.1} Gbit/s  {:9.0} frames/s  ({rx_frames} frames in {rx_secs:.2} s; sender {tx_secs:.2} s)",
        rx_frames as f64 / rx_secs
    );
    println!("  memcpy       {mem:6.1} Gbit/s  (same bytes, 4 KiB copies, one thread)");
    println!(
        "  latency 64 B one way (RTT/2; sender busy-polls, echo side spins 20 µs then sleeps; {} samples): median {:?}, p99 {:?}",
        rtts.len(),
        pct(0.5),
        pct(0.99)
    );
    drop(n);
    let _ = std::fs::remove_dir_all(&dir);
}
