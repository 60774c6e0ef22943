//! `tblink top`: a live view of a running host (ports, peers, services,
//! login state, per-interface throughput and error counters).
//!
//! A poller thread asks the host for its [`Snapshot`] every interval; the
//! main thread keeps a [`Model`] (last snapshot, rates from counter deltas)
//! and redraws it with ratatui. A host that goes away is shown as not
//! reachable and asked again on every tick.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget};
use tblink_host::Snapshot;
use tblink_host::snapshot::{NetIfInfo, PortLink};

use crate::ls;

/// Long help of `tblink top`.
pub const LONG_ABOUT: &str = "\
A live terminal view of a running `tblink host`: its identity and uptime, \
per lane adapter the cable, link state and what is at the other end, the \
XDomain peers (device, host name, UUID, discovery state, services with the \
driver bound to each), and per network interface the MAC, MTU, carrier and \
login state, TX/RX throughput (bit/s and packets/s, from counter deltas \
between two samples over the host's own elapsed time) and the error \
counters, plus the recent link and login events.

The host is asked for its status every --interval seconds (default 1). \
While it cannot be reached the screen says \"host not reachable\", keeps \
the last picture, and keeps asking. q, Esc or Ctrl-C quits and restores the \
terminal.

Without --host or --control the only running host is shown (an error when \
there are none or several). Needs a terminal; --once instead takes two \
samples one interval apart and prints one frame as text.

Exit status 2 when no host is running: none is found without --host or \
--control, or (with --once) the one watched does not answer. Other errors \
(several hosts running, no terminal) give exit status 1.";

/// Arguments of `tblink top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Host name (its socket is looked up in the default places).
    #[arg(long, conflicts_with = "control")]
    pub host: Option<String>,
    /// Control socket path of the host.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Seconds between samples (0.1 to 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = parse_interval)]
    pub interval: f64,
    /// Print one frame as text (two samples one interval apart) and exit.
    #[arg(long)]
    pub once: bool,
    /// Width of the --once frame (default: the terminal's, or 120).
    #[arg(long, value_name = "COLUMNS", requires = "once", value_parser = clap::value_parser!(u16).range(40..=1000))]
    pub width: Option<u16>,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if (0.1..=60.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0.1..=60 seconds"))
    }
}

/// Throughput of one interface between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IfRates {
    /// Transmitted bits per second.
    pub tx_bps: f64,
    /// Transmitted packets per second.
    pub tx_pps: f64,
    /// Received bits per second.
    pub rx_bps: f64,
    /// Received packets per second.
    pub rx_pps: f64,
    /// Errors and drops counted between the two samples.
    pub new_errors: u64,
}

fn error_total(n: &NetIfInfo) -> u64 {
    n.tx_errors
        .saturating_add(n.rx_errors)
        .saturating_add(n.rx_host_dropped)
        .saturating_add(n.rx_no_desc)
}

/// Rates from two samples of one interface taken at `prev_t` and `cur_t`
/// seconds (on one clock). `None` when no time passed or a counter went
/// backwards (the counters were reset: another process or interface).
pub fn rates(prev: &NetIfInfo, prev_t: f64, cur: &NetIfInfo, cur_t: f64) -> Option<IfRates> {
    let dt = cur_t - prev_t;
    if !dt.is_finite() || dt <= 0.0 {
        return None;
    }
    let d = |a: u64, b: u64| b.checked_sub(a);
    let tx_b = d(prev.tx_bytes, cur.tx_bytes)?;
    let tx_p = d(prev.tx_packets, cur.tx_packets)?;
    let rx_b = d(prev.rx_bytes, cur.rx_bytes)?;
    let rx_p = d(prev.rx_packets, cur.rx_packets)?;
    let errs = d(error_total(prev), error_total(cur))?;
    Some(IfRates {
        tx_bps: tx_b as f64 * 8.0 / dt,
        tx_pps: tx_p as f64 / dt,
        rx_bps: rx_b as f64 * 8.0 / dt,
        rx_pps: rx_p as f64 / dt,
        new_errors: errs,
    })
}

/// `3.21 Gbit/s`, `12.4 Mbit/s`, `840.0 kbit/s`, `0 bit/s`.
pub fn fmt_bits(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kbit/s", bps / 1e3)
    } else {
        format!("{bps:.0} bit/s")
    }
}

/// `1.25M`, `12.3k`, `7`.
pub fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// What the view shows: the last snapshot, the rates derived from the
/// last two, and whether the host answered the last time it was asked.
#[derive(Debug)]
pub struct Model {
    label: String,
    interval: f64,
    snap: Option<Snapshot>,
    /// Why the last request failed (the host is not reachable).
    error: Option<String>,
    last_ok: Option<Instant>,
    /// Previous sample per interface: host uptime and counters.
    prev: HashMap<String, (f64, NetIfInfo)>,
    rates: HashMap<String, IfRates>,
    /// Whether the status line tells how to quit (not in a text frame).
    keys_hint: bool,
}

