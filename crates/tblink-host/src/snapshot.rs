//! What `tblink ls` shows: a serialisable picture of one running host.

use serde::{Deserialize, Serialize};

/// One running host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Host name (published as root `deviceid` text).
    pub name: String,
    /// Domain UUID.
    pub uuid: String,
    /// Generation of our property block.
    pub generation: u32,
    /// Process id of the daemon.
    pub pid: u32,
    /// Seconds since the host started.
    pub uptime_s: f64,
    /// Services we publish.
    pub local_services: Vec<LocalServiceInfo>,
    /// Registered drivers, in registration order.
    pub drivers: Vec<String>,
    /// Lane adapters.
    pub ports: Vec<PortInfo>,
    /// Ring 0 counters.
    pub rings: RingsInfo,
    /// Counters of the discovery stack.
    pub stack: StackInfo,
    /// Network interfaces (ThunderboltIP), one per peer logged in once.
    #[serde(default)]
    pub net: Vec<NetIfInfo>,
    /// Recent link, discovery and login events, oldest first.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

/// One event of [`Snapshot::timeline`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Milliseconds since the host started.
    pub t_ms: f64,
    /// `link_up`, `link_down`, `uuid`, `properties`, `disconnected`,
    /// `login`, `carrier_on`, `carrier_off`, `dmatest_start`, `dmatest_done`.
    pub event: String,
    /// Route of the peer (hex), when the event concerns one.
    pub route: Option<String>,
}

/// The network interface towards one peer, with Linux's counters (spec 06 §14).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetIfInfo {
    /// Interface name (`thunderbolt0`, `tb1a2b3c4d`).
    pub ifname: String,
    /// MAC address (spec 06 §13).
    pub mac: String,
    /// MTU.
    pub mtu: u32,
    /// Peer host UUID.
    pub peer_uuid: String,
    /// Route to the peer (hex).
    pub route: String,
    /// Carrier on (both logins done, paths up).
    pub carrier: bool,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Received packets.
    pub rx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Receive errors (sum of the four below plus internal ones).
    pub rx_errors: u64,
    /// Length errors.
    pub rx_length_errors: u64,
    /// Buffer overruns.
    pub rx_over_errors: u64,
    /// CRC errors.
    pub rx_crc_errors: u64,
    /// Missed (frame sequence) errors.
    pub rx_missed_errors: u64,
    /// Received packets the TAP did not take.
    pub rx_host_dropped: u64,
    /// Frames dropped for lack of a posted RX descriptor.
    pub rx_no_desc: u64,
    /// Times the paths came up.
    pub bring_ups: u64,
}

/// A service we publish.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalServiceInfo {
    /// Directory key.
    pub key: String,
    /// The driver that published it, if any.
    pub driver: Option<String>,
}

/// Link state of a lane adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortLink {
    /// No cable (unplugged with `tblink port … unplug`, or it could not be opened).
    #[default]
    Unplugged,
    /// Cable in, no peer at the other end yet.
    Down,
    /// Peer present.
    Up,
}

impl std::fmt::Display for PortLink {
    /// The same word as in the JSON form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortLink::Unplugged => "unplugged",
            PortLink::Down => "down",
            PortLink::Up => "up",
        })
    }
}

/// One lane adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortInfo {
    /// Adapter number (1, 3, 5, …).
    pub adapter: u8,
    /// The cable (`listen:PATH`, `connect:PATH`, `udp:…`, …).
    pub cable: String,
    /// Link state.
    pub link: PortLink,
    /// What the other end is: `host`, `router` or `foreign_router`.
    pub peer_kind: Option<String>,
    /// Our route to the peer (hex, like Linux), when up.
    pub peer_route: Option<String>,
    /// Why the cable could not be opened, if it could not.
    pub error: Option<String>,
    /// XDomains reached through this adapter (one for a direct host link,
    /// several behind a device router).
    pub xdomains: Vec<XDomainInfo>,
}

/// A remote host as enumerated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XDomainInfo {
    /// Device name, like Linux's (`0-1`, `0-301`).
    pub device: String,
    /// Route (hex).
    pub route: String,
    /// Discovery state: `uuid`, `properties`, `enumerated` or `error`.
    pub state: String,
    /// Peer domain UUID, once known.
    pub uuid: Option<String>,
    /// Peer host name (root `deviceid` text), once enumerated.
    pub host_name: Option<String>,
    /// Root `vendorid` (v).
    pub vendor: Option<u32>,
    /// Root `vendorid` (t).
    pub vendor_name: Option<String>,
    /// Root `maxhopid`.
    pub maxhopid: Option<u32>,
    /// Generation of the block read.
    pub generation: Option<u32>,
    /// Its services.
    pub services: Vec<ServiceInfo>,
}

/// A service of a remote host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Service device name (`0-1.0`).
    pub device: String,
    /// Directory key.
    pub key: String,
    /// `prtcid`.
    pub prtcid: u32,
    /// `prtcvers`.
    pub prtcvers: u32,
    /// `prtcrevs`.
    pub prtcrevs: u32,
    /// `prtcstns`, formatted like sysfs (`0x00000000`).
    pub prtcstns: String,
    /// Modalias (`tbsvc:k…p…v…r…`).
    pub modalias: String,
    /// Name of the driver bound to it, if any.
    pub driver: Option<String>,
}

/// Counters of one ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingInfo {
    /// Frames completed.
    pub frames: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// RX: dropped, no descriptor posted.
    pub dropped_no_desc: u64,
    /// TX: lost, no link on the frame's route.
    pub dropped_no_path: u64,
}

/// Ring 0 (control channel) counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingsInfo {
    /// TX ring 0.
    pub tx0: RingInfo,
    /// RX ring 0.
    pub rx0: RingInfo,
}

/// Counters of the discovery stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInfo {
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Received with a bad CRC.
    pub crc_errors: u64,
    /// Requests retransmitted.
    pub retransmits: u64,
    /// Discovery attempts that failed.
    pub failed_attempts: u64,
    /// Requests answered.
    pub requests_answered: u64,
    /// Hot-plug EVENT packets received from device routers.
    pub hotplug_events: u64,
    /// Control packets dropped on arrival because their CRC failed.
    pub cable_crc_drops: u64,
}

impl Snapshot {
    /// Every XDomain of every port.
    pub fn xdomains(&self) -> impl Iterator<Item = &XDomainInfo> {
        self.ports.iter().flat_map(|p| p.xdomains.iter())
    }

    /// The peer host names enumerated.
    pub fn peer_names(&self) -> Vec<String> {
        self.xdomains()
            .filter_map(|x| x.host_name.clone())
            .collect()
    }
}

/// The network-interface lines of `tblink ls` (empty without interfaces).
pub fn render_net(s: &Snapshot) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    for n in &s.net {
        let _ = writeln!(
            o,
            "  Interface {}  mac {}  mtu {}  carrier {}  peer {} at route {}",
            n.ifname,
            n.mac,
            n.mtu,
            if n.carrier { "on" } else { "off" },
            n.peer_uuid,
            n.route
        );
        let _ = writeln!(
            o,
            "    tx {} packets {} bytes {} errors  rx {} packets {} bytes {} errors (length {} over {} crc {} missed {})  rx dropped {} no-desc {}  bring-ups {}",
            n.tx_packets,
            n.tx_bytes,
            n.tx_errors,
            n.rx_packets,
            n.rx_bytes,
            n.rx_errors,
            n.rx_length_errors,
            n.rx_over_errors,
            n.rx_crc_errors,
            n.rx_missed_errors,
            n.rx_host_dropped,
            n.rx_no_desc,
            n.bring_ups
        );
    }
    o
}
