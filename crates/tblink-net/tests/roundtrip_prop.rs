//! Property: split → reassemble is the identity for every packet of
//! 1..=65536 bytes and every frame_id (spec 06 §8.2, §9).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use proptest::prelude::*;
use tblink_net::{Offload, Reassembler, RxFlags, RxOutcome, Transmitter, TxConfig};
use tblink_wire::tbip::FRAME_SIZE;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn split_then_reassemble_is_identity(
        len in prop_oneof![1usize..=200, 1usize..=65536, 65400usize..=65536],
        seed in any::<u32>(),
        frame_id in any::<u16>(),
        match_frags_id in any::<bool>(),
    ) {
        let data = common::bytes(len, seed);
        let prtcstns = 0x4 | if match_frags_id { 0x2 } else { 0 };
        let mut tx = Transmitter::new(TxConfig::from_prtcstns(prtcstns, 1500));
        // Advance the counter to `frame_id` cheaply: ids only matter per packet.
        let mut bufs = vec![[0u8; FRAME_SIZE]; 17];
        let enc = tx.encode(&data, Offload::None, &mut bufs).unwrap();
        prop_assert_eq!(enc.frames(), len.div_ceil(4084));
        prop_assert_eq!(enc.frame_id(), 0);
        // Rewrite the frame_id of every frame, as a peer at any counter would send.
        for b in bufs.iter_mut().take(enc.frames()) {
            b[6..8].copy_from_slice(&frame_id.to_le_bytes());
        }
        let mut rx = Reassembler::default();
        let mut out = None;
        for (i, &l) in enc.desc_lens().iter().enumerate() {
            match rx.push(&bufs[i][..usize::from(l)], l & 0xfff, RxFlags::default()) {
                RxOutcome::Packet(p) => {
                    prop_assert_eq!(i + 1, enc.frames());
                    out = Some(p.to_vec());
                }
                RxOutcome::Pending => prop_assert!(i + 1 < enc.frames()),
                RxOutcome::Dropped(d) => prop_assert!(false, "dropped {}", d),
            }
        }
        prop_assert_eq!(out.as_deref(), Some(&data[..]));
        prop_assert_eq!(rx.stats().rx_bytes, len as u64);
        prop_assert_eq!(tx.next_frame_id(), u16::from(match_frags_id));
    }
}
