//! The demo without root: the same two hosts in this one process, each
//! with a userspace TCP/IP stack (smoltcp) on its ThunderboltIP interface.
//!
//! Each host is a [`Runtime`] with the `network` driver and the same
//! ThunderboltIP extension `tblink host --net` runs, whose interfaces are
//! in-memory frame queues ([`QueueDevices`]) instead of TAPs. Once both
//! are logged in, an smoltcp [`Interface`] is put on each queue (its
//! `phy::Device` is [`QueuePhy`]) with the interface's MAC and the root
//! path's addresses. Everything runs on this thread: the runtimes'
//! `turn()` moves control frames and DMA rings, smoltcp's `poll` moves
//! IP, and the demo's ping and TCP test act on the sockets between them.
//! The loop sleeps only when neither made progress, for at most the
//! smallest of smoltcp's next deadline and a short slice.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::{icmp, tcp};
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, Ipv4Address,
};
use tblink_host::net::{NetOptions, enable_networking_with};
use tblink_host::{Handed, HostOptions, Runtime, Snapshot};
use tblink_hostif::cable::inproc;
use tblink_net::queue::{QueueDevices, QueueEnd};

use super::{
    ADDR_A, ADDR_B, LinkKind, NAMES, Progress, TCP_PORT, UP_LIMIT, mac_str, net_line, ping_line,
    throughput_line, timeline_table,
};

/// Echo requests sent (as `ping -c 20` on the root path).
pub const PINGS: u16 = 20;
/// Bytes of ICMP echo data (ping's default).
const PING_DATA: usize = 56;
/// How long one echo reply may take.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// TCP socket buffers per direction: the receive window (scaled).
const TCP_BUFFER: usize = 1 << 20;
/// Frames per direction the queue between data path and stack holds.
const QUEUE_FRAMES: usize = 512;
/// `Interface::poll` rounds per step: each sends at most one segment per
/// socket, so a few rounds fill the queue.
const POLL_ROUNDS: usize = 64;
/// Longest sleep of an idle loop.
const IDLE_SLICE: Duration = Duration::from_micros(200);
/// Stream pattern period (prime, so it never lines up with segments).
const PERIOD: usize = 251;

/// What the userspace run needs from the command line.
#[derive(Debug)]
pub struct Options {
    /// Interface MTU.
    pub mtu: u32,
    /// Seconds of TCP test per direction.
    pub duration: Duration,
    /// Emulated link speed.
    pub link: LinkKind,
    /// Set by SIGINT/SIGTERM.
    pub interrupted: Arc<AtomicBool>,
}

/// smoltcp's view of a queue interface.
#[derive(Debug)]
pub struct QueuePhy {
    end: QueueEnd,
    mtu: usize,
}

impl QueuePhy {
    /// A device over `end` with the interface's MTU.
    pub fn new(end: QueueEnd) -> Self {
        let mtu = usize::try_from(end.mtu()).unwrap_or(1500);
        QueuePhy { end, mtu }
    }
}

/// A received frame.
#[derive(Debug)]
pub struct QueueRx<'a> {
    end: &'a QueueEnd,
    frame: Vec<u8>,
}

impl RxToken for QueueRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        self.end.recycle(self.frame);
        r
    }
}

/// Room for one frame to send.
#[derive(Debug)]
pub struct QueueTx<'a> {
    end: &'a QueueEnd,
}

impl TxToken for QueueTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // Room was checked when the token was made; a reply built while
        // receiving can still find the queue full, and is then dropped
        // (counted), as a full device queue drops.
        self.end.send_with(len, f).0
    }
}

impl Device for QueuePhy {
    type RxToken<'a> = QueueRx<'a>;
    type TxToken<'a> = QueueTx<'a>;

    fn receive(&mut self, _now: NetInstant) -> Option<(QueueRx<'_>, QueueTx<'_>)> {
        let frame = self.end.recv()?;
        Some((
            QueueRx {
                end: &self.end,
                frame,
            },
            QueueTx { end: &self.end },
        ))
    }

