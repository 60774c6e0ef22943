//! The MAC address Linux gives its `thunderboltN` interface (spec 06 §13),
//! derived from the local host UUID and the route to the peer with Linux's
//! `jhash2`.

use crate::Route;
use crate::uuid::{Uuid, uuid_to_dwords};

/// Starting value of `a`, `b`, `c` before length and seed are added
/// (Linux `JHASH_INITVAL`, spec 06 §13).
pub const JHASH_INITVAL: u32 = 0xdead_beef;

/// Mask of the level-0 adapter number in a route (Linux
/// `TBNET_L0_PORT_NUM`, spec 06 §13).
const L0_PORT_MASK: u64 = 0x3f;

/// The lookup3 mixing step over three words (rotations 4, 6, 8, 16, 19, 4).
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);

    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);

    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);

    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);

    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);

    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// The lookup3 final step (rotations 14, 11, 25, 16, 4, 14, 24).
fn finalize(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));

    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));

    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));

    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));

    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));

    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));

    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// Linux `jhash2(k, k.len(), initval)`: Bob Jenkins' lookup3 `hashword`
/// over 32-bit words (spec 06 §13).
///
/// `a = b = c = 0xdeadbeef + 4·len + initval`; while more than three words
/// remain, add the next three to `a`, `b`, `c` and mix; add the last one to
/// three words (to `c`, `b`, `a` from the third down) and finalize; an
/// empty tail leaves `c` as is. Returns `c`.
pub fn jhash2(k: &[u32], initval: u32) -> u32 {
    let init = JHASH_INITVAL
        .wrapping_add((k.len() as u32).wrapping_shl(2))
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = k;
    while rest.len() > 3 {
        a = a.wrapping_add(rest[0]);
        b = b.wrapping_add(rest[1]);
        c = c.wrapping_add(rest[2]);
        mix(&mut a, &mut b, &mut c);
        rest = &rest[3..];
    }
    match *rest {
        [] => return c,
        [k0] => a = a.wrapping_add(k0),
        [k0, k1] => {
            a = a.wrapping_add(k0);
            b = b.wrapping_add(k1);
        }
        [k0, k1, k2, ..] => {
            a = a.wrapping_add(k0);
            b = b.wrapping_add(k1);
            c = c.wrapping_add(k2);
        }
    }
    finalize(&mut a, &mut b, &mut c);
    c
}

/// The two hashes of a host UUID used by [`derive_mac`]: `h1 = jhash2(k, 0)`
/// and `h2 = jhash2(k, h1)`, where `k` are the UUID's four wire dword
/// values (spec 06 §13).
pub fn uuid_hashes(host_uuid: &Uuid) -> (u32, u32) {
    let k = uuid_to_dwords(host_uuid);
    let h1 = jhash2(&k, 0);
    (h1, jhash2(&k, h1))
}

/// The MAC address Linux derives for the interface towards a peer (spec 06
/// §13): first byte `(phy_port << 4) | 0x02` with `phy_port = (port − 1) / 2`
/// and `port` the level-0 adapter of `route_to_peer`, then `h1`
/// little-endian, then the low byte of `h2`.
///
/// Computed in Linux's unsigned arithmetic, so port 0 (not a lane adapter)
/// yields a first byte of `0xf2`, as Linux would.
pub fn derive_mac(host_uuid: &Uuid, route_to_peer: Route) -> [u8; 6] {
    let port = (route_to_peer.raw() & L0_PORT_MASK) as u32;
    let phy_port = port.wrapping_sub(1) / 2;
    let (h1, h2) = uuid_hashes(host_uuid);
    let [b1, b2, b3, b4] = h1.to_le_bytes();
    [(phy_port << 4) as u8 | 0x02, b1, b2, b3, b4, h2 as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lookup3 `hashword` of the empty key is its initial value.
    #[test]
    fn empty_key() {
        assert_eq!(jhash2(&[], 0), JHASH_INITVAL);
        assert_eq!(jhash2(&[], 1), JHASH_INITVAL + 1);
    }

    #[test]
    fn port_zero_like_linux() {
        let u = Uuid::from_u128(0);
        assert_eq!(derive_mac(&u, Route::from_raw(0))[0], 0xf2);
        assert_eq!(derive_mac(&u, Route::from_raw(2))[0], 0x02);
        assert_eq!(
            derive_mac(&u, Route::from_raw(0x8000_0000_0000_0305))[0],
            0x22
        );
    }
}
