//! Route strings (spec 01 §4).
//!
//! A route is 64 bits: one byte per hop, level 0 in the least significant
//! byte, ending at the first zero byte. Bit 63 is the CM bit, set by
//! hardware in packets travelling towards the connection manager; it is
//! never part of the path.

use core::fmt;

/// Deepest route a 64-bit route string can express (8 hops).
pub const MAX_DEPTH: u8 = 8;

/// The CM bit (route bit 63, DW0 bit 31) of spec 01 §4.
pub const CM_BIT: u64 = 1 << 63;

/// A 64-bit route string, CM bit included as received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Route(u64);

impl Route {
    /// The host router itself (depth 0).
    pub const HOST: Route = Route(0);

    /// A route from its raw 64-bit value (CM bit included).
    pub const fn from_raw(raw: u64) -> Self {
        Route(raw)
    }

    /// A route from the two header dwords, DW0 (high) and DW1 (low).
    pub const fn from_dwords(hi: u32, lo: u32) -> Self {
        Route(((hi as u64) << 32) | lo as u64)
    }

    /// A route from a list of downstream adapter numbers, level 0 first.
    /// `None` if a port is 0 (it would end the route) or there are more than 8 hops.
    pub fn from_ports(ports: &[u8]) -> Option<Self> {
        if ports.len() > MAX_DEPTH as usize {
            return None;
        }
        let mut raw = 0u64;
        for (level, &p) in ports.iter().enumerate() {
            if p == 0 {
                return None;
            }
            raw |= (p as u64) << (8 * level);
        }
        Some(Route(raw))
    }

    /// The raw 64-bit value, CM bit included.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// DW0: bits 63..32.
    pub const fn hi(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// DW1: bits 31..0.
    pub const fn lo(self) -> u32 {
        self.0 as u32
    }

    /// Whether the CM bit (bit 63) is set.
    pub const fn cm(self) -> bool {
        self.0 & CM_BIT != 0
    }

    /// The same route with the CM bit set.
    pub const fn with_cm(self) -> Self {
        Route(self.0 | CM_BIT)
    }

    /// The same route with the CM bit cleared, the form every comparison uses.
    pub const fn without_cm(self) -> Self {
        Route(self.0 & !CM_BIT)
    }

    /// Number of hops: non-zero bytes up to the first zero byte (Linux:
    /// `(fls64(route) + 7) / 8` on a well-formed route). The CM bit is ignored.
    pub fn depth(self) -> u8 {
        let r = self.without_cm().0;
        let mut d = 0u8;
        while d < MAX_DEPTH && (r >> (8 * d as u32)) & 0xff != 0 {
            d += 1;
        }
        d
    }

    /// Downstream adapter used to leave the router at `level`, if the route is that deep.
    pub fn port(self, level: u8) -> Option<u8> {
        if level < self.depth() {
            Some((self.without_cm().0 >> (8 * level as u32)) as u8)
        } else {
            None
        }
    }

    /// The adapter numbers of the path, level 0 first.
    pub fn ports(self) -> impl Iterator<Item = u8> {
        (0..self.depth()).filter_map(move |l| self.port(l))
    }

    /// The route one hop further down through adapter `port`; `None` if the
    /// route is already 8 deep or `port` is 0.
    pub fn push(self, port: u8) -> Option<Self> {
        let d = self.depth();
        if d >= MAX_DEPTH || port == 0 {
            return None;
        }
        Some(Route(
            self.without_cm().0 | ((port as u64) << (8 * d as u32)) | (self.0 & CM_BIT),
        ))
    }

    /// The route of the parent router (one level up); the host's own route is its own parent.
    pub fn parent(self) -> Self {
        match self.depth() {
            0 => Route(self.0 & CM_BIT),
            d => {
                let keep = if d >= 8 {
                    u64::MAX >> 8
                } else {
                    (1u64 << (8 * (d as u32 - 1))) - 1
                };
                Route((self.0 & keep & !CM_BIT) | (self.0 & CM_BIT))
            }
        }
    }

    /// Whether bytes past the first zero byte are also zero (true of every
    /// route a sane router produces).
    pub fn is_canonical(self) -> bool {
        let d = self.depth() as u32;
        d >= 8 || self.without_cm().0 >> (8 * d) == 0
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Route({:#x})", self.0)
    }
}

/// Printed as Linux prints routes: lower-case hex without the CM bit
/// (e.g. `301`); `{:#}` adds `0x`.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{:#x}", self.without_cm().0)
        } else {
            write!(f, "{:x}", self.without_cm().0)
        }
    }
}

impl From<u64> for Route {
    fn from(raw: u64) -> Self {
        Route(raw)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn spec_examples() {
        assert_eq!(Route::from_raw(0).depth(), 0);
        assert_eq!(Route::from_raw(1).depth(), 1);
        let r = Route::from_raw(0x301);
        assert_eq!(r.depth(), 2);
        assert_eq!(r.port(0), Some(1));
        assert_eq!(r.port(1), Some(3));
        assert_eq!(r.port(2), None);
        assert_eq!(Route::from_ports(&[1, 3]), Some(r));
        assert_eq!(r.parent(), Route::from_raw(1));
        assert_eq!(Route::HOST.push(1).and_then(|r| r.push(3)), Some(r));
        assert_eq!(r.to_string(), "301");
    }

    #[test]
    fn cm_bit_is_not_path() {
        let r = Route::from_dwords(0x8000_0000, 1);
        assert!(r.cm());
        assert_eq!(r.depth(), 1);
        assert_eq!(r.without_cm(), Route::from_raw(1));
        assert_eq!(r.hi(), 0x8000_0000);
        assert_eq!(r.lo(), 1);
        assert_eq!(r.push(2).map(|x| x.cm()), Some(true));
    }

    #[test]
    fn limits() {
        let full = Route::from_ports(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(full.depth(), 8);
        assert_eq!(full.push(1), None);
        assert_eq!(full.parent().depth(), 7);
        assert_eq!(Route::from_ports(&[1, 0]), None);
        assert!(!Route::from_raw(0x0100).is_canonical());
        assert!(Route::from_raw(0x0201).is_canonical());
    }
}
