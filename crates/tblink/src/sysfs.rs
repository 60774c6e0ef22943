//! `tblink sysfs`: show what a Linux `/sys/bus/thunderbolt` tree says about
//! domains, the local host, device routers, remote hosts (XDomains), their
//! services and the network interfaces bound to them (spec 04 §4–5).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use tblink_wire::Route;

/// Default bus directory.
pub const DEFAULT_ROOT: &str = "/sys/bus/thunderbolt";

/// Long help of `tblink sysfs`, with the JSON schema.
pub const LONG_ABOUT: &str = "\
Read a Linux /sys/bus/thunderbolt tree and print every domain, the local \
host router (N-0), device routers, every remote host reached over an \
XDomain connection (N-<route>) with its services (N-<route>.<id>) and the \
network interface bound to each service.

Input: --root names the bus directory (default /sys/bus/thunderbolt); \
devices are read from its devices/ directory, as symlinks (real sysfs) or \
plain directories (copies). Services are found both flat in devices/ and \
as sub-directories of their XDomain. Each device's kind comes from \
DEVTYPE= in its uevent; without a readable uevent the name decides \
(domainN, N-0 host, names with '.' services, ':' retimers) and a router is \
told from an XDomain by its authorized/generation files. Attributes follow \
the kernel ABI (Documentation/ABI/testing/sysfs-bus-thunderbolt): vendor and \
device as %#x, prtcid/prtcvers/prtcrevs decimal, prtcstns 0x%08x, \
rx_speed/tx_speed as \"<n>.0 Gb/s\", unique_id as a UUID. An attribute that \
is missing (older kernels: no maxhopid before 5.13, no link attributes \
before 5.5), unreadable or malformed is shown as \"unknown\" (null in JSON).

Output: one block per domain, indented. Exit status 0, also when there is \
no Thunderbolt domain at all (\"no Thunderbolt domains found\"); 1 only if \
the output cannot be written.

JSON output (--json), one object:
  {
    \"root\": string,                  // the bus directory read
    \"domains\": [ {
        \"device\": string,            // \"domain0\"
        \"index\": u32,
        \"security\": string|null,     // none, user, secure, dponly, usbonly, nopcie
        \"iommu_dma_protection\": bool|null, \"deauthorization\": bool|null,
        \"boot_acl\": string|null,
        \"host\": null | {             // the host router N-0: this machine
            \"device\": string, \"unique_id\": string|null,
            \"vendor\": u32|null, \"vendor_name\": string|null,
            \"device_id\": u32|null, \"device_name\": string|null,
            \"generation\": u32|null, \"nvm_version\": string|null },
        \"routers\": [ {               // device routers (docks, hubs)
            \"device\": string, \"route\": string, \"depth\": u8,
            \"unique_id\": string|null, \"vendor\": u32|null,
            \"vendor_name\": string|null, \"device_id\": u32|null,
            \"device_name\": string|null, \"authorized\": string|null } ],
        \"xdomains\": [ {              // remote hosts
            \"device\": string,        // \"0-301\"
            \"route\": string,         // hex without 0x, \"301\"
            \"depth\": u8,
            \"unique_id\": string|null, \"vendor\": u32|null,
            \"vendor_name\": string|null, \"device_id\": u32|null,
            \"device_name\": string|null, \"maxhopid\": u32|null,
            \"rx_speed_gbps\": u32|null, \"tx_speed_gbps\": u32|null,
            \"rx_lanes\": u32|null, \"tx_lanes\": u32|null,
            \"services\": [ {
                \"device\": string,    // \"0-301.0\"
                \"id\": u32,
                \"key\": string|null,  // as the key file shows it (escaped)
                \"prtcid\": u32|null, \"prtcvers\": u32|null,
                \"prtcrevs\": u32|null, \"prtcstns\": u32|null,
                \"modalias\": string|null,
                \"driver\": string|null,   // bound driver, e.g. thunderbolt-net
                \"net\": [ { \"name\": string, \"address\": string|null,
                           \"operstate\": string|null, \"mtu\": u32|null } ]
            } ]
        } ]
    } ]
  }
Names, strings and numbers are as read from sysfs (trailing newline \
removed, bytes that are not UTF-8 replaced by U+FFFD); empty name files \
are null.";

/// Arguments of `tblink sysfs`.
#[derive(Debug, clap::Args)]
pub struct SysfsArgs {
    /// The thunderbolt bus directory (a copy or fixture works too).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Print JSON (schema in --help) instead of text.
    #[arg(long)]
    json: bool,
}

