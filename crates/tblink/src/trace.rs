//! `tblink trace decode`: decode Linux thunderbolt tracepoint output
//! (`tb_tx`, `tb_rx`, `tb_event`; spec 01 §7.6) into named fields.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::ExitCode;

use anyhow::{Context, Result};
use tblink_wire::ctl::{Address, ConfigSpace, ControlPacket, IcmPacket};
use tblink_wire::property::{Directory, MAX_BLOCK_DWORDS};

use crate::props::{TreeStyle, write_tree};
use tblink_wire::tbip::TbipMessage;
use tblink_wire::uuid::{
    DMA_TEST_DIRECTORY, NETWORK_DIRECTORY, THUNDERBOLT_IP, Uuid, XDOMAIN_DISCOVERY,
};
use tblink_wire::xdomain::{Header, Message, XdPacket};
use tblink_wire::{Pdf, Route};

/// Long help of `tblink trace decode`.
pub const DECODE_LONG: &str = "\
Decode Linux thunderbolt tracepoint output into named fields.

Input: FILE, or `-` / nothing for standard input: the text of \
/sys/kernel/tracing/trace (or trace_pipe, trace-cmd report) after \
`echo 1 > /sys/kernel/tracing/events/thunderbolt/enable` (Linux 6.9+). \
Lines holding a tb_tx:, tb_rx: or tb_event: event are decoded:

  <task>-<pid> [cpu] <flags> <timestamp>: tb_rx: type=TB_CFG_PKG_<PDF>, \
dropped=<0|1>, size=<dwords>, domain=<n>, route=<hex>, ..., data=[0x..., ...]

The data dwords are the packet in host order without the CRC; the packet \
body is rebuilt from them (big-endian) and decoded by its type: READ/WRITE \
requests and responses, ERROR, NOTIFY_ACK, hot-plug EVENT, RESET, ICM, every \
XDomain discovery message (spec 02; UUIDs in canonical form) and the \
ThunderboltIP LOGIN, LOGIN_RESPONSE, LOGOUT and STATUS messages (spec 06). \
A packet that cannot be decoded is shown raw with the reason, never \
dropped. Other lines (comments `#`, headers, other events, blank lines) are \
skipped silently.

PROPERTIES_RESPONSE pages are reassembled per (domain, route, tx/rx, \
generation); when every dword of the block has arrived its property tree \
(spec 03) is printed once, below the page that completed it. Blocks still \
incomplete at the end of the input are listed at the end.

Output: per packet one header line, then indented fields:
  [<timestamp>] <tx|rx|event> domain <n> route <hex> <PDF> (<size> dwords)[ dropped]: <what>
      <field>  <value>
`dropped` is shown when the kernel set the flag (rx: no request matched).

Errors: a tracepoint line that cannot be parsed (missing or bad fields, a \
data list that does not match size=) is reported on standard error as \
`line N: reason`, and decoding goes on. Exit status: 0 when every \
tracepoint line was well formed, 1 if any was malformed or the input could \
not be read. Lines over 64 KiB count as malformed.";

/// `tblink trace` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TraceCmd {
    /// Decode thunderbolt tracepoint lines (tb_tx, tb_rx, tb_event).
    #[command(long_about = DECODE_LONG)]
    Decode(DecodeArgs),
}

/// Arguments of `tblink trace decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Trace text file, or `-` for standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    input: String,
}

/// Run a `tblink trace` subcommand.
pub fn run(cmd: TraceCmd) -> Result<ExitCode> {
    match cmd {
        TraceCmd::Decode(args) => decode(&args),
    }
}

