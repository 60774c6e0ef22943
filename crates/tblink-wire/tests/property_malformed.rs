//! Malformed blocks (spec 03 §5): each test asserts the exact rule and dword
//! offset, or that Linux's acceptance is reproduced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use tblink_wire::property::{
    Directory, FormatError, Key, MAX_DEPTH, ParseError, ROOT_MAGIC, Rule, Type, Value, work_limit,
};
use tblink_wire::uuid::NETWORK_DIRECTORY;

mod property_vectors;
use property_vectors::LINUXBOX;

/// LINUXBOX with dword `at` replaced by `v`.
fn patched(at: usize, v: u32) -> Vec<u32> {
    let mut b = LINUXBOX.to_vec();
    b[at] = v;
    b
}

fn err(block: &[u32]) -> (Rule, usize) {
    let e = Directory::parse_dwords(block).unwrap_err();
    (e.rule, e.offset)
}

#[test]
fn display_names_rule_and_offset() {
    let e = ParseError {
        rule: Rule::OutOfBounds,
        offset: 0x15,
    };
    assert_eq!(
        e.to_string(),
        "rule 4 (entry out of bounds) at dword 21 (0x15)"
    );
    assert_eq!(Rule::Magic.number(), Some(1));
    assert_eq!(Rule::WorkLimit.number(), None);
    assert!(
        ParseError {
            rule: Rule::WorkLimit,
            offset: 3
        }
        .to_string()
        .starts_with("work limit (")
    );
}

#[test]
fn rule_1_bad_magic() {
    assert_eq!(err(&patched(0, 0x55584402)), (Rule::Magic, 0));
    assert_eq!(err(&[0x01445855, 0]), (Rule::Magic, 0));
    // Byte order matters: the magic read little-endian is not the magic.
    let le: Vec<u8> = LINUXBOX.iter().flat_map(|d| d.to_le_bytes()).collect();
    assert_eq!(Directory::parse(&le).unwrap_err().rule, Rule::Magic);
}

#[test]
fn truncated_blocks() {
    assert_eq!(err(&[]), (Rule::Magic, 0));
    assert_eq!(err(&[ROOT_MAGIC]), (Rule::RootLength, 1));
    assert_eq!(err(&[0x12345678]), (Rule::Magic, 0));
    assert_eq!(Directory::parse(&[]).unwrap_err().rule, Rule::Magic);
    // The smallest valid block: the empty root.
    assert_eq!(
        Directory::parse_dwords(&[ROOT_MAGIC, 0]),
        Ok(Directory::new())
    );
    // The §7 block cut short of its end: the network directory's last
    // dwords are gone.
    assert_eq!(err(&LINUXBOX[..56]), (Rule::OutOfBounds, 0x15));
}

#[test]
fn rule_2_root_length() {
    // L > block length.
    assert_eq!(err(&[ROOT_MAGIC, 3]), (Rule::RootLength, 1));
    assert_eq!(err(&patched(1, 58)), (Rule::RootLength, 1));
    assert_eq!(err(&patched(1, u32::MAX)), (Rule::RootLength, 1));
    // L ≤ block length but 2 + L > block length.
    assert_eq!(err(&[ROOT_MAGIC, 2, 0]), (Rule::RootLength, 1));
    assert_eq!(err(&patched(1, 56)), (Rule::RootLength, 1));
    assert_eq!(err(&patched(1, 57)), (Rule::RootLength, 1));
    // 2 + L = block length is fine: 13 entries, the 6 after the 7th read
    // from leaf data and the network directory, all as unknown types.
    let t = Directory::parse_dwords(&patched(1, 55)).unwrap();
    assert_eq!(t.len(), 13);
    assert!(matches!(t.entries[12].value, Value::Unknown { .. }));
}

#[test]
fn rule_3_length_not_multiple_of_4() {
    let full = Directory::parse_dwords(&LINUXBOX).unwrap();
    for l in [0x1d, 0x1e, 0x1f] {
        assert_eq!(Directory::parse_dwords(&patched(1, l)).unwrap(), full);
    }
    let six = Directory::parse_dwords(&patched(1, 0x1b)).unwrap();
    assert_eq!(six.len(), 6);
    assert_eq!(six.max_hop_id(), 15);
}

