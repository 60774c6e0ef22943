//! Property round trips (spec 03 §5–6) and parser robustness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tblink_wire::property::{Directory, Entry, Key, MAX_BLOCK_DWORDS, ROOT_MAGIC, Type, Value};
use tblink_wire::uuid::Uuid;

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(1u8..=255, 0..=8).prop_map(|k| Key::new(k).unwrap())
}

/// Leaf values already in normal form: text without NUL, data a whole
/// number of dwords.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u32>().prop_map(Value::Immediate),
        prop::collection::vec(1u8..=255, 0..24).prop_map(Value::Text),
        prop::collection::vec(any::<u32>(), 1..6)
            .prop_map(|w| Value::Data(w.iter().flat_map(|d| d.to_be_bytes()).collect())),
        (any::<u8>(), any::<u16>(), any::<u32>())
            .prop_filter("unknown type byte", |(t, _, _)| {
                matches!(Type::from_byte(*t), Type::Unknown(_))
            })
            .prop_map(|(type_byte, length, value)| Value::Unknown {
                type_byte,
                length,
                value
            }),
    ]
}

/// Leaf values not in normal form: text with NULs, data of any length.
fn raw_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Text),
        prop::collection::vec(any::<u8>(), 1..24).prop_map(Value::Data),
        leaf(),
    ]
}

fn entries(leaf: BoxedStrategy<Value>) -> impl Strategy<Value = Vec<Entry>> {
    let value = leaf.prop_recursive(4, 40, 6, |inner| {
        (
            any::<u128>(),
            prop::collection::vec(
                (key(), inner).prop_map(|(key, value)| Entry { key, value }),
                0..6,
            ),
        )
            .prop_map(|(u, entries)| {
                Value::Directory(Directory {
                    uuid: Some(Uuid::from_u128(u)),
                    entries,
                })
            })
    });
    prop::collection::vec(
        (key(), value).prop_map(|(key, value)| Entry { key, value }),
        0..10,
    )
}

fn tree() -> impl Strategy<Value = Directory> {
    entries(leaf().boxed()).prop_map(|entries| Directory {
        uuid: None,
        entries,
    })
}

fn raw_tree() -> impl Strategy<Value = Directory> {
    entries(raw_leaf().boxed()).prop_map(|entries| Directory {
        uuid: None,
        entries,
    })
}

/// The documented normalisation of `parse(format(t))`: text cut at the
/// first NUL, data zero-padded to whole dwords.
fn normalise(d: &Directory) -> Directory {
    Directory {
        uuid: d.uuid,
        entries: d
            .entries
            .iter()
            .map(|e| Entry {
                key: e.key,
                value: match &e.value {
                    Value::Text(t) => {
                        Value::Text(t.iter().copied().take_while(|&b| b != 0).collect())
                    }
                    Value::Data(b) => {
                        let mut b = b.clone();
                        b.resize(b.len().div_ceil(4) * 4, 0);
                        Value::Data(b)
                    }
                    Value::Directory(c) => Value::Directory(normalise(c)),
                    v => v.clone(),
                },
            })
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_format_round_trip(t in tree()) {
        let len = t.block_len().unwrap();
        prop_assume!(len <= MAX_BLOCK_DWORDS);
        let block = t.format().unwrap();
        prop_assert_eq!(block.len(), len);
        let parsed = Directory::parse_dwords(&block).unwrap();
        prop_assert_eq!(&parsed, &t);
        // format(parse(b)) == b for the canonical block b.
        prop_assert_eq!(parsed.format().unwrap(), block.clone());
        // Byte form agrees.
        let bytes = t.format_bytes().unwrap();
        prop_assert_eq!(Directory::parse(&bytes).unwrap(), t);
    }

    #[test]
    fn parse_format_round_trip_normalises(t in raw_tree()) {
        prop_assume!(t.block_len().unwrap() <= MAX_BLOCK_DWORDS);
        let block = t.format().unwrap();
        let parsed = Directory::parse_dwords(&block).unwrap();
        prop_assert_eq!(&parsed, &normalise(&t));
        prop_assert_eq!(parsed.format().unwrap(), block);
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Directory::parse(&b);
    }

    /// Blocks with a valid header and dwords biased towards small offsets
    /// and the four type bytes, so the parser goes deep.
    #[test]
    fn random_structured_blocks_never_panic(
        l in 0u32..64,
        body in prop::collection::vec(
            prop_oneof![
                0u32..80,
                (prop::sample::select(vec![0x44u32, 0x64, 0x74, 0x76, 0x41]), 0u32..40)
                    .prop_map(|(t, n)| (t << 24) | n),
                any::<u32>(),
            ],
            0..120,
        ),
    ) {
        let mut b = vec![ROOT_MAGIC, l];
        b.extend(body);
        if let Ok(t) = Directory::parse_dwords(&b) {
            // Whatever parsed can be shown and, if small enough, formatted
            // and parsed again.
            let _ = t.check_xdomain_root();
            if let Ok(again) = t.format() {
                let _ = Directory::parse_dwords(&again);
            }
        }
    }

    #[test]
    fn mutated_blocks_never_panic(
        t in tree(),
        muts in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![0u32..80, any::<u32>()]), 1..4),
    ) {
        if let Ok(mut block) = t.format() {
            for (i, v) in muts {
                let i = i.index(block.len());
                block[i] = v;
            }
            let _ = Directory::parse_dwords(&block);
        }
    }
}