fn decode(args: &DecodeArgs) -> Result<ExitCode> {
    let reader: Box<dyn Read> = if args.input == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.input)
                .with_context(|| format!("cannot open {}", args.input))?,
        )
    };
    let mut reader = BufReader::new(reader);
    let mut dec = Decoder::default();
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", args.input))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if n == MAX_LINE && !buf.ends_with(b"\n") {
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let m = (&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)
                    .with_context(|| format!("reading {}", args.input))?;
                if m == 0 || rest.ends_with(b"\n") {
                    break;
                }
            }
            dec.malformed += 1;
            eprintln!("tblink trace: line {lineno}: longer than {MAX_LINE} bytes");
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let mut out = String::new();
        if let Err(reason) = dec.feed(&line, &mut out) {
            eprintln!("tblink trace: line {lineno}: {reason}");
        }
        if !out.is_empty() && !emit(&out)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut out = String::new();
    dec.finish(&mut out);
    emit(&out)?;
    if dec.malformed > 0 {
        eprintln!("tblink trace: {} malformed line(s)", dec.malformed);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Longest line read; a tracepoint line has at most 63 data dwords, so
/// anything near this is not one.
const MAX_LINE: usize = 64 * 1024;

/// Write to stdout; `false` when the reader went away.
fn emit(s: &str) -> Result<bool> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

// ---- Line parsing ----

/// Which tracepoint a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    /// `tb_tx`: sent by this host.
    Tx,
    /// `tb_rx`: received.
    Rx,
    /// `tb_event`: received and handled as an event.
    Event,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Tx => "tx",
            Dir::Rx => "rx",
            Dir::Event => "event",
        }
    }
}

/// One parsed tracepoint line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    /// Timestamp as printed (seconds), if the line had the usual prefix.
    pub timestamp: Option<String>,
    /// Tracepoint.
    pub dir: Dir,
    /// Packet type.
    pub pdf: Pdf,
    /// `size=`: dwords.
    pub size: usize,
    /// `domain=`.
    pub domain: u32,
    /// `route=` (hex in the trace).
    pub route: u64,
    /// `dropped=` (tb_rx only).
    pub dropped: Option<bool>,
    /// `data=[...]`: dwords in host order, CRC excluded.
    pub data: Vec<u32>,
}

const EVENTS: [(&str, Dir); 3] = [
    ("tb_tx:", Dir::Tx),
    ("tb_rx:", Dir::Rx),
    ("tb_event:", Dir::Event),
];

/// Find the event marker: `tb_tx:` etc. at the start of the line or after
/// whitespace or `thunderbolt:`, followed by a space or the end.
fn find_marker(line: &str) -> Option<(usize, usize, Dir)> {
    for (name, dir) in EVENTS {
        let mut from = 0;
        while let Some(i) = line.get(from..).and_then(|s| s.find(name)) {
            let at = from + i;
            let end = at + name.len();
            let before = &line[..at];
            let ok_before = before.is_empty()
                || before.ends_with(char::is_whitespace)
                || before.ends_with("thunderbolt:");
            let ok_after = line[end..].is_empty() || line[end..].starts_with(char::is_whitespace);
            if ok_before && ok_after {
                return Some((at, end, dir));
            }
            from = end;
        }
    }
    None
}

fn parse_u64(s: &str, hex: bool) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(h, 16).ok();
    }
    if s.is_empty() {
        return None;
    }
    if hex {
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok()
    } else {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
}

