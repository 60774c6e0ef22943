//! Where a lane adapter's cable comes from: `--port` specifications and
//! cable sources that can be opened again after an unplug.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use tblink_hostif::Cable;
use tblink_hostif::cable::shm::ShmCable;
use tblink_hostif::cable::udp::UdpCable;

/// A `--port` argument that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad port {spec:?}: {reason}")]
pub struct PortSpecError {
    /// The argument as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

/// How one lane adapter is cabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// Shared-memory cable, listening end at a Unix socket path.
    Listen(PathBuf),
    /// Shared-memory cable, connecting end (waits for the listener).
    Connect(PathBuf),
    /// UDP cable: bind `local`, talk to `peer`.
    Udp {
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
    },
}

fn udp_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = SocketAddr::from_str(s) {
        return Some(a);
    }
    // A bare port, or ":PORT": loopback.
    let p = s.strip_prefix(':').unwrap_or(s);
    u16::from_str(p)
        .ok()
        .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

impl FromStr for PortSpec {
    type Err = PortSpecError;

    /// `listen:PATH`, `connect:PATH` or `udp:LOCAL,PEER` where each address is
    /// `ADDR:PORT`, `:PORT` or `PORT` (the last two on 127.0.0.1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| PortSpecError {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| err("expected listen:PATH, connect:PATH or udp:LOCAL,PEER"))?;
        match kind {
            "listen" | "connect" => {
                if rest.is_empty() {
                    return Err(err("empty socket path"));
                }
                let p = PathBuf::from(rest);
                Ok(if kind == "listen" {
                    PortSpec::Listen(p)
                } else {
                    PortSpec::Connect(p)
                })
            }
            "udp" => {
                let (l, p) = rest
                    .split_once(',')
                    .ok_or_else(|| err("expected udp:LOCAL_ADDR:PORT,PEER_ADDR:PORT"))?;
                let local = udp_addr(l).ok_or_else(|| err("bad local address"))?;
                let peer = udp_addr(p).ok_or_else(|| err("bad peer address"))?;
                Ok(PortSpec::Udp { local, peer })
            }
            _ => Err(err(
                "unknown cable kind (expected listen:, connect: or udp:)",
            )),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Listen(p) => write!(f, "listen:{}", p.display()),
            PortSpec::Connect(p) => write!(f, "connect:{}", p.display()),
            PortSpec::Udp { local, peer } => write!(f, "udp:{local},{peer}"),
        }
    }
}

/// Something that makes a fresh cable end for a lane adapter: at start and
/// again at every plug after an unplug.
pub trait CableSource: Send + fmt::Debug {
    /// A new cable end.
    fn open(&mut self) -> Result<Box<dyn Cable>, String>;
    /// How it is shown (`listen:/tmp/x.sock`, `inproc`, …).
    fn describe(&self) -> String;
}

impl CableSource for PortSpec {
    fn open(&mut self) -> Result<Box<dyn Cable>, String> {
        match self {
            PortSpec::Listen(p) => ShmCable::listen(&*p)
                .map(|c| Box::new(c) as Box<dyn Cable>)
                .map_err(|e| format!("{}: {e}", p.display())),
            PortSpec::Connect(p) => Ok(Box::new(ShmCable::connect(p))),
            PortSpec::Udp { local, peer } => UdpCable::new(*local, *peer)
                .map(|c| Box::new(c) as Box<dyn Cable>)
                .map_err(|e| format!("udp {local}: {e}")),
        }
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

/// Cables handed in one at a time (tests, in-process fabrics): each plug
/// takes the cable given last with [`Handed::give`] or at construction.
#[derive(Debug)]
pub struct Handed {
    next: Option<Box<dyn Cable>>,
    label: String,
}

impl Handed {
    /// A source holding `cable` for the first plug.
    pub fn new(cable: impl Cable + 'static, label: &str) -> Self {
        Handed {
            next: Some(Box::new(cable)),
            label: label.to_string(),
        }
    }

    /// A source with no cable yet.
    pub fn empty(label: &str) -> Self {
        Handed {
            next: None,
            label: label.to_string(),
        }
    }

    /// The cable for the next plug.
    pub fn give(&mut self, cable: impl Cable + 'static) {
        self.next = Some(Box::new(cable));
    }
}

impl CableSource for Handed {
    fn open(&mut self) -> Result<Box<dyn Cable>, String> {
        self.next
            .take()
            .ok_or_else(|| format!("{}: no cable to plug", self.label))
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_port_specs() {
        assert_eq!(
            "listen:/tmp/a.sock".parse::<PortSpec>(),
            Ok(PortSpec::Listen("/tmp/a.sock".into()))
        );
        assert_eq!(
            "connect:/tmp/a.sock".parse::<PortSpec>(),
            Ok(PortSpec::Connect("/tmp/a.sock".into()))
        );
        assert_eq!(
            "udp:127.0.0.1:5000,127.0.0.1:5001".parse::<PortSpec>(),
            Ok(PortSpec::Udp {
                local: "127.0.0.1:5000".parse().unwrap(),
                peer: "127.0.0.1:5001".parse().unwrap()
            })
        );
        assert_eq!(
            "udp::5000,5001".parse::<PortSpec>(),
            Ok(PortSpec::Udp {
                local: "127.0.0.1:5000".parse().unwrap(),
                peer: "127.0.0.1:5001".parse().unwrap()
            })
        );
        assert_eq!(
            "udp:[::1]:5000,[::1]:5001"
                .parse::<PortSpec>()
                .unwrap()
                .to_string(),
            "udp:[::1]:5000,[::1]:5001"
        );
        for bad in ["", "listen:", "tcp:x", "udp:1", "udp:x,y", "/tmp/a"] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad}");
        }
    }
}

/// A cable source whose cables are capped at a bandwidth, like a real
/// link (`tblink host --link tb3|tb4|tb5`): each direction serialises
/// packets at `gbit` Gbit/s.
#[derive(Debug)]
pub struct Capped {
    inner: Box<dyn CableSource>,
    gbit: f64,
}

impl Capped {
    /// Cap the cables of `inner` at `gbit` Gbit/s.
    pub fn new(inner: Box<dyn CableSource>, gbit: f64) -> Self {
        Capped { inner, gbit }
    }
}

impl CableSource for Capped {
    fn open(&mut self) -> Result<Box<dyn Cable>, String> {
        let c = self.inner.open()?;
        Ok(Box::new(tblink_hostif::cable::fault::LinkModel::new(
            c,
            Some(self.gbit),
            std::time::Duration::ZERO,
        )))
    }

    fn describe(&self) -> String {
        format!("{} ({} Gbit/s)", self.inner.describe(), self.gbit)
    }
}
