#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_fuzz::wire_checks::ctl_packet(data));