#[test]
fn rule_4_entry_out_of_bounds() {
    // network directory moved one dword: 0x26 + 20 = 58 > 57.
    assert_eq!(err(&patched(0x15, 0x26)), (Rule::OutOfBounds, 0x15));
    // Text past the end.
    assert_eq!(err(&patched(0x09, 55)), (Rule::OutOfBounds, 0x09));
    // Exactly at the end is fine: text of 3 at 54..57.
    assert!(Directory::parse_dwords(&patched(0x09, 54)).is_ok());
}

#[test]
fn rule_4_offset_overflow() {
    assert_eq!(err(&patched(0x09, u32::MAX)), (Rule::OffsetOverflow, 0x09));
    assert_eq!(
        err(&patched(0x15, u32::MAX - 19)),
        (Rule::OffsetOverflow, 0x15)
    );
    // value + length = 2^32 - 1 does not overflow, but is out of bounds.
    assert_eq!(
        err(&patched(0x15, u32::MAX - 20)),
        (Rule::OutOfBounds, 0x15)
    );
}

#[test]
fn rule_4_zero_length() {
    assert_eq!(err(&patched(0x14, 0x44000000)), (Rule::ZeroLength, 0x14));
    assert_eq!(err(&patched(0x08, 0x74000000)), (Rule::ZeroLength, 0x08));
    assert_eq!(err(&patched(0x08, 0x64000000)), (Rule::ZeroLength, 0x08));
}

#[test]
fn rule_4_length_exceeds_block() {
    assert_eq!(
        err(&patched(0x08, 0x7400003a)),
        (Rule::LengthExceedsBlock, 0x08)
    );
    assert_eq!(
        err(&patched(0x14, 0x4400ffff)),
        (Rule::LengthExceedsBlock, 0x14)
    );
}

#[test]
fn rule_5_immediate_length() {
    assert_eq!(
        err(&patched(0x04, 0x76000002)),
        (Rule::ImmediateLength, 0x04)
    );
    assert_eq!(
        err(&patched(0x04, 0x76000000)),
        (Rule::ImmediateLength, 0x04)
    );
    // Inside a sub-directory.
    assert_eq!(
        err(&patched(0x37, 0x76000005)),
        (Rule::ImmediateLength, 0x37)
    );
    // The value itself is unrestricted; the reserved byte is ignored.
    let b = patched(0x05, u32::MAX);
    assert_eq!(
        Directory::parse_dwords(&b).unwrap().vendor_id(),
        Some(u32::MAX)
    );
    let b = patched(0x04, 0x76ab0001);
    let t = Directory::parse_dwords(&b).unwrap();
    assert_eq!(t.format().unwrap(), LINUXBOX, "reserved byte written as 0");
}

#[test]
fn rule_6_unknown_type_accepted() {
    // maxhopid entry turned into type 'A' with odd length and value.
    let b = patched(0x1c, 0x41001234);
    let t = Directory::parse_dwords(&b).unwrap();
    assert_eq!(
        t.entries[6].value,
        Value::Unknown {
            type_byte: 0x41,
            length: 0x1234,
            value: 0x13
        }
    );
    assert_eq!(
        t.find("maxhopid", Type::Unknown(0x41)).unwrap().ty(),
        Type::Unknown(0x41)
    );
    assert_eq!(t.max_hop_id(), 15);
    // Written back verbatim.
    assert_eq!(t.format().unwrap(), b);
    // Type byte 0 and 0xff too, length 0 allowed.
    let b = patched(0x1c, 0x00000000);
    assert!(Directory::parse_dwords(&b).is_ok());
    let b = patched(0x1c, 0xff000000);
    assert!(Directory::parse_dwords(&b).is_ok());
}

#[test]
fn rule_7_non_utf8_key_and_text() {
    let mut b = patched(0x1a, 0xfffe8000);
    b[0x1b] = 0xc3280000;
    // deviceid text "linuxbox" → invalid UTF-8 bytes.
    b[0x21] = 0xc328a0a1;
    let t = Directory::parse_dwords(&b).unwrap();
    assert_eq!(t.entries[6].key.as_bytes(), &[0xff, 0xfe, 0x80, 0x00][..3]);
    assert_eq!(t.entries[6].key.as_bytes().len(), 3, "cut at first NUL");
    assert_eq!(t.entries[6].key.as_str(), None);
    assert_eq!(t.device_name(), Some(&b"\xc3\x28\xa0\xa1xbox"[..]));
    assert_eq!(t.format().unwrap(), {
        // The key's bytes after its first NUL are not kept.
        let mut e = b.clone();
        e[0x1b] = 0;
        e
    });
}

