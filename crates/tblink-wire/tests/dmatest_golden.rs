//! Spec 07: directory values, payload pattern, status file text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers unwrap known-good vectors

use tblink_wire::Pdf;
use tblink_wire::dmatest::*;
use tblink_wire::uuid::WireUuid;

#[test]
fn directory_constants_match_spec_table() {
    assert_eq!(SERVICE_KEY, "dma_test");
    assert_eq!(SERVICE_KEY.len(), 8);
    assert_eq!(
        WireUuid::from_uuid(&DMA_TEST_DIRECTORY).0,
        [
            0x10, 0xcd, 0x88, 0x31, 0x5a, 0x4a, 0x23, 0x65, 0xca, 0xfd, 0x82, 0xa6, 0xd8, 0x48,
            0xa2, 0x07
        ]
    );
    assert_eq!((PRTCID, PRTCVERS, PRTCREVS, PRTCSTNS), (1, 1, 0, 0));
}

#[test]
fn quick_reference() {
    assert_eq!(TX_RING_SIZE, 64);
    assert_eq!(RX_RING_SIZE, 256);
    assert_eq!(FRAME_SIZE, 4096);
    assert_eq!(SOF_PDF, Pdf::new(1));
    assert_eq!(EOF_PDF, Pdf::new(2));
    assert_eq!((RX_SOF_MASK, RX_EOF_MASK), (0x0002, 0x0004));
    assert_eq!(MAX_PACKETS, 1000);
}

#[test]
fn pattern_bytes() {
    let mut buf = [0x5au8; FRAME_SIZE];
    fill_pattern(&mut buf);
    assert_eq!(
        &buf[..12],
        &[
            0xef, 0xcd, 0xab, 0x89, 0xf0, 0xcd, 0xab, 0x89, 0xf1, 0xcd, 0xab, 0x89
        ]
    );
    assert_eq!(&buf[2044..2048], &[0xee, 0xcf, 0xab, 0x89]);
    assert!(buf[2048..].iter().all(|&b| b == 0));
    assert!(check_pattern(&buf));

    // The second half is not looked at.
    buf[2048..].fill(0xff);
    assert!(check_pattern(&buf));
    // The first half is.
    buf[2047] ^= 1;
    assert!(!check_pattern(&buf));
    buf[2047] ^= 1;
    buf[0] ^= 0x80;
    assert!(!check_pattern(&buf));
    assert!(!check_pattern(&buf[..2047]));

    let mut short = [0u8; 6];
    fill_pattern(&mut short);
    assert_eq!(short, [0xef, 0xcd, 0xab, 0x89, 0xf0, 0xcd]);
}

#[test]
fn status_not_run() {
    assert_eq!(Status::default().to_string(), "result: not run\n");
}

#[test]
fn status_success() {
    let s = Status {
        result: TestResult::Success,
        packets_received: 1000,
        packets_sent: 1000,
        crc_errors: 0,
        buffer_overflow_errors: 0,
        error: TestError::NoError,
    };
    assert_eq!(
        s.to_string(),
        "result: success\n\
         packets received: 1000\n\
         packets sent: 1000\n\
         CRC errors: 0\n\
         buffer overflow errors: 0\n\
         error: no errors\n"
    );
}

#[test]
fn status_failed() {
    let s = Status {
        result: TestResult::Failed,
        packets_received: 998,
        packets_sent: 0,
        crc_errors: 2,
        buffer_overflow_errors: 4294967295,
        error: TestError::PacketError,
    };
    assert_eq!(
        s.to_string(),
        "result: failed\n\
         packets received: 998\n\
         packets sent: 0\n\
         CRC errors: 2\n\
         buffer overflow errors: 4294967295\n\
         error: packet check failed\n"
    );
}

#[test]
fn error_texts_in_enum_order() {
    let texts: Vec<String> = TestError::ALL.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        texts,
        [
            "no errors",
            "interrupted by signal",
            "no memory for packet buffers",
            "DMA ring setup failed",
            "configuration is not valid",
            "unexpected link speed",
            "unexpected link width",
            "lane bonding configuration error",
            "packet check failed",
        ]
    );
    let results: Vec<&str> = [TestResult::NotRun, TestResult::Success, TestResult::Failed]
        .iter()
        .map(|r| r.text())
        .collect();
    assert_eq!(results, ["not run", "success", "failed"]);
}