/// Run `tblink sysfs`.
pub fn run(args: &SysfsArgs) -> Result<ExitCode> {
    let topo = read_tree(&args.root);
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&topo)?;
        s.push('\n');
        s
    } else {
        render_text(&topo)
    };
    write_stdout(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Write to standard output; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

// ---- Model ----

/// Everything read from one bus directory.
#[derive(Debug, Default, Serialize)]
pub struct Topology {
    root: String,
    domains: Vec<Domain>,
}

#[derive(Debug, Default, Serialize)]
struct Domain {
    device: String,
    index: u32,
    security: Option<String>,
    iommu_dma_protection: Option<bool>,
    deauthorization: Option<bool>,
    boot_acl: Option<String>,
    host: Option<HostRouter>,
    routers: Vec<Router>,
    xdomains: Vec<XDomain>,
}

#[derive(Debug, Serialize)]
struct HostRouter {
    device: String,
    unique_id: Option<String>,
    vendor: Option<u32>,
    vendor_name: Option<String>,
    device_id: Option<u32>,
    device_name: Option<String>,
    generation: Option<u32>,
    nvm_version: Option<String>,
}

#[derive(Debug, Serialize)]
struct Router {
    device: String,
    route: String,
    depth: u8,
    unique_id: Option<String>,
    vendor: Option<u32>,
    vendor_name: Option<String>,
    device_id: Option<u32>,
    device_name: Option<String>,
    authorized: Option<String>,
}

#[derive(Debug, Serialize)]
struct XDomain {
    device: String,
    route: String,
    depth: u8,
    unique_id: Option<String>,
    vendor: Option<u32>,
    vendor_name: Option<String>,
    device_id: Option<u32>,
    device_name: Option<String>,
    maxhopid: Option<u32>,
    rx_speed_gbps: Option<u32>,
    tx_speed_gbps: Option<u32>,
    rx_lanes: Option<u32>,
    tx_lanes: Option<u32>,
    services: Vec<Service>,
}

#[derive(Debug, Serialize)]
struct Service {
    device: String,
    id: u32,
    key: Option<String>,
    prtcid: Option<u32>,
    prtcvers: Option<u32>,
    prtcrevs: Option<u32>,
    prtcstns: Option<u32>,
    modalias: Option<String>,
    driver: Option<String>,
    net: Vec<NetIf>,
}

#[derive(Debug, Serialize)]
struct NetIf {
    name: String,
    address: Option<String>,
    operstate: Option<String>,
    mtu: Option<u32>,
}

// ---- Reading ----

/// Kind of a bus device (spec 04 §4, DEVTYPE table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Domain,
    Router,
    XDomain,
    Service,
    Other,
}

/// A device name parsed as `N-<hex route>`.
fn parse_router_name(name: &str) -> Option<(u32, Route)> {
    let (d, r) = name.split_once('-')?;
    if d.is_empty() || r.is_empty() || r.len() > 16 {
        return None;
    }
    let domain = d.parse().ok()?;
    let route = u64::from_str_radix(r, 16).ok()?;
    if !d.bytes().all(|b| b.is_ascii_digit()) || !r.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((domain, Route::from_raw(route)))
}

/// A device name parsed as `N-<hex route>.<id>`.
fn parse_service_name(name: &str) -> Option<(String, u32)> {
    let (xd, id) = name.rsplit_once('.')?;
    parse_router_name(xd)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((xd.to_string(), id.parse().ok()?))
}

