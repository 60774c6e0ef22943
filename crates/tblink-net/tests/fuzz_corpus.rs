//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) of the
//! data-path targets through the same differential checks the fuzz
//! targets run, so every CI run exercises it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/net_checks.rs"]
mod net_checks;

#[path = "../../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::replay;

#[test]
fn tbip_rx_gather_corpus() {
    replay("tbip_rx_gather", net_checks::tbip_rx_gather);
}

#[test]
fn tbip_tx_gather_corpus() {
    replay("tbip_tx_gather", net_checks::tbip_tx_gather);
}
