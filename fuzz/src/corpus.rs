//! Corpus replay shared by `crates/tblink-wire/tests/fuzz_corpus.rs` and
//! `crates/tblink-net/tests/fuzz_corpus.rs` (included there with `#[path]`;
//! not part of the fuzz library, since the corpus path is taken relative to
//! the including crate's manifest directory).

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/corpus/<target>/` and fails when the
/// directory is missing or empty.
pub fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        check(&data);
        n += 1;
    }
    assert!(n > 0, "corpus {target} is empty");
}
