//! Fuzzing entry point: byte strings as operation sequences against two hosts.

use tblink_proto::device::Key;
use tblink_proto::example::EchoDriver;
use tblink_proto::{Duration, LocalService};
use tblink_wire::ctl::FrameBuf;
use tblink_wire::uuid::{Uuid, XDOMAIN_DISCOVERY};
use tblink_wire::xdomain::{Header, Message, Seq, XdPacket};
use tblink_wire::{Pdf, Route};

use crate::{Faults, Sim, scenario};

/// A little reader over the fuzz input.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Interpret `data` as operations on a pair of hosts (each with the echo
/// driver and a `network` service) and check invariants after each:
/// deliver/drop/corrupt/duplicate frames (via fault settings and steps),
/// advance time, plug/unplug, add/remove services, inject random and
/// crafted frames. Panics (the fuzzer's signal) if an invariant breaks.
#[allow(clippy::panic)]
pub fn fuzz_operations(data: &[u8]) {
    let mut input = Bytes(data);
    let seed = u64::from(input.byte().unwrap_or(0));
    let mut sim = Sim::new(seed);
    let t = scenario::pair(&mut sim, seed);
    for &h in &t.hosts {
        let _ = sim
            .host_mut(h)
            .register_driver(Box::new(EchoDriver::default()));
    }
    let cable = t.cables[0];
    let mut steps = 0u32;
    while let Some(op) = input.byte() {
        let arg = input.byte().unwrap_or(0);
        let h = t.hosts[usize::from(arg & 1)];
        let now = sim.now();
        match op % 10 {
            0 | 1 => {
                for _ in 0..=(arg % 8) {
                    sim.step();
                    steps += 1;
                }
            }
            2 => sim.advance(Duration::from_millis(u64::from(arg) * 20)),
            3 => {
                if sim.is_plugged(cable) {
                    sim.unplug(cable);
                } else {
                    sim.replug(cable);
                }
            }
            4 => {
                let key = Key::new(format!("k{}", arg % 8).as_bytes()).unwrap_or_default();
                let svc = LocalService::standard(
                    key,
                    Uuid::from_u128(u128::from(arg)),
                    u32::from(arg),
                    1,
                    1,
                    0,
                );
                let _ = sim.host_mut(h).add_local_service(now, svc);
            }
            5 => {
                let key = Key::new(format!("k{}", arg % 8).as_bytes()).unwrap_or_default();
                let _ = sim.host_mut(h).remove_local_service(now, &key);
            }
            6 => {
                let f = Faults {
                    drop: f64::from(arg & 0x3) * 0.1,
                    corrupt: f64::from((arg >> 2) & 0x3) * 0.05,
                    duplicate: f64::from((arg >> 4) & 0x3) * 0.1,
                    jitter: Duration::from_micros(u64::from(arg >> 6) * 10),
                };
                sim.set_faults(cable, f);
            }
            7 => {
                // A raw frame of any PDF and contents (the CRC is usually wrong).
                let len = usize::from(input.byte().unwrap_or(0) % 64) * 4 + 4;
                let mut bytes = input.take(len).to_vec();
                bytes.resize(len, 0);
                if let Ok(f) = FrameBuf::from_wire(Pdf::new(arg >> 1), &bytes) {
                    sim.deliver_raw(h, &f);
                }
            }
            8 => {
                // A well-sealed discovery frame with random type and payload.
                let dwords = usize::from(input.byte().unwrap_or(0) % 20);
                let payload = input.take(dwords * 4).to_vec();
                let ty = u32::from(input.byte().unwrap_or(0) % 20);
                let total = 32 + payload.len();
                let pdf = if arg & 2 == 0 {
                    Pdf::XDOMAIN_REQ
                } else {
                    Pdf::XDOMAIN_RESP
                };
                if let Ok(hdr) = Header::for_body(
                    Route::from_raw(1),
                    Seq::new(arg >> 2),
                    XDOMAIN_DISCOVERY,
                    total,
                ) && let Ok(f) = FrameBuf::build(pdf, |b| {
                    hdr.emit(b)?;
                    b[28..32].copy_from_slice(&ty.to_be_bytes());
                    b[32..total].copy_from_slice(&payload);
                    Ok(total)
                }) {
                    sim.deliver_raw(h, &f);
                }
            }
            _ => {
                // Inject from a host with an arbitrary route (routing checks).
                let r = Route::from_raw(
                    u64::from(input.byte().unwrap_or(0)) << (8 * u32::from(arg % 3)),
                );
                if let Ok(f) = XdPacket::new(r, Seq::new(0), Message::UuidRequest).to_frame() {
                    sim.inject(h, f);
                }
            }
        }
        check_invariants(&sim);
    }
    // Let everything settle for a while; still no panic, still bounded.
    let mut n = 0;
    while n < 10_000
        && steps < 1_000_000
        && sim.now() < tblink_proto::Instant::from_nanos(3_600_000_000_000)
    {
        if !sim.step() {
            break;
        }
        n += 1;
        steps += 1;
    }
    check_invariants(&sim);
}

#[allow(clippy::panic)]
fn check_invariants(sim: &Sim) {
    for h in sim.hosts() {
        let host = sim.host(h);
        let peers = host.peer_routes().count();
        if host.outstanding_requests() > 2 * peers {
            panic!("{} requests for {peers} peers", host.outstanding_requests());
        }
        if host.queued_frames() > host.config().tx_queue
            || host.queued_events() > host.config().event_queue
        {
            panic!("queues over their bounds");
        }
        for xd in host.xdomains() {
            if xd.services.len() > host.config().max_services || xd.block_len > 500 {
                panic!("peer state over its bounds");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    #[test]
    fn a_few_hundred_random_inputs() {
        let mut rng = Rng::new(0xf022);
        for i in 0..300 {
            let len = rng.below(400) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            fuzz_operations(&data);
            if i == 0 {
                fuzz_operations(&[]);
            }
        }
    }
}
