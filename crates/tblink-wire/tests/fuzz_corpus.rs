//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same checks the fuzz targets run, so every CI run exercises it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/wire_checks.rs"]
mod wire_checks;

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        check(&data);
        n += 1;
    }
    assert!(n > 0, "corpus {target} is empty");
}

#[test]
fn tbip_frame_corpus() {
    replay("tbip_frame", wire_checks::tbip_frame);
}

#[test]
fn ctl_packet_corpus() {
    replay("ctl_packet", wire_checks::ctl_packet);
}

#[test]
fn xdomain_message_corpus() {
    replay("xdomain_message", wire_checks::xdomain_message);
}

#[test]
fn property_block_corpus() {
    replay("property_block", wire_checks::property_block);
}
