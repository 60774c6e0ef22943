#![no_main]
// Random operation sequences against two discovery stacks in the simulator:
// deliver, drop, corrupt, duplicate, advance time, plug, unplug, change services.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tblink_sim::fuzzing::fuzz_operations(data));