#[test]
fn rule_8_directory_too_short() {
    for len in 1..4 {
        assert_eq!(
            err(&patched(0x14, 0x44000000 | len)),
            (Rule::DirectoryTooShort, 0x14)
        );
    }
    // Length 4: a directory with a UUID and no entries.
    let t = Directory::parse_dwords(&patched(0x14, 0x44000004)).unwrap();
    let net = t.directory("network").unwrap();
    assert_eq!(net.uuid, Some(NETWORK_DIRECTORY));
    assert!(net.is_empty());
    // Lengths 5..7 give floor(1..3 / 4) = 0 entries too (rule 10).
    let t = Directory::parse_dwords(&patched(0x14, 0x44000007)).unwrap();
    assert!(t.directory("network").unwrap().is_empty());
}

/// `n` nested directories in a compact hand layout: root (6 dwords, one `D`
/// entry), then each directory as UUID + one `D` entry to the next (8
/// dwords); the last has no entries (length 4).
fn chain(n: usize) -> Vec<u32> {
    let mut b = vec![ROOT_MAGIC, 4, 0x63000000, 0, 0x44000000, 6];
    b[4] |= if n > 1 { 8 } else { 4 };
    for k in 1..=n {
        let off = b.len();
        assert_eq!(off, 6 + 8 * (k - 1));
        b.extend_from_slice(&[k as u32, 0, 0, 0]);
        if k < n {
            let len = if k + 1 < n { 8 } else { 4 };
            b.extend_from_slice(&[0x63000000 | k as u32, 0, 0x44000000 | len, (off + 8) as u32]);
        }
    }
    b
}

#[test]
fn rule_9_depth_8_accepted_9_rejected() {
    let t = Directory::parse_dwords(&chain(MAX_DEPTH)).unwrap();
    let mut d = &t;
    for _ in 0..MAX_DEPTH {
        d = match &d.entries[0].value {
            Value::Directory(c) => c,
            v => panic!("not a directory: {v:?}"),
        };
    }
    assert!(d.is_empty());
    // The 9th directory is referenced by the entry of the 8th, whose value
    // dword is at 6 + 8×7 + 4 + 3.
    assert_eq!(err(&chain(MAX_DEPTH + 1)), (Rule::TooDeep, 69));

    // The formatter writes depth 8 and refuses depth 9; its block parses.
    let mut root = Directory::new();
    let mut cur = &mut root;
    for _ in 0..MAX_DEPTH {
        cur = cur.add_directory("sub", NETWORK_DIRECTORY).unwrap();
    }
    let block = root.format().unwrap();
    assert_eq!(Directory::parse_dwords(&block).unwrap(), root);
    let mut deeper = root.clone();
    let mut cur = &mut deeper;
    while cur.directory("sub").is_some() {
        cur = cur.directory_mut("sub").unwrap();
    }
    cur.add_directory("sub", NETWORK_DIRECTORY).unwrap();
    assert_eq!(deeper.format(), Err(FormatError::TooDeep));
}

#[test]
fn rule_9_self_referencing_directory() {
    // Root entry → directory at 6, whose only entry points at 6 again.
    let b = [
        ROOT_MAGIC, 4, 0x6c6f6f70, 0, 0x44000008, 6, //
        1, 2, 3, 4, 0x6c6f6f70, 0, 0x44000008, 6,
    ];
    // Depth 1 is entered from the root; the entry at 10 is followed 8 times,
    // the 9th directory (depth 9) is refused.
    assert_eq!(err(&b), (Rule::TooDeep, 13));
    // A root entry pointing at the root itself: the "UUID" is the magic,
    // L and the entry's key; length 4 means no entries, so it is accepted.
    let b = [ROOT_MAGIC, 4, 0x6c6f6f70, 0, 0x44000004, 0];
    let t = Directory::parse_dwords(&b).unwrap();
    let d = t.directory("loop").unwrap();
    assert_eq!(
        d.uuid,
        Some(tblink_wire::uuid::uuid_from_dwords([
            ROOT_MAGIC, 4, 0x6c6f6f70, 0
        ]))
    );
    // Length 8 exceeds the 6-dword block (rule 4).
    let b = [ROOT_MAGIC, 4, 0x6c6f6f70, 0, 0x44000008, 0];
    assert_eq!(err(&b), (Rule::LengthExceedsBlock, 4));
}

