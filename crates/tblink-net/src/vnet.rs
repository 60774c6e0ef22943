//! The `virtio_net_hdr` a TAP opened with `IFF_VNET_HDR` puts before every
//! frame, mapped to the transmitter's [`Offload`] (spec 06 §10, §12).
//!
//! A TCP segmentation request (GSO TCPv4/TCPv6) is **not** segmented: the
//! super-packet goes out as one ThunderboltIP packet of up to 65536 bytes
//! with its checksums completed over the whole segment (spec 06 §12).
//! UDP fragmentation offload is never offered to the kernel, so a UDP GSO
//! request is refused.
//!
//! Layout (10 bytes, little-endian as on every little-endian host and
//! with `TUNSETVNETLE`): `flags` u8, `gso_type` u8, `hdr_len` u16,
//! `gso_size` u16, `csum_start` u16, `csum_offset` u16.

use crate::csum::Offload;

/// Size of `struct virtio_net_hdr` (the TAP default).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: checksums already verified (receive).
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP`.
pub const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag on the GSO type).
pub const GSO_ECN: u8 = 0x80;

/// Split a frame read from a vnet-header TAP into its offload request and
/// the Ethernet frame. `Err` for a short buffer or an unsupported GSO type.
#[allow(clippy::result_unit_err)]
pub fn parse(buf: &[u8]) -> Result<(Offload, &[u8]), ()> {
    let (h, frame) = buf.split_at_checked(VNET_HDR_LEN).ok_or(())?;
    let le = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let flags = h[0];
    let gso = h[1] & !GSO_ECN;
    let offload = match (gso, flags & F_NEEDS_CSUM != 0) {
        (GSO_NONE, false) => Offload::None,
        (GSO_NONE | GSO_TCPV4 | GSO_TCPV6, true) => Offload::Partial {
            csum_start: le(6),
            csum_offset: le(8),
        },
        // A segmentation request must carry NEEDS_CSUM; be safe anyway.
        (GSO_TCPV4 | GSO_TCPV6, false) => Offload::Full,
        _ => return Err(()),
    };
    Ok((offload, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_headers() {
        let mut b = [0u8; 20];
        assert_eq!(parse(&b).unwrap().0, Offload::None);
        assert_eq!(parse(&b).unwrap().1.len(), 10);
        b[0] = F_NEEDS_CSUM;
        b[1] = GSO_TCPV4 | GSO_ECN;
        b[6..8].copy_from_slice(&34u16.to_le_bytes());
        b[8..10].copy_from_slice(&16u16.to_le_bytes());
        assert_eq!(
            parse(&b).unwrap().0,
            Offload::Partial {
                csum_start: 34,
                csum_offset: 16
            }
        );
        b[1] = GSO_TCPV6;
        b[0] = 0;
        assert_eq!(parse(&b).unwrap().0, Offload::Full);
        b[1] = GSO_UDP;
        assert!(parse(&b).is_err());
        assert!(parse(&b[..9]).is_err());
    }
}
