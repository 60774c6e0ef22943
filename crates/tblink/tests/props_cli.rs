//! `tblink props` run as a process: decode, encode, round trips, errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn linuxbox() -> Vec<u8> {
    std::fs::read(example("linuxbox.props")).unwrap()
}

/// Run `tblink args…` with `stdin` as standard input.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Write from another thread so a large output cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Exit status 1 and exactly one line on stderr, which is returned.
fn fails_with_one_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let e = stderr(o);
    assert_eq!(e.lines().count(), 1, "stderr: {e:?}");
    assert!(e.ends_with('\n'));
    assert!(e.starts_with("tblink: "), "stderr: {e:?}");
    e
}

const LINUXBOX_TREE: &str = "\
vendorid  = 0x8086
vendorid  = \"Intel Corp.\"
deviceid  = 0x1
devicerv  = 0x80000100
network/  {c66189ca-1cce-4195-bdb8-49592e5f5a4f}
  prtcid    = 0x1
  prtcvers  = 0x1
  prtcrevs  = 0x1
  prtcstns  = 0x7
deviceid  = \"linuxbox\"
maxhopid  = 0x13
";

#[test]
fn example_files_hold_the_spec_block() {
    let b = linuxbox();
    assert_eq!(b.len(), 228);
    assert_eq!(&b[..8], &[0x55, 0x58, 0x44, 0x01, 0, 0, 0, 0x1c]);
    assert_eq!(&b[224..], &[0, 0, 0, 7]);
}

#[test]
fn decode_binary_prints_tree() {
    let path = example("linuxbox.props");
    let o = run(&["props", "decode", path.to_str().unwrap()], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("linuxbox"));
    assert!(out.contains("network"));
    assert_eq!(out, LINUXBOX_TREE);
    assert!(o.stderr.is_empty());
}

