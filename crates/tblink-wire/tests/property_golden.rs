//! Golden vectors both ways: spec 03 §7, 06 §2, 07 §1, and the tree API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tblink_wire::property::{Directory, Key, MissingProperty, Type, Value, XdomainRoot, keys};
use tblink_wire::uuid::{DMA_TEST_DIRECTORY, NETWORK_DIRECTORY};

mod property_vectors;
use property_vectors::LINUXBOX;

/// Spec 03 §7 wire bytes (hex dump).
const LINUXBOX_HEX: &str = "
55 58 44 01 00 00 00 1c 76 65 6e 64 6f 72 69 64
76 00 00 01 00 00 80 86 76 65 6e 64 6f 72 69 64
74 00 00 03 00 00 00 1e 64 65 76 69 63 65 69 64
76 00 00 01 00 00 00 01 64 65 76 69 63 65 72 76
76 00 00 01 80 00 01 00 6e 65 74 77 6f 72 6b 00
44 00 00 14 00 00 00 25 64 65 76 69 63 65 69 64
74 00 00 03 00 00 00 21 6d 61 78 68 6f 70 69 64
76 00 00 01 00 00 00 13 49 6e 74 65 6c 20 43 6f
72 70 2e 00 6c 69 6e 75 78 62 6f 78 00 00 00 00
00 00 00 00 ca 89 61 c6 95 41 ce 1c 59 49 b8 bd
4f 5a 5f 2e 70 72 74 63 69 64 00 00 76 00 00 01
00 00 00 01 70 72 74 63 76 65 72 73 76 00 00 01
00 00 00 01 70 72 74 63 72 65 76 73 76 00 00 01
00 00 00 01 70 72 74 63 73 74 6e 73 76 00 00 01
00 00 00 07";

fn hex_bytes(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}

fn k(s: &str) -> Key {
    Key::new(s).unwrap()
}

/// The §7 tree written out entry by entry.
fn linuxbox_tree() -> Directory {
    Directory {
        uuid: None,
        entries: vec![
            entry("vendorid", Value::Immediate(0x8086)),
            entry("vendorid", Value::Text(b"Intel Corp.".to_vec())),
            entry("deviceid", Value::Immediate(0x1)),
            entry("devicerv", Value::Immediate(0x80000100)),
            entry(
                "network",
                Value::Directory(Directory {
                    uuid: Some(NETWORK_DIRECTORY),
                    entries: vec![
                        entry("prtcid", Value::Immediate(1)),
                        entry("prtcvers", Value::Immediate(1)),
                        entry("prtcrevs", Value::Immediate(1)),
                        entry("prtcstns", Value::Immediate(7)),
                    ],
                }),
            ),
            entry("deviceid", Value::Text(b"linuxbox".to_vec())),
            entry("maxhopid", Value::Immediate(19)),
        ],
    }
}

fn entry(key: &str, value: Value) -> tblink_wire::property::Entry {
    tblink_wire::property::Entry { key: k(key), value }
}

#[test]
fn linuxbox_parse_gives_exact_tree() {
    let tree = Directory::parse_dwords(&LINUXBOX).unwrap();
    assert_eq!(tree, linuxbox_tree());
}

#[test]
fn linuxbox_format_gives_exact_dwords() {
    let dwords = linuxbox_tree().format().unwrap();
    assert_eq!(dwords.len(), 57);
    assert_eq!(dwords, LINUXBOX);
    assert_eq!(linuxbox_tree().block_len(), Ok(57));
}

#[test]
fn linuxbox_wire_bytes_both_ways() {
    let bytes = hex_bytes(LINUXBOX_HEX);
    assert_eq!(bytes.len(), 228);
    assert_eq!(linuxbox_tree().format_bytes().unwrap(), bytes);
    assert_eq!(Directory::parse(&bytes).unwrap(), linuxbox_tree());
}

#[test]
fn linuxbox_built_with_tree_api() {
    let mut root = Directory::new();
    root.add_immediate("vendorid", 0x8086)
        .unwrap()
        .add_text("vendorid", "Intel Corp.")
        .unwrap()
        .add_immediate("deviceid", 1)
        .unwrap()
        .add_immediate("devicerv", 0x80000100)
        .unwrap();
    root.add_directory("network", NETWORK_DIRECTORY)
        .unwrap()
        .add_immediate("prtcid", 1)
        .unwrap()
        .add_immediate("prtcvers", 1)
        .unwrap()
        .add_immediate("prtcrevs", 1)
        .unwrap()
        .add_immediate("prtcstns", 7)
        .unwrap();
    root.add_text("deviceid", "linuxbox")
        .unwrap()
        .add_immediate("maxhopid", 19)
        .unwrap();
    assert_eq!(root, linuxbox_tree());
    assert_eq!(root.format().unwrap(), LINUXBOX);
}

