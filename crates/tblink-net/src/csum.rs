//! Software checksum completion for transmitted packets (spec 06 §10).
//!
//! Nothing on a ThunderboltIP link offloads checksums and receivers verify
//! them in software, so every packet must leave with a valid IPv4 header
//! checksum and a valid TCP/UDP checksum over the pseudo-header (with the
//! *actual* L4 length, i.e. up to the end of the packet) and the whole L4
//! segment — also for TSO-sized segments far above the MTU (spec 06 §12).
//!
//! [`plan`] looks at a packet that needs completion and computes the
//! values; the transmitter writes them into the frames it has copied the
//! packet into. The packet itself is never modified.

use thiserror::Error;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q tag; one tag is looked through (spec 06 §10).
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
/// Offset of the checksum in a TCP header.
const TCP_CSUM: usize = 16;
/// Offset of the checksum in a UDP header.
const UDP_CSUM: usize = 6;
/// Offset of the header checksum in an IPv4 header.
const IPV4_CSUM: usize = 10;
/// IPv6 extension headers walked before giving up.
const MAX_EXT_HEADERS: usize = 8;

/// What a packet needs before it goes on the wire (spec 06 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Offload {
    /// The packet already carries valid checksums: sent unchanged.
    #[default]
    None,
    /// A "partial checksum" request as in virtio-net's `NEEDS_CSUM`: the L4
    /// header starts at `csum_start` and its checksum field is at
    /// `csum_start + csum_offset`. The field's current content (normally
    /// the pseudo-header sum) is ignored: the whole checksum, pseudo-header
    /// included, is recomputed. The IPv4 header checksum is recomputed too,
    /// as Linux does for every offloaded packet.
    Partial {
        /// Offset of the L4 header in the Ethernet frame.
        csum_start: u16,
        /// Offset of the checksum field in the L4 header (16 TCP, 6 UDP).
        csum_offset: u16,
    },
    /// Parse the headers and compute the IPv4 header checksum and the
    /// TCP/UDP checksum from scratch.
    Full,
}

/// Why a packet's checksum request cannot be completed; Linux counts
/// these in `tx_errors` (spec 06 §10, §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CsumError {
    /// The packet ends inside a header.
    #[error("packet truncated inside a header")]
    Truncated,
    /// Neither IPv4 nor IPv6 (after at most one 802.1Q tag).
    #[error("not an IP packet (EtherType {0:#06x})")]
    NotIp(u16),
    /// The L4 protocol is neither TCP nor UDP.
    #[error("L4 protocol {0} is neither TCP nor UDP")]
    NotTcpUdp(u8),
    /// An IPv4 fragment or an IPv6 fragment header: no whole L4 segment.
    #[error("IP fragment")]
    Fragment,
    /// A malformed IP header (version, IHL).
    #[error("malformed IP header")]
    BadIpHeader,
    /// `csum_start`/`csum_offset` do not point at the TCP/UDP checksum.
    #[error("csum_start/csum_offset do not match the TCP/UDP header")]
    BadOffsets,
}

/// The checksums to store into a packet, with their byte offsets in the
/// Ethernet frame (values big-endian, as they go on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsumPlan {
    /// IPv4 header checksum: (offset, value).
    pub ip: Option<(usize, u16)>,
    /// TCP/UDP checksum: (offset, value).
    pub l4: (usize, u16),
}

/// The one's-complement sum (RFC 1071) of `data` as big-endian 16-bit
/// words, an odd last byte padded with zero; folded, not complemented.
///
/// The sum is byte-order independent (RFC 1071 §2(B)): it is accumulated
/// over little-endian 32-bit reads into a 64-bit accumulator and swapped
/// once at the end.
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut a: u64 = 0;
    let mut b: u64 = 0;
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let (x, y) = c.split_at(8);
        let x = u64::from_le_bytes(arr8(x));
        let y = u64::from_le_bytes(arr8(y));
        // Each addend < 2^33; 2^30 of them cannot overflow.
        a += (x & 0xffff_ffff) + (x >> 32);
        b += (y & 0xffff_ffff) + (y >> 32);
    }
    let mut acc = a + b;
    let mut rest = chunks.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_le_bytes([w[0], w[1]]));
    }
    if let [last] = rest.remainder() {
        acc += u64::from(*last);
    }
    fold(acc).swap_bytes()
}

