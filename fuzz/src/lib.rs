//! Checks driven by the fuzz targets. `wire_checks` is also compiled into
//! `crates/tblink-wire/tests/fuzz_corpus.rs`, which replays the checked-in
//! corpus as a normal test.

pub mod wire_checks;