#[test]
fn directory_referenced_many_times_is_bounded() {
    // Directories 1..=8, each with 12 `D` entries pointing at the next one;
    // directory 8 holds 12 `v` entries. Unbounded, that is 12^8 ≈ 4.3e8
    // entries in a 466-dword block.
    const M: usize = 12;
    let root_len = 2 + 4 * M; // 50
    let dir_len = 4 + 4 * M; // 52
    let dir_off = |k: usize| root_len + dir_len * (k - 1);
    let mut b = vec![ROOT_MAGIC, (4 * M) as u32];
    for _ in 0..M {
        b.extend_from_slice(&[
            0x64000000,
            0,
            0x44000000 | dir_len as u32,
            dir_off(1) as u32,
        ]);
    }
    for k in 1..=8 {
        assert_eq!(b.len(), dir_off(k));
        b.extend_from_slice(&[k as u32, 0, 0, 0]);
        for i in 0..M {
            if k < 8 {
                b.extend_from_slice(&[
                    0x64000000,
                    0,
                    0x44000000 | dir_len as u32,
                    dir_off(k + 1) as u32,
                ]);
            } else {
                b.extend_from_slice(&[0x76000000, 0, 0x76000001, i as u32]);
            }
        }
    }
    assert_eq!(b.len(), 466);
    assert_eq!(work_limit(b.len()), 2000);
    let start = Instant::now();
    let e = Directory::parse_dwords(&b).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    // Budget 2000: 6 levels down (48), two full directory-6 subtrees
    // (2 × 680), then 10 directory-7 entries (560) and 4 `v` entries of
    // directory 8 use it up; the 5th `v` entry (index 4) is refused.
    assert_eq!(
        (e.rule, e.offset),
        (Rule::WorkLimit, dir_off(8) + 4 + 4 * 4)
    );

    // With 2 references per level (2^8 = 256 leaves) the block is accepted:
    // shared sub-directories are legal (rule 13) as long as the work stays
    // within the bound.
    let mut small = vec![ROOT_MAGIC, 8];
    let (rl, dl) = (2 + 8, 4 + 8);
    let off = |k: usize| rl + dl * (k - 1);
    for _ in 0..2 {
        small.extend_from_slice(&[0x64000000, 0, 0x44000000 | dl as u32, off(1) as u32]);
    }
    for k in 1..=3 {
        small.extend_from_slice(&[k as u32, 0, 0, 0]);
        for _ in 0..2 {
            if k < 3 {
                small.extend_from_slice(&[
                    0x64000000,
                    0,
                    0x44000000 | dl as u32,
                    off(k + 1) as u32,
                ]);
            } else {
                small.extend_from_slice(&[0x76000000, 0, 0x76000001, 7]);
            }
        }
    }
    let t = Directory::parse_dwords(&small).unwrap();
    assert_eq!(t.len(), 2);
}

#[test]
fn rule_11_unterminated_text_loses_last_char() {
    // deviceid text "linuxbox" with length 2: no room for the NUL.
    let t = Directory::parse_dwords(&patched(0x18, 0x74000002)).unwrap();
    assert_eq!(t.device_name(), Some(&b"linuxbo"[..]));
    // "Intel Corp." with its NUL overwritten: "rp.X" → "rp." again.
    let t = Directory::parse_dwords(&patched(0x20, 0x72702e58)).unwrap();
    assert_eq!(t.vendor_name(), Some(&b"Intel Corp."[..]));
    // An inner NUL ends the string.
    let t = Directory::parse_dwords(&patched(0x1e, 0x496e0065)).unwrap();
    assert_eq!(t.vendor_name(), Some(&b"In"[..]));
}

#[test]
fn rule_12_data_copied_as_dwords() {
    let b = patched(0x08, 0x64000003);
    let t = Directory::parse_dwords(&b).unwrap();
    assert_eq!(t.data("vendorid"), Some(&b"Intel Corp.\0"[..]));
    assert_eq!(t.format().unwrap(), b);
}

#[test]
fn rule_13_overlaps_and_trailing_space_accepted() {
    // Both texts point at the same dwords.
    let t = Directory::parse_dwords(&patched(0x19, 0x1e)).unwrap();
    assert_eq!(t.device_name(), Some(&b"Intel Corp."[..]));
    // Unused dwords at the end.
    let mut b = LINUXBOX.to_vec();
    b.extend_from_slice(&[0xdeadbeef; 5]);
    assert!(Directory::parse_dwords(&b).is_ok());
}

