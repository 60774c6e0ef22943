#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_fuzz::wire_checks::tbip_frame(data));
