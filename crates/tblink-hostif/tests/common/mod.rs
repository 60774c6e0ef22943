#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use tblink_hostif::cable::Cable;
use tblink_hostif::{
    DmaBuf, DmaPaths, EmulatedNhi, HopDir, HostInterface, LinkEvent, NhiConfig, RingConfig, RingId,
    TxFrame,
};
use tblink_wire::Pdf;

pub fn cfg() -> NhiConfig {
    NhiConfig {
        throttle: Duration::ZERO,
        ..NhiConfig::default()
    }
}

/// Process both controllers until each has reported link up on its adapter.
pub fn link_up(x: &mut EmulatedNhi, xa: u8, y: &mut EmulatedNhi, ya: u8) {
    let (mut ux, mut uy) = (false, false);
    let t = Instant::now();
    while !(ux && uy) {
        assert!(t.elapsed() < Duration::from_secs(5), "link did not come up");
        while let Some(e) = x.poll_event() {
            if matches!(e, LinkEvent::Up { adapter, .. } if adapter == xa) {
                ux = true;
            }
        }
        while let Some(e) = y.poll_event() {
            if matches!(e, LinkEvent::Up { adapter, .. } if adapter == ya) {
                uy = true;
            }
        }
        std::thread::yield_now();
    }
}

/// Two controllers joined by `a`/`b` on adapters 1 and 3, link up.
pub fn pair_with(a: impl Cable + 'static, b: impl Cable + 'static) -> (EmulatedNhi, EmulatedNhi) {
    pair_cfg(a, b, cfg())
}

/// [`pair_with`] with controllers configured as `c`.
pub fn pair_cfg(
    a: impl Cable + 'static,
    b: impl Cable + 'static,
    c: NhiConfig,
) -> (EmulatedNhi, EmulatedNhi) {
    let mut x = EmulatedNhi::new(c);
    let mut y = EmulatedNhi::new(c);
    x.attach(1, a).unwrap();
    y.attach(3, b).unwrap();
    link_up(&mut x, 1, &mut y, 3);
    (x, y)
}

pub fn inproc_pair() -> (EmulatedNhi, EmulatedNhi) {
    let (a, b) = tblink_hostif::cable::inproc::pair().unwrap();
    pair_with(a, b)
}

/// TX ring on `x` (adapter 1) → HopID 8 → RX ring on `y` (adapter 3).
/// Linux ThunderboltIP order: rings started, then paths enabled (spec 05 §13).
pub fn data_path(
    x: &mut EmulatedNhi,
    y: &mut EmulatedNhi,
    tx_e2e: bool,
    rx: RingConfig,
) -> (u8, u8) {
    let mut tcfg = RingConfig::tx(256);
    if tx_e2e {
        tcfg = tcfg.e2e(0);
    }
    let tx = x.alloc_ring(tcfg).unwrap();
    x.start_ring(tx).unwrap();
    let out = x
        .alloc_hopid(1, HopDir::Out { remote_max: 15 }, None)
        .unwrap();
    assert_eq!(out, 8);
    let rxr = y.alloc_ring(rx).unwrap();
    y.start_ring(rxr).unwrap();
    let inh = y.alloc_hopid(3, HopDir::In, Some(out)).unwrap();
    y.enable_paths(
        3,
        DmaPaths {
            transmit_path: 8,
            transmit_ring: None,
            receive_path: inh,
            receive_ring: Some(rxr.number),
        },
    )
    .unwrap();
    x.enable_paths(
        1,
        DmaPaths {
            transmit_path: out,
            transmit_ring: Some(tx.number),
            receive_path: 8,
            receive_ring: None,
        },
    )
    .unwrap();
    (tx.number, rxr.number)
}

pub fn frame(len: usize, seq: u32, sof: u8, eof: u8) -> TxFrame {
    let mut b = DmaBuf::new();
    fill(&mut b, len, seq);
    TxFrame {
        buf: b,
        len,
        sof: Pdf::new(sof),
        eof: Pdf::new(eof),
    }
}

