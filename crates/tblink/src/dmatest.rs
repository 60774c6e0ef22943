//! `tblink dmatest`: a `dma_test` transfer (spec 07) between a running host
//! and its peer, through both hosts' control sockets.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tblink_host::Snapshot;
use tblink_host::control::{ControlError, Request, find_socket, request};
use tblink_host::dmatest::{
    DEFAULT_TIMEOUT_MS, DmaTestReport, DmaTestRequest, MAX_PACKETS, MAX_TIMEOUT_MS,
};

use crate::ls::{not_running, target};

/// Long help of `tblink dmatest`.
pub const LONG_ABOUT: &str = "\
Push raw DMA frames across the emulated link between a running `tblink \
host` and its peer with the `dma_test` service (spec 07, the service of \
Linux's thunderbolt_dma_test module), and report frames sent and received, \
errors and throughput.

Every tblink host publishes `dma_test` (unless started with --no-dmatest) \
and binds to its peers' `dma_test` services. The service has no control \
protocol: each side is told locally what to do, like Linux's debugfs files. \
So, by default, tblink dmatest asks both hosts, receiver first as spec 07 \
prescribes: it looks up the peer behind --port of --host, finds the peer's \
control socket by its host name (or --peer-control), arms the peer to \
receive --packets frames on its in HopID (lowest free from 8; from 9 \
while ThunderboltIP is bound to the same peer, which uses 8), then tells \
--host to send them with that HopID as its out HopID, and follows both \
until they finish. If the sender cannot set up, the receiver is cancelled \
at once; if one host stops answering, the other one's run is cancelled. Both sides use E2E flow control (an extension: Linux \
uses it only in loopback), so a receiver that falls behind holds the sender \
back instead of dropping frames; --e2e off gives Linux's behaviour, where \
such frames are lost (counted as missing and as rx_dropped_no_desc). A progress bar is shown on stderr while it runs, if \
stderr is a terminal and the run takes a while. Ctrl-C cancels both sides \
and prints their reports; a second Ctrl-C exits at once (status 130).

--loopback runs Linux's loopback test on the one service of --port (a \
passive loopback dongle, whose TX is wired to its RX): one run that sends \
and receives --packets frames, with E2E on both rings; --json shows that \
run as both sender and receiver.

With a peer that is not a tblink host (Linux), arm its receiver there \
(packets_to_receive, then write 1 to test) and use --send-only; or use \
--receive-only here and start the Linux sender after it. Linux accepts at \
most 1000 frames of 4096 bytes per run; between tblink hosts up to 10 \
million frames of 1 to 4096 bytes are allowed.

What is checked, per received frame: the CRC-error and overrun flags of \
the descriptor (as Linux), the length against --size, and (unless \
--no-pattern-check) bytes 0..2047 against the spec 07 §4 pattern. Frames \
carry no sequence number, so order and duplicates cannot be checked; frames \
that never arrive count as missing once the receiver has seen none for \
--timeout seconds. The result follows Linux's status rules: success only \
if every frame was sent and received with no error of any kind.

Throughput: sender from its first posted frame to its last completion, \
receiver from its first to its last received frame; bytes = frames × size. \
A host sees completions once per turn of its event loop, so both are as \
precise as one turn; the receiver leaves out the frames of its first turn \
and gives no figure when all frames came in one turn.

