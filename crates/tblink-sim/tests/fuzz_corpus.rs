//! Replays the checked-in corpus of the `discovery` fuzz target
//! (`fuzz/corpus/discovery/`) so every CI run exercises it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn discovery_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/discovery");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        tblink_sim::fuzzing::fuzz_operations(&data);
        n += 1;
    }
    assert!(n > 0, "discovery corpus is empty");
}
