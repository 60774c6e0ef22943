#![no_main]
// Received dma_test frames with any flags, lengths and content: flags
// agree with a reference and the report's counters add up.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_fuzz::host_checks::dmatest_rx(data));