    fn transmit(&mut self, _now: NetInstant) -> Option<QueueTx<'_>> {
        self.end.can_send().then_some(QueueTx { end: &self.end })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu + 14;
        caps
    }
}

/// One host's TCP/IP stack.
struct Stack {
    iface: Interface,
    phy: QueuePhy,
    sockets: SocketSet<'static>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").field("phy", &self.phy).finish()
    }
}

impl Stack {
    fn new(end: QueueEnd, addr: Ipv4Address, now: NetInstant, seed: u64) -> Self {
        let mut phy = QueuePhy::new(end);
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(phy.end.mac())));
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut phy, now);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(addr), 24));
        });
        Stack {
            iface,
            phy,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    /// Poll until quiet or for [`POLL_ROUNDS`]; whether anything moved.
    fn poll(&mut self, now: NetInstant) -> bool {
        let mut any = false;
        for _ in 0..POLL_ROUNDS {
            match self.iface.poll(now, &mut self.phy, &mut self.sockets) {
                PollResult::None => break,
                PollResult::SocketStateChanged => any = true,
            }
        }
        any
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

fn new_tcp() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    // Bulk transfer: no delayed ACKs holding the sender back, no Nagle.
    s.set_ack_delay(None);
    s.set_nagle_enabled(false);
    s
}

/// Both hosts and their stacks, driven from this thread.
struct World {
    rts: [Runtime; 2],
    stacks: Vec<Stack>,
    start: Instant,
    interrupted: Arc<AtomicBool>,
}

impl World {
    fn now(&self) -> NetInstant {
        NetInstant::from_micros(i64::try_from(self.start.elapsed().as_micros()).unwrap_or(i64::MAX))
    }

    /// One round: both runtimes, then both stacks. Whether anything moved.
    fn step(&mut self) -> bool {
        let mut busy = false;
        for rt in &mut self.rts {
            busy |= rt.turn();
        }
        let now = self.now();
        for s in &mut self.stacks {
            busy |= s.poll(now);
        }
        busy
    }

    /// Nothing moved: sleep until smoltcp's next deadline, at most
    /// [`IDLE_SLICE`] (the runtimes' own timers bound it too).
    fn idle(&mut self) {
        let now = self.now();
        let mut d = IDLE_SLICE;
        for s in &mut self.stacks {
            if let Some(t) = s.iface.poll_delay(now, &s.sockets) {
                d = d.min(Duration::from_micros(t.total_micros()));
            }
        }
        for rt in &mut self.rts {
            rt.wait(d / 2);
        }
    }

    /// Step until `f` returns a value; an error after `limit` or on Ctrl-C.
    fn until<T>(
        &mut self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&mut World) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let t0 = Instant::now();
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            let busy = self.step();
            if let Some(v) = f(self)? {
                return Ok(v);
            }
            if t0.elapsed() > limit {
                bail!("{what}: not done within {:.1} s", limit.as_secs_f64());
            }
            if !busy {
                self.idle();
            }
        }
    }
}

fn host(
    name: &str,
    link: LinkKind,
    mtu: u32,
    cable: inproc::InProcCable,
) -> anyhow::Result<(Runtime, QueueDevices)> {
    let mut o = HostOptions::new(name);
    // Polled from one thread: spinning in one controller would hold up
    // the other.
    o.nhi.spin = Duration::ZERO;
    let mut rt = Runtime::new(o)?;
    tblink_host::register_default_drivers(&mut rt)?;
    let devices = QueueDevices::new(QUEUE_FRAMES);
    let opts = NetOptions {
        mtu,
        ..NetOptions::default()
    };
    enable_networking_with(&mut rt, opts, devices.clone())?;
    let port = Box::new(Handed::new(cable, "inproc"));
    match link.gbit() {
        Some(g) => rt.add_port(1, Box::new(tblink_host::port::Capped::new(port, g)))?,
        None => rt.add_port(1, port)?,
    }
    Ok((rt, devices))
}