impl Model {
    /// An empty view of host `label`, sampled every `interval` seconds.
    pub fn new(label: &str, interval: f64) -> Self {
        Model {
            label: label.to_string(),
            interval,
            snap: None,
            error: None,
            last_ok: None,
            prev: HashMap::new(),
            rates: HashMap::new(),
            keys_hint: true,
        }
    }

    /// Take the result of one request, received at `now`.
    pub fn update(&mut self, r: Result<Snapshot, String>, now: Instant) {
        match r {
            Ok(s) => {
                let old = self
                    .snap
                    .as_ref()
                    .filter(|o| o.pid == s.pid && o.uuid == s.uuid);
                if old.is_some_and(|o| s.uptime_s <= o.uptime_s) {
                    // The host answered with the same snapshot (it rebuilds
                    // it only every so often while idle): nothing new to
                    // measure, keep the rates of the last two samples.
                    self.snap = Some(s);
                    self.error = None;
                    self.last_ok = Some(now);
                    return;
                }
                if old.is_none() {
                    self.prev.clear();
                }
                self.rates.clear();
                // The host's uptime is the clock: sampled in the same turn
                // of its loop as the counters, so socket delays do not skew
                // the rates.
                let t = s.uptime_s;
                for n in &s.net {
                    if let Some((pt, p)) = self.prev.get(&n.ifname)
                        && let Some(r) = rates(p, *pt, n, t)
                    {
                        self.rates.insert(n.ifname.clone(), r);
                    }
                }
                self.prev = s
                    .net
                    .iter()
                    .map(|n| (n.ifname.clone(), (t, n.clone())))
                    .collect();
                self.snap = Some(s);
                self.error = None;
                self.last_ok = Some(now);
            }
            Err(e) => {
                self.error = Some(e);
                self.rates.clear();
            }
        }
    }

    /// Rates of interface `ifname` over the last interval, once known.
    pub fn rates(&self, ifname: &str) -> Option<&IfRates> {
        self.rates.get(ifname)
    }

    /// Whether the last request failed.
    pub fn unreachable(&self) -> bool {
        self.error.is_some()
    }
}

/// Login state of an interface (spec 06 §6): carrier is on exactly while
/// both logins are done and the data paths are up. With the carrier off,
/// the last event of its route tells why:
/// * `login` (both logins done) with no `carrier_on` after it: the data
///   paths could not be brought up (the host brings them up and turns the
///   carrier on in one go), and the driver logs in again after its retry
///   delay: "retrying";
/// * `login_timed_out`: our login got no answer: "timed out";
/// * `carrier_off` (peer LOGOUT, unplug, service gone), `disconnected`,
///   `link_down`, or nothing yet: "logged out".
pub fn login_state(s: &Snapshot, n: &NetIfInfo) -> &'static str {
    if n.carrier {
        return "logged in";
    }
    let last = s
        .timeline
        .iter()
        .rev()
        .filter(|e| e.route.as_deref() == Some(n.route.as_str()))
        .find(|e| {
            matches!(
                e.event.as_str(),
                "login"
                    | "login_timed_out"
                    | "carrier_on"
                    | "carrier_off"
                    | "disconnected"
                    | "link_down"
            )
        });
    match last.map(|e| e.event.as_str()) {
        Some("login_timed_out") => "timed out",
        Some("login") => "retrying",
        _ => "logged out",
    }
}

fn peer_name(s: &Snapshot, uuid: &str) -> String {
    s.xdomains()
        .find(|x| x.uuid.as_deref() == Some(uuid))
        .and_then(|x| x.host_name.clone())
        .unwrap_or_else(|| uuid.chars().take(8).collect())
}

fn header_style() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn boxed(title: &str) -> Block<'static> {
    Block::bordered().title(Line::from(format!(" {title} ")).style(header_style()))
}