fn parse_domain_name(name: &str) -> Option<u32> {
    let n = name.strip_prefix("domain")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Contents of an attribute file without its trailing newline; `None` when
/// missing or unreadable (a directory, a dangling link, no permission).
fn attr(dir: &Path, name: &str) -> Option<String> {
    let bytes = fs::read(dir.join(name)).ok()?;
    let mut s = String::from_utf8_lossy(&bytes).into_owned();
    if s.ends_with('\n') {
        s.pop();
    }
    Some(s)
}

/// A name attribute: like [`attr`], with an empty line as `None`.
fn name_attr(dir: &Path, name: &str) -> Option<String> {
    attr(dir, name).filter(|s| !s.is_empty())
}

/// `%#x` (also accepting plain hex).
fn hex_attr(dir: &Path, name: &str) -> Option<u32> {
    let s = attr(dir, name)?;
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(t, 16).ok()
}

/// `%u` / `%d`.
fn dec_attr(dir: &Path, name: &str) -> Option<u32> {
    attr(dir, name)?.trim().parse().ok()
}

/// `0/1`.
fn bool_attr(dir: &Path, name: &str) -> Option<bool> {
    match attr(dir, name)?.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// `%u.0 Gb/s`.
fn speed_attr(dir: &Path, name: &str) -> Option<u32> {
    let s = attr(dir, name)?;
    let num = s.trim().strip_suffix("Gb/s")?.trim();
    let int = num.strip_suffix(".0").unwrap_or(num);
    int.parse().ok()
}

/// The DEVTYPE= value of a device's uevent.
fn devtype(dir: &Path) -> Option<String> {
    let ev = attr(dir, "uevent")?;
    ev.lines()
        .find_map(|l| l.strip_prefix("DEVTYPE="))
        .map(|s| s.trim().to_string())
}

fn classify(name: &str, dir: &Path) -> Kind {
    match devtype(dir).as_deref() {
        Some("thunderbolt_domain") => return Kind::Domain,
        Some("thunderbolt_device") => return Kind::Router,
        Some("thunderbolt_xdomain") => return Kind::XDomain,
        Some("thunderbolt_service") => return Kind::Service,
        Some(_) => return Kind::Other,
        None => {}
    }
    if parse_domain_name(name).is_some() {
        Kind::Domain
    } else if name.contains(':') {
        Kind::Other
    } else if parse_service_name(name).is_some() {
        Kind::Service
    } else if let Some((_, route)) = parse_router_name(name) {
        if route == Route::HOST
            || dir.join("authorized").exists()
            || dir.join("generation").exists()
        {
            Kind::Router
        } else {
            Kind::XDomain
        }
    } else {
        Kind::Other
    }
}

/// Sub-directories (or links to directories) of `dir`, by name.
fn children(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            path.is_dir().then_some((name, path))
        })
        .collect();
    v.sort();
    v
}

/// Read the whole tree under `root` (the bus directory). Never fails: what
/// cannot be read is left out or `None`.
pub fn read_tree(root: &Path) -> Topology {
    let mut topo = Topology {
        root: root.display().to_string(),
        domains: Vec::new(),
    };
    let mut domains: BTreeMap<u32, Domain> = BTreeMap::new();
    let mut xd_dirs: BTreeMap<String, (u32, Route, PathBuf)> = BTreeMap::new();
    let mut svc_dirs: BTreeMap<String, PathBuf> = BTreeMap::new();

    fn domain_entry(domains: &mut BTreeMap<u32, Domain>, index: u32) -> &mut Domain {
        domains.entry(index).or_insert_with(|| Domain {
            device: format!("domain{index}"),
            index,
            ..Domain::default()
        })
    }

    for (name, dir) in children(&root.join("devices")) {
        match classify(&name, &dir) {
            Kind::Domain => {
                let Some(index) = parse_domain_name(&name) else {
                    continue;
                };
                let d = domain_entry(&mut domains, index);
                d.security = attr(&dir, "security");
                d.iommu_dma_protection = bool_attr(&dir, "iommu_dma_protection");
                d.deauthorization = bool_attr(&dir, "deauthorization");
                d.boot_acl = attr(&dir, "boot_acl");
            }
            Kind::Router => {
                let Some((index, route)) = parse_router_name(&name) else {
                    continue;
                };
                let d = domain_entry(&mut domains, index);
                if route == Route::HOST {
                    d.host = Some(HostRouter {
                        device: name.clone(),
                        unique_id: attr(&dir, "unique_id"),
                        vendor: hex_attr(&dir, "vendor"),
                        vendor_name: name_attr(&dir, "vendor_name"),
                        device_id: hex_attr(&dir, "device"),
                        device_name: name_attr(&dir, "device_name"),
                        generation: dec_attr(&dir, "generation"),
                        nvm_version: name_attr(&dir, "nvm_version"),
                    });
                } else {
                    d.routers.push(Router {
                        device: name.clone(),
                        route: route.to_string(),
                        depth: route.depth(),
                        unique_id: attr(&dir, "unique_id"),
                        vendor: hex_attr(&dir, "vendor"),
                        vendor_name: name_attr(&dir, "vendor_name"),
                        device_id: hex_attr(&dir, "device"),
                        device_name: name_attr(&dir, "device_name"),
                        authorized: attr(&dir, "authorized"),
                    });
                }
                collect_nested_services(&name, &dir, &mut svc_dirs);
            }
            Kind::XDomain => {
                let Some((index, route)) = parse_router_name(&name) else {
                    continue;
                };
                domain_entry(&mut domains, index);
                collect_nested_services(&name, &dir, &mut svc_dirs);
                xd_dirs.insert(name, (index, route, dir));
            }
            Kind::Service => {
                svc_dirs.entry(name).or_insert(dir);
            }
            Kind::Other => {}
        }
    }

    let mut services: BTreeMap<String, Vec<Service>> = BTreeMap::new();
    for (name, dir) in &svc_dirs {
        let Some((xd, id)) = parse_service_name(name) else {
            continue;
        };
        services
            .entry(xd)
            .or_default()
            .push(read_service(name, id, dir));
    }

    for (name, (index, route, dir)) in xd_dirs {
        let mut svcs = services.remove(&name).unwrap_or_default();
        svcs.sort_by_key(|s| s.id);
        let xd = XDomain {
            device: name,
            route: route.to_string(),
            depth: route.depth(),
            unique_id: attr(&dir, "unique_id"),
            vendor: hex_attr(&dir, "vendor"),
            vendor_name: name_attr(&dir, "vendor_name"),
            device_id: hex_attr(&dir, "device"),
            device_name: name_attr(&dir, "device_name"),
            maxhopid: dec_attr(&dir, "maxhopid"),
            rx_speed_gbps: speed_attr(&dir, "rx_speed"),
            tx_speed_gbps: speed_attr(&dir, "tx_speed"),
            rx_lanes: dec_attr(&dir, "rx_lanes"),
            tx_lanes: dec_attr(&dir, "tx_lanes"),
            services: svcs,
        };
        domain_entry(&mut domains, index).xdomains.push(xd);
    }

    for mut d in domains.into_values() {
        d.routers
            .sort_by_key(|r| u64::from_str_radix(&r.route, 16).unwrap_or(u64::MAX));
        d.xdomains
            .sort_by_key(|x| u64::from_str_radix(&x.route, 16).unwrap_or(u64::MAX));
        topo.domains.push(d);
    }
    topo
}

