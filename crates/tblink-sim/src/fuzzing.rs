//! Fuzzing entry point (in progress).