fn arr8(s: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    a
}

/// Fold a 64-bit one's-complement accumulator to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement addition of 16-bit sums.
fn add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// A packet held in pieces, addressed by offset in the whole packet: a
/// header or a checksum field may lie in any piece or straddle two.
struct Pieces<'a>(&'a [&'a [u8]]);

impl Pieces<'_> {
    fn byte(&self, mut off: usize) -> Result<u8, CsumError> {
        for f in self.0 {
            match f.get(off) {
                Some(b) => return Ok(*b),
                None => off -= f.len(),
            }
        }
        Err(CsumError::Truncated)
    }

    fn be16(&self, off: usize) -> Result<u16, CsumError> {
        Ok(u16::from_be_bytes([self.byte(off)?, self.byte(off + 1)?]))
    }

    /// The one's-complement sum of `len` bytes from `from`, as if they
    /// were contiguous: a piece that starts at an odd offset of the range
    /// contributes its sum byte-swapped (RFC 1071 §2(B)).
    fn sum(&self, from: usize, len: usize) -> Result<u16, CsumError> {
        let end = from.checked_add(len).ok_or(CsumError::Truncated)?;
        let mut acc = 0;
        let mut done = 0;
        let mut start = 0;
        for f in self.0 {
            let lo = from.max(start) - start;
            let hi = end.min(start + f.len()).saturating_sub(start);
            if let Some(part) = f.get(lo..hi).filter(|p| !p.is_empty()) {
                let s = ones_sum(part);
                acc = add(acc, if done % 2 == 1 { s.swap_bytes() } else { s });
                done += part.len();
            }
            start += f.len();
        }
        if done == len {
            Ok(acc)
        } else {
            Err(CsumError::Truncated)
        }
    }
}

/// The result of parsing the headers: where L4 starts and the pieces of
/// the pseudo-header.
struct Parsed {
    ip_header: Option<(usize, usize)>,
    l4: usize,
    proto: u8,
    /// One's-complement sum of the source and destination addresses.
    addr_sum: u16,
}

/// Offset of the L3 header and its EtherType, through one 802.1Q tag.
pub fn l3(packet: &[u8]) -> Result<(usize, u16), CsumError> {
    l3_of(&Pieces(&[packet]))
}

fn l3_of(packet: &Pieces<'_>) -> Result<(usize, u16), CsumError> {
    let et = packet.be16(12)?;
    if et == ETHERTYPE_VLAN {
        Ok((ETH_HLEN + VLAN_HLEN, packet.be16(16)?))
    } else {
        Ok((ETH_HLEN, et))
    }
}

fn parse(packet: &Pieces<'_>) -> Result<Parsed, CsumError> {
    let (l3, ethertype) = l3_of(packet)?;
    match ethertype {
        ETHERTYPE_IPV4 => {
            let vihl = packet.byte(l3)?;
            if vihl >> 4 != 4 || (vihl & 0xf) < 5 {
                return Err(CsumError::BadIpHeader);
            }
            let ihl = usize::from(vihl & 0xf) * 4;
            packet.sum(l3, ihl)?;
            if packet.be16(l3 + 6)? & 0x3fff != 0 {
                return Err(CsumError::Fragment);
            }
            Ok(Parsed {
                ip_header: Some((l3, ihl)),
                l4: l3 + ihl,
                proto: packet.byte(l3 + 9)?,
                addr_sum: packet.sum(l3 + 12, 8)?,
            })
        }
        ETHERTYPE_IPV6 => {
            if packet.byte(l3)? >> 4 != 6 {
                return Err(CsumError::BadIpHeader);
            }
            let addr_sum = packet.sum(l3 + 8, 32)?;
            let mut next = packet.byte(l3 + 6)?;
            let mut off = l3 + 40;
            for _ in 0..MAX_EXT_HEADERS {
                match next {
                    // Hop-by-hop, routing, destination options.
                    0 | 43 | 60 => {
                        next = packet.byte(off)?;
                        off += (usize::from(packet.byte(off + 1)?) + 1) * 8;
                    }
                    44 => return Err(CsumError::Fragment),
                    _ => break,
                }
            }
            Ok(Parsed {
                ip_header: None,
                l4: off,
                proto: next,
                addr_sum,
            })
        }
        other => Err(CsumError::NotIp(other)),
    }
}

