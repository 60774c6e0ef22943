#![no_main]
// The `tblink capture` client reader: arbitrary bytes in arbitrary read
// chunks with timeouts agree with decoding the whole stream at once.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_fuzz::host_checks::capture_stream(data));
