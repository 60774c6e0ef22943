//! `tblink demo`: two hosts, one emulated cable, a real network link
//! between two network namespaces, measured end to end; without root the
//! same hosts in this process over a userspace TCP/IP stack
//! ([`userspace`]).

mod userspace;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tblink_host::Snapshot;
use tblink_host::control::{Request, request};

/// Long help of `tblink demo`.
pub const LONG_ABOUT: &str = "\
Show the whole story on one machine: two emulated Thunderbolt/USB4 hosts \
(`tblink host --net`, this same binary) in two fresh network namespaces, \
joined by a shared-memory cable, discover each other (UUID exchange, \
property blocks), log in over ThunderboltIP and bring up one network \
interface each (thunderbolt0). The demo then gives them 10.77.0.1/24 and \
10.77.0.2/24, runs `ping -c 20 -i 0.05` and a throughput test in both \
directions, and prints a report:

  * timeline of each host, from cable plug to peer UUID learned, \
properties read, login done and carrier on (ms, from the hosts' own \
`tblink ls --json` timelines), and the wall time from plug until both \
carriers were on;
  * the interfaces' names and MACs;
  * ping RTT min/avg/max and loss;
  * throughput in Gbit/s each way: iperf3 (TCP, --json) when it is \
installed, otherwise a built-in TCP test (this binary on both ends).

Needs root (network namespaces, TAP devices), /dev/net/tun and `ip` \
(iproute2); `ping` for the RTT. Without them the demo says which is \
missing and runs the userspace path instead: the same two hosts (same \
driver, same ThunderboltIP data path) in this one process over an \
in-process cable, each with a userspace TCP/IP stack (smoltcp) on its \
interface in place of a TAP and the kernel. It pings 20 times and runs a \
TCP test each way with smoltcp, and prints the same report (interfaces \
marked userspace). --userspace takes this path even as root.

Everything the demo creates (namespaces, host processes, the temporary \
directory with the cable socket and logs) is removed when it ends, fails \
or is interrupted with Ctrl-C, unless --keep is given (then it prints how \
to look around and how to clean up).

--link caps the emulated cable's bandwidth like a real link: tb3 20 \
Gbit/s, tb4 40 Gbit/s, tb5 80 Gbit/s per direction; none (the default) \
leaves it uncapped. Exit status: 0 when the link came up and ping had no \
loss (userspace path: and the TCP test delivered every byte both ways), 1 \
otherwise.";

/// Emulated link speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkKind {
    /// Thunderbolt 3: 20 Gbit/s per direction.
    Tb3,
    /// Thunderbolt 4 / USB4: 40 Gbit/s.
    Tb4,
    /// Thunderbolt 5: 80 Gbit/s.
    Tb5,
    /// No cap.
    None,
}

impl LinkKind {
    /// The cap in Gbit/s.
    pub fn gbit(self) -> Option<f64> {
        match self {
            LinkKind::Tb3 => Some(20.0),
            LinkKind::Tb4 => Some(40.0),
            LinkKind::Tb5 => Some(80.0),
            LinkKind::None => None,
        }
    }

    fn arg(self) -> &'static str {
        match self {
            LinkKind::Tb3 => "tb3",
            LinkKind::Tb4 => "tb4",
            LinkKind::Tb5 => "tb5",
            LinkKind::None => "none",
        }
    }
}

/// Arguments of `tblink demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// MTU of both interfaces (68-65521).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(68..=65521))]
    pub mtu: u32,
    /// Seconds of throughput test per direction.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: u64,
    /// Emulated link speed: tb3 (20 Gbit/s), tb4 (40), tb5 (80) or none.
    #[arg(long, value_enum, default_value_t = LinkKind::None)]
    pub link: LinkKind,
    /// Leave the namespaces and hosts running at the end.
    #[arg(long)]
    pub keep: bool,
    /// Run both hosts in this process over a userspace TCP/IP stack
    /// (smoltcp) instead of namespaces and TAPs, even as root.
    #[arg(long, visible_alias = "in-process", conflicts_with = "keep")]
    pub userspace: bool,
    /// Use the built-in TCP test even when iperf3 is installed.
    #[arg(long)]
    pub builtin_tcp: bool,
}

