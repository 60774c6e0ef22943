//! `tblink tbip replay` end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn replay(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tblink"))
        .args(["tbip", "replay"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A frame line: header fields then payload.
fn frame(flags: &str, size: u32, index: u16, id: u16, count: u32, payload: &[u8]) -> String {
    let mut b = Vec::new();
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&index.to_le_bytes());
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(payload);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{flags} {hex}\n")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn good_packets_and_drops() {
    let arp: Vec<u8> = (0..42).collect();
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 3) as u8).collect();
    let mut input = String::from("# a capture\n\n");
    input += &frame("-", 42, 0, 0, 1, &arp);
    input += &frame("crc", 42, 0, 1, 1, &arp);
    input += &frame("overrun", 42, 0, 1, 1, &arp);
    input += &frame("crc,overrun", 42, 0, 1, 1, &arp);
    input += &frame("-", 4084, 0, 7, 2, &big[..4084]);
    input += &frame("-", 916, 1, 7, 2, &big[4084..]);
    // frame_size larger than the descriptor: length error.
    input += &frame("-", 50, 0, 8, 1, &arp);
    // A continuation with no packet in progress: missed.
    input += &frame("-", 10, 1, 8, 2, &arp[..10]);
    let o = replay(&["-"], &input);
    let want = format!(
        "packet 42 {}\npacket 5000 {}\nstats rx_packets=2 rx_bytes=5042 rx_length_errors=1 rx_over_errors=1 rx_crc_errors=2 rx_missed_errors=1\n",
        hex(&arp),
        hex(&big)
    );
    assert_eq!(stdout(&o), want);
}

#[test]
fn lost_last_frame_default_vs_linux() {
    let p: Vec<u8> = (0..200).collect();
    let mut input = String::new();
    input += &frame("-", 100, 0, 1, 2, &p[..100]);
    // Frame 1 of packet 1 is lost; packet 2 follows.
    input += &frame("-", 100, 0, 2, 2, &p[..100]);
    input += &frame("-", 100, 1, 2, 2, &p[100..]);
    let o = replay(&["-"], &input);
    assert_eq!(
        stdout(&o),
        format!(
            "packet 200 {}\nstats rx_packets=1 rx_bytes=200 rx_length_errors=0 rx_over_errors=0 rx_crc_errors=0 rx_missed_errors=1\n",
            hex(&p)
        )
    );
    let o = replay(&["--linux", "-"], &input);
    assert_eq!(
        stdout(&o),
        "stats rx_packets=0 rx_bytes=0 rx_length_errors=0 rx_over_errors=0 rx_crc_errors=0 rx_missed_errors=2\n"
    );
}

#[test]
fn reads_a_file() {
    let dir = std::env::temp_dir().join(format!("tblink-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frames.txt");
    std::fs::write(&path, frame("-", 3, 0, 0, 1, &[1, 2, 3])).unwrap();
    let o = replay(&[path.to_str().unwrap()], "");
    assert!(stdout(&o).starts_with("packet 3 010203\nstats rx_packets=1 "));
    std::fs::remove_dir_all(&dir).unwrap();
    let o = replay(&["/nonexistent/frames"], "");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn malformed_lines_name_their_number() {
    let good = frame("-", 3, 0, 0, 1, &[1, 2, 3]);
    for (bad, what) in [
        ("- 0g\n", "hex"),
        ("- 123\n", "odd"),
        ("bogus 00\n", "flag"),
        ("crc,\n", "FLAGS HEX"),
        ("- 00 11\n", "FLAGS HEX"),
        ("crc,foo 00\n", "flag"),
    ] {
        let input = format!("# header\n{good}\n{bad}{good}");
        let o = replay(&["-"], &input);
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("line 4"), "{bad:?}: {err}");
        assert!(err.contains(what), "{bad:?}: {err}");
    }
    let huge = format!("- {}\n", "00".repeat(4097));
    let o = replay(&["-"], &huge);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1"));
}
