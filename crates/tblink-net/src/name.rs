//! Interface names.
//!
//! * [`NamePolicy::Linux`]: `thunderbolt0`, `thunderbolt1`, … — the lowest
//!   index not in use, as Linux's `thunderbolt%d`.
//! * [`NamePolicy::Stable`]: `tb` + 8 lower-case hex digits of a hash of
//!   the peer's host UUID, so the same peer gets the same interface name
//!   on every plug, on whatever port (firewall rules and addresses can be
//!   bound to it).
//!
//! Names are at most 15 bytes (`IFNAMSIZ` − 1).

use tblink_wire::tbip::jhash2;
use tblink_wire::uuid::{Uuid, uuid_to_dwords};

/// Longest interface name Linux accepts: `IFNAMSIZ` (16) − 1.
pub const MAX_NAME_LEN: usize = 15;

/// How interfaces are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamePolicy {
    /// `thunderboltN`, lowest free N.
    #[default]
    Linux,
    /// `tbXXXXXXXX` from the peer's host UUID.
    Stable,
}

/// Seed of the stable-name hash (distinct from the MAC derivation's 0).
const STABLE_SEED: u32 = 0x7462_6c6b;

/// The stable name for a peer: `tb` + `jhash2(uuid dwords, seed)` in hex.
pub fn stable_name(peer_uuid: &Uuid) -> String {
    let h = jhash2(&uuid_to_dwords(peer_uuid), STABLE_SEED);
    format!("tb{h:08x}")
}

/// `thunderbolt` + the lowest index whose name `in_use` does not report.
pub fn linux_name(in_use: impl Fn(&str) -> bool) -> String {
    (0u32..)
        .map(|i| format!("thunderbolt{i}"))
        .find(|n| !in_use(n))
        .unwrap_or_default()
}

/// The name under `policy` for a peer.
pub fn interface_name(
    policy: NamePolicy,
    peer_uuid: &Uuid,
    in_use: impl Fn(&str) -> bool,
) -> String {
    match policy {
        NamePolicy::Linux => linux_name(in_use),
        NamePolicy::Stable => stable_name(peer_uuid),
    }
}

/// Whether `name` is usable as a Linux interface name: 1..=15 bytes, no
/// `/`, whitespace or NUL, not `.` or `..`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_is_stable_short_and_distinct() {
        let a = Uuid::from_u128(0x4a7e2c1d_93b5_4f60_8d21_c0ffee123456);
        let b = Uuid::from_u128(0x0b5e8f3a_7c2d_4e19_a6b4_5d3c2b1a0f9e);
        let na = stable_name(&a);
        assert_eq!(na, stable_name(&a));
        assert_ne!(na, stable_name(&b));
        assert_eq!(na.len(), 10);
        assert!(na.starts_with("tb"));
        assert!(
            na[2..]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(is_valid_name(&na));
        // Pinned so that a change of the hash shows up in review.
        assert_eq!(na, "tb6ea4fd00");
    }

    #[test]
    fn linux_lowest_free() {
        assert_eq!(linux_name(|_| false), "thunderbolt0");
        assert_eq!(
            linux_name(|n| n == "thunderbolt0" || n == "thunderbolt1"),
            "thunderbolt2"
        );
        let u = Uuid::from_u128(1);
        assert_eq!(
            interface_name(NamePolicy::Stable, &u, |_| true),
            stable_name(&u)
        );
        assert!(is_valid_name("thunderbolt0"));
        assert!(is_valid_name("thunderbolt0123"));
        assert!(!is_valid_name("thunderbolt0123x"));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name(""));
    }
}