#[test]
fn linuxbox_standard_accessors() {
    let root = Directory::parse_dwords(&LINUXBOX).unwrap();
    assert_eq!(root.vendor_id(), Some(0x8086));
    assert_eq!(root.vendor_name(), Some(&b"Intel Corp."[..]));
    assert_eq!(root.device_id(), Some(1));
    assert_eq!(root.device_name(), Some(&b"linuxbox"[..]));
    assert_eq!(root.device_revision(), Some(0x80000100));
    assert_eq!(root.max_hop_id(), 19);
    assert_eq!(
        root.check_xdomain_root(),
        Ok(XdomainRoot {
            vendor_id: 0x8086,
            device_id: 1,
            max_hop_id: 19
        })
    );
    let net = root.directory("network").unwrap();
    assert_eq!(net.uuid, Some(NETWORK_DIRECTORY));
    assert_eq!(
        (net.prtcid(), net.prtcvers(), net.prtcrevs(), net.prtcstns()),
        (1, 1, 1, 7)
    );
    let services: Vec<_> = root.services().map(|(k, _)| *k).collect();
    assert_eq!(services, vec![keys::NETWORK]);
}

/// Formats a root holding only `key` → `dir`; returns the directory's dwords
/// (at offset 7: 2 header + 4 entry + 1 reserved zero dword).
fn formatted_subdir(key: &str, dir: Directory) -> Vec<u32> {
    let mut root = Directory::new();
    root.push(k(key), Value::Directory(dir.clone()));
    let block = root.format().unwrap();
    assert_eq!(block.len(), 27);
    assert_eq!(&block[..2], &[0x55584401, 4]);
    assert_eq!(block[4], 0x44000014, "type D, length 20");
    assert_eq!(block[5], 7, "directory at offset 7");
    assert_eq!(block[6], 0, "reserved zero dword");
    // And it parses back.
    assert_eq!(Directory::parse_dwords(&block).unwrap(), root);
    block[7..].to_vec()
}

fn be_words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Spec 06 §2: the `network` directory, 20 dwords.
#[test]
fn network_directory_golden() {
    let expected = be_words(&hex_bytes(
        "ca 89 61 c6 95 41 ce 1c 59 49 b8 bd 4f 5a 5f 2e
         70 72 74 63 69 64 00 00 76 00 00 01 00 00 00 01
         70 72 74 63 76 65 72 73 76 00 00 01 00 00 00 01
         70 72 74 63 72 65 76 73 76 00 00 01 00 00 00 01
         70 72 74 63 73 74 6e 73 76 00 00 01 00 00 00 07",
    ));
    let dir = Directory::service(NETWORK_DIRECTORY, 1, 1, 1, 7);
    assert_eq!(formatted_subdir("network", dir), expected);
    assert_eq!(keys::NETWORK.dwords(), [0x6e657477, 0x6f726b00]);
}

/// Spec 07 §1: the `dma_test` directory, 20 dwords; key of exactly 8 bytes.
#[test]
fn dma_test_directory_golden() {
    let expected = be_words(&hex_bytes(
        "10 cd 88 31 5a 4a 23 65 ca fd 82 a6 d8 48 a2 07
         70 72 74 63 69 64 00 00 76 00 00 01 00 00 00 01
         70 72 74 63 76 65 72 73 76 00 00 01 00 00 00 01
         70 72 74 63 72 65 76 73 76 00 00 01 00 00 00 00
         70 72 74 63 73 74 6e 73 76 00 00 01 00 00 00 00",
    ));
    let dir = Directory::service(DMA_TEST_DIRECTORY, 1, 1, 0, 0);
    assert_eq!(formatted_subdir("dma_test", dir), expected);
    assert_eq!(
        keys::DMA_TEST.dwords(),
        be_words(&hex_bytes("64 6d 61 5f 74 65 73 74"))[..]
    );
}

/// Spec 03 §7 "What the kernel's own KUnit vector checks": the Mac-like
/// block, built from its description.
fn mac_tree() -> Directory {
    let mut root = Directory::new();
    root.add_immediate("vendorid", 0xa27)
        .unwrap()
        .add_text("vendorid", "Apple Inc.")
        .unwrap()
        .add_immediate("deviceid", 0xa)
        .unwrap()
        .add_text("deviceid", "Macintosh")
        .unwrap()
        .add_immediate("devicerv", 0x80000100)
        .unwrap();
    root.push(
        keys::NETWORK,
        Value::Directory(Directory::service(NETWORK_DIRECTORY, 1, 1, 1, 0)),
    );
    root
}

