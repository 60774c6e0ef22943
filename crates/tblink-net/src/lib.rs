//! ThunderboltIP (USB4NET) networking for tblink, byte-compatible with
//! Linux's `thunderbolt-net` (spec 06).
//!
//! Everything here that speaks the protocol is sans-IO and deterministic;
//! the DMA rings are driven by a separate ring layer that acts on the
//! requests this crate emits.
//!
//! | Module | Contents | Spec |
//! |---|---|---|
//! | [`driver`] | the `network` service driver: directory, symmetric login/logout, path requests, carrier | 06 §2–7, §15 |
//! | [`tx`] | Ethernet frame → DMA frames, `frame_id`, size limits | 06 §8, §11 |
//! | [`csum`] | software IPv4/TCP/UDP checksum completion | 06 §10, §12 |
//! | [`rx`] | DMA frames → Ethernet frames with Linux's checks and counters | 06 §9, §14 |
//! | [`stats`] | Linux's interface counters | 06 §14 |
//! | [`port`] | rings, paths and the TAP ↔ ring data pumps of one peer | 05 §11, §13–14; 06 §6, §14 |
//! | [`device`] | the host side of an interface: TAP or in-memory queue, created per peer | — |
//! | [`queue`] | bounded in-memory frame queues for a userspace network stack | — |
//! | [`vnet`] | `virtio_net_hdr` → checksum/TSO offload | 06 §10, §12 |
//! | [`name`] | interface names (`thunderboltN`, stable per peer) | — |
//! | [`sys`] | the TAP device (Linux only; the one module with `unsafe`) | — |
//!
//! # Guarantees
//! * No panics on any input; no `unsafe` outside [`sys`].
//! * The data path allocates nothing per packet: [`tx::Transmitter`]
//!   writes into caller-provided 4096-byte buffers, [`rx::Reassembler`]
//!   owns one 65536-byte buffer for its lifetime.
//! * The receiver never delivers a frame that failed a check of spec 06 §9
//!   and never lets one corrupt the next packet.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod csum;
pub mod device;
pub mod driver;
pub mod name;
pub mod port;
pub mod queue;
pub mod rx;
pub mod stats;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub mod sys;
pub mod tx;
pub mod vnet;

pub use csum::Offload;
pub use device::{Devices, NetDevice};
pub use port::{FrameIo, NetPort, PortConfig, PortError, PortStats, RxPump, TxPump};
pub use rx::{Gathered, Reassembler, RxConfig, RxFlags, RxOutcome};
pub use stats::{RxStats, TxStats};
pub use tx::{Transmitter, TxConfig, TxError, TxPacket};