/// Services below a device directory (`<dev>/<dev>.<id>`), as in the real
/// device hierarchy and in copies made with plain directories.
fn collect_nested_services(name: &str, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let prefix = format!("{name}.");
    let names: BTreeSet<String> = out.keys().cloned().collect();
    for (child, path) in children(dir) {
        if child.starts_with(&prefix)
            && parse_service_name(&child).is_some()
            && !names.contains(&child)
        {
            out.insert(child, path);
        }
    }
}

fn read_service(name: &str, id: u32, dir: &Path) -> Service {
    let driver = fs::read_link(dir.join("driver"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
    let net = children(&dir.join("net"))
        .into_iter()
        .map(|(ifname, p)| NetIf {
            name: ifname,
            address: name_attr(&p, "address"),
            operstate: name_attr(&p, "operstate"),
            mtu: dec_attr(&p, "mtu"),
        })
        .collect();
    Service {
        device: name.to_string(),
        id,
        key: attr(dir, "key"),
        prtcid: dec_attr(dir, "prtcid"),
        prtcvers: dec_attr(dir, "prtcvers"),
        prtcrevs: dec_attr(dir, "prtcrevs"),
        prtcstns: hex_attr(dir, "prtcstns"),
        modalias: name_attr(dir, "modalias"),
        driver,
        net,
    }
}

// ---- Text output ----

const UNKNOWN: &str = "unknown";

fn or_unknown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or(UNKNOWN)
}

fn num<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| UNKNOWN.to_string(), |x| x.to_string())
}

fn hex<T: std::fmt::LowerHex>(v: Option<T>) -> String {
    v.map_or_else(|| UNKNOWN.to_string(), |x| format!("{x:#x}"))
}

fn bool01(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "1",
        Some(false) => "0",
        None => UNKNOWN,
    }
}

/// `vendor:device vendor_name device_name`, tblist style; the parts that
/// are known, or "unknown".
fn ident(
    vendor: Option<u32>,
    device: Option<u32>,
    vendor_name: &Option<String>,
    device_name: &Option<String>,
) -> String {
    let mut parts = Vec::new();
    if vendor.is_some() || device.is_some() {
        let id = |v: Option<u32>| v.map_or_else(|| "????".to_string(), |v| format!("{v:04x}"));
        parts.push(format!("{}:{}", id(vendor), id(device)));
    }
    parts.extend(vendor_name.iter().cloned());
    parts.extend(device_name.iter().cloned());
    if parts.is_empty() {
        UNKNOWN.to_string()
    } else {
        parts.join(" ")
    }
}

/// `20.0 Gb/s x 2` (per-lane speed and lanes, as sysfs gives them).
fn speed(gbps: Option<u32>, lanes: Option<u32>) -> String {
    match (gbps, lanes) {
        (None, None) => UNKNOWN.to_string(),
        (g, l) => format!(
            "{} x {}",
            g.map_or_else(|| UNKNOWN.to_string(), |g| format!("{g}.0 Gb/s")),
            num(l)
        ),
    }
}

