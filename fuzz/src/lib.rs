//! Checks driven by the fuzz targets. `wire_checks` is also compiled into
//! `crates/tblink-wire/tests/fuzz_corpus.rs` and `net_checks` into
//! `crates/tblink-net/tests/fuzz_corpus.rs`, `host_checks` into
//! `crates/tblink-host/tests/fuzz_corpus.rs`, which replay the checked-in
//! corpus as normal tests (with the replay loop in `corpus.rs`).

pub mod host_checks;
pub mod net_checks;
pub mod wire_checks;