/// Parse one line. `Ok(None)`: not a tracepoint line (skipped silently).
pub fn parse_line(line: &str) -> Result<Option<TraceLine>, String> {
    let line = line.trim_end_matches(['\n', '\r']);
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let Some((at, end, dir)) = find_marker(line) else {
        return Ok(None);
    };
    let mut prefix = line[..at].trim_end();
    prefix = prefix
        .strip_suffix("thunderbolt:")
        .unwrap_or(prefix)
        .trim_end();
    let timestamp = match prefix.split_whitespace().next_back() {
        None => None,
        Some(tok) => {
            let ts = tok
                .strip_suffix(':')
                .ok_or_else(|| format!("no timestamp before the event (found `{tok}`)"))?;
            let valid = !ts.is_empty()
                && ts.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && ts.bytes().filter(|&b| b == b'.').count() <= 1;
            if !valid {
                return Err(format!("bad timestamp `{ts}`"));
            }
            Some(ts.to_string())
        }
    };
    let rest = line[end..].trim();
    let Some(data_at) = rest.find("data=[") else {
        return Err("no data=[...] list".into());
    };
    let after = &rest[data_at + "data=[".len()..];
    let Some(close) = after.find(']') else {
        return Err("data list not closed with `]` (truncated line?)".into());
    };
    if !after[close + 1..].trim().is_empty() {
        return Err(format!(
            "unexpected text after the data list: `{}`",
            after[close + 1..].trim()
        ));
    }
    let list = after[..close].trim();
    let mut data = Vec::new();
    if !list.is_empty() {
        for (i, tok) in list.split(',').enumerate() {
            let t = tok.trim();
            let v = t
                .strip_prefix("0x")
                .filter(|h| {
                    !h.is_empty() && h.len() <= 8 && h.bytes().all(|b| b.is_ascii_hexdigit())
                })
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("data dword {i} is not a 32-bit hex value: `{t}`"))?;
            data.push(v);
        }
    }

    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    let head = rest[..data_at].trim().trim_end_matches(',').trim();
    if !head.is_empty() {
        for f in head.split(',') {
            let f = f.trim();
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| format!("field `{f}` is not key=value"))?;
            fields.insert(k.trim(), v.trim());
        }
    }
    let get = |k: &str| {
        fields
            .get(k)
            .copied()
            .ok_or_else(|| format!("no {k}= field"))
    };
    let ty = get("type")?;
    let pdf = Pdf::from_name(ty)
        .or_else(|| {
            parse_u64(ty, false)
                .filter(|&v| v < 16)
                .map(|v| Pdf::new(v as u8))
        })
        .ok_or_else(|| format!("unknown packet type `{ty}`"))?;
    let size = parse_u64(get("size")?, false)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| "bad size= value".to_string())?;
    let domain = parse_u64(get("domain")?, false)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| "bad domain= value".to_string())?;
    let route = parse_u64(get("route")?, true).ok_or_else(|| "bad route= value".to_string())?;
    let dropped = match fields.get("dropped") {
        None => None,
        Some(v) => Some(match parse_u64(v, false) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(format!("bad dropped= value `{v}`")),
        }),
    };
    if size != data.len() {
        return Err(format!(
            "size={size} but the data list has {} dwords",
            data.len()
        ));
    }
    Ok(Some(TraceLine {
        timestamp,
        dir,
        pdf,
        size,
        domain,
        route,
        dropped,
        data,
    }))
}

// ---- Decoding ----

/// Where pages of one property block are gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct BlockKey {
    domain: u32,
    route: u64,
    dir: Dir,
    generation: u32,
}

#[derive(Debug)]
struct Assembly {
    data_length: u16,
    dwords: Vec<Option<u32>>,
}

/// The trace decoder: feed it lines in order.
#[derive(Debug, Default)]
pub struct Decoder {
    blocks: BTreeMap<BlockKey, Assembly>,
    /// Malformed tracepoint lines seen so far.
    pub malformed: usize,
}

const IND: &str = "    ";

fn uuid_name(u: &Uuid) -> Option<&'static str> {
    match *u {
        XDOMAIN_DISCOVERY => Some("XDomain discovery"),
        THUNDERBOLT_IP => Some("ThunderboltIP"),
        NETWORK_DIRECTORY => Some("network"),
        DMA_TEST_DIRECTORY => Some("dma_test"),
        _ => None,
    }
}

fn uuid_str(u: &Uuid) -> String {
    match uuid_name(u) {
        Some(n) => format!("{u} ({n})"),
        None => u.to_string(),
    }
}

fn dwords_str(d: &[u32]) -> String {
    d.iter()
        .map(|v| format!("{v:#010x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{IND}{name:<16} {value}");
}

fn space_name(s: ConfigSpace) -> &'static str {
    match s {
        ConfigSpace::Hops => "PATH",
        ConfigSpace::Port => "ADAPTER",
        ConfigSpace::Switch => "ROUTER",
        ConfigSpace::Counters => "COUNTERS",
    }
}

fn address(out: &mut String, a: &Address) {
    field(
        out,
        "space",
        format!("{} ({})", space_name(a.space), a.space.bits()),
    );
    field(out, "offset", format!("{:#x}", a.offset));
    field(out, "length", a.length);
    field(out, "adapter", a.port);
    field(out, "seq", a.seq.value());
}

fn data_lines(out: &mut String, name: &str, d: &[u32]) {
    if d.is_empty() {
        field(out, name, "(none)");
        return;
    }
    for (i, chunk) in d.chunks(8).enumerate() {
        let label = if i == 0 { name } else { "" };
        field(out, label, dwords_str(chunk));
    }
}