#[test]
fn mac_kunit_block() {
    let tree = mac_tree();
    let block = tree.format().unwrap();
    // Root: 2 + 6×4 = 26; leaf: "Apple Inc.\0" 3 + "Macintosh\0" 3 + 1 = 7;
    // network: 20. Total 53.
    assert_eq!(block.len(), 53);
    assert_eq!(block[1], 24);
    // Text-then-padding-then-subdirectory order (spec 03 §6).
    assert_eq!(&block[26..29], &[0x4170706c, 0x6520496e, 0x632e0000]);
    assert_eq!(&block[29..32], &[0x4d616369, 0x6e746f73, 0x68000000]);
    assert_eq!(block[32], 0);
    assert_eq!(block[33], 0xca8961c6);

    let parsed = Directory::parse_dwords(&block).unwrap();
    assert_eq!(parsed, tree);
    assert_eq!(parsed.vendor_id(), Some(0xa27));
    assert_eq!(parsed.vendor_name(), Some(&b"Apple Inc."[..]));
    assert_eq!(parsed.device_id(), Some(0xa));
    assert_eq!(parsed.device_name(), Some(&b"Macintosh"[..]));
    assert_eq!(parsed.device_revision(), Some(0x80000100));
    assert_eq!(parsed.max_hop_id(), 15, "default when absent");
    let net = parsed.directory("network").unwrap();
    assert_eq!(net.find("deviceid", Type::Immediate), None);
    assert_eq!(net.find("deviceid", Type::Text), None);
    assert_eq!(
        (net.prtcid(), net.prtcvers(), net.prtcrevs(), net.prtcstns()),
        (1, 1, 1, 0)
    );
    // Formatting the parsed tree, and a deep copy of it, reproduces the block.
    assert_eq!(parsed.format().unwrap(), block);
    let copy = parsed.clone();
    assert_eq!(copy.format().unwrap(), block);
}

#[test]
fn find_by_key_and_type_first_match() {
    let mut d = Directory::new();
    d.add_immediate("a", 1)
        .unwrap()
        .add_text("a", "x")
        .unwrap()
        .add_immediate("a", 2)
        .unwrap()
        .add_data("b", [1, 2, 3, 4, 5])
        .unwrap();
    assert_eq!(d.immediate("a"), Some(1));
    assert_eq!(d.text("a"), Some(&b"x"[..]));
    assert_eq!(d.data("b"), Some(&[1u8, 2, 3, 4, 5][..]));
    assert_eq!(d.immediate("b"), None);
    assert_eq!(d.immediate("toolongkey"), None);
    assert_eq!(d.len(), 4);
    let order: Vec<Type> = d.iter().map(|e| e.ty()).collect();
    assert_eq!(
        order,
        vec![Type::Immediate, Type::Text, Type::Immediate, Type::Data]
    );

    assert_eq!(d.remove("a", Some(Type::Immediate)), 2);
    assert_eq!(d.immediate("a"), None);
    assert_eq!(d.text("a"), Some(&b"x"[..]));
    assert_eq!(d.remove("a", None), 1);
    assert_eq!(d.remove("zzz", None), 0);
    assert_eq!(d.len(), 1);

    // Data is padded on the wire; the parsed value has the padding.
    let parsed = Directory::parse_dwords(&d.format().unwrap()).unwrap();
    assert_eq!(parsed.data("b"), Some(&[1u8, 2, 3, 4, 5, 0, 0, 0][..]));
}

#[test]
fn directory_mut_edits_in_place() {
    let mut root = linuxbox_tree();
    let net = root.directory_mut("network").unwrap();
    net.find_mut("prtcstns", Type::Immediate).unwrap().value = Value::Immediate(6);
    assert_eq!(root.directory("network").unwrap().prtcstns(), 6);
    let block = root.format().unwrap();
    assert_eq!(block[0x38], 6);
    assert_eq!(root.directory_mut("nothere"), None);
}

#[test]
fn rules_14_and_15() {
    let mut root = linuxbox_tree();
    root.remove("maxhopid", None);
    assert_eq!(root.check_xdomain_root().unwrap().max_hop_id, 15);
    root.remove("deviceid", Some(Type::Immediate));
    assert_eq!(
        root.check_xdomain_root(),
        Err(MissingProperty(keys::DEVICE_ID))
    );
    assert_eq!(
        MissingProperty(keys::DEVICE_ID).to_string(),
        "rule 14 (missing XDomain property `deviceid` of type v)"
    );
    root.remove("vendorid", Some(Type::Immediate));
    assert_eq!(
        root.check_xdomain_root(),
        Err(MissingProperty(keys::VENDOR_ID))
    );
    // A text `vendorid` does not satisfy rule 14.
    assert!(root.vendor_name().is_some());

    let empty = Directory::new();
    assert_eq!(empty.prtcid(), 0);
    assert_eq!(empty.prtcvers(), 0);
    assert_eq!(empty.prtcrevs(), 0);
    assert_eq!(empty.prtcstns(), 0);
}
