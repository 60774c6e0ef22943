//! The Thunderbolt/USB4 host interface: the DMA-ring trait a driver uses,
//! an emulated host controller (NHI) implementing it, cables between
//! controllers, device routers and fault injection (spec 05; ring 0 per
//! spec 01 §2; DMA paths per spec 05 §13 as used by spec 06 and 07).
//!
//! | Module | What | Spec |
//! |---|---|---|
//! | [`hostif`] | [`HostInterface`]: rings, descriptors, interrupts, HopIDs, paths, hot-plug events | 05 §3–§13 |
//! | [`desc`] | 16-byte descriptors, 0-means-4096, [`DmaBuf`], [`BufPool`] | 05 §3, §6 |
//! | [`nhi`] | [`EmulatedNhi`]: the emulated controller and host router | 05 §16 |
//! | [`irq`] | interrupt status, enable, throttling (256 ns units) | 05 §9–§11 |
//! | [`cable`] | [`Cable`] and its transports: in-process, shared memory, UDP; fault injection and link model | 05 §5.2 |
//! | [`router`] | [`DeviceRouter`]: route-string forwarding, XDomain route rewrite, hot-plug EVENTs | 01 §4, §6.3 |
//!
//! # Guarantees
//! * Completions are returned strictly in ring order; RX write-back is that
//!   of spec 05 §3 (length with 0 = 4096, SOF/EOF, DONE, CRC error,
//!   overrun; bit 22 clear unless overrun).
//! * After `stop_ring` no buffer of the ring is touched again; every buffer
//!   it held is handed back. `start_ring` resets the indices (spec 05 §7).
//! * Frame-mode RX is delimited by the SOF/EOF masks (spec 05 §5.1). A frame
//!   with no posted RX descriptor is dropped and counted, unless both the
//!   sending TX ring and the receiving RX ring have E2E: then the sender is
//!   held back and nothing is lost (spec 05 §8).
//! * Frames of one path are never reordered (spec 05 §13).
//! * Interrupt status survives masking: a completion that lands while a
//!   ring's interrupt is disabled fires when it is re-enabled (spec 05 §9.3,
//!   §11). Throttling delivers at most one interrupt per ring per interval
//!   (default: Linux's 128 µs, spec 05 §10).
//! * The data path allocates nothing per frame: [`DmaBuf`]s circulate
//!   between driver and controller, and cables copy into preallocated ring
//!   slots, published in batches; a peer is woken only if it sleeps.
//! * Unplug drops frames in flight, clears the link's paths and HopID
//!   pools, and releases the connection's memory and descriptors.
//!
//! # Unsafe code
//! Only the private `sys` module (memory mappings and the lock-free SPSC
//! rings in shared memory) contains `unsafe`; the rest of the crate denies
//! it. The ring protocol is model-checked with `loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p tblink-hostif --release --lib loom
//! ```

#![cfg_attr(not(loom), warn(missing_docs))]
#![deny(unsafe_code)]

mod sync;
#[allow(unsafe_code)]
mod sys;

#[cfg(not(loom))]
pub mod cable;
#[cfg(not(loom))]
pub mod clock;
#[cfg(not(loom))]
pub mod desc;
#[cfg(not(loom))]
mod hopid;
#[cfg(not(loom))]
pub mod hostif;
#[cfg(not(loom))]
pub mod irq;
#[cfg(not(loom))]
pub mod nhi;
#[cfg(not(loom))]
pub mod router;

#[cfg(not(loom))]
pub use cable::{Cable, LinkState, Packet, Role};
#[cfg(not(loom))]
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(not(loom))]
pub use desc::{BufPool, Descriptor, DmaBuf, MAX_FRAME};
#[cfg(not(loom))]
pub use hostif::{
    Dir, DmaPaths, Error, HopDir, HostInterface, LinkEvent, PeerKind, Rejected, RingConfig, RingId,
    RingStats, RxCompletion, TxCompletion, TxFrame,
};
#[cfg(not(loom))]
pub use nhi::{EmulatedNhi, NhiConfig, WaitEnd};
#[cfg(not(loom))]
pub use router::DeviceRouter;