impl Decoder {
    /// Decode one input line, appending output to `out`. `Err` is the
    /// reason a tracepoint line is malformed (counted in `malformed`).
    pub fn feed(&mut self, line: &str, out: &mut String) -> Result<(), String> {
        match parse_line(line) {
            Ok(None) => Ok(()),
            Ok(Some(t)) => {
                self.packet(&t, out);
                Ok(())
            }
            Err(e) => {
                self.malformed += 1;
                Err(e)
            }
        }
    }

    /// List property blocks still incomplete at the end of the input.
    pub fn finish(&mut self, out: &mut String) {
        for (k, a) in std::mem::take(&mut self.blocks) {
            let have = a.dwords.iter().filter(|d| d.is_some()).count();
            let _ = writeln!(
                out,
                "incomplete property block: {} domain {} route {:x} generation {:#x}: {have} of {} dwords",
                k.dir.name(),
                k.domain,
                k.route,
                k.generation,
                a.data_length
            );
        }
    }

    fn packet(&mut self, t: &TraceLine, out: &mut String) {
        let body: Vec<u8> = t.data.iter().flat_map(|d| d.to_be_bytes()).collect();
        let mut fields = String::new();
        let what = match ControlPacket::parse(t.pdf, &body) {
            Ok(p) => self.describe(t, &p, &body, &mut fields),
            Err(e) => {
                field(&mut fields, "error", format!("cannot decode: {e}"));
                data_lines(&mut fields, "dwords", &t.data);
                "undecoded".to_string()
            }
        };
        let ts = t.timestamp.as_deref().unwrap_or("-");
        let dropped = if t.dropped == Some(true) {
            " dropped"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "[{ts:>14}] {} domain {} route {:x} {} ({} dwords){dropped}: {what}",
            t.dir.name(),
            t.domain,
            t.route,
            t.pdf,
            t.size,
        );
        out.push_str(&fields);
    }

    fn describe(
        &mut self,
        t: &TraceLine,
        p: &ControlPacket,
        body: &[u8],
        o: &mut String,
    ) -> String {
        match p {
            ControlPacket::ReadRequest(r) => {
                address(o, &r.addr);
                "read request".into()
            }
            ControlPacket::ReadResponse(r) => {
                address(o, &r.addr);
                data_lines(o, "data", &r.data);
                "read response".into()
            }
            ControlPacket::WriteRequest(w) => {
                address(o, &w.addr);
                data_lines(o, "data", &w.data);
                "write request".into()
            }
            ControlPacket::WriteResponse(w) => {
                address(o, &w.addr);
                "write response".into()
            }
            ControlPacket::Error(e) => {
                let name = e.code.name().unwrap_or("unknown");
                field(o, "code", format!("{:#x} ({name})", e.code.value()));
                field(o, "adapter", e.port);
                let pg = match e.pg.value() {
                    2 => "plug",
                    3 => "unplug",
                    0 => "none",
                    _ => "reserved",
                };
                field(o, "pg", format!("{} ({pg})", e.pg.value()));
                format!("error {name}")
            }
            ControlPacket::NotifyAck(_) => "notification acknowledgement".into(),
            ControlPacket::HotPlug(h) => {
                field(o, "adapter", h.port);
                field(o, "unplug", u8::from(h.unplug));
                if h.unplug {
                    format!("hot unplug adapter {}", h.port)
                } else {
                    format!("hot plug adapter {}", h.port)
                }
            }
            ControlPacket::ResetRequest(_) => "reset request".into(),
            ControlPacket::ResetResponse(_) => "reset response".into(),
            ControlPacket::Icm { packet, .. } => {
                icm(o, packet);
                format!("ICM code {:#x}", packet.code)
            }
            ControlPacket::XDomain { packet, .. } => self.xdomain(t, packet, o),
            ControlPacket::Raw { pdf, body: raw } => raw_packet(*pdf, raw, body, o),
        }
    }

