#![no_main]
// Received DMA frames through the copying and the gathering reassembler:
// same packets, drops and counters.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_fuzz::net_checks::tbip_rx_gather(data));
