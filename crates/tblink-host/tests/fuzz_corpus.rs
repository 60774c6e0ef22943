//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) of the
//! capture stream reader and the `dma_test` receive checks through the
//! same checks the fuzz targets run, so every CI run exercises it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/host_checks.rs"]
mod host_checks;

#[path = "../../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::replay;

#[test]
fn capture_stream_corpus() {
    replay("capture_stream", host_checks::capture_stream);
}

#[test]
fn dmatest_rx_corpus() {
    replay("dmatest_rx", host_checks::dmatest_rx);
}