    fn xdomain(&mut self, t: &TraceLine, p: &XdPacket, o: &mut String) -> String {
        field(o, "protocol", uuid_str(&XDOMAIN_DISCOVERY));
        field(o, "sn", p.seq.value());
        let ty = p.message.msg_type();
        let name = ty
            .name()
            .map_or_else(|| format!("type {:#x}", ty.value()), str::to_string);
        field(
            o,
            "type",
            format!("{:#x} ({})", ty.value(), ty.name().unwrap_or("unknown")),
        );
        match &p.message {
            Message::UuidRequest
            | Message::UuidRequestOld
            | Message::PropertiesChangedResponse
            | Message::LinkStateStatusRequest => {}
            Message::UuidResponse {
                src_uuid,
                src_route,
            } => {
                field(o, "src_uuid", uuid_str(src_uuid));
                field(o, "src_route", format!("{src_route:#}"));
            }
            Message::PropertiesRequest {
                src_uuid,
                dst_uuid,
                offset,
            } => {
                field(o, "src_uuid", uuid_str(src_uuid));
                field(o, "dst_uuid", uuid_str(dst_uuid));
                field(o, "offset", offset);
            }
            Message::PropertiesResponse {
                src_uuid,
                dst_uuid,
                offset,
                data_length,
                generation,
                data,
            } => {
                field(o, "src_uuid", uuid_str(src_uuid));
                field(o, "dst_uuid", uuid_str(dst_uuid));
                field(o, "offset", offset);
                field(o, "data_length", data_length);
                field(o, "generation", format!("{generation:#010x}"));
                data_lines(o, "data", data);
                self.page(t, *offset, *data_length, *generation, data, o);
            }
            Message::PropertiesChangedRequest { src_uuid } => {
                field(o, "src_uuid", uuid_str(src_uuid));
            }
            Message::ErrorResponse { code } => {
                field(
                    o,
                    "error",
                    format!("{:#x} ({})", code.value(), code.name().unwrap_or("unknown")),
                );
            }
            Message::LinkStateStatusResponse {
                status,
                slw,
                tlw,
                sls,
                tls,
            } => {
                field(o, "status", status);
                field(o, "slw", format!("{slw:#x}"));
                field(o, "tlw", format!("{tlw:#x}"));
                field(o, "sls", format!("{sls:#x}"));
                field(o, "tls", format!("{tls:#x}"));
            }
            Message::LinkStateChangeRequest { tlw, tls } => {
                field(o, "tlw", format!("{tlw:#x}"));
                field(o, "tls", format!("{tls:#x}"));
            }
            Message::LinkStateChangeResponse { status } => field(o, "status", status),
            Message::Unknown { payload, .. } => data_lines(o, "payload", payload),
        }
        name
    }

    fn page(
        &mut self,
        t: &TraceLine,
        offset: u16,
        data_length: u16,
        generation: u32,
        data: &[u32],
        o: &mut String,
    ) {
        let len = usize::from(data_length);
        if !(2..=MAX_BLOCK_DWORDS).contains(&len) {
            field(
                o,
                "properties",
                format!("not reassembled: data_length {len} outside 2..={MAX_BLOCK_DWORDS}"),
            );
            return;
        }
        let key = BlockKey {
            domain: t.domain,
            route: Route::from_raw(t.route).without_cm().raw(),
            dir: t.dir,
            generation,
        };
        let a = self.blocks.entry(key).or_insert_with(|| Assembly {
            data_length,
            dwords: vec![None; len],
        });
        if a.data_length != data_length {
            *a = Assembly {
                data_length,
                dwords: vec![None; len],
            };
        }
        for (i, d) in data.iter().enumerate() {
            if let Some(slot) = a.dwords.get_mut(usize::from(offset) + i) {
                *slot = Some(*d);
            }
        }
        let have = a.dwords.iter().filter(|d| d.is_some()).count();
        if have < len {
            field(o, "properties", format!("{have} of {len} dwords so far"));
            return;
        }
        let block: Vec<u32> = a.dwords.iter().map(|d| d.unwrap_or(0)).collect();
        self.blocks.remove(&key);
        match Directory::parse_dwords(&block) {
            Ok(root) => {
                let _ = writeln!(
                    o,
                    "{IND}property block complete: {len} dwords, generation {generation:#010x}"
                );
                write_tree(
                    o,
                    &root,
                    &TreeStyle {
                        prefix: &IND.repeat(2),
                        step: IND,
                        uuid: uuid_str,
                    },
                );
            }
            Err(e) => {
                let _ = writeln!(
                    o,
                    "{IND}property block complete: {len} dwords, generation {generation:#010x}, invalid: {e}"
                );
                data_lines(o, "block", &block);
            }
        }
    }
}

