//! The device model of spec 04: one XDomain device per remote host, one
//! service device per root sub-directory of its property block, named and
//! described exactly like Linux's sysfs.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

/// A property key: 1–8 raw bytes, cut at the first NUL (spec 03 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key {
    bytes: [u8; 8],
    len: u8,
}

impl Key {
    /// A key from raw bytes (at most 8, no NUL); `None` otherwise.
    pub fn new(raw: &[u8]) -> Option<Self> {
        if raw.is_empty() || raw.len() > 8 || raw.contains(&0) {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Key {
            bytes,
            len: raw.len() as u8,
        })
    }

    /// A key from the 8 key bytes of a directory entry, cut at the first NUL
    /// (spec 03 §5 rule 7). The empty key is allowed here (a peer may send it).
    pub fn from_entry(raw: [u8; 8]) -> Self {
        let len = raw.iter().position(|&b| b == 0).unwrap_or(8);
        let mut bytes = [0u8; 8];
        bytes[..len].copy_from_slice(&raw[..len]);
        Key {
            bytes,
            len: len as u8,
        }
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The key as Linux's sysfs `key` file shows it: `%pE` escaping of
    /// non-printable bytes (spec 04 §5.2).
    pub fn escaped(&self) -> String {
        let mut s = String::new();
        for &b in self.as_bytes() {
            match b {
                b'\n' => s.push_str("\\n"),
                b'\r' => s.push_str("\\r"),
                b'\t' => s.push_str("\\t"),
                0x07 => s.push_str("\\a"),
                0x08 => s.push_str("\\b"),
                0x0c => s.push_str("\\f"),
                0x0b => s.push_str("\\v"),
                0x1b => s.push_str("\\e"),
                0x20..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("\\{b:03o}")),
            }
        }
        s
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", self.escaped())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.escaped())
    }
}

/// The protocol identity of a service: the `v` entries `prtcid`,
/// `prtcvers`, `prtcrevs`, `prtcstns` of its directory, 0 when absent
/// (spec 03 §8.2, 04 §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceIdentity {
    /// `prtcid`.
    pub prtcid: u32,
    /// `prtcvers`.
    pub prtcvers: u32,
    /// `prtcrevs`.
    pub prtcrevs: u32,
    /// `prtcstns` (never used for matching).
    pub prtcstns: u32,
}

/// A service of a remote host: one root `D` entry of its property block (spec 04 §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Per-XDomain id, lowest free from 0 (spec 04 §3).
    pub id: u32,
    /// Device name, e.g. `0-1.0` (spec 04 §4).
    pub name: String,
    /// Directory key, e.g. `network`.
    pub key: Key,
    /// Directory UUID (kept, not used for matching; spec 03 §4).
    pub dir_uuid: Option<Uuid>,
    /// Protocol identity.
    pub identity: ServiceIdentity,
}

impl Service {
    /// The device modalias, `tbsvc:k<key>p<ID>v<VERS>r<REVS>` with 8-digit
    /// upper-case hex and the key copied raw (spec 04 §2.1). Non-UTF-8 key
    /// bytes are replaced by U+FFFD here; [`Service::modalias_bytes`] is exact.
    pub fn modalias(&self) -> String {
        String::from_utf8_lossy(&self.modalias_bytes()).into_owned()
    }

    /// The exact modalias bytes.
    pub fn modalias_bytes(&self) -> Vec<u8> {
        modalias_bytes(&self.key, &self.identity)
    }

    /// sysfs `prtcstns` formatting: `0x%08x` (spec 04 §5.2).
    pub fn prtcstns_string(&self) -> String {
        format!("{:#010x}", self.identity.prtcstns)
    }
}

/// Device modalias bytes for a key and identity (spec 04 §2.1).
pub fn modalias_bytes(key: &Key, id: &ServiceIdentity) -> Vec<u8> {
    let mut v = Vec::with_capacity(42);
    v.extend_from_slice(b"tbsvc:k");
    v.extend_from_slice(key.as_bytes());
    v.extend_from_slice(
        format!("p{:08X}v{:08X}r{:08X}", id.prtcid, id.prtcvers, id.prtcrevs).as_bytes(),
    );
    v
}

/// Name of a router or XDomain: `<domain>-<route hex>` (spec 04 §4).
pub fn device_name(domain: u32, route: Route) -> String {
    format!("{domain}-{route}")
}

/// Name of a service: `<xdomain name>.<id>` (spec 04 §4).
pub fn service_name(xdomain: &str, id: u32) -> String {
    format!("{xdomain}.{id}")
}

/// A remote host as enumerated from its property block (spec 04 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XDomain {
    /// Device name, e.g. `0-1` or `0-301`.
    pub name: String,
    /// Our route to the adapter facing the peer (CM bit clear).
    pub route: Route,
    /// The peer's domain UUID (`unique_id`).
    pub uuid: Uuid,
    /// Root `vendorid` (v).
    pub vendor: u32,
    /// Root `vendorid` (t), if any.
    pub vendor_name: Option<String>,
    /// Root `deviceid` (v).
    pub device: u32,
    /// Root `deviceid` (t), if any (the host name of Linux peers).
    pub device_name: Option<String>,
    /// Root `maxhopid` (v), 15 when absent (spec 02 §5.1).
    pub maxhopid: u32,
    /// Generation of the block this view was built from.
    pub generation: u32,
    /// Data length of that block in dwords.
    pub block_len: usize,
    /// Services in id order.
    pub services: Vec<Service>,
}

impl XDomain {
    /// The service with `key`, if present.
    pub fn service(&self, key: &[u8]) -> Option<&Service> {
        self.services.iter().find(|s| s.key.as_bytes() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_like_linux() {
        assert_eq!(device_name(0, Route::from_raw(1)), "0-1");
        assert_eq!(device_name(0, Route::from_raw(0x301)), "0-301");
        assert_eq!(
            device_name(1, Route::from_raw(0x8000_0000_0000_0003)),
            "1-3"
        );
        assert_eq!(service_name("0-1", 0), "0-1.0");
    }

    #[test]
    fn modalias_spec_04_2_1() {
        let s = Service {
            id: 0,
            name: "0-1.0".to_string(),
            key: Key::new(b"network").unwrap(),
            dir_uuid: None,
            identity: ServiceIdentity {
                prtcid: 1,
                prtcvers: 1,
                prtcrevs: 1,
                prtcstns: 7,
            },
        };
        assert_eq!(s.modalias(), "tbsvc:knetworkp00000001v00000001r00000001");
        assert_eq!(s.prtcstns_string(), "0x00000007");
        let long = modalias_bytes(
            &Key::new(b"abcdefgh").unwrap(),
            &ServiceIdentity {
                prtcid: 0xdeadbeef,
                ..Default::default()
            },
        );
        assert_eq!(long.len(), 42);
        assert_eq!(&long[..], b"tbsvc:kabcdefghpDEADBEEFv00000000r00000000");
    }

    #[test]
    fn key_rules() {
        assert!(Key::new(b"").is_none());
        assert!(Key::new(b"123456789").is_none());
        assert!(Key::new(b"a\0b").is_none());
        assert_eq!(Key::from_entry(*b"ab\0cdefg").as_bytes(), b"ab");
        assert_eq!(Key::from_entry(*b"maxhopid").as_bytes(), b"maxhopid");
        assert_eq!(Key::new(b"a\nb\x01").unwrap().escaped(), "a\\nb\\001");
    }
}
