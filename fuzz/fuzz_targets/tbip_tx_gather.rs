#![no_main]
// Ethernet frames through the staged and the in-place transmit path:
// byte-identical DMA frames or the same error.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_fuzz::net_checks::tbip_tx_gather(data));
