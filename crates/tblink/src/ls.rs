//! `tblink ls`: ask running hosts what they see.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use tblink_host::Snapshot;
use tblink_host::control::{ControlError, Request, candidate_dirs, find_socket, request};
use tblink_host::snapshot::PortLink;

/// Long help of `tblink ls`.
pub const LONG_ABOUT: &str = "\
Ask a running `tblink host` (through its control socket) for its identity \
and, per lane adapter, the link state, the XDomain device behind it (named \
like Linux: 0-1, 0-301), the peer's host name and UUID, its services (key, \
prtcid/prtcvers/prtcrevs/prtcstns, modalias) with the driver bound to each, \
and the ring-0 counters.

Without --host or --control every host whose socket is found in \
/run/tblink, $XDG_RUNTIME_DIR/tblink and /tmp/tblink-$UID is shown. Exit \
status 2 when the host is not running.

--json prints the snapshot as the daemon sends it: one object for --host or \
--control, an array otherwise. Fields: name, uuid, generation, pid, \
uptime_s, local_services [{key, driver}], drivers [string], ports [{adapter, \
cable, link (\"unplugged\"|\"down\"|\"up\"), peer_kind, peer_route, error, \
xdomains [{device, route, state, uuid, host_name, vendor, vendor_name, \
maxhopid, generation, services [{device, key, prtcid, prtcvers, prtcrevs, \
prtcstns, modalias, driver}]}]}], rings {tx0, rx0: {frames, bytes, \
dropped_no_desc, dropped_no_path}}, stack {frames_sent, frames_received, \
crc_errors, retransmits, failed_attempts, requests_answered, hotplug_events, \
cable_crc_drops}, net [{ifname, mac, mtu, peer_uuid, route, carrier, \
tx_packets, tx_bytes, tx_errors, rx_packets, rx_bytes, rx_errors, \
rx_length_errors, rx_over_errors, rx_crc_errors, rx_missed_errors, \
rx_host_dropped, rx_no_desc, bring_ups}] (with --net), timeline [{t_ms, \
event, route}] (link_up, uuid, properties, login, carrier_on, carrier_off, \
link_down, disconnected; ms since the host started).";

/// Arguments of `tblink ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Host name (its socket is looked up in the default places).
    #[arg(long, conflicts_with = "control")]
    pub host: Option<String>,
    /// Control socket path of the host.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where to reach a host: `(label, path)`.
pub fn target(
    host: Option<&str>,
    control: Option<&PathBuf>,
) -> Result<(String, PathBuf), ControlError> {
    match (host, control) {
        (_, Some(p)) => Ok((p.display().to_string(), p.clone())),
        (Some(h), None) => Ok((h.to_string(), find_socket(h)?)),
        (None, None) => Err(ControlError::NotRunning {
            name: String::new(),
            paths: String::new(),
        }),
    }
}

/// Ask the host at `path` for its snapshot.
pub fn status(label: &str, path: &std::path::Path) -> Result<Snapshot, anyhow::Error> {
    let r = request(path, &Request::Status, label)?;
    match (r.ok, r.status) {
        (true, Some(s)) => Ok(s),
        _ => anyhow::bail!(
            "{label}: {}",
            r.error.unwrap_or_else(|| "no status in response".into())
        ),
    }
}

/// `(name, path)` of every control socket in the default places.
pub fn all_sockets() -> Vec<(String, PathBuf)> {
    sockets_in(&candidate_dirs())
}

/// `(name, path)` of every `NAME.sock` in `dirs`; a name found in several
/// is taken from the first.
pub fn sockets_in(dirs: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut here: Vec<(String, PathBuf)> = rd
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                let name = p.file_name()?.to_str()?.strip_suffix(".sock")?.to_string();
                Some((name, p))
            })
            .collect();
        here.sort();
        for (n, p) in here {
            if !v.iter().any(|(m, _): &(String, PathBuf)| *m == n) {
                v.push((n, p));
            }
        }
    }
    v
}

