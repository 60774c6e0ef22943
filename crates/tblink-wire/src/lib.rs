//! Wire formats of Thunderbolt/USB4 host-to-host networking, byte-compatible
//! with Linux (the interop reference; see `shared/spec/`).
//!
//! | Module | Format | Spec |
//! |---|---|---|
//! | [`ctl`] | control frames on ring 0, CRC-32C trailer, packet types by PDF | 01 |
//! | [`xdomain`] | XDomain header and discovery messages | 02 §2–4 |
//! | [`property`] | property blocks: parser, tree, byte-exact formatter | 03 |
//! | [`tbip`] | ThunderboltIP login/logout/status and the data frame header | 06 |
//! | [`dmatest`] | the DMA test service | 07 |
//!
//! Shared vocabulary: [`Route`] (route strings, 01 §4), [`Pdf`] (packet
//! type, 01 §3), [`uuid::WireUuid`] (the per-dword UUID byte order, 01 §1
//! Rule 2), [`crc::crc32c`] (01 §5).
//!
//! # Shape
//! Each structure comes as a checked view over a byte buffer
//! (`new_unchecked`, `new_checked`, `check_len`; after `check_len` no
//! accessor panics) and a parsed value with `parse`, `emit` and
//! `buffer_len`. Dwords are big-endian on the control channel and
//! little-endian in data-frame headers; the accessors own that, callers
//! never swap bytes.
//!
//! # Guarantees
//! * `no_std` (with `alloc` for property trees), no `unsafe`.
//! * No panics on any input: every parser returns [`Error`] (or the
//!   property parser's [`property::ParseError`]); fuzz targets in `fuzz/`
//!   check this for every parser.
//! * Bounded work: every loop is bounded by the buffer it reads, and the
//!   property parser bounds the entries it visits in total.

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

extern crate alloc;

pub mod bytes;
pub mod crc;
pub mod ctl;
pub mod dmatest;
mod error;
pub mod pdf;
pub mod property;
pub mod route;
pub mod tbip;
pub mod uuid;
pub mod xdomain;

pub use error::{Error, Result};
pub use pdf::Pdf;
pub use route::Route;