fn icm(o: &mut String, p: &IcmPacket) {
    field(o, "code", format!("{:#x}", p.code));
    field(o, "flags", format!("{:#x}", p.flags));
    field(o, "packet", format!("{} of {}", p.index, p.total));
    data_lines(o, "payload", &p.payload);
}

fn raw_packet(pdf: Pdf, raw: &[u8], body: &[u8], o: &mut String) -> String {
    let dwords: Vec<u32> = raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if pdf == Pdf::XDOMAIN_REQ || pdf == Pdf::XDOMAIN_RESP {
        if let Ok(h) = Header::parse(body) {
            if h.protocol == THUNDERBOLT_IP {
                match TbipMessage::parse(body) {
                    Ok(m) => return tbip(o, &m),
                    Err(e) => field(o, "error", format!("cannot decode ThunderboltIP: {e}")),
                }
            }
            field(o, "protocol", uuid_str(&h.protocol));
            field(o, "sn", h.seq.value());
            data_lines(o, "dwords", &dwords);
            return format!("protocol {}", h.protocol);
        }
        field(o, "error", "not an XDomain frame (header or length field)");
        data_lines(o, "dwords", &dwords);
        return "raw".into();
    }
    data_lines(o, "dwords", &dwords);
    if pdf.name().is_some() {
        "raw".into()
    } else {
        "unknown packet type".into()
    }
}