#[test]
fn decode_hex_is_detected() {
    let path = example("linuxbox.hex");
    let o = run(&["props", "decode", path.to_str().unwrap()], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), LINUXBOX_TREE);

    // Comma-separated dwords without 0x on stdin.
    let words: Vec<String> = linuxbox()
        .chunks(4)
        .map(|c| format!("{:08x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let o = run(&["props", "decode", "-"], words.join(",").as_bytes());
    assert_eq!(stdout(&o), LINUXBOX_TREE);

    // The spec's byte dump with offset labels.
    let mut dump = String::new();
    for (i, line) in linuxbox().chunks(16).enumerate() {
        dump += &format!("{:04x}:", i * 16);
        for b in line {
            dump += &format!(" {b:02x}");
        }
        dump += "\n";
    }
    let o = run(&["props", "decode", "-"], dump.as_bytes());
    assert_eq!(stdout(&o), LINUXBOX_TREE);
}

#[test]
fn json_round_trip_is_byte_identical() {
    let path = example("linuxbox.props");
    let json = run(&["props", "decode", "--json", path.to_str().unwrap()], b"");
    assert!(json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["entries"][4]["key"], "network");
    assert_eq!(v["entries"][4]["type"], "D");
    assert_eq!(
        v["entries"][4]["uuid"],
        "c66189ca-1cce-4195-bdb8-49592e5f5a4f"
    );
    assert_eq!(v["entries"][1]["value"], "Intel Corp.");

    let enc = run(&["props", "encode"], &json.stdout);
    assert!(enc.status.success(), "{}", stderr(&enc));
    assert_eq!(enc.stdout.len(), 228);
    assert_eq!(enc.stdout, linuxbox());

    // -o OUT and a file argument.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let jpath = dir.join("props_cli_linuxbox.json");
    let opath = dir.join("props_cli_linuxbox.props");
    std::fs::write(&jpath, &json.stdout).unwrap();
    let enc = run(
        &[
            "props",
            "encode",
            jpath.to_str().unwrap(),
            "-o",
            opath.to_str().unwrap(),
        ],
        b"",
    );
    assert!(enc.status.success(), "{}", stderr(&enc));
    assert!(enc.stdout.is_empty());
    assert_eq!(std::fs::read(&opath).unwrap(), linuxbox());
}

/// The §7 block with dword `at` replaced by `v`.
fn patched(patches: &[(usize, u32)]) -> Vec<u8> {
    let mut b = linuxbox();
    for &(at, v) in patches {
        b[4 * at..4 * at + 4].copy_from_slice(&v.to_be_bytes());
    }
    b
}

#[test]
fn json_round_trip_keeps_odd_entries() {
    // Still canonical (§6 layout): vendorid text turned into data, maxhopid
    // turned into an unknown type, a non-UTF-8 key and non-UTF-8 text.
    let block = patched(&[
        (0x08, 0x64000003),
        (0x1c, 0x41001234),
        (0x16, 0xfffe8000),
        (0x17, 0),
        (0x21, 0xc328a0a1),
    ]);
    let json = run(&["props", "decode", "--json", "-"], &block);
    assert!(json.status.success(), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["entries"][1]["type"], "d");
    assert_eq!(v["entries"][1]["hex"], "496e74656c20436f72702e00");
    assert_eq!(v["entries"][5]["key_hex"], "fffe80");
    assert_eq!(v["entries"][5]["hex"], "c328a0a178626f78");
    assert_eq!(v["entries"][6]["type"], "unknown");
    assert_eq!(v["entries"][6]["type_byte"], "0x41");
    let enc = run(&["props", "encode", "-"], &json.stdout);
    assert!(enc.status.success(), "{}", stderr(&enc));
    assert_eq!(enc.stdout, block);

    let tree = run(&["props", "decode", "-"], &block);
    let out = stdout(&tree);
    assert!(
        out.contains("vendorid  = data[12] 496e7465 6c20436f 72702e00\n"),
        "{out}"
    );
    assert!(
        out.contains("\\xff\\xfe\\x80 = \"\\xc3(\\xa0\\xa1xbox\"\n"),
        "{out}"
    );
    assert!(
        out.contains("maxhopid  = unknown type 0x41 length 0x1234 value 0x13\n"),
        "{out}"
    );
}

#[test]
fn malformed_block_one_line_with_rule_and_offset() {
    let cases: &[(Vec<u8>, &str)] = &[
        (
            patched(&[(0x15, 0x26)]),
            "tblink: invalid property block: rule 4 (entry out of bounds) at dword 21 (0x15)\n",
        ),
        (
            patched(&[(0, 0x55584402)]),
            "tblink: invalid property block: rule 1 (bad root magic) at dword 0 (0x0)\n",
        ),
        (
            vec![],
            "tblink: invalid property block: rule 1 (bad root magic) at dword 0 (0x0)\n",
        ),
        (
            vec![0x55, 0x58, 0x44, 0x01],
            "tblink: invalid property block: rule 2 (root length exceeds block) at dword 1 (0x1)\n",
        ),
        (
            patched(&[(0x14, 0x44000002)]),
            "tblink: invalid property block: rule 8 (directory length < 4) at dword 20 (0x14)\n",
        ),
        (
            patched(&[(0x04, 0x76000002)]),
            "tblink: invalid property block: rule 5 (immediate length is not 1) at dword 4 (0x4)\n",
        ),
        (
            patched(&[(0x09, 0xffffffff)]),
            "tblink: invalid property block: rule 4 (entry offset + length overflows) at dword 9 (0x9)\n",
        ),
        (
            linuxbox()[..227].to_vec(),
            "tblink: invalid property block: alignment (not a whole number of dwords) at dword 56 (0x38)\n",
        ),
    ];
    for (block, expected) in cases {
        let o = run(&["props", "decode", "-"], block);
        assert_eq!(fails_with_one_line(&o), *expected);
        assert!(o.stdout.is_empty());
        let o = run(&["props", "decode", "--json", "-"], block);
        assert_eq!(fails_with_one_line(&o), *expected);
    }
    // The same through hex text.
    let o = run(
        &["props", "decode", "-"],
        b"0x55584401 0x4 0x61000000 0 0x74000000 6",
    );
    assert_eq!(
        fails_with_one_line(&o),
        "tblink: invalid property block: rule 4 (entry length is zero) at dword 4 (0x4)\n"
    );
}

#[test]
fn check_root_applies_rule_14() {
    let path = example("linuxbox.props");
    let o = run(
        &["props", "decode", "--check-root", path.to_str().unwrap()],
        b"",
    );
    assert!(o.status.success());
    let o = run(&["props", "decode", "--check-root", "-"], b"0x55584401 0");
    assert!(fails_with_one_line(&o).contains("rule 14"));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let o = run(&["props", "decode", "/nonexistent/block.props"], b"");
    assert!(fails_with_one_line(&o).contains("/nonexistent/block.props"));
    let o = run(&["props", "encode", "/nonexistent/block.json"], b"");
    assert!(fails_with_one_line(&o).contains("/nonexistent/block.json"));

    let bad_json: &[(&str, &str)] = &[
        ("{", "invalid JSON"),
        ("[]", "invalid JSON"),
        (r#"{"entries":[{"key":"a","type":"x"}]}"#, "entries[0].type"),
        (
            r#"{"entries":[{"key":"toolongkey","type":"v","value":1}]}"#,
            "longer than 8",
        ),
        (r#"{"entries":[{"type":"v","value":1}]}"#, "key"),
        (
            r#"{"entries":[{"key":"a","type":"v","value":"0x100000000"}]}"#,
            "entries[0].value",
        ),
        (
            r#"{"entries":[{"key":"a","type":"v","value":-1}]}"#,
            "entries[0].value",
        ),
        (
            r#"{"entries":[{"key":"a","type":"v","value":1,"uuid":"x"}]}"#,
            "uuid",
        ),
        (
            r#"{"entries":[{"key":"a","type":"D","uuid":"nope","entries":[]}]}"#,
            "entries[0].uuid",
        ),
        (
            r#"{"entries":[{"key":"a","type":"D","uuid":"c66189ca-1cce-4195-bdb8-49592e5f5a4f","entries":[{"key":"b","type":"d","hex":"zz"}]}]}"#,
            "entries[0].entries[0].hex",
        ),
        (
            r#"{"entries":[{"key":"a","type":"d","hex":""}]}"#,
            "data property with no bytes",
        ),
        (
            r#"{"entries":[{"key":"a","type":"unknown","type_byte":"0x76","length":1,"value":0}]}"#,
            "type_byte",
        ),
        (
            r#"{"entries":[{"key":"a","type":"t","value":"x","extra":1}]}"#,
            "invalid JSON",
        ),
    ];
    for (json, needle) in bad_json {
        let o = run(&["props", "encode"], json.as_bytes());
        let e = fails_with_one_line(&o);
        assert!(e.contains(needle), "{json}: {e}");
        assert!(o.stdout.is_empty());
    }

    // Over 500 dwords.
    let big = format!(
        r#"{{"entries":[{{"key":"t","type":"t","value":"{}"}}]}}"#,
        "x".repeat(2000)
    );
    let o = run(&["props", "encode"], big.as_bytes());
    assert!(fails_with_one_line(&o).contains("exceeds the limit of 500"));
}

#[test]
fn encode_accepts_numbers_and_hex_strings() {
    let json = r#"{"entries":[
        {"key":"vendorid","type":"v","value":32902},
        {"key":"deviceid","type":"v","value":"0x1"},
        {"key":"devicerv","type":"v","value":"2147483904"},
        {"key_hex":"6e6574","type":"t","hex":"6869"}
    ]}"#;
    let o = run(&["props", "encode"], json.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let tree = run(&["props", "decode", "-"], &o.stdout);
    assert_eq!(
        stdout(&tree),
        "vendorid  = 0x8086\ndeviceid  = 0x1\ndevicerv  = 0x80000100\nnet       = \"hi\"\n"
    );
}

/// xorshift64*: deterministic garbage without extra dependencies.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let base = linuxbox();
    for i in 0..120 {
        let input: Vec<u8> = match i % 4 {
            // Random bytes of random length.
            0 => (0..rng.next() % 600).map(|_| rng.next() as u8).collect(),
            // The example with a few dwords replaced.
            1 | 2 => {
                let mut b = base.clone();
                for _ in 0..1 + rng.next() % 3 {
                    let at = (rng.next() % 57) as usize * 4;
                    let v = if rng.next().is_multiple_of(2) {
                        (rng.next() % 80) as u32
                    } else {
                        rng.next() as u32
                    };
                    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
                b
            }
            // Random hex-looking text.
            _ => (0..rng.next() % 200)
                .map(|_| b"0123456789abcdefx ,#\n:"[(rng.next() % 22) as usize])
                .collect(),
        };
        for json in [false, true] {
            let args: &[&str] = if json {
                &["props", "decode", "--json", "-"]
            } else {
                &["props", "decode", "-"]
            };
            let o = run(args, &input);
            match o.status.code() {
                Some(0) => {}
                Some(1) => {
                    fails_with_one_line(&o);
                }
                other => panic!("exit {other:?} for input {input:02x?}: {}", stderr(&o)),
            }
        }
        // Garbage as JSON for encode.
        let o = run(&["props", "encode"], &input);
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn help_explains_inputs_and_outputs() {
    let o = run(&["props", "decode", "--help"], b"");
    assert!(o.status.success());
    let h = stdout(&o);
    assert!(
        h.contains("big-endian") && h.contains("hex") && h.contains("--json"),
        "{h}"
    );
    let o = run(&["props", "encode", "--help"], b"");
    assert!(o.status.success());
    let h = stdout(&o);
    assert!(
        h.contains("key_hex") && h.contains("unknown") && h.contains("--output"),
        "{h}"
    );
}