/// Lines of the ports table (at least one: "no ports").
fn ports_table(s: Option<&Snapshot>) -> (Table<'static>, u16) {
    let rows: Vec<Row> = s
        .map(|s| {
            s.ports
                .iter()
                .map(|p| {
                    let peer = match (&p.peer_kind, &p.peer_route) {
                        (Some(k), Some(r)) => format!("{k} at route {r}"),
                        _ => p.error.clone().unwrap_or_else(|| "-".into()),
                    };
                    let link_style = match p.link {
                        PortLink::Up => Style::new().fg(Color::Green),
                        PortLink::Down => Style::new().fg(Color::Yellow),
                        PortLink::Unplugged => Style::new().fg(Color::Red),
                    };
                    Row::new(vec![
                        Cell::from(p.adapter.to_string()),
                        Cell::from(p.cable.clone()),
                        Cell::from(p.link.to_string()).style(link_style),
                        Cell::from(peer),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return empty_table("Ports", "no ports");
    }
    let n = rows.len();
    let t = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec!["Port", "Cable", "Link", "Peer"]).style(header_style()))
    .block(boxed("Ports"));
    (t, height(n))
}

/// A box with one line of text, for a table with nothing to list.
fn empty_table(title: &str, text: &str) -> (Table<'static>, u16) {
    let t = Table::new(
        vec![Row::new(vec![text.to_string()])],
        [Constraint::Fill(1)],
    )
    .block(boxed(title));
    (t, 3)
}

fn height(rows: usize) -> u16 {
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3)
}

fn peers_table(s: Option<&Snapshot>, wide: bool) -> (Table<'static>, u16) {
    let rows: Vec<Row> = s
        .map(|s| {
            s.xdomains()
                .map(|x| {
                    let services: Vec<String> = x
                        .services
                        .iter()
                        .map(|sv| {
                            format!(
                                "{} ({})",
                                sv.key,
                                sv.driver.as_deref().unwrap_or("no driver")
                            )
                        })
                        .collect();
                    let state_style = if x.state == "enumerated" {
                        Style::new().fg(Color::Green)
                    } else if x.state == "error" {
                        Style::new().fg(Color::Red)
                    } else {
                        Style::new().fg(Color::Yellow)
                    };
                    Row::new(vec![
                        Cell::from(x.device.clone()),
                        Cell::from(x.host_name.clone().unwrap_or_else(|| "?".into())),
                        Cell::from(x.uuid.clone().unwrap_or_else(|| "?".into())),
                        Cell::from(x.state.clone()).style(state_style),
                        Cell::from(if services.is_empty() {
                            "-".to_string()
                        } else {
                            services.join(", ")
                        }),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return empty_table("Peers", "no peers");
    }
    let n = rows.len();
    let t = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Fill(1),
            Constraint::Length(if wide { 36 } else { 18 }),
            Constraint::Length(10),
            Constraint::Fill(2),
        ],
    )
    .header(
        Row::new(vec!["Device", "Host", "UUID", "State", "Services (driver)"])
            .style(header_style()),
    )
    .block(boxed("Peers"));
    (t, height(n))
}

/// Narrower than this, the interfaces table leaves out the MAC column and
/// the peers table shortens UUIDs.
const WIDE: u16 = 118;

/// `v` without its element `i` when `drop` is set.
fn without<T>(mut v: Vec<T>, i: usize, drop: bool) -> Vec<T> {
    if drop && i < v.len() {
        v.remove(i);
    }
    v
}

fn interfaces_table(m: &Model, wide: bool) -> (Table<'static>, u16) {
    let s = m.snap.as_ref();
    let rows: Vec<Row> = s
        .map(|s| {
            s.net
                .iter()
                .map(|n| {
                    let r = m.rates(&n.ifname);
                    let bits = |v: Option<f64>| v.map_or_else(|| "-".into(), fmt_bits);
                    let num = |v: Option<f64>| v.map_or_else(|| "-".into(), fmt_rate);
                    let login = login_state(s, n);
                    let on = Style::new().fg(Color::Green);
                    let off = Style::new().fg(Color::Red);
                    let cells = vec![
                        Cell::from(n.ifname.clone()),
                        Cell::from(peer_name(s, &n.peer_uuid)),
                        Cell::from(n.mac.clone()),
                        Cell::from(n.mtu.to_string()),
                        Cell::from(if n.carrier { "on" } else { "off" }).style(if n.carrier {
                            on
                        } else {
                            off
                        }),
                        Cell::from(login).style(if n.carrier { on } else { off }),
                        Cell::from(bits(r.map(|r| r.tx_bps))),
                        Cell::from(num(r.map(|r| r.tx_pps))),
                        Cell::from(bits(r.map(|r| r.rx_bps))),
                        Cell::from(num(r.map(|r| r.rx_pps))),
                    ];
                    Row::new(without(cells, 2, !wide))
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return empty_table(
            "Interfaces",
            "no network interfaces (a host without --net, or no peer logged in yet)",
        );
    }
    let n = rows.len();
    let t = Table::new(
        rows,
        without(
            vec![
                Constraint::Length(15),
                Constraint::Fill(1),
                Constraint::Length(17),
                Constraint::Length(5),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Length(8),
                Constraint::Length(12),
                Constraint::Length(8),
            ],
            2,
            !wide,
        ),
    )
    .header(
        Row::new(without(
            vec![
                "Interface",
                "Peer",
                "MAC",
                "MTU",
                "Carrier",
                "Login",
                "TX",
                "TX pkt/s",
                "RX",
                "RX pkt/s",
            ],
            2,
            !wide,
        ))
        .style(header_style()),
    )
    .block(boxed("Interfaces"));
    (t, height(n))
}

fn errors_table(m: &Model) -> (Table<'static>, u16) {
    let rows: Vec<Row> = m
        .snap
        .as_ref()
        .map(|s| {
            s.net
                .iter()
                .map(|n| {
                    let growing = m.rates(&n.ifname).is_some_and(|r| r.new_errors > 0);
                    let style = if growing {
                        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
                    } else {
                        Style::new()
                    };
                    Row::new(
                        [
                            n.ifname.clone(),
                            n.tx_errors.to_string(),
                            n.rx_errors.to_string(),
                            n.rx_length_errors.to_string(),
                            n.rx_over_errors.to_string(),
                            n.rx_crc_errors.to_string(),
                            n.rx_missed_errors.to_string(),
                            n.rx_host_dropped.to_string(),
                            n.rx_no_desc.to_string(),
                            n.bring_ups.to_string(),
                        ]
                        .map(Cell::from),
                    )
                    .style(style)
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        // Nothing to count: the interfaces box already says so.
        return (Table::default(), 0);
    }
    let n = rows.len();
    let t = Table::new(
        rows,
        std::iter::once(Constraint::Length(15))
            .chain(std::iter::repeat_n(Constraint::Length(8), 8))
            .chain(std::iter::once(Constraint::Length(9))),
    )
    .header(
        Row::new(vec![
            "Interface",
            "TX err",
            "RX err",
            "length",
            "over",
            "crc",
            "missed",
            "dropped",
            "no desc",
            "bring-ups",
        ])
        .style(header_style()),
    )
    .block(boxed("Errors"));
    (t, height(n))
}

fn events(s: Option<&Snapshot>, max: usize) -> Paragraph<'static> {
    let lines: Vec<Line> = s
        .map(|s| {
            let skip = s.timeline.len().saturating_sub(max);
            s.timeline
                .iter()
                .skip(skip)
                .map(|e| {
                    Line::from(format!(
                        "{:>10.3} s  {:<16} {}",
                        e.t_ms / 1e3,
                        e.event,
                        e.route
                            .as_deref()
                            .map(|r| format!("route {r}"))
                            .unwrap_or_default()
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Paragraph::new(lines).block(boxed("Events"))
}

fn header(m: &Model, now: Instant) -> Paragraph<'static> {
    let title = match &m.snap {
        Some(s) => format!(
            "tblink top  host {}  uuid {}  pid {}  up {}",
            s.name,
            s.uuid,
            s.pid,
            fmt_uptime(s.uptime_s)
        ),
        None => format!("tblink top  host {}", m.label),
    };
    let status = match &m.error {
        Some(e) => {
            let seen = m
                .last_ok
                .map(|t| {
                    format!(
                        ", last answer {:.0} s ago",
                        now.duration_since(t).as_secs_f64()
                    )
                })
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(
                    "host not reachable",
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(" (retrying every {} s{seen}): {e}", m.interval)),
            ])
        }
        None if m.snap.is_none() => Line::from("waiting for the host ..."),
        None => Line::from(format!(
            "sample every {} s  (rates from the last two samples){}",
            m.interval,
            if m.keys_hint { "   q: quit" } else { "" }
        )),
    };
    Paragraph::new(vec![Line::from(title).style(header_style()), status])
}

fn fmt_uptime(s: f64) -> String {
    let s = s.max(0.0);
    let whole = s as u64;
    if whole >= 3600 {
        format!("{}h{:02}m{:02}s", whole / 3600, whole / 60 % 60, whole % 60)
    } else if whole >= 60 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{s:.1}s")
    }
}

/// Lines needed by everything above the events box.
fn fixed_heights(m: &Model) -> [u16; 5] {
    let s = m.snap.as_ref();
    [
        2,
        ports_table(s).1,
        peers_table(s, true).1,
        interfaces_table(m, true).1,
        errors_table(m).1,
    ]
}

/// Draw the view into `area` of `buf` at time `now`; the events box takes
/// what is left (at most `max_events` lines).
pub fn render(m: &Model, now: Instant, area: Rect, buf: &mut Buffer, max_events: usize) {
    let s = m.snap.as_ref();
    let [h0, h1, h2, h3, h4] = fixed_heights(m);
    let [a0, a1, a2, a3, a4, a5] = Layout::vertical([
        Constraint::Length(h0),
        Constraint::Length(h1),
        Constraint::Length(h2),
        Constraint::Length(h3),
        Constraint::Length(h4),
        Constraint::Fill(1),
    ])
    .areas(area);
    header(m, now).render(a0, buf);
    ports_table(s).0.render(a1, buf);
    let wide = area.width >= WIDE;
    peers_table(s, wide).0.render(a2, buf);
    interfaces_table(m, wide).0.render(a3, buf);
    errors_table(m).0.render(a4, buf);
    let room = usize::from(a5.height.saturating_sub(2));
    events(s, room.min(max_events)).render(a5, buf);
}

/// Draw the view on a frame.
pub fn draw(f: &mut Frame, m: &Model, now: Instant) {
    let area = f.area();
    render(m, now, area, f.buffer_mut(), usize::MAX);
}

/// One frame as text, `width` columns wide, as tall as needed (with up to
/// `max_events` events).
pub fn frame_text(m: &Model, now: Instant, width: u16, max_events: usize) -> String {
    let shown = m
        .snap
        .as_ref()
        .map_or(0, |s| s.timeline.len().min(max_events));
    let h: u16 = fixed_heights(m)
        .iter()
        .fold(height(shown).saturating_sub(1), |a, b| a.saturating_add(*b));
    let area = Rect::new(0, 0, width, h);
    let mut buf = Buffer::empty(area);
    render(m, now, area, &mut buf, max_events);
    buffer_text(&buf)
}

/// The symbols of a buffer, one line per row, trailing blanks trimmed.
pub fn buffer_text(buf: &Buffer) -> String {
    let a = buf.area;
    let mut out = String::new();
    for y in a.top()..a.bottom() {
        let mut line = String::new();
        for x in a.left()..a.right() {
            if let Some(c) = buf.cell((x, y)) {
                line.push_str(c.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Which host to watch: a name (looked up again on every request, so a
/// restarted host is found) or a socket path.
#[derive(Debug, Clone)]
struct Target {
    host: Option<String>,
    control: Option<PathBuf>,
    label: String,
}

impl Target {
    fn fetch(&self) -> Result<Snapshot, String> {
        let (label, path) =
            ls::target(self.host.as_deref(), self.control.as_ref()).map_err(|e| e.to_string())?;
        ls::status(&label, &path).map_err(|e| format!("{e:#}"))
    }
}

/// Why no host was chosen to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NoTarget {
    /// No control socket in the default places accepts a connection.
    NoneRunning,
    /// More than one does (their names).
    Several(Vec<String>),
}

impl std::fmt::Display for NoTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoTarget::NoneRunning => {
                f.write_str("no running hosts found; give --host NAME or --control PATH")
            }
            NoTarget::Several(names) => write!(
                f,
                "several hosts are running ({}); choose one with --host NAME",
                names.join(", ")
            ),
        }
    }
}

impl NoTarget {
    /// 2 when no host is running (as for a named host that is not), 1
    /// when the choice is the user's.
    fn exit_code(&self) -> u8 {
        match self {
            NoTarget::NoneRunning => 2,
            NoTarget::Several(_) => 1,
        }
    }
}

/// The sockets among `all` that accept a connection: a host that died
/// without cleaning up leaves its socket file behind.
fn live(all: Vec<(String, PathBuf)>) -> Vec<(String, PathBuf)> {
    all.into_iter()
        .filter(|(_, p)| std::os::unix::net::UnixStream::connect(p).is_ok())
        .collect()
}

/// The only host in `live`.
fn only(live: Vec<(String, PathBuf)>) -> Result<Target, NoTarget> {
    let mut it = live.into_iter();
    match (it.next(), it.next()) {
        (None, _) => Err(NoTarget::NoneRunning),
        (Some((name, _)), None) => Ok(Target {
            host: Some(name.clone()),
            control: None,
            label: name,
        }),
        (Some((a, _)), Some((b, _))) => Err(NoTarget::Several(
            [a, b].into_iter().chain(it.map(|(n, _)| n)).collect(),
        )),
    }
}

fn choose_target(args: &TopArgs) -> Result<Target, NoTarget> {
    if let Some(p) = &args.control {
        return Ok(Target {
            host: None,
            control: Some(p.clone()),
            label: p.display().to_string(),
        });
    }
    if let Some(h) = &args.host {
        return Ok(Target {
            host: Some(h.clone()),
            control: None,
            label: h.clone(),
        });
    }
    only(live(ls::all_sockets()))
}

/// Run `tblink top`.
pub fn run(args: &TopArgs) -> anyhow::Result<ExitCode> {
    let target = match choose_target(args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tblink: {e}");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    if args.once {
        return once(args, &target);
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "tblink top needs a terminal (stdin and stdout); use --once to print one frame as text"
        );
    }
    tui(args, &target)
}

fn once(args: &TopArgs, target: &Target) -> anyhow::Result<ExitCode> {
    let mut m = Model::new(&target.label, args.interval);
    m.keys_hint = false;
    let first = match target.fetch() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tblink: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    m.update(Ok(first), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(args.interval));
    m.update(target.fetch(), Instant::now());
    let width = args.width.unwrap_or_else(|| {
        ratatui::crossterm::terminal::size()
            .ok()
            .map(|(w, _)| w)
            .filter(|w| *w >= 40)
            .unwrap_or(120)
    });
    print!("{}", frame_text(&m, Instant::now(), width, 8));
    Ok(if m.unreachable() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Leaves raw mode and the alternate screen when dropped (error paths
/// included; ratatui's panic hook covers panics).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn tui(args: &TopArgs, target: &Target) -> anyhow::Result<ExitCode> {
    let quit = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&quit))?;
    }
    let (tx, rx) = mpsc::channel::<Result<Snapshot, String>>();
    let interval = Duration::from_secs_f64(args.interval);
    let poll_target = target.clone();
    std::thread::Builder::new()
        .name("tblink-top-poll".into())
        .spawn(move || {
            let mut next = Instant::now();
            loop {
                if tx.send(poll_target.fetch()).is_err() {
                    break;
                }
                next += interval;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        })?;

    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            anyhow::bail!("cannot set up the terminal: {e}");
        }
    };
    let _restore = Restore;
    let mut m = Model::new(&target.label, args.interval);
    loop {
        while let Ok(r) = rx.try_recv() {
            m.update(r, Instant::now());
        }
        terminal.draw(|f| draw(f, &m, Instant::now()))?;
        if quit.load(Ordering::Relaxed) {
            break;
        }
        if event::poll(Duration::from_millis(100))?
            && let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
        {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if ctrl_c || matches!(k.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use tblink_host::snapshot::{PortInfo, ServiceInfo, TimelineEntry, XDomainInfo};

    fn iface(tx_bytes: u64, tx_packets: u64, rx_bytes: u64, rx_packets: u64) -> NetIfInfo {
        NetIfInfo {
            ifname: "thunderbolt0".into(),
            mac: "02:aa:bb:cc:dd:ee".into(),
            mtu: 1500,
            peer_uuid: "f9b94969-3469-8aa2-acd9-b1522be1744a".into(),
            route: "1".into(),
            carrier: true,
            tx_packets,
            tx_bytes,
            rx_packets,
            rx_bytes,
            ..NetIfInfo::default()
        }
    }

    fn snap(uptime_s: f64, n: NetIfInfo) -> Snapshot {
        Snapshot {
            name: "alice".into(),
            uuid: "88b8188d-00ce-8447-8e8f-d7cf2e0c65b8".into(),
            pid: 4242,
            uptime_s,
            ports: vec![PortInfo {
                adapter: 1,
                cable: "listen:/tmp/cable.sock".into(),
                link: PortLink::Up,
                peer_kind: Some("host".into()),
                peer_route: Some("1".into()),
                error: None,
                xdomains: vec![XDomainInfo {
                    device: "0-1".into(),
                    route: "1".into(),
                    state: "enumerated".into(),
                    uuid: Some("f9b94969-3469-8aa2-acd9-b1522be1744a".into()),
                    host_name: Some("bob".into()),
                    services: vec![ServiceInfo {
                        device: "0-1.0".into(),
                        key: "network".into(),
                        driver: Some("thunderbolt-net".into()),
                        ..ServiceInfo::default()
                    }],
                    ..XDomainInfo::default()
                }],
            }],
            net: vec![n],
            timeline: vec![TimelineEntry {
                t_ms: 2.5,
                event: "carrier_on".into(),
                route: Some("1".into()),
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn rates_are_deltas_over_elapsed_time() {
        let a = iface(1_000, 10, 5_000, 50);
        let b = iface(1_000 + 250_000_000, 10 + 20_000, 5_000 + 1_000, 50 + 10);
        let r = rates(&a, 10.0, &b, 10.5).unwrap();
        assert_eq!(r.tx_bps, 4e9);
        assert_eq!(r.tx_pps, 40_000.0);
        assert_eq!(r.rx_bps, 16_000.0);
        assert_eq!(r.rx_pps, 20.0);
        assert_eq!(r.new_errors, 0);
    }

    #[test]
    fn rates_count_new_errors() {
        let a = iface(0, 0, 0, 0);
        let mut b = iface(0, 0, 0, 0);
        b.rx_errors = 3;
        b.rx_no_desc = 2;
        assert_eq!(rates(&a, 0.0, &b, 1.0).unwrap().new_errors, 5);
    }

    #[test]
    fn no_rates_without_elapsed_time_or_with_reset_counters() {
        let a = iface(1_000, 10, 1_000, 10);
        let b = iface(2_000, 20, 2_000, 20);
        assert_eq!(rates(&a, 1.0, &b, 1.0), None);
        assert_eq!(rates(&a, 2.0, &b, 1.0), None);
        assert_eq!(rates(&a, 1.0, &b, f64::NAN), None);
        // Counters smaller than before: a new process or interface.
        assert_eq!(rates(&b, 1.0, &a, 2.0), None);
    }

    #[test]
    fn units() {
        assert_eq!(fmt_bits(0.0), "0 bit/s");
        assert_eq!(fmt_bits(999.0), "999 bit/s");
        assert_eq!(fmt_bits(840_000.0), "840.0 kbit/s");
        assert_eq!(fmt_bits(12.44e6), "12.4 Mbit/s");
        assert_eq!(fmt_bits(3.214e9), "3.21 Gbit/s");
        assert_eq!(fmt_rate(7.0), "7");
        assert_eq!(fmt_rate(12_345.0), "12.3k");
        assert_eq!(fmt_rate(1_250_000.0), "1.25M");
    }

    #[test]
    fn model_uses_host_uptime_and_resets_on_restart() {
        let t0 = Instant::now();
        let mut m = Model::new("alice", 1.0);
        m.update(Ok(snap(10.0, iface(0, 0, 0, 0))), t0);
        assert!(m.rates("thunderbolt0").is_none(), "one sample has no rate");
        // Received 3 s later locally, but the host says 2 s passed.
        m.update(
            Ok(snap(12.0, iface(500_000_000, 1000, 0, 0))),
            t0 + Duration::from_secs(3),
        );
        assert_eq!(m.rates("thunderbolt0").unwrap().tx_bps, 2e9);
        // A new process (other pid): no rate from the old counters.
        let mut s = snap(0.5, iface(600_000_000, 2000, 0, 0));
        s.pid = 4343;
        m.update(Ok(s), t0 + Duration::from_secs(4));
        assert!(m.rates("thunderbolt0").is_none());
    }

    fn screen(m: &Model, now: Instant, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, m, now)).unwrap();
        buffer_text(t.backend().buffer())
    }

    fn row<'a>(screen: &'a str, start: &str) -> &'a str {
        screen
            .lines()
            .find(|l| l.trim_start_matches('│').starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{screen}"))
    }

    #[test]
    fn renders_peer_login_and_throughput() {
        let t0 = Instant::now();
        let mut m = Model::new("alice", 1.0);
        m.update(Ok(snap(10.0, iface(0, 0, 0, 0))), t0);
        m.update(
            Ok(snap(11.0, iface(400_000_000, 30_000, 1_000_000, 15_000))),
            t0 + Duration::from_secs(1),
        );
        let s = screen(&m, t0 + Duration::from_secs(1), 160, 40);
        assert!(s.contains("host alice"), "{s}");
        assert!(
            s.contains("uuid 88b8188d-00ce-8447-8e8f-d7cf2e0c65b8"),
            "{s}"
        );
        let port = row(&s, "1 ");
        assert!(port.contains("listen:/tmp/cable.sock") && port.contains("up"));
        assert!(port.contains("host at route 1"), "{port}");
        let peer = row(&s, "0-1 ");
        for want in ["bob", "f9b94969-3469-8aa2-acd9-b1522be1744a", "enumerated"] {
            assert!(peer.contains(want), "{want} missing: {peer}");
        }
        assert!(peer.contains("network (thunderbolt-net)"), "{peer}");
        let i = row(&s, "thunderbolt0");
        for want in [
            "bob",
            "02:aa:bb:cc:dd:ee",
            "1500",
            "on",
            "logged in",
            "3.20 Gbit/s",
            "30.0k",
            "8.0 Mbit/s",
            "15.0k",
        ] {
            assert!(i.contains(want), "{want} missing: {i}");
        }
        assert!(s.contains("carrier_on"), "{s}");
        assert!(!s.contains("not reachable"));
    }

    #[test]
    fn unreachable_host_keeps_last_picture() {
        let t0 = Instant::now();
        let mut m = Model::new("alice", 1.0);
        m.update(Ok(snap(10.0, iface(0, 0, 0, 0))), t0);
        m.update(
            Err("host \"alice\" is not running".into()),
            t0 + Duration::from_secs(1),
        );
        assert!(m.unreachable());
        let s = screen(&m, t0 + Duration::from_secs(5), 120, 30);
        assert!(s.contains("host not reachable"), "{s}");
        assert!(s.contains("last answer 5 s ago"), "{s}");
        assert!(row(&s, "0-1 ").contains("bob"));
        // No rate without two answers in a row.
        let i = row(&s, "thunderbolt0");
        assert!(!i.contains("bit/s"), "{i}");
        // It comes back.
        m.update(
            Ok(snap(12.0, iface(0, 0, 0, 0))),
            t0 + Duration::from_secs(6),
        );
        let s = screen(&m, t0 + Duration::from_secs(6), 120, 30);
        assert!(!s.contains("not reachable"), "{s}");
    }

    #[test]
    fn narrow_screen_keeps_peer_and_rates() {
        let t0 = Instant::now();
        let mut m = Model::new("alice", 1.0);
        m.update(Ok(snap(10.0, iface(0, 0, 0, 0))), t0);
        m.update(Ok(snap(11.0, iface(125_000_000, 1, 0, 0))), t0);
        let s = screen(&m, t0, 100, 40);
        let i = row(&s, "thunderbolt0");
        assert!(i.contains("bob") && i.contains("1.00 Gbit/s"), "{i}");
        assert!(!i.contains("02:aa:bb"), "{i}");
        assert!(row(&s, "0-1 ").contains("network (thunderbolt-net)"), "{s}");
        let wide = screen(&m, t0, WIDE, 40);
        assert!(
            row(&wide, "thunderbolt0").contains("02:aa:bb:cc:dd:ee"),
            "{wide}"
        );
    }

    #[test]
    fn login_state_follows_carrier_and_events() {
        let t0 = Instant::now();
        let mut n = iface(0, 0, 0, 0);
        n.carrier = false;
        let mut s = snap(1.0, n);
        s.timeline.push(TimelineEntry {
            t_ms: 900.0,
            event: "login_timed_out".into(),
            route: Some("1".into()),
        });
        let mut m = Model::new("alice", 1.0);
        m.update(Ok(s), t0);
        let i = screen(&m, t0, 160, 40);
        let i = row(&i, "thunderbolt0");
        assert!(i.contains("off") && i.contains("timed out"), "{i}");
    }

    fn event(t_ms: f64, event: &str, route: &str) -> TimelineEntry {
        TimelineEntry {
            t_ms,
            event: event.into(),
            route: Some(route.into()),
        }
    }

    #[test]
    fn login_state_after_bring_up_and_tear_down() {
        let mut n = iface(0, 0, 0, 0);
        let mut s = snap(1.0, n.clone());
        s.timeline = vec![event(10.0, "login", "1"), event(10.0, "carrier_on", "1")];
        assert_eq!(login_state(&s, &n), "logged in");
        n.carrier = false;
        // The carrier could not be turned on after all: not logged in.
        assert_eq!(login_state(&s, &n), "logged out");
        // Torn down after the peer's LOGOUT: carrier off after the login.
        s.timeline.push(event(20.0, "carrier_off", "1"));
        assert_eq!(login_state(&s, &n), "logged out");
        // Another route's login says nothing about this one.
        s.timeline.push(event(21.0, "login", "3"));
        assert_eq!(login_state(&s, &n), "logged out");
        // Logged in again, but the paths failed: the driver retries.
        s.timeline.push(event(30.0, "login", "1"));
        assert_eq!(login_state(&s, &n), "retrying");
        // The peer went away after that.
        s.timeline.push(event(31.0, "disconnected", "1"));
        assert_eq!(login_state(&s, &n), "logged out");
        s.timeline.push(event(40.0, "login", "1"));
        s.timeline.push(event(41.0, "link_down", "1"));
        assert_eq!(login_state(&s, &n), "logged out");
        s.timeline.push(event(50.0, "login_timed_out", "1"));
        assert_eq!(login_state(&s, &n), "timed out");
        s.timeline.clear();
        assert_eq!(login_state(&s, &n), "logged out");
    }

    #[test]
    fn repeated_snapshot_keeps_the_rates() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut m = Model::new("alice", 0.1);
        m.update(Ok(snap(10.0, iface(0, 0, 0, 0))), t0);
        m.update(Ok(snap(10.2, iface(25_000_000, 100, 0, 0))), t0 + ms(100));
        let r = *m.rates("thunderbolt0").unwrap();
        assert!((r.tx_bps - 1e9).abs() < 1.0, "{r:?}");
        // Asked again before the host rebuilt its snapshot: same uptime.
        m.update(Ok(snap(10.2, iface(25_000_000, 100, 0, 0))), t0 + ms(200));
        assert_eq!(m.rates("thunderbolt0"), Some(&r));
        assert!(!m.unreachable());
        let s = screen(&m, t0 + ms(200), 160, 40);
        assert!(row(&s, "thunderbolt0").contains("1.00 Gbit/s"), "{s}");
        // The next new snapshot is measured from the last new one.
        m.update(Ok(snap(10.4, iface(75_000_000, 300, 0, 0))), t0 + ms(300));
        let r = m.rates("thunderbolt0").unwrap();
        assert!((r.tx_bps - 2e9).abs() < 1.0, "{r:?}");
    }

    /// A socket file in `dir` that accepts connections while the returned
    /// listener lives.
    fn listening(dir: &std::path::Path, name: &str) -> std::os::unix::net::UnixListener {
        std::os::unix::net::UnixListener::bind(dir.join(format!("{name}.sock"))).unwrap()
    }

    #[test]
    fn only_host_ignores_stale_sockets() {
        let d = std::env::temp_dir().join(format!("tblink-top-choose-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let dirs = [d.clone()];
        assert_eq!(
            only(live(ls::sockets_in(&dirs))).unwrap_err(),
            NoTarget::NoneRunning
        );
        // A host that died without removing its socket.
        drop(listening(&d, "gone"));
        assert_eq!(ls::sockets_in(&dirs).len(), 1);
        let e = only(live(ls::sockets_in(&dirs))).unwrap_err();
        assert_eq!((e.exit_code(), e), (2, NoTarget::NoneRunning));
        let _a = listening(&d, "alice");
        let t = only(live(ls::sockets_in(&dirs))).unwrap();
        assert_eq!(
            (t.host.as_deref(), t.label.as_str()),
            (Some("alice"), "alice")
        );
        let _b = listening(&d, "bob");
        let e = only(live(ls::sockets_in(&dirs))).unwrap_err();
        assert_eq!(e, NoTarget::Several(vec!["alice".into(), "bob".into()]));
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("(alice, bob)"), "{e}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn empty_host_and_text_frame() {
        let t0 = Instant::now();
        let mut m = Model::new("carol", 1.0);
        let s = screen(&m, t0, 100, 30);
        assert!(
            s.contains("host carol") && s.contains("waiting for the host"),
            "{s}"
        );
        m.update(
            Ok(Snapshot {
                name: "carol".into(),
                ..Snapshot::default()
            }),
            t0,
        );
        let text = frame_text(&m, t0, 100, 8);
        assert!(text.contains("no ports"), "{text}");
        assert!(text.contains("no peers"), "{text}");
        assert!(text.contains("no network interfaces"), "{text}");
        assert!(!text.contains("Errors"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100));
        assert!(text.ends_with("┘\n"), "{text}");
    }
}