/// Ping results.
#[derive(Debug, Default)]
struct Pings {
    sent: u16,
    rtts_ms: Vec<f64>,
}

fn ping(w: &mut World, from: usize, to: Ipv4Address, count: u16) -> anyhow::Result<Pings> {
    let ident = 0x7b1c;
    let sock = icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
    );
    let h = w.stacks[from].sockets.add(sock);
    w.stacks[from]
        .sockets
        .get_mut::<icmp::Socket>(h)
        .bind(icmp::Endpoint::Ident(ident))
        .context("ICMP socket")?;
    let caps = ChecksumCapabilities::default();
    let mut out = Pings::default();
    for seq in 0..count {
        let data: Vec<u8> = (0..PING_DATA).map(|i| (i as u8) ^ (seq as u8)).collect();
        let req = Icmpv4Repr::EchoRequest {
            ident,
            seq_no: seq,
            data: &data,
        };
        {
            let s = w.stacks[from].sockets.get_mut::<icmp::Socket>(h);
            let buf = s
                .send(req.buffer_len(), IpAddress::Ipv4(to))
                .map_err(|e| anyhow::anyhow!("ICMP send: {e}"))?;
            req.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
        }
        out.sent += 1;
        let t0 = Instant::now();
        let got = w.until(PING_TIMEOUT * 2, "ping", |w| {
            let s = w.stacks[from].sockets.get_mut::<icmp::Socket>(h);
            while let Ok((payload, src)) = s.recv() {
                let Ok(pkt) = Icmpv4Packet::new_checked(payload) else {
                    continue;
                };
                if let Ok(Icmpv4Repr::EchoReply {
                    ident: i,
                    seq_no,
                    data: d,
                }) = Icmpv4Repr::parse(&pkt, &caps)
                    && i == ident
                    && seq_no == seq
                    && src == IpAddress::Ipv4(to)
                    && d == data.as_slice()
                {
                    return Ok(Some(true));
                }
            }
            Ok((t0.elapsed() > PING_TIMEOUT).then_some(false))
        })?;
        if got {
            out.rtts_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    w.stacks[from].sockets.remove(h);
    Ok(out)
}

/// The byte at stream offset `n`.
fn pattern_at(n: u64) -> u8 {
    (n % PERIOD as u64) as u8
}

/// Fill `buf` with the stream pattern from offset `n`.
fn fill(buf: &mut [u8], n: u64) {
    let mut k = (n % PERIOD as u64) as usize;
    for b in buf {
        *b = k as u8;
        k += 1;
        if k == PERIOD {
            k = 0;
        }
    }
}

/// One TCP transfer for `secs` from `from` to the other host; the
/// receiver's rate in bit/s (first to last byte) and whether every byte
/// arrived in order and intact.
fn tcp_test(w: &mut World, from: usize, secs: Duration, port: u16) -> anyhow::Result<(f64, bool)> {
    let to = 1 - from;
    let dst: Ipv4Address = [ADDR_A, ADDR_B][to].parse().context("address")?;
    let server = w.stacks[to].sockets.add(new_tcp());
    w.stacks[to]
        .tcp(server)
        .listen(TCP_PORT)
        .map_err(|e| anyhow::anyhow!("listen: {e}"))?;
    let client = w.stacks[from].sockets.add(new_tcp());
    {
        let s = &mut w.stacks[from];
        let cx = s.iface.context();
        s.sockets
            .get_mut::<tcp::Socket>(client)
            .connect(cx, (IpAddress::Ipv4(dst), TCP_PORT), port)
            .map_err(|e| anyhow::anyhow!("connect: {e}"))?;
    }
    w.until(Duration::from_secs(5), "TCP connect", |w| {
        Ok(
            (w.stacks[from].tcp(client).may_send() && w.stacks[to].tcp(server).may_recv())
                .then_some(()),
        )
    })?;
    let mut sent = 0u64;
    let mut got = 0u64;
    let mut intact = true;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let t0 = Instant::now();
    let mut closed = false;
    w.until(secs + Duration::from_secs(20), "TCP test", |w| {
        let c = w.stacks[from].tcp(client);
        if !closed && t0.elapsed() >= secs {
            c.close();
            closed = true;
        }
        while !closed && c.can_send() {
            let n = c
                .send(|buf| {
                    fill(buf, sent);
                    (buf.len(), buf.len())
                })
                .map_err(|e| anyhow::anyhow!("TCP send: {e}"))?;
            if n == 0 {
                break;
            }
            sent += n as u64;
        }
        let s = w.stacks[to].tcp(server);
        while s.can_recv() {
            let n = s
                .recv(|buf| {
                    intact &= buf.iter().zip(got..).all(|(b, k)| *b == pattern_at(k));
                    (buf.len(), buf.len())
                })
                .map_err(|e| anyhow::anyhow!("TCP receive: {e}"))?;
            if n == 0 {
                break;
            }
            let now = Instant::now();
            first.get_or_insert(now);
            last = now;
            got += n as u64;
        }
        Ok((closed && !s.may_recv()).then_some(()))
    })?;
    w.stacks[from].tcp(client).abort();
    w.stacks[to].tcp(server).abort();
    // Let the resets go out before the sockets disappear.
    w.step();
    w.stacks[from].sockets.remove(client);
    w.stacks[to].sockets.remove(server);
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    let bps = if secs > 0.0 {
        got as f64 * 8.0 / secs
    } else {
        0.0
    };
    Ok((bps, intact && got == sent && got > 0))
}

/// Run the demo in this process.
pub fn run(p: &Progress, opts: Options) -> anyhow::Result<ExitCode> {
    let (ca, cb) = inproc::pair().map_err(|e| anyhow::anyhow!("in-process cable: {e:?}"))?;
    // The cable goes in as the hosts are made (`add_port`).
    let plug = Instant::now();
    let (a, da) = host(NAMES[0], opts.link, opts.mtu, ca)?;
    let (b, db) = host(NAMES[1], opts.link, opts.mtu, cb)?;
    p.say(
        "two hosts in this process, joined by an in-process cable; waiting for discovery and login",
    );
    let mut w = World {
        rts: [a, b],
        stacks: Vec::new(),
        start: Instant::now(),
        interrupted: opts.interrupted.clone(),
    };
    let mut seen_enum = false;
    let ends = w.until(UP_LIMIT, "discovery and login", |w| {
        if !seen_enum
            && w.rts
                .iter()
                .all(|rt| !rt.snapshot().peer_names().is_empty())
        {
            seen_enum = true;
            p.say("both hosts enumerated each other");
        }
        let ends = [da.interfaces(), db.interfaces()];
        Ok(match ends {
            [mut x, mut y]
                if x.first().is_some_and(QueueEnd::carrier)
                    && y.first().is_some_and(QueueEnd::carrier) =>
            {
                Some([x.remove(0), y.remove(0)])
            }
            _ => None,
        })
    })?;
    let up = plug.elapsed();
    p.say(&format!(
        "link up: both carriers on {:.1} ms after plug",
        up.as_secs_f64() * 1e3
    ));
    let addrs: [Ipv4Address; 2] = [
        ADDR_A.parse().context("address")?,
        ADDR_B.parse().context("address")?,
    ];
    let now = w.now();
    for (i, e) in ends.iter().enumerate() {
        w.stacks
            .push(Stack::new(e.clone(), addrs[i], now, 0x7b11_0000 + i as u64));
    }
    p.say(&format!(
        "smoltcp on {} {} = {ADDR_A}/24, {} {} = {ADDR_B}/24",
        NAMES[0],
        ends[0].name(),
        NAMES[1],
        ends[1].name()
    ));
    p.say(&format!("ping {ADDR_B} {PINGS} times (from {})", NAMES[0]));
    let pings = ping(&mut w, 0, addrs[1], PINGS)?;
    let secs = opts.duration.as_secs();
    p.say(&format!(
        "smoltcp TCP test, {secs} s: {} → {}",
        NAMES[0], NAMES[1]
    ));
    let (ab, ab_ok) = tcp_test(&mut w, 0, opts.duration, 49152)?;
    p.say(&format!(
        "smoltcp TCP test, {secs} s: {} → {}",
        NAMES[1], NAMES[0]
    ));
    let (ba, ba_ok) = tcp_test(&mut w, 1, opts.duration, 49153)?;
    let snaps: [Snapshot; 2] = [w.rts[0].snapshot(), w.rts[1].snapshot()];

    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n== tblink demo report (userspace: one process, smoltcp TCP/IP)"
    );
    let _ = writeln!(
        o,
        "link: {}  MTU {}",
        match opts.link.gbit() {
            Some(g) => format!("{} ({g} Gbit/s cap)", opts.link.arg()),
            None => "uncapped emulated cable (in process)".to_string(),
        },
        opts.mtu
    );
    for (i, s) in snaps.iter().enumerate() {
        let _ = writeln!(
            o,
            "{:<6} uuid {}  interface {} (userspace, smoltcp)  mac {}  addr {}/24",
            NAMES[i],
            s.uuid,
            ends[i].name(),
            mac_str(ends[i].mac()),
            addrs[i]
        );
    }
    timeline_table(&mut o, &NAMES, &snaps);
    let _ = writeln!(
        o,
        "plug → both carriers on: {:.1} ms (wall clock, includes setting up the hosts)",
        up.as_secs_f64() * 1e3
    );
    let received = u16::try_from(pings.rtts_ms.len()).unwrap_or(u16::MAX);
    let r = &pings.rtts_ms;
    let rtt = (!r.is_empty()).then(|| {
        let mn = r.iter().copied().fold(f64::INFINITY, f64::min);
        let mx = r.iter().copied().fold(0.0, f64::max);
        let avg = r.iter().sum::<f64>() / r.len() as f64;
        (mn, avg, mx)
    });
    ping_line(&mut o, received.into(), pings.sent.into(), rtt);
    throughput_line(
        &mut o,
        &NAMES,
        &format!("smoltcp TCP in this process, one thread, {secs} s each way"),
        ab,
        ba,
    );
    let _ = writeln!(
        o,
        "TCP data: {}",
        if ab_ok && ba_ok {
            "every byte arrived in order and intact"
        } else {
            "BYTES LOST OR DAMAGED"
        }
    );
    for (name, s) in NAMES.iter().zip(&snaps) {
        net_line(&mut o, name, s);
    }
    print!("{o}");
    let ok = received == pings.sent && ab_ok && ba_ok && ab > 0.0 && ba > 0.0;
    if !ok {
        println!("FAILED: ping lost packets or the TCP test did not deliver every byte");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_fill_matches_pattern_at() {
        let mut b = vec![0u8; 1000];
        for start in [0u64, 1, 250, 251, 12345] {
            fill(&mut b, start);
            assert!(b.iter().zip(start..).all(|(x, k)| *x == pattern_at(k)));
        }
        assert_eq!(pattern_at(250), 250);
        assert_eq!(pattern_at(251), 0);
    }

    #[test]
    fn queue_phy_moves_frames_and_holds_back_when_full() {
        use tblink_net::FrameIo;
        use tblink_net::device::Devices;
        let mut devs = QueueDevices::new(1);
        let mut dev = devs
            .create("thunderbolt0", [2, 0, 0, 0, 0, 1], 1500)
            .unwrap();
        let mut phy = QueuePhy::new(devs.interfaces().remove(0));
        assert_eq!(phy.capabilities().max_transmission_unit, 1514);
        let now = NetInstant::from_millis(0);
        assert!(phy.receive(now).is_none());
        phy.transmit(now)
            .unwrap()
            .consume(3, |b| b.copy_from_slice(b"abc"));
        assert!(phy.transmit(now).is_none(), "queue of one is full");
        let mut buf = [0u8; 8];
        assert_eq!(dev.recv_frame(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        assert!(dev.send_frame(b"xyz").unwrap());
        let (rx, _tx) = phy.receive(now).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), b"xyz");
    }
}