#[test]
fn unaligned_bytes() {
    let mut bytes: Vec<u8> = LINUXBOX.iter().flat_map(|d| d.to_be_bytes()).collect();
    bytes.push(0);
    let e = Directory::parse(&bytes).unwrap_err();
    assert_eq!((e.rule, e.offset), (Rule::Unaligned, 57));
    assert_eq!(Directory::parse(&[0x55, 0x58, 0x44]).unwrap_err().offset, 0);
}

#[test]
fn blocks_longer_than_500_dwords_parse() {
    // One text of 600 dwords: the formatter refuses, the parser accepts.
    let mut root = Directory::new();
    root.add_text("big", vec![b'a'; 600 * 4 - 1]).unwrap();
    assert_eq!(
        root.format(),
        Err(FormatError::TooLong {
            dwords: 606,
            max: 500
        })
    );
    let mut b = vec![ROOT_MAGIC, 4, 0x62696700, 0, 0x74000000 | 600, 6];
    b.extend(std::iter::repeat_n(0x61616161, 599));
    b.push(0x61616100);
    assert_eq!(Directory::parse_dwords(&b).unwrap(), root);
}

#[test]
fn formatter_limits() {
    // Exactly 500 dwords: 2 + 4 + 494.
    let mut root = Directory::new();
    root.add_data("d", vec![0xaa; 494 * 4]).unwrap();
    assert_eq!(root.format().unwrap().len(), 500);
    let mut root = Directory::new();
    root.add_data("d", vec![0xaa; 494 * 4 + 1]).unwrap();
    assert_eq!(
        root.format(),
        Err(FormatError::TooLong {
            dwords: 501,
            max: 500
        })
    );
    assert_eq!(root.block_len(), Ok(501));
    // Text of 494 dwords: 1975 characters + NUL.
    let mut root = Directory::new();
    root.add_text("t", vec![b'x'; 1975]).unwrap();
    assert_eq!(root.format().unwrap().len(), 500);
    let mut root = Directory::new();
    root.add_text("t", vec![b'x'; 1976]).unwrap();
    assert_eq!(root.block_len(), Ok(501));

    // 16-bit length fields.
    let mut root = Directory::new();
    root.add_data("d", vec![1; 0x10000 * 4]).unwrap();
    assert_eq!(
        root.format(),
        Err(FormatError::LengthTooLarge { dwords: 0x10000 })
    );
    let mut root = Directory::new();
    root.add_text("t", vec![b'x'; 0xffff * 4]).unwrap();
    assert_eq!(
        root.format(),
        Err(FormatError::LengthTooLarge { dwords: 0x10000 })
    );

    // Empty data would have length 0 (rule 4).
    let mut root = Directory::new();
    root.add_data("d", []).unwrap();
    assert_eq!(root.format(), Err(FormatError::EmptyData));
    // Empty text is one dword.
    let mut root = Directory::new();
    root.add_text("t", "").unwrap();
    assert_eq!(
        root.format().unwrap(),
        vec![ROOT_MAGIC, 4, 0x74000000, 0, 0x74000001, 6, 0]
    );

    // UUIDs.
    let mut root = Directory::with_uuid(NETWORK_DIRECTORY);
    assert_eq!(root.format(), Err(FormatError::RootUuid));
    root.uuid = None;
    root.push(Key::new("x").unwrap(), Value::Directory(Directory::new()));
    assert_eq!(root.format(), Err(FormatError::MissingUuid));

    // Unknown entries may not carry a known type byte.
    let mut root = Directory::new();
    root.push(
        Key::new("x").unwrap(),
        Value::Unknown {
            type_byte: b'v',
            length: 1,
            value: 0,
        },
    );
    assert_eq!(root.format(), Err(FormatError::KnownTypeByte(0x76)));

    // Keys.
    assert_eq!(
        Key::new("toolongkey"),
        Err(FormatError::KeyTooLong { len: 10 })
    );
    assert_eq!(
        Directory::new().add_immediate("ninechars", 1).unwrap_err(),
        FormatError::KeyTooLong { len: 9 }
    );
    assert_eq!(Key::new("a\0"), Err(FormatError::KeyHasNul));
}

#[test]
fn text_with_inner_nul_is_formatted_as_c_string() {
    let mut root = Directory::new();
    root.add_text("t", b"ab\0cdefgh").unwrap();
    let block = root.format().unwrap();
    assert_eq!(
        block,
        vec![ROOT_MAGIC, 4, 0x74000000, 0, 0x74000001, 6, 0x61620000]
    );
    assert_eq!(
        Directory::parse_dwords(&block).unwrap().text("t"),
        Some(&b"ab"[..])
    );
}
