//! `tblink trace decode` run as a process: real-hardware tracepoint lines,
//! a synthesised discovery (spec 02 §11) and ThunderboltIP session (spec 06
//! §16), malformed lines and garbage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name)
}

fn decode_file(path: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(["trace", "decode"])
        .arg(path)
        .output()
        .unwrap()
}

fn decode_stdin(input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(["trace", "decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn ok_stdout(o: &Output) -> String {
    assert!(o.status.success(), "{o:?}");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The text from the header line starting with `header` to the next header.
fn packet<'a>(out: &'a str, header: &str) -> &'a str {
    let start = out
        .find(header)
        .unwrap_or_else(|| panic!("no `{header}` in\n{out}"));
    let rest = &out[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
    &rest[..end]
}

#[test]
fn fixture_matches_shared_vectors() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/linux-tracepoints.txt");
    let Ok(shared) = std::fs::read_to_string(shared) else {
        return;
    };
    let ours = std::fs::read_to_string(fixture("linux-tracepoints.txt")).unwrap();
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains(": tb_"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(lines(&shared), lines(&ours));
    assert_eq!(lines(&ours).len(), 12);
}

#[test]
fn real_hardware_lines() {
    let out = ok_stdout(&decode_file(&fixture("linux-tracepoints.txt")));
    assert_eq!(out.lines().filter(|l| l.starts_with('[')).count(), 12);

    let resp = packet(
        &out,
        "[   5425.790705] tx domain 1 route 1 XDOMAIN_RESP (14 dwords): UUID_RESPONSE",
    );
    assert!(resp.contains("    sn               0\n"), "{resp}");
    assert!(resp.contains("    src_uuid         497f8780-f186-6a25-ffff-ffffffffffff\n"));
    assert!(resp.contains("    src_route        0x1\n"));
    assert!(resp.contains("b638d70e-42ff-40bb-97c2-90e2c0b2ff07 (XDomain discovery)"));

    let req = packet(
        &out,
        "[   5425.995295] tx domain 1 route 1 XDOMAIN_REQ (8 dwords): UUID_REQUEST",
    );
    assert!(req.contains("    sn               2\n"), "{req}");
    assert!(req.contains("    type             0xc (UUID_REQUEST)\n"));

    let login = packet(
        &out,
        "[   5433.028883] rx domain 1 route 1 XDOMAIN_RESP (23 dwords) dropped: ThunderboltIP LOGIN",
    );
    assert!(login.contains("798f589e-3616-8a47-97c6-5664a920c8dd (ThunderboltIP)"));
    assert!(login.contains("    proto_version    1\n"), "{login}");
    assert!(login.contains("    transmit_path    8\n"));
    assert!(login.contains("    command_id       2\n"));
    assert!(login.contains("    target_uuid      497f8780-f186-6a25-ffff-ffffffffffff\n"));

    // Control packets of a connection manager.
    let w = packet(
        &out,
        "[     59.259648] tx domain 1 route 0 WRITE (7 dwords): write request",
    );
    assert!(w.contains(
        "    space            ROUTER (2)\n    offset           0x1\n    length           4\n"
    ));
    assert!(w.contains("    data             0x1003471b 0x00000000 0x80000000 0x2000100a\n"));
    let r = packet(
        &out,
        "[     59.266223] rx domain 0 route 0 READ (4 dwords): read response",
    );
    assert!(r.contains("    adapter          7\n"), "{r}");
    assert!(r.contains("    data             0x4320033e\n"));
    assert!(out.contains(
        "[     59.265381] event domain 0 route 0 EVENT (3 dwords): hot plug adapter 5\n"
    ));
    let e = packet(
        &out,
        "[     59.265405] tx domain 0 route 0 ERROR (3 dwords): error ACK_PLUG_EVENT",
    );
    assert!(e.contains("    pg               2 (plug)\n"));
}

#[test]
fn discovery_reassembles_properties() {
    let out = ok_stdout(&decode_file(&fixture("discovery.trace")));
    assert!(out.contains("UUID_REQUEST\n"));
    assert!(out.contains(
        "[    100.000350] rx domain 0 route 1 XDOMAIN_RESP (14 dwords): UUID_RESPONSE\n"
    ));
    assert!(out.contains("    src_uuid         3d2b1a8c-5f4e-0000-ffff-ffffffffffff\n"));
    assert!(out.contains("PROPERTIES_CHANGED_REQUEST\n"));
    assert!(out.contains("PROPERTIES_CHANGED_RESPONSE\n"));
    assert!(out.contains("    properties       45 of 57 dwords so far\n"));
    assert_eq!(out.matches("property block complete").count(), 1);
    let tree = "    property block complete: 57 dwords, generation 0x5a3c9e17
        vendorid  = 0x8086
        vendorid  = \"Intel Corp.\"
        deviceid  = 0x1
        devicerv  = 0x80000100
        network/  {c66189ca-1cce-4195-bdb8-49592e5f5a4f (network)}
            prtcid    = 0x1
            prtcvers  = 0x1
            prtcrevs  = 0x1
            prtcstns  = 0x7
        deviceid  = \"linuxbox\"
        maxhopid  = 0x13
";
    assert!(out.contains(tree), "{out}");
    // The tree follows the page that completed the block.
    let page2 = packet(
        &out,
        "[    100.100700] rx domain 0 route 1 XDOMAIN_RESP (30 dwords): PROPERTIES_RESPONSE",
    );
    assert!(page2.contains(tree));
    assert!(out.contains("    error            0x3 (NOT_SUPPORTED)\n"));
    assert!(out.contains("    tls              0xc\n"));
    assert!(!out.contains("incomplete"));
}

fn discovery_lines() -> Vec<String> {
    std::fs::read_to_string(fixture("discovery.trace"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("PROPERTIES_RESPONSE") || l.contains("0x00000004, 0x8c1a2b3d"))
        .map(str::to_string)
        .collect()
}

#[test]
fn pages_out_of_order_and_generation_change() {
    let pages = discovery_lines();
    assert_eq!(pages.len(), 2);
    // Second page first: the block still completes, once.
    let input = format!("{}\n{}\n", pages[1], pages[0]);
    let out = ok_stdout(&decode_stdin(input.as_bytes()));
    assert_eq!(out.matches("property block complete").count(), 1);
    assert!(out.contains("deviceid  = \"linuxbox\""));

    // A new generation in the middle of the read: no tree, both listed
    // as incomplete at the end.
    let changed = pages[1].replace("0x5a3c9e17", "0x5a3c9e18");
    let input = format!("{}\n{}\n", pages[0], changed);
    let out = ok_stdout(&decode_stdin(input.as_bytes()));
    assert!(!out.contains("property block complete"));
    assert!(out.contains(
        "incomplete property block: rx domain 0 route 1 generation 0x5a3c9e17: 45 of 57 dwords\n"
    ));
    assert!(out.contains(
        "incomplete property block: rx domain 0 route 1 generation 0x5a3c9e18: 12 of 57 dwords\n"
    ));

    // Pages of another route do not mix.
    let other = pages[1].replace("route=1,", "route=3,");
    let input = format!("{}\n{}\n", pages[0], other);
    let out = ok_stdout(&decode_stdin(input.as_bytes()));
    assert!(!out.contains("property block complete"));
}

#[test]
fn thunderbolt_ip_session() {
    let out = ok_stdout(&decode_file(&fixture("tbip-session.trace")));
    let login = packet(&out, "ThunderboltIP LOGIN\n");
    assert!(login.contains("    initiator_uuid   4a7e2c1d-93b5-4f60-8d21-c0ffee123456\n"));
    assert!(login.contains("    target_uuid      0b5e8f3a-7c2d-4e19-a6b4-5d3c2b1a0f9e\n"));
    assert!(login.contains("    proto_version    1\n    transmit_path    8\n"));
    let resp = packet(&out, "ThunderboltIP LOGIN_RESPONSE\n");
    assert!(
        resp.contains("    receiver_mac     12:08:73:8e:7d:d9\n"),
        "{resp}"
    );
    assert!(resp.contains("    receiver_mac_len 6\n"));
    assert!(packet(&out, "ThunderboltIP LOGOUT\n").contains("    command_id       5\n"));
    let status = packet(&out, "ThunderboltIP STATUS\n");
    assert!(status.contains("    command_id       2\n    status           0\n"));
}

#[test]
fn malformed_lines_are_reported_with_line_numbers() {
    let o = decode_file(&fixture("malformed.trace"));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    let reported: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("tblink trace: line "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(reported, ["3", "5", "6", "7", "9", "10"], "{err}");
    assert!(err.contains("line 6: size=4 but the data list has 3 dwords"));
    assert!(err.ends_with("tblink trace: 6 malformed line(s)\n"));
    let out = String::from_utf8(o.stdout).unwrap();
    // Good lines around the bad ones are decoded; unknown packets are shown raw.
    assert_eq!(
        out.lines().filter(|l| l.starts_with('[')).count(),
        4,
        "{out}"
    );
    assert!(out.contains("EVENT (3 dwords): hot unplug adapter 5\n"));
    assert!(out.contains("rx domain 0 route 0 PDF_14 (3 dwords) dropped: unknown packet type\n"));
    assert!(out.contains("    dwords           0x80000000 0x00000000 0x12345678\n"));
    assert!(out.contains("READ (2 dwords): undecoded\n    error            cannot decode"));
}

#[test]
fn garbage_input_does_not_crash() {
    let mut input = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for i in 0..4000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        input.push((x >> 24) as u8);
        if i % 97 == 0 {
            input.extend_from_slice(b" 1.0: tb_rx: type=TB_CFG_PKG_XDOMAIN_RESP, size=");
        }
        if i % 301 == 0 {
            input.push(b'\n');
        }
    }
    let o = decode_stdin(&input);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    // A huge line is refused, and the next line is still decoded.
    let mut big = vec![b'x'; 200_000];
    big.extend_from_slice(b"\n1.0: tb_tx: type=TB_CFG_PKG_RESET, size=2, domain=0, route=1, data=[0x00000000, 0x00000001]\n");
    let o = decode_stdin(&big);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1: longer than 65536 bytes"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("RESET (2 dwords): reset request\n"));
    // An empty input is fine too.
    let o = decode_stdin(b"");
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
}

#[test]
fn missing_file() {
    let o = decode_file(&fixture("no-such-file.trace"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot open"));
}

#[test]
fn help_explains_input_and_exit_status() {
    let o = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(["trace", "decode", "--help"])
        .output()
        .unwrap();
    let h = String::from_utf8(o.stdout).unwrap();
    assert!(h.contains("tb_rx"));
    assert!(h.contains("Exit status"));
}