/// Run `tblink ls`.
pub fn run(args: &LsArgs) -> anyhow::Result<ExitCode> {
    if args.host.is_none() && args.control.is_none() {
        let mut snaps = Vec::new();
        for (name, path) in all_sockets() {
            match status(&name, &path) {
                Ok(s) => snaps.push(s),
                Err(e) => eprintln!("tblink: {e:#}"),
            }
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&snaps)?);
        } else if snaps.is_empty() {
            println!("no running hosts");
        } else {
            for s in &snaps {
                print!("{}", render(s));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (label, path) = match target(args.host.as_deref(), args.control.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(not_running(e)),
    };
    let s = match request(&path, &Request::Status, &label) {
        Err(e @ ControlError::NotRunning { .. }) => return Ok(not_running(e)),
        r => {
            let r = r?;
            match (r.ok, r.status) {
                (true, Some(s)) => s,
                _ => anyhow::bail!(
                    "{label}: {}",
                    r.error.unwrap_or_else(|| "no status in response".into())
                ),
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", render(&s));
    }
    Ok(ExitCode::SUCCESS)
}

/// Print a "not running" error; exit status 2.
pub fn not_running(e: ControlError) -> ExitCode {
    eprintln!("tblink: {e}");
    ExitCode::from(2)
}

/// The text form of `tblink ls`.
pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Host {}  uuid {}  generation {:#x}  pid {}  up {:.1}s",
        s.name, s.uuid, s.generation, s.pid, s.uptime_s
    );
    let svcs: Vec<String> = s
        .local_services
        .iter()
        .map(|l| match &l.driver {
            Some(d) => format!("{} ({d})", l.key),
            None => l.key.clone(),
        })
        .collect();
    let _ = writeln!(o, "  services: {}", or_none(&svcs.join(", ")));
    let _ = writeln!(o, "  drivers:  {}", or_none(&s.drivers.join(", ")));
    let _ = writeln!(
        o,
        "  ring 0:   tx {} frames {} bytes ({} lost, no link)  rx {} frames {} bytes ({} dropped, no descriptor)",
        s.rings.tx0.frames,
        s.rings.tx0.bytes,
        s.rings.tx0.dropped_no_path,
        s.rings.rx0.frames,
        s.rings.rx0.bytes,
        s.rings.rx0.dropped_no_desc
    );
    let st = &s.stack;
    let _ = writeln!(
        o,
        "  stack:    sent {} received {} answered {} retransmits {} failed attempts {} crc errors {}",
        st.frames_sent,
        st.frames_received,
        st.requests_answered,
        st.retransmits,
        st.failed_attempts,
        st.crc_errors + st.cable_crc_drops
    );
    for p in &s.ports {
        let mut line = format!("  Port {}  {}  {}", p.adapter, p.cable, p.link);
        if let (Some(k), Some(r)) = (&p.peer_kind, &p.peer_route) {
            let _ = write!(line, " ({k} at route {r})");
        }
        if let Some(e) = &p.error {
            let _ = write!(line, "  error: {e}");
        }
        let _ = writeln!(o, "{line}");
        if p.xdomains.is_empty() && p.link != PortLink::Unplugged {
            let _ = writeln!(o, "    no peer");
        }
        for x in &p.xdomains {
            let _ = writeln!(
                o,
                "    XDomain {}  {}  uuid {}  {}",
                x.device,
                x.host_name.as_deref().unwrap_or("?"),
                x.uuid.as_deref().unwrap_or("?"),
                x.state
            );
            if let (Some(v), Some(m), Some(g)) = (x.vendor, x.maxhopid, x.generation) {
                let _ = writeln!(
                    o,
                    "      vendor {v:#06x} {}  maxhopid {m}  generation {g:#x}",
                    x.vendor_name.as_deref().unwrap_or("")
                );
            }
            for sv in &x.services {
                let _ = writeln!(
                    o,
                    "      Service {}  key {}  prtcid {} prtcvers {} prtcrevs {} prtcstns {}",
                    sv.device, sv.key, sv.prtcid, sv.prtcvers, sv.prtcrevs, sv.prtcstns
                );
                let _ = writeln!(
                    o,
                    "        modalias {}  driver {}",
                    sv.modalias,
                    sv.driver.as_deref().unwrap_or("(none)")
                );
            }
        }
    }
    o.push_str(&tblink_host::snapshot::render_net(s));
    o
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none)" } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_words_are_the_json_names() {
        for l in [PortLink::Unplugged, PortLink::Down, PortLink::Up] {
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{l}\""));
        }
        let s = Snapshot {
            ports: vec![tblink_host::snapshot::PortInfo {
                adapter: 3,
                cable: "udp:1,2".into(),
                link: PortLink::Down,
                ..Default::default()
            }],
            ..Snapshot::default()
        };
        assert!(
            render(&s).contains("  Port 3  udp:1,2  down"),
            "{}",
            render(&s)
        );
    }
}