fn tbip(o: &mut String, m: &TbipMessage) -> String {
    let h = m.header();
    field(o, "protocol", uuid_str(&THUNDERBOLT_IP));
    field(o, "sn", h.seq.value());
    field(o, "initiator_uuid", uuid_str(&h.initiator_uuid));
    field(o, "target_uuid", uuid_str(&h.target_uuid));
    field(
        o,
        "type",
        format!(
            "{:#x} ({})",
            h.msg_type.value(),
            h.msg_type.name().unwrap_or("unknown")
        ),
    );
    field(o, "command_id", h.command_id);
    let name = match m {
        TbipMessage::Login(l) => {
            field(o, "proto_version", l.proto_version);
            field(o, "transmit_path", l.transmit_path);
            "LOGIN"
        }
        TbipMessage::LoginResponse(r) => {
            field(o, "status", r.status);
            let mac = r.receiver_mac;
            field(
                o,
                "receiver_mac",
                format!(
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
                ),
            );
            field(o, "receiver_mac_len", r.receiver_mac_len);
            "LOGIN_RESPONSE"
        }
        TbipMessage::Logout(_) => "LOGOUT",
        TbipMessage::Status(s) => {
            field(o, "status", s.status);
            "STATUS"
        }
        TbipMessage::Unknown(u) => {
            data_lines(o, "payload", u.payload());
            "unknown type"
        }
    };
    format!("ThunderboltIP {name}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    const LOGIN: &str = "    kworker/12:1-134     [012] .....  5433.028883: tb_rx: type=TB_CFG_PKG_XDOMAIN_RESP, dropped=1, size=23, domain=1, route=1, data=[0x80000000, 0x00000001, 0x08000014, 0x9e588f79, 0x478a1636, 0x6456c697, 0xddc820a9, 0x000003d7, 0x186f7000, 0x4a0d7aa3, 0x1d925063, 0x80877f49, 0x256a86f1, 0xffffffff, 0xffffffff, 0x00000000, 0x00000002, 0x00000001, 0x00000008, 0x00000000, 0x00000000, 0x00000000, 0x00000000]";

    #[test]
    fn parses_a_line() {
        let t = parse_line(LOGIN).unwrap().unwrap();
        assert_eq!(t.timestamp.as_deref(), Some("5433.028883"));
        assert_eq!(t.dir, Dir::Rx);
        assert_eq!(t.pdf, Pdf::XDOMAIN_RESP);
        assert_eq!((t.size, t.domain, t.route), (23, 1, 1));
        assert_eq!(t.dropped, Some(true));
        assert_eq!(t.data.len(), 23);
    }

    #[test]
    fn skips_and_rejects() {
        assert_eq!(parse_line("# tracer: nop"), Ok(None));
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(
            parse_line("   sshd-1  [000] ..... 1.0: sched_switch: x=1"),
            Ok(None)
        );
        assert_eq!(parse_line("foo_tb_tx: bar"), Ok(None));
        assert!(parse_line("1.0: tb_tx: type=TB_CFG_PKG_READ, size=1, domain=0, route=0").is_err());
        assert!(parse_line("1.0: tb_tx: type=BOGUS, size=0, domain=0, route=0, data=[]").is_err());
        assert!(
            parse_line("1.0: tb_tx: type=TB_CFG_PKG_READ, size=2, domain=0, route=0, data=[0x1]")
                .is_err()
        );
        assert!(
            parse_line("1.0: tb_tx: type=TB_CFG_PKG_READ, size=1, domain=0, route=0, data=[0x1")
                .is_err()
        );
        assert!(
            parse_line("x1.0: tb_tx: type=TB_CFG_PKG_READ, size=1, domain=0, route=0, data=[0x1]")
                .is_err()
        );
        assert!(
            parse_line(
                "1.0: tb_tx: type=TB_CFG_PKG_READ, size=1, domain=0, route=0, data=[0x123456789]"
            )
            .is_err()
        );
        // perf script style and no prefix at all.
        assert!(parse_line("kworker 10 [000] 59.2: thunderbolt:tb_tx: type=TB_CFG_PKG_READ, size=0, domain=0, route=0, data=[]").unwrap().is_some());
        assert!(
            parse_line("tb_event: type=TB_CFG_PKG_EVENT, size=0, domain=0, route=0, data=[]")
                .unwrap()
                .is_some()
        );
    }

    fn feed_all(lines: &[String]) -> (String, usize) {
        let mut d = Decoder::default();
        let mut out = String::new();
        for l in lines {
            let _ = d.feed(l, &mut out);
        }
        d.finish(&mut out);
        (out, d.malformed)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn garbage_never_panics(s in any::<String>()) {
            let _ = feed_all(&[s]);
        }

        #[test]
        fn mutated_lines_never_panic(cut in 0usize..400, pos in 0usize..400, c in any::<char>()) {
            let mut s: Vec<char> = LOGIN.chars().collect();
            let p = pos % s.len();
            s[p] = c;
            s.truncate(cut.max(1).min(s.len()));
            let line: String = s.into_iter().collect();
            let _ = feed_all(&[line]);
        }

        #[test]
        fn random_packets_never_panic(
            pdf in 0u8..16,
            route in any::<u64>(),
            data in proptest::collection::vec(any::<u32>(), 0..70),
            head in proptest::collection::vec(any::<u32>(), 0..3),
        ) {
            let mut all = head;
            if all.len() == 3 { all[2] = (all[2] & !0x3f) | (data.len() as u32 & 0x3f); }
            all.extend(data);
            let list = all.iter().map(|d| format!("{d:#010x}")).collect::<Vec<_>>().join(", ");
            let line = format!(
                "1.0: tb_rx: type={pdf}, dropped=0, size={}, domain=0, route={route:x}, data=[{list}]",
                all.len()
            );
            let (_, bad) = feed_all(&[line]);
            prop_assert_eq!(bad, 0);
        }

        #[test]
        fn random_property_pages_never_panic(
            pages in proptest::collection::vec(
                (0u16..600, 0u16..600, 0u32..3, proptest::collection::vec(any::<u32>(), 3..45)),
                1..12,
            ),
        ) {
            let lines: Vec<String> = pages.iter().map(|(off, len, generation, data)| {
                let mut dw = vec![0u32, 1, 0,
                    0x0ed738b6, 0xbb40ff42, 0xe290c297, 0x07ffb2c0, 4, 1, 2, 3, 4, 5, 6, 7, 8,
                    (u32::from(*len) << 16) | u32::from(*off), *generation];
                dw[2] = 15 + data.len() as u32;
                dw.extend(data);
                let list = dw.iter().map(|d| format!("{d:#x}")).collect::<Vec<_>>().join(", ");
                format!("2.0: tb_rx: type=TB_CFG_PKG_XDOMAIN_RESP, size={}, domain=0, route=1, data=[{list}]", dw.len())
            }).collect();
            let (_, bad) = feed_all(&lines);
            prop_assert_eq!(bad, 0);
        }
    }
}