pub fn fill(b: &mut DmaBuf, len: usize, seq: u32) {
    let s = b.as_mut_slice();
    for (i, x) in s[..len].iter_mut().enumerate() {
        *x = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    if len >= 4 {
        s[..4].copy_from_slice(&seq.to_le_bytes());
    }
}

pub fn seq_of(data: &[u8]) -> u32 {
    u32::from_le_bytes([data[0], data[1], data[2], data[3]])
}

pub fn check(data: &[u8], seq: u32) {
    assert_eq!(seq_of(data), seq);
    for (i, x) in data.iter().enumerate().skip(4) {
        assert_eq!(
            *x,
            (i as u32).wrapping_mul(31).wrapping_add(seq) as u8,
            "byte {i} of frame {seq}"
        );
    }
}

pub fn rx_id(n: u8) -> RingId {
    RingId {
        dir: tblink_hostif::Dir::Rx,
        number: n,
    }
}

pub fn tx_id(n: u8) -> RingId {
    RingId {
        dir: tblink_hostif::Dir::Tx,
        number: n,
    }
}

/// Send `n` 4 KiB frames x→y (E2E both ends) and 10 control frames each way;
/// check content and order. Works with any cable.
pub fn exercise(x: &mut EmulatedNhi, y: &mut EmulatedNhi, n: u32) {
    use tblink_wire::ctl::FrameBuf;
    // Control rings.
    for h in [&mut *x, &mut *y] {
        for d in [tblink_hostif::Dir::Tx, tblink_hostif::Dir::Rx] {
            let r = h.alloc_ring(RingConfig::control(d)).unwrap();
            h.start_ring(r).unwrap();
        }
        for _ in 0..9 {
            h.post_rx(0, DmaBuf::new()).unwrap();
        }
    }
    let (tx, rx) = data_path(x, y, true, RingConfig::rx(256, 1 << 1, 1 << 2).e2e(1));
    for _ in 0..255 {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    let mut spare: Vec<DmaBuf> = (0..64).map(|_| DmaBuf::new()).collect();
    let (mut sent, mut got) = (0u32, 0u32);
    let (mut ctl_sent, mut ctl_got) = (0u32, 0u32);
    let t = Instant::now();
    while got < n || ctl_got < 10 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "stalled: sent {sent} got {got} ctl {ctl_got}"
        );
        if ctl_sent < 10 {
            // XDomain request to the peer behind adapter 1 (route 0x1).
            let mut body = [0u8; 16];
            body[7] = 1;
            body[8..12].copy_from_slice(&ctl_sent.to_be_bytes());
            let f = FrameBuf::seal(Pdf::XDOMAIN_REQ, &body).unwrap();
            if x.post_tx(0, TxFrame::control(DmaBuf::new(), &f)).is_ok() {
                ctl_sent += 1;
            }
        }
        while sent < n {
            let Some(mut b) = spare.pop() else { break };
            fill(&mut b, 4096, sent);
            match x.post_tx(tx, TxFrame::data(b, 4096)) {
                Ok(()) => sent += 1,
                Err(r) => {
                    spare.push(r.item.buf);
                    break;
                }
            }
        }
        while let Some(c) = x.poll_tx(tx) {
            spare.push(c.buf);
        }
        while x.poll_tx(0).is_some() {}
        while let Some(c) = y.poll_rx(rx) {
            assert!(!c.crc_error() && !c.overrun());
            assert_eq!(c.len(), 4096);
            check(c.data(), got);
            got += 1;
            y.post_rx(rx, c.buf).unwrap();
        }
        while let Some(c) = y.poll_rx(0) {
            let f = c.control_frame().unwrap();
            f.verify_crc().unwrap();
            assert_eq!(f.pdf(), Pdf::XDOMAIN_REQ);
            assert_eq!(c.sof().value(), 0);
            // Rewritten to y's route to its ingress adapter 3 (spec 01 §4).
            assert_eq!(&f.as_bytes()[..8], &[0, 0, 0, 0, 0, 0, 0, 3]);
            assert_eq!(
                u32::from_be_bytes(f.as_bytes()[8..12].try_into().unwrap()),
                ctl_got
            );
            ctl_got += 1;
            y.post_rx(0, c.buf).unwrap();
        }
        x.process();
        y.process();
    }
    assert_eq!(y.stats(rx_id(rx)).unwrap().dropped_no_desc, 0);
}

/// Two controllers that never spin before sleeping (a sender that spun
/// could pick up quietly published credits by luck and hide a lost
/// wake-up), joined by an in-process cable of `slots` slots, with an E2E
/// path from a TX ring on `x` to an RX ring of `size` on `y` that has
/// `posted` buffers.
pub fn e2e_pair_without_spin(
    slots: u32,
    size: u16,
    posted: usize,
) -> (EmulatedNhi, EmulatedNhi, u8, u8) {
    let (a, b) = tblink_hostif::cable::inproc::pair_with(slots).unwrap();
    let c = NhiConfig {
        spin: Duration::ZERO,
        ..cfg()
    };
    let (mut x, mut y) = pair_cfg(a, b, c);
    let (tx, rx) = data_path(
        &mut x,
        &mut y,
        true,
        RingConfig::rx(size, 1 << 1, 1 << 2).e2e(1),
    );
    for _ in 0..posted {
        y.post_rx(rx, DmaBuf::new()).unwrap();
    }
    (x, y, tx, rx)
}

/// Post numbered frames of `len` bytes (see [`fill`]) from `spare` until
/// `*sent` reaches `until`, `spare` runs dry or the TX ring is full (the
/// buffer then goes back to `spare`).
pub fn post_numbered(
    x: &mut EmulatedNhi,
    tx: u8,
    spare: &mut Vec<DmaBuf>,
    sent: &mut u32,
    until: u32,
    len: usize,
) {
    while *sent < until {
        let Some(mut b) = spare.pop() else { break };
        fill(&mut b, len, *sent);
        match x.post_tx(tx, TxFrame::data(b, len)) {
            Ok(()) => *sent += 1,
            Err(r) => {
                spare.push(r.item.buf);
                break;
            }
        }
    }
}