/// Host names, in plug order.
const NAMES: [&str; 2] = ["alice", "bob"];
const ADDR_A: &str = "10.77.0.1";
const ADDR_B: &str = "10.77.0.2";
const TCP_PORT: u16 = 5201;
/// Discovery + login must finish within this.
const UP_LIMIT: Duration = Duration::from_secs(20);

/// Progress lines, with the time since start.
struct Progress(Instant);

impl Progress {
    fn say(&self, msg: &str) {
        println!("[{:5.2}s] {msg}", self.0.elapsed().as_secs_f64());
    }
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// What the full demo lacks here, if anything.
fn missing() -> Vec<String> {
    let mut v = Vec::new();
    if !is_root() {
        v.push("root (for network namespaces and TAP devices)".to_string());
    }
    if !tblink_net::sys::tun_available() {
        v.push(format!("{} (TUN/TAP driver)", tblink_net::sys::TUN_PATH));
    }
    if !have("ip", "-V") {
        v.push("`ip` (iproute2)".to_string());
    }
    v
}

/// Everything the demo created; removed on drop unless kept.
struct Guard {
    ns: Vec<String>,
    children: Vec<Child>,
    dir: Option<PathBuf>,
    keep: bool,
}

impl Guard {
    fn cleanup(&mut self) {
        for c in &mut self.children {
            if let Ok(pid) = i32::try_from(c.id())
                && let Some(pid) = rustix::process::Pid::from_raw(pid)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let until = Instant::now() + Duration::from_secs(3);
        for c in &mut self.children {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= until => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        self.children.clear();
        for n in self.ns.drain(..) {
            let _ = Command::new("ip")
                .args(["netns", "del", &n])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.keep {
            self.cleanup();
        }
    }
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    run_ok(Command::new("ip").args(args))
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

fn status(sock: &Path) -> Option<Snapshot> {
    let r = request(sock, &Request::Status, "demo host").ok()?;
    if r.ok { r.status } else { None }
}

fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Milliseconds from the last `link_up` to the first of `event` after it.
fn since_plug(s: &Snapshot, event: &str) -> Option<f64> {
    let plug = s
        .timeline
        .iter()
        .rev()
        .find(|e| e.event == "link_up")
        .map(|e| e.t_ms)?;
    s.timeline
        .iter()
        .find(|e| e.event == event && e.t_ms >= plug)
        .map(|e| e.t_ms - plug)
}

/// Ping statistics.
#[derive(Debug, Default)]
struct PingStats {
    sent: u32,
    received: u32,
    rtt: Option<(f64, f64, f64)>,
}

fn parse_ping(out: &str) -> PingStats {
    let mut p = PingStats::default();
    for line in out.lines() {
        if line.contains("packets transmitted") {
            let nums: Vec<u32> = line
                .split(',')
                .filter_map(|f| f.split_whitespace().next()?.parse().ok())
                .collect();
            if nums.len() >= 2 {
                p.sent = nums[0];
                p.received = nums[1];
            }
        }
        if let Some(rest) = line.split(" = ").nth(1)
            && line.starts_with("rtt")
        {
            let v: Vec<f64> = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .split('/')
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() >= 3 {
                p.rtt = Some((v[0], v[1], v[2]));
            }
        }
    }
    p
}

/// Run the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, interrupted.clone())
            .context("cannot install signal handler")?;
    }
    let missing = if args.userspace {
        Vec::new()
    } else {
        missing()
    };
    if args.userspace || !missing.is_empty() {
        if args.userspace {
            println!("tblink demo: userspace path (--userspace).");
        } else {
            println!(
                "tblink demo: userspace path, because the namespace path needs what is missing \
                 here: {}.",
                missing.join("; ")
            );
        }
        println!(
            "Running both hosts in this process instead: same driver and ThunderboltIP data path, \
             in-memory interfaces in place of TAPs, and a userspace TCP/IP stack (smoltcp) in \
             place of the kernel's for ping and the TCP test."
        );
        let p = Progress(Instant::now());
        return userspace::run(
            &p,
            userspace::Options {
                mtu: args.mtu,
                duration: Duration::from_secs(args.duration),
                link: args.link,
                interrupted,
            },
        );
    }
    let check = || -> anyhow::Result<()> {
        if interrupted.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        Ok(())
    };
    let p = Progress(Instant::now());
    let pid = std::process::id();
    let exe = std::env::current_exe().context("cannot find this program")?;
    let dir = std::env::temp_dir().join(format!("tblink-demo-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut g = Guard {
        ns: Vec::new(),
        children: Vec::new(),
        dir: Some(dir.clone()),
        keep: false,
    };
    let ns = [format!("tbdemo-a-{pid}"), format!("tbdemo-b-{pid}")];
    p.say(&format!(
        "creating network namespaces {} and {}",
        ns[0], ns[1]
    ));
    for n in &ns {
        ip(&["netns", "add", n])?;
        g.ns.push(n.clone());
        ip(&["-n", n, "link", "set", "lo", "up"])?;
    }
    let names = NAMES;
    let socks = [dir.join("alice.sock"), dir.join("bob.sock")];
    let cable = dir.join("cable.sock");
    let mtu = args.mtu.to_string();
    // Bob connects, Alice listens: the cable goes in when Alice starts.
    let mut plug_at = Instant::now();
    for i in [1, 0] {
        let spec = if i == 0 { "listen:" } else { "connect:" };
        let log = std::fs::File::create(dir.join(format!("{}.log", names[i])))?;
        let mut cmd = in_ns(&ns[i], &[]);
        cmd.arg(&exe)
            .args(["host", "--name", names[i], "--net", "--mtu", &mtu])
            .args(["--link", args.link.arg()])
            .arg("--control")
            .arg(&socks[i])
            .arg("--port")
            .arg(format!("{spec}{}", cable.display()))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if i == 0 {
            plug_at = Instant::now();
        }
        let child = cmd.spawn().context("cannot start tblink host")?;
        p.say(&format!(
            "started host {} in {} (pid {})",
            names[i],
            ns[i],
            child.id()
        ));
        g.children.push(child);
        if i == 1 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    p.say("cable plugged; waiting for discovery and login");
    let mut snaps: [Option<Snapshot>; 2] = [None, None];
    let mut up_after = None;
    let mut seen_enum = false;
    while plug_at.elapsed() < UP_LIMIT {
        check()?;
        for i in 0..2 {
            snaps[i] = status(&socks[i]);
        }
        let carrier = |s: &Option<Snapshot>| {
            s.as_ref()
                .is_some_and(|s| s.net.first().is_some_and(|n| n.carrier))
        };
        if !seen_enum
            && snaps
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| !s.peer_names().is_empty()))
        {
            seen_enum = true;
            p.say("both hosts enumerated each other");
        }
        if carrier(&snaps[0]) && carrier(&snaps[1]) {
            up_after = Some(plug_at.elapsed());
            break;
        }
        for (i, c) in g.children.iter_mut().enumerate() {
            if let Ok(Some(st)) = c.try_wait() {
                bail!(
                    "host {} exited ({st}):\n{}",
                    names[1 - i],
                    tail(&dir.join(format!("{}.log", names[1 - i])), 20)
                );
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let Some(up_after) = up_after else {
        bail!(
            "the link did not come up within {} s\n--- alice.log\n{}\n--- bob.log\n{}",
            UP_LIMIT.as_secs(),
            tail(&dir.join("alice.log"), 20),
            tail(&dir.join("bob.log"), 20)
        );
    };
    let [Some(sa), Some(sb)] = snaps.clone() else {
        bail!("lost the hosts' status");
    };
    let ifs = [sa.net[0].clone(), sb.net[0].clone()];
    p.say(&format!(
        "link up: both carriers on {:.1} ms after plug",
        up_after.as_secs_f64() * 1e3
    ));
    let addrs = [ADDR_A, ADDR_B];
    for i in 0..2 {
        ip(&[
            "-n",
            &ns[i],
            "addr",
            "add",
            &format!("{}/24", addrs[i]),
            "dev",
            &ifs[i].ifname,
        ])?;
        ip(&["-n", &ns[i], "link", "set", &ifs[i].ifname, "up"])?;
    }
    p.say(&format!(
        "{} {} = {ADDR_A}/24, {} {} = {ADDR_B}/24, both up",
        names[0], ifs[0].ifname, names[1], ifs[1].ifname
    ));
    check()?;
    let ping = if have("ping", "-V") {
        p.say(&format!("ping -c 20 -i 0.05 {ADDR_B} (from {})", names[0]));
        let out = in_ns(
            &ns[0],
            &["ping", "-c", "20", "-i", "0.05", "-W", "1", ADDR_B],
        )
        .output()
        .context("cannot run ping")?;
        Some(parse_ping(&String::from_utf8_lossy(&out.stdout)))
    } else {
        p.say("ping not installed: no RTT");
        None
    };
    check()?;
    let secs = args.duration.to_string();
    let (tool, ab, ba) = if !args.builtin_tcp && have("iperf3", "-v") {
        let ab = iperf(&p, &mut g, &ns, &secs, false)?;
        check()?;
        let ba = iperf(&p, &mut g, &ns, &secs, true)?;
        ("iperf3 TCP", ab, ba)
    } else {
        p.say("iperf3 not installed: built-in TCP test");
        let ab = builtin(&p, &mut g, &exe, &ns, &secs, false)?;
        check()?;
        let ba = builtin(&p, &mut g, &exe, &ns, &secs, true)?;
        ("built-in TCP test", ab, ba)
    };
    check()?;
    for i in 0..2 {
        snaps[i] = status(&socks[i]);
    }
    let mut o = String::new();
    let _ = writeln!(o, "\n== tblink demo report");
    let _ = writeln!(
        o,
        "link: {}  MTU {}",
        match args.link.gbit() {
            Some(g) => format!("{} ({g} Gbit/s cap)", args.link.arg()),
            None => "uncapped emulated cable (shared memory)".to_string(),
        },
        args.mtu
    );
    for (i, s) in [&sa, &sb].iter().enumerate() {
        let _ = writeln!(
            o,
            "{:<6} ns {}  uuid {}  interface {}  mac {}",
            names[i], ns[i], s.uuid, ifs[i].ifname, ifs[i].mac
        );
    }
    timeline_table(&mut o, &names, &[sa.clone(), sb.clone()]);
    let _ = writeln!(
        o,
        "plug → both carriers on: {:.1} ms (wall clock, includes process start-up)",
        up_after.as_secs_f64() * 1e3
    );
    let mut ok = true;
    match &ping {
        Some(pg) => {
            ok &= pg.sent > 0 && pg.received == pg.sent;
            ping_line(&mut o, pg.received, pg.sent, pg.rtt);
        }
        None => {
            let _ = writeln!(o, "ping: not installed");
        }
    }
    throughput_line(
        &mut o,
        &names,
        &format!("{tool}, {} s each way", args.duration),
        ab,
        ba,
    );
    for (name, s) in names.iter().zip(&snaps) {
        if let Some(s) = s {
            net_line(&mut o, name, s);
        }
    }
    print!("{o}");
    if args.keep {
        g.keep = true;
        println!("\nkept running (--keep):");
        for i in 0..2 {
            println!(
                "  ip netns exec {} {} ls --control {}",
                ns[i],
                exe.display(),
                socks[i].display()
            );
        }
        let pids: Vec<String> = g
            .children
            .iter_mut()
            .filter_map(|c| matches!(c.try_wait(), Ok(None)).then(|| c.id().to_string()))
            .collect();
        println!(
            "  clean up: kill {}; ip netns del {}; ip netns del {}; rm -rf {}",
            pids.join(" "),
            ns[0],
            ns[1],
            dir.display()
        );
    } else {
        p.say("cleaning up");
        g.cleanup();
    }
    if !ok {
        println!("FAILED: ping lost packets");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One iperf3 run; returns the received rate in bit/s.
fn iperf(
    p: &Progress,
    g: &mut Guard,
    ns: &[String; 2],
    secs: &str,
    reverse: bool,
) -> anyhow::Result<f64> {
    p.say(&format!(
        "iperf3 -t {secs}{}: {}",
        if reverse { " -R" } else { "" },
        if reverse {
            "bob → alice"
        } else {
            "alice → bob"
        }
    ));
    let server = in_ns(&ns[1], &["iperf3", "-s", "-1", "-B", ADDR_B])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start iperf3 server")?;
    g.children.push(server);
    let mut last = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let mut args = vec!["iperf3", "-c", ADDR_B, "-t", secs, "--json"];
        if reverse {
            args.push("-R");
        }
        let out = in_ns(&ns[0], &args).output().context("cannot run iperf3")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let Some(bps) = v
            .pointer("/end/sum_received/bits_per_second")
            .and_then(|b| b.as_f64())
        {
            return Ok(bps);
        }
        last = v
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .unwrap_or(text);
        if !last.contains("connect") {
            break;
        }
    }
    bail!("iperf3 failed: {last}")
}

/// One run of the built-in TCP test; returns the received rate in bit/s.
fn builtin(
    p: &Progress,
    g: &mut Guard,
    exe: &Path,
    ns: &[String; 2],
    secs: &str,
    reverse: bool,
) -> anyhow::Result<f64> {
    p.say(&format!(
        "built-in TCP test, {secs} s: {}",
        if reverse {
            "bob → alice"
        } else {
            "alice → bob"
        }
    ));
    let addr = format!("{ADDR_B}:{TCP_PORT}");
    let mut server = in_ns(&ns[1], &[]);
    server
        .arg(exe)
        .args(["tcp-test", "server", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    g.children
        .push(server.spawn().context("cannot start the test server")?);
    let mut last = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let mut c = in_ns(&ns[0], &[]);
        c.arg(exe)
            .args(["tcp-test", "client", &addr, "--duration", secs]);
        if reverse {
            c.arg("--reverse");
        }
        let out = c.output().context("cannot run the test client")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success()
            && let Ok(bps) = text.trim().parse::<f64>()
        {
            return Ok(bps);
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    bail!("built-in TCP test failed: {last}")
}

/// Arguments of the hidden `tblink tcp-test` (the demo's built-in
/// throughput test).
#[derive(Debug, clap::Args)]
pub struct TcpTestArgs {
    /// `server` or `client`.
    #[arg(value_parser = ["server", "client"])]
    pub role: String,
    /// ADDR:PORT to listen on or connect to.
    pub addr: String,
    /// Seconds to send.
    #[arg(long, default_value_t = 3)]
    pub duration: u64,
    /// The server sends, the client receives.
    #[arg(long)]
    pub reverse: bool,
}

const CHUNK: usize = 128 * 1024;

/// Send for `d`; returns bytes sent.
fn send_for(s: &mut TcpStream, d: Duration) -> std::io::Result<u64> {
    let buf = vec![0x5au8; CHUNK];
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < d {
        s.write_all(&buf)?;
        n += CHUNK as u64;
    }
    s.shutdown(Shutdown::Write)?;
    Ok(n)
}

/// Receive until EOF; returns (bytes, seconds from first byte).
fn recv_all(s: &mut TcpStream) -> std::io::Result<(u64, f64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    let mut t0 = None;
    loop {
        let k = s.read(&mut buf)?;
        if k == 0 {
            break;
        }
        t0.get_or_insert_with(Instant::now);
        n += k as u64;
    }
    Ok((n, t0.map_or(0.0, |t| t.elapsed().as_secs_f64())))
}

/// `tblink tcp-test`: one connection; the client prints the receiver's
/// rate in bit/s.
pub fn tcp_test(args: &TcpTestArgs) -> anyhow::Result<ExitCode> {
    let d = Duration::from_secs(args.duration);
    if args.role == "server" {
        let l = TcpListener::bind(&args.addr).with_context(|| format!("bind {}", args.addr))?;
        let (mut s, _) = l.accept()?;
        let mut dir = [0u8; 1];
        s.read_exact(&mut dir)?;
        let mut secs = [0u8; 8];
        s.read_exact(&mut secs)?;
        if dir[0] == b'R' {
            send_for(&mut s, Duration::from_secs(u64::from_be_bytes(secs)))?;
            let mut rate = [0u8; 8];
            let _ = s.read(&mut rate);
        } else {
            let (n, t) = recv_all(&mut s)?;
            let bps = if t > 0.0 { n as f64 * 8.0 / t } else { 0.0 };
            s.write_all(&bps.to_be_bytes())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = TcpStream::connect(&args.addr).with_context(|| format!("connect {}", args.addr))?;
    s.write_all(if args.reverse { b"R" } else { b"S" })?;
    s.write_all(&args.duration.to_be_bytes())?;
    let bps = if args.reverse {
        let (n, t) = recv_all(&mut s)?;
        if t > 0.0 { n as f64 * 8.0 / t } else { 0.0 }
    } else {
        send_for(&mut s, d)?;
        let mut rate = [0u8; 8];
        s.read_exact(&mut rate)?;
        f64::from_be_bytes(rate)
    };
    println!("{bps}");
    Ok(ExitCode::SUCCESS)
}

fn mac_str(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// `ping: R/S replies (L% loss)`, with the RTTs (min, avg, max in ms)
/// when there are any; 100% loss when nothing was sent.
fn ping_line(o: &mut String, received: u32, sent: u32, rtt: Option<(f64, f64, f64)>) {
    let loss = if sent == 0 {
        100.0
    } else {
        100.0 * f64::from(sent - received.min(sent)) / f64::from(sent)
    };
    let _ = write!(o, "ping: {received}/{sent} replies ({loss:.0}% loss)");
    if let Some((mn, avg, mx)) = rtt {
        let _ = write!(o, ", RTT min/avg/max {mn:.3}/{avg:.3}/{mx:.3} ms");
    }
    o.push('\n');
}

/// Throughput both ways between the two hosts, measured as `how` says.
fn throughput_line(o: &mut String, names: &[&str; 2], how: &str, ab: f64, ba: f64) {
    let _ = writeln!(
        o,
        "throughput ({how}): {} → {} {:.2} Gbit/s, {} → {} {:.2} Gbit/s",
        names[0],
        names[1],
        ab / 1e9,
        names[1],
        names[0],
        ba / 1e9
    );
}

/// The counters of host `name`'s network interface, if it has one.
fn net_line(o: &mut String, name: &str, s: &Snapshot) {
    if let Some(n) = s.net.first() {
        let _ = writeln!(
            o,
            "{name:<6} {}: tx {} packets {} bytes, rx {} packets {} bytes, rx errors {}, tx errors {}",
            n.ifname, n.tx_packets, n.tx_bytes, n.rx_packets, n.rx_bytes, n.rx_errors, n.tx_errors
        );
    }
}

fn timeline_table(o: &mut String, names: &[&str; 2], snaps: &[Snapshot; 2]) {
    let _ = writeln!(o, "timeline (ms after the cable came up, per host):");
    let _ = writeln!(
        o,
        "  {:<6} {:>10} {:>12} {:>8} {:>10}",
        "host", "peer UUID", "properties", "login", "carrier"
    );
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for (i, s) in snaps.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {:<6} {:>10} {:>12} {:>8} {:>10}",
            names[i],
            f(since_plug(s, "uuid")),
            f(since_plug(s, "properties")),
            f(since_plug(s, "login")),
            f(since_plug(s, "carrier_on"))
        );
    }
}

#[cfg(test)]
mod tests {
    use tblink_host::snapshot::NetIfInfo;

    use super::*;

    #[test]
    fn report_lines() {
        let mut o = String::new();
        ping_line(&mut o, 19, 20, Some((0.1, 0.25, 1.5)));
        ping_line(&mut o, 0, 0, None);
        throughput_line(&mut o, &NAMES, "iperf3, 3 s each way", 9.5e9, 1.25e9);
        let mut s = Snapshot::default();
        net_line(&mut o, "bob", &s);
        s.net.push(NetIfInfo {
            ifname: "tb0".into(),
            tx_packets: 1,
            tx_bytes: 2,
            rx_packets: 3,
            rx_bytes: 4,
            rx_errors: 5,
            tx_errors: 6,
            ..NetIfInfo::default()
        });
        net_line(&mut o, "bob", &s);
        assert_eq!(
            o,
            "ping: 19/20 replies (5% loss), RTT min/avg/max 0.100/0.250/1.500 ms\n\
             ping: 0/0 replies (100% loss)\n\
             throughput (iperf3, 3 s each way): alice → bob 9.50 Gbit/s, bob → alice 1.25 Gbit/s\n\
             bob    tb0: tx 1 packets 2 bytes, rx 3 packets 4 bytes, rx errors 5, tx errors 6\n"
        );
    }
}