--json prints {\"result\", \"sender\", \"receiver\"}, each side being the \
host's report: service, route, adapter, peer, send, receive, size, \
out_hopid, in_hopid, e2e, result, error, detail, packets_sent, \
packets_completed, packets_received, crc_errors, buffer_overflow_errors, \
length_errors, pattern_errors, missing, rx_dropped_no_desc, bytes_sent, bytes_received, \
elapsed_s, tx_s, rx_s, tx_gbit_s, rx_gbit_s, status (the text of Linux's \
status file).

Exit status: 0 success, 1 failed or refused, 2 host not running or bad \
arguments, 130 interrupted by a second Ctrl-C.";

/// Arguments of `tblink dmatest`.
#[derive(Debug, clap::Args)]
pub struct DmatestArgs {
    /// Host name (its socket is looked up in the default places).
    #[arg(long, conflicts_with = "control", required_unless_present = "control")]
    pub host: Option<String>,
    /// Control socket path of the host.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Lane adapter of the host whose peer takes part (1, 3, 5, …).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub port: u8,
    /// Frames to transfer (Linux peers: at most 1000).
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PACKETS)))]
    pub packets: u32,
    /// Bytes per frame (Linux always sends 4096).
    #[arg(long, value_name = "BYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub size: u32,
    /// Control socket of the peer [default: looked up by the peer's host name].
    #[arg(long, value_name = "PATH",
          conflicts_with_all = ["send_only", "receive_only", "loopback"])]
    pub peer_control: Option<PathBuf>,
    /// The peer's lane adapter towards the host [default: the one whose peer is the host].
    #[arg(long, value_name = "N",
          conflicts_with_all = ["send_only", "receive_only", "loopback"])]
    pub peer_port: Option<u8>,
    /// Only send, from the host (the peer's receiver is armed by other means).
    #[arg(long, conflicts_with_all = ["receive_only", "in_hopid", "loopback"])]
    pub send_only: bool,
    /// Only receive, on the host (the peer sends by other means).
    #[arg(long, conflicts_with_all = ["out_hopid", "loopback"])]
    pub receive_only: bool,
    /// Send and receive on the one service of --port, whose TX is wired to
    /// its RX (a passive loopback dongle): Linux's loopback test.
    #[arg(long)]
    pub loopback: bool,
    /// Seconds the receiver waits for the next frame (0: forever, as Linux).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT_MS as f64 / 1000.0)]
    pub timeout: f64,
    /// Out HopID of the sender [default: the receiver's in HopID; alone: lowest free from 8].
    #[arg(long, value_name = "HOPID", value_parser = clap::value_parser!(u16).range(8..))]
    pub out_hopid: Option<u16>,
    /// In HopID of the receiver [default: lowest free from 8].
    #[arg(long, value_name = "HOPID", value_parser = clap::value_parser!(u16).range(8..))]
    pub in_hopid: Option<u16>,
    /// E2E flow control on the rings [default: on between two tblink hosts, off with
    /// --send-only/--receive-only, as Linux outside loopback].
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub e2e: Option<bool>,
    /// Do not compare bytes 0..2047 of received frames with the pattern.
    #[arg(long)]
    pub no_pattern_check: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("on or off".into()),
    }
}

/// One side of the run: where to ask, and what it answered.
#[derive(Debug)]
struct Side {
    label: String,
    path: PathBuf,
    adapter: u8,
    id: u64,
}

fn ask(label: &str, path: &Path, req: &Request) -> anyhow::Result<DmaTestReport> {
    let r = request(path, req, label)?;
    match (r.ok, r.dmatest) {
        (true, Some(rep)) => Ok(rep),
        _ => bail!(
            "{label}: {}",
            r.error
                .unwrap_or_else(|| "no dma_test report in the answer".into())
        ),
    }
}

fn snapshot(label: &str, path: &Path) -> anyhow::Result<Snapshot> {
    let r = request(path, &Request::Status, label)?;
    match (r.ok, r.status) {
        (true, Some(s)) => Ok(s),
        _ => bail!(
            "{label}: {}",
            r.error.unwrap_or_else(|| "no status in the answer".into())
        ),
    }
}

/// The peer of `snap` on `adapter`: (host name, UUID, whether it has
/// `dma_test` bound).
fn peer_on(
    label: &str,
    snap: &Snapshot,
    adapter: u8,
) -> anyhow::Result<(Option<String>, Option<String>, bool)> {
    let Some(p) = snap.ports.iter().find(|p| p.adapter == adapter) else {
        let list: Vec<String> = snap.ports.iter().map(|p| p.adapter.to_string()).collect();
        bail!("{label} has no port {adapter} (ports: {})", list.join(", "));
    };
    let Some(x) = p.xdomains.first() else {
        bail!("no peer on port {adapter} of {label}");
    };
    let has = x
        .services
        .iter()
        .any(|s| s.key == "dma_test" && s.driver.as_deref() == Some("dma_test"));
    Ok((x.host_name.clone(), x.uuid.clone(), has))
}

