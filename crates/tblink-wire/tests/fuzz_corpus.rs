//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same checks the fuzz targets run, so every CI run exercises it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/wire_checks.rs"]
mod wire_checks;

#[path = "../../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::replay;

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
