//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) of the
//! data-path targets through the same differential checks the fuzz
//! targets run, so every CI run exercises it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/net_checks.rs"]
mod net_checks;

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
fn tbip_rx_gather_corpus() {
    replay("tbip_rx_gather", net_checks::tbip_rx_gather);
}

#[test]
fn tbip_tx_gather_corpus() {
    replay("tbip_tx_gather", net_checks::tbip_tx_gather);
}