/// Compute the checksums a packet needs under `offload`; `Ok(None)` for
/// [`Offload::None`]. Errors are what Linux drops with `tx_errors`
/// (spec 06 §10).
pub fn plan(packet: &[u8], offload: Offload) -> Result<Option<CsumPlan>, CsumError> {
    plan_gathered(&[packet], offload)
}

/// [`plan`] for a packet held in pieces, in order (e.g. the payloads of
/// the DMA frames it was read into). Headers and checksum fields may lie
/// in any piece and straddle two; the result is the same as for the
/// contiguous packet.
pub fn plan_gathered(frags: &[&[u8]], offload: Offload) -> Result<Option<CsumPlan>, CsumError> {
    if offload == Offload::None {
        return Ok(None);
    }
    let packet = Pieces(frags);
    let total: usize = frags.iter().map(|f| f.len()).sum();
    let p = parse(&packet)?;
    let field = match p.proto {
        IPPROTO_TCP => TCP_CSUM,
        IPPROTO_UDP => UDP_CSUM,
        other => return Err(CsumError::NotTcpUdp(other)),
    };
    if let Offload::Partial {
        csum_start,
        csum_offset,
    } = offload
        && (usize::from(csum_start) != p.l4 || usize::from(csum_offset) != field)
    {
        return Err(CsumError::BadOffsets);
    }
    let min_l4 = if p.proto == IPPROTO_TCP { 20 } else { 8 };
    let l4_len = total.saturating_sub(p.l4);
    if l4_len < min_l4 {
        return Err(CsumError::Truncated);
    }
    // Pseudo-header (RFC 793/768 for IPv4, RFC 8200 §8.1 for IPv6): the
    // addresses, the protocol and the actual L4 length. As 16-bit words
    // the IPv4 and IPv6 layouts sum alike.
    let len_sum = fold(l4_len as u64);
    let pseudo = add(add(p.addr_sum, u16::from(p.proto)), len_sum);
    // Sum the segment with the checksum field counted as zero: adding the
    // complement of the field cancels it (one's-complement subtraction).
    let old = packet.be16(p.l4 + field)?;
    let seg_sum = packet.sum(p.l4, l4_len)?;
    let sum = add(add(seg_sum, !old), pseudo);
    let mut csum = !sum;
    if p.proto == IPPROTO_UDP && csum == 0 {
        // RFC 768: a computed 0 is sent as all ones (spec 06 §10).
        csum = 0xffff;
    }
    let ip = match p.ip_header {
        Some((off, len)) => {
            let old = packet.be16(off + IPV4_CSUM)?;
            Some((off + IPV4_CSUM, !add(packet.sum(off, len)?, !old)))
        }
        None => None,
    };
    Ok(Some(CsumPlan {
        ip,
        l4: (p.l4 + field, csum),
    }))
}

/// Store `plan` into a packet held in one buffer (the checksummed copy
/// a caller would get after [`plan`]).
pub fn apply(packet: &mut [u8], plan: &CsumPlan) {
    for (off, v) in plan.ip.into_iter().chain([plan.l4]) {
        if let Some(d) = packet.get_mut(off..off + 2) {
            d.copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward RFC 1071 reference.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn ones_sum_matches_reference() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in [0, 1, 2, 3, 15, 16, 17, 31, 33, 100, 4999, 5000] {
            for start in [0, 1, 2, 5] {
                let d = &data[start..len.max(start)];
                let r = reference(d);
                let o = ones_sum(d);
                // 0 and 0xffff are the same one's-complement value.
                assert!(
                    o == r || (o % 0xffff == r % 0xffff),
                    "len {len} start {start}"
                );
            }
        }
        // RFC 1071 §3 example.
        assert_eq!(
            ones_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn none_is_none_and_errors() {
        assert_eq!(plan(&[0; 10], Offload::None), Ok(None));
        assert_eq!(plan(&[0; 10], Offload::Full), Err(CsumError::Truncated));
        let mut arp = [0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(plan(&arp, Offload::Full), Err(CsumError::NotIp(0x0806)));
    }
}