/// The adapter of `peer` whose XDomain is the host with UUID `uuid`, other
/// than `exclude` (a cable looped back to the same host: spec 07 §1).
fn adapter_towards(
    label: &str,
    peer: &Snapshot,
    uuid: &str,
    exclude: Option<u8>,
) -> anyhow::Result<u8> {
    let found: Vec<u8> = peer
        .ports
        .iter()
        .filter(|p| Some(p.adapter) != exclude)
        .filter(|p| p.xdomains.iter().any(|x| x.uuid.as_deref() == Some(uuid)))
        .map(|p| p.adapter)
        .collect();
    match found.as_slice() {
        [a] => Ok(*a),
        [] if exclude.is_some() => bail!(
            "{label} sees itself on no other port: for a loopback dongle on one port use --loopback"
        ),
        [] => bail!("{label} sees no XDomain with UUID {uuid}"),
        many => bail!(
            "{label} is connected to the host on several ports ({:?}): choose one with --peer-port",
            many
        ),
    }
}

fn base(args: &DmatestArgs, adapter: u8) -> anyhow::Result<DmaTestRequest> {
    if !(args.timeout.is_finite() && args.timeout >= 0.0)
        || args.timeout * 1000.0 > MAX_TIMEOUT_MS as f64
    {
        bail!(
            "--timeout must be between 0 and {} seconds",
            MAX_TIMEOUT_MS / 1000
        );
    }
    Ok(DmaTestRequest {
        size: args.size,
        // Up, so that a tiny timeout is not 0 (forever).
        timeout_ms: (args.timeout * 1000.0).ceil() as u64,
        check_pattern: !args.no_pattern_check,
        e2e: args.e2e.unwrap_or(!(args.send_only || args.receive_only)),
        ..DmaTestRequest::new(adapter)
    })
}

/// Run `tblink dmatest`.
pub fn run(args: &DmatestArgs) -> anyhow::Result<ExitCode> {
    let (label, path) = match target(args.host.as_deref(), args.control.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(not_running(e)),
    };
    let snap = match snapshot(&label, &path) {
        Ok(s) => s,
        Err(e) => match e.downcast::<ControlError>() {
            Ok(e @ ControlError::NotRunning { .. }) => return Ok(not_running(e)),
            Ok(e) => return Err(e.into()),
            Err(e) => return Err(e),
        },
    };
    let label = if args.host.is_some() {
        label
    } else {
        snap.name.clone()
    };
    let (peer_name, peer_uuid, has) = peer_on(&label, &snap, args.port)?;
    let peer_label = peer_name
        .clone()
        .unwrap_or_else(|| format!("the peer on port {} of {label}", args.port));
    if !has {
        bail!(
            "peer {peer_label} on port {} has no dma_test service",
            args.port
        );
    }
    let here = |id: u64| Side {
        label: label.clone(),
        path: path.clone(),
        adapter: args.port,
        id,
    };

    // The first Ctrl-C cancels both sides and reports; a second one,
    // before that is through, exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGINT,
        130,
        stop.clone(),
    )
    .and_then(|_| signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone()))
    .context("cannot install signal handler")?;

    let (sender, receiver) = if args.loopback {
        let mut req = base(args, args.port)?;
        req.send = args.packets;
        req.receive = args.packets;
        req.out_hopid = args.out_hopid;
        req.in_hopid = args.in_hopid;
        let rep = ask(&label, &path, &Request::Dmatest(req))?;
        (Some(here(rep.id)), Some(here(rep.id)))
    } else if args.send_only || args.receive_only {
        let mut req = base(args, args.port)?;
        if args.send_only {
            req.send = args.packets;
            req.out_hopid = args.out_hopid;
        } else {
            req.receive = args.packets;
            req.in_hopid = args.in_hopid;
        }
        let rep = ask(&label, &path, &Request::Dmatest(req))?;
        let side = here(rep.id);
        if args.send_only {
            (Some(side), None)
        } else {
            (None, Some(side))
        }
    } else {
        let (plabel, ppath) = match &args.peer_control {
            Some(p) => (peer_label.clone(), p.clone()),
            // A cable looped back to the same host (spec 07 §1).
            None if peer_uuid.as_deref() == Some(snap.uuid.as_str()) => {
                (label.clone(), path.clone())
            }
            None => {
                let Some(n) = &peer_name else {
                    bail!(
                        "the peer on port {} publishes no host name: give --peer-control",
                        args.port
                    );
                };
                let p = find_socket(n).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot reach peer {n}: {e}; if it is not a tblink host, arm its receiver \
                         there and use --send-only"
                    )
                })?;
                (n.clone(), p)
            }
        };
        let psnap = snapshot(&plabel, &ppath)?;
        let padapter = match args.peer_port {
            Some(a) => a,
            None => {
                let same = psnap.uuid == snap.uuid;
                adapter_towards(&plabel, &psnap, &snap.uuid, same.then_some(args.port))?
            }
        };
        // Receiver first (spec 07 §2).
        let mut rreq = base(args, padapter)?;
        rreq.receive = args.packets;
        rreq.in_hopid = args.in_hopid;
        let rrep = ask(&plabel, &ppath, &Request::Dmatest(rreq))?;
        let receiver = Side {
            label: plabel,
            path: ppath,
            adapter: padapter,
            id: rrep.id,
        };
        if !rrep.running {
            return finish(args, None, Some((receiver, rrep)));
        }
        let mut sreq = base(args, args.port)?;
        sreq.send = args.packets;
        sreq.out_hopid = args.out_hopid.or(rrep.in_hopid);
        match ask(&label, &path, &Request::Dmatest(sreq)) {
            Ok(srep) if srep.running => (Some(here(srep.id)), Some(receiver)),
            // The sender could not set up (a HopID or ring taken): the
            // receiver would wait for frames that never come.
            Ok(srep) => {
                let sender = here(srep.id);
                let rrep = cancel(&receiver)?;
                return finish(args, Some((sender, srep)), Some((receiver, rrep)));
            }
            Err(e) => {
                let _ = cancel(&receiver);
                return Err(e);
            }
        }
    };
    let (s, r) = follow(args, sender, receiver, &stop)?;
    finish(args, s, r)
}