/// The text form of a tree.
pub fn render_text(t: &Topology) -> String {
    let mut o = String::new();
    if t.domains.is_empty() {
        let _ = writeln!(o, "no Thunderbolt domains found in {}", t.root);
        return o;
    }
    for d in &t.domains {
        let _ = writeln!(
            o,
            "Domain {}: security {}, iommu_dma_protection {}, deauthorization {}",
            d.index,
            or_unknown(&d.security),
            bool01(d.iommu_dma_protection),
            bool01(d.deauthorization),
        );
        match &d.host {
            Some(h) => {
                let _ = writeln!(
                    o,
                    "  Host {}: {}",
                    h.device,
                    ident(h.vendor, h.device_id, &h.vendor_name, &h.device_name)
                );
                let _ = writeln!(o, "    unique_id    {}", or_unknown(&h.unique_id));
                if let Some(g) = h.generation {
                    let _ = writeln!(o, "    generation   {g}");
                }
                if let Some(n) = &h.nvm_version {
                    let _ = writeln!(o, "    nvm_version  {n}");
                }
            }
            None => {
                let _ = writeln!(o, "  Host {}-0: {UNKNOWN}", d.index);
            }
        }
        for r in &d.routers {
            let _ = writeln!(
                o,
                "  Router {}: {}",
                r.device,
                ident(r.vendor, r.device_id, &r.vendor_name, &r.device_name)
            );
            let _ = writeln!(o, "    route        0x{} (depth {})", r.route, r.depth);
            let _ = writeln!(o, "    unique_id    {}", or_unknown(&r.unique_id));
            let _ = writeln!(o, "    authorized   {}", or_unknown(&r.authorized));
        }
        for x in &d.xdomains {
            let _ = writeln!(
                o,
                "  XDomain {}: {}",
                x.device,
                ident(None, None, &x.vendor_name, &x.device_name)
            );
            let _ = writeln!(o, "    route        0x{} (depth {})", x.route, x.depth);
            let _ = writeln!(o, "    unique_id    {}", or_unknown(&x.unique_id));
            let _ = writeln!(o, "    vendor       {}", hex(x.vendor));
            let _ = writeln!(o, "    vendor_name  {}", or_unknown(&x.vendor_name));
            let _ = writeln!(o, "    device       {}", hex(x.device_id));
            let _ = writeln!(o, "    device_name  {}", or_unknown(&x.device_name));
            let _ = writeln!(o, "    maxhopid     {}", num(x.maxhopid));
            let _ = writeln!(o, "    rx           {}", speed(x.rx_speed_gbps, x.rx_lanes));
            let _ = writeln!(o, "    tx           {}", speed(x.tx_speed_gbps, x.tx_lanes));
            if x.services.is_empty() {
                let _ = writeln!(o, "    no services");
            }
            for s in &x.services {
                let _ = writeln!(o, "    Service {}: {}", s.device, or_unknown(&s.key));
                let _ = writeln!(
                    o,
                    "      prtcid {}, prtcvers {}, prtcrevs {}, prtcstns {}",
                    num(s.prtcid),
                    num(s.prtcvers),
                    num(s.prtcrevs),
                    s.prtcstns
                        .map_or_else(|| UNKNOWN.to_string(), |v| format!("{v:#010x}")),
                );
                let _ = writeln!(o, "      modalias   {}", or_unknown(&s.modalias));
                let _ = writeln!(
                    o,
                    "      driver     {}",
                    s.driver.as_deref().unwrap_or("none")
                );
                for n in &s.net {
                    let _ = writeln!(
                        o,
                        "      net        {} (address {}, operstate {}, mtu {})",
                        n.name,
                        or_unknown(&n.address),
                        or_unknown(&n.operstate),
                        num(n.mtu)
                    );
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_router_name("0-301"),
            Some((0, Route::from_raw(0x301)))
        );
        assert_eq!(parse_router_name("1-0"), Some((1, Route::HOST)));
        assert_eq!(parse_router_name("0-"), None);
        assert_eq!(parse_router_name("x-1"), None);
        assert_eq!(parse_router_name("0-+1"), None);
        assert_eq!(parse_router_name("0-11111111111111111"), None);
        assert_eq!(parse_service_name("0-301.12"), Some(("0-301".into(), 12)));
        assert_eq!(parse_service_name("0-301."), None);
        assert_eq!(parse_service_name("0-0:1.1"), None);
        assert_eq!(parse_domain_name("domain3"), Some(3));
        assert_eq!(parse_domain_name("domain"), None);
    }
}
