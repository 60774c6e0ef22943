//! Synchronisation primitives: `std`'s, or `loom`'s under `cfg(loom)`.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, atomic};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, atomic};