fn cancel(side: &Side) -> anyhow::Result<DmaTestReport> {
    ask(
        &side.label,
        &side.path,
        &Request::DmatestCancel {
            adapter: side.adapter,
        },
    )
}

fn status(side: &Side) -> anyhow::Result<DmaTestReport> {
    let rep = ask(
        &side.label,
        &side.path,
        &Request::DmatestStatus {
            adapter: side.adapter,
        },
    )?;
    if rep.id != side.id {
        bail!(
            "{}: another dma_test run (#{}) replaced ours (#{}) on port {}",
            side.label,
            rep.id,
            side.id,
            side.adapter
        );
    }
    Ok(rep)
}

type Done = Option<(Side, DmaTestReport)>;

/// Poll both sides until they finish, with a progress bar on long runs.
fn follow(
    args: &DmatestArgs,
    sender: Option<Side>,
    receiver: Option<Side>,
    stop: &AtomicBool,
) -> anyhow::Result<(Done, Done)> {
    let t0 = Instant::now();
    let show = !args.json && std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut cancelled = false;
    loop {
        if stop.load(Ordering::SeqCst) && !cancelled {
            cancelled = true;
            for s in sender.iter().chain(receiver.iter()) {
                let _ = cancel(s);
            }
        }
        let (s, r) = match (
            sender.as_ref().map(status).transpose(),
            receiver.as_ref().map(status).transpose(),
        ) {
            (Ok(s), Ok(r)) => (s, r),
            // One side cannot be followed: do not leave the other running
            // (a receiver with --timeout 0 would wait forever).
            (Err(e), _) | (_, Err(e)) => {
                for side in sender.iter().chain(receiver.iter()) {
                    let _ = cancel(side);
                }
                return Err(e);
            }
        };
        let running = s.iter().chain(r.iter()).any(|x| x.running);
        if !running {
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            return Ok((sender.zip(s), receiver.zip(r)));
        }
        // The receiver's count when there is one, else the sender's completions.
        let pos = match (&r, &s) {
            (Some(r), _) => r.packets_received,
            (None, Some(s)) => s.packets_completed,
            (None, None) => 0,
        };
        if bar.is_none() && show && t0.elapsed() > Duration::from_millis(300) {
            let b = indicatif::ProgressBar::with_draw_target(
                Some(u64::from(args.packets)),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} dma_test [{bar:40}] {pos}/{len} frames {msg} ({elapsed})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            bar = Some(b);
        }
        if let Some(b) = &bar {
            b.set_position(u64::from(pos));
            let g = r
                .as_ref()
                .and_then(|r| r.rx_gbit_s)
                .or(s.as_ref().and_then(|s| s.tx_gbit_s));
            if let Some(g) = g {
                b.set_message(format!("{g:.2} Gbit/s"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn opt_gbit(g: Option<f64>) -> String {
    g.map_or_else(|| "-".to_string(), |g| format!("{g:.2} Gbit/s"))
}

fn finish(args: &DmatestArgs, sender: Done, receiver: Done) -> anyhow::Result<ExitCode> {
    let ok = sender
        .iter()
        .chain(receiver.iter())
        .all(|(_, r)| r.success());
    let result = if ok { "success" } else { "failed" };
    if args.json {
        let v = serde_json::json!({
            "result": result,
            "sender": sender.as_ref().map(|(_, r)| r),
            "receiver": receiver.as_ref().map(|(_, r)| r),
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        emit(&text_report(result, sender.as_ref(), receiver.as_ref()))?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Write to stdout; a reader that went away is not an error.
fn emit(s: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(s.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn text_report(
    result: &str,
    sender: Option<&(Side, DmaTestReport)>,
    receiver: Option<&(Side, DmaTestReport)>,
) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let name = |x: Option<&(Side, DmaTestReport)>| {
        x.map(|(s, r)| format!("{} port {} ({})", s.label, s.adapter, r.service))
    };
    let _ = writeln!(
        o,
        "dma_test {} -> {}: {result}",
        name(sender).unwrap_or_else(|| "(peer)".into()),
        name(receiver).unwrap_or_else(|| "(peer)".into())
    );
    if let Some((_, s)) = sender {
        let _ = writeln!(
            o,
            "  frames sent      {} of {} ({} completed; {} bytes each, out HopID {})",
            s.packets_sent,
            s.send,
            s.packets_completed,
            s.size,
            s.out_hopid.map_or("-".into(), |h| h.to_string())
        );
    }
    if let Some((_, r)) = receiver {
        let _ = writeln!(
            o,
            "  frames received  {} of {} (in HopID {})",
            r.packets_received,
            r.receive,
            r.in_hopid.map_or("-".into(), |h| h.to_string())
        );
        let _ = writeln!(
            o,
            "  errors           crc {}, overflow {}, length {}, pattern {}, missing {}",
            r.crc_errors, r.buffer_overflow_errors, r.length_errors, r.pattern_errors, r.missing
        );
    }
    let mut times = Vec::new();
    if let Some((_, s)) = sender {
        times.push(format!("sender {:.3} s", s.tx_s));
    }
    if let Some((_, r)) = receiver {
        times.push(format!("receiver {:.3} s", r.rx_s));
    }
    let elapsed = sender
        .iter()
        .chain(receiver.iter())
        .map(|(_, r)| r.elapsed_s)
        .fold(0.0, f64::max);
    let _ = writeln!(
        o,
        "  elapsed          {elapsed:.3} s ({})",
        times.join(", ")
    );
    let mut tp = Vec::new();
    if let Some((_, r)) = receiver {
        tp.push(format!("{} receiver", opt_gbit(r.rx_gbit_s)));
    }
    if let Some((_, s)) = sender {
        tp.push(format!("{} sender", opt_gbit(s.tx_gbit_s)));
    }
    let _ = writeln!(o, "  throughput       {}", tp.join(", "));
    for (side, r) in sender.iter().chain(receiver.iter()) {
        if !r.success() {
            let _ = writeln!(
                o,
                "  {} error: {}{}",
                side.label,
                r.error,
                r.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
    }
    o
}
