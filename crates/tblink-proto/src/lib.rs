//! Sans-IO XDomain discovery for Thunderbolt/USB4 host-to-host links,
//! interoperable with Linux (spec files 01–04 in `shared/spec/`).
//!
//! # What it does
//! A [`Host`] is one local domain (host router + ring 0). It
//! * answers every XDomain discovery request at once, whatever state its own
//!   discovery is in (spec 02 §7, §6) — UUID (types 1 and 12), paged
//!   PROPERTIES (never a final page of 1–2 dwords; all pages of one read
//!   from one snapshot), PROPERTIES_CHANGED (36-byte response like Linux),
//!   LINK_STATE_STATUS (single lane), LINK_STATE_CHANGE (NOT_READY), others
//!   NOT_SUPPORTED;
//! * runs discovery against every peer (spec 02 §5): UUID → properties
//!   (paged, every page must carry the same `data_length` and generation,
//!   spec 02 §8.3) → enumerated, re-reading on PROPERTIES_CHANGED, with
//!   Linux's attempt limits but no fixed delay before a first attempt;
//! * matches replies strictly (spec 01 §7.4) in its request engine;
//! * builds the Linux device model (spec 04): XDomain `0-1`, services
//!   `0-1.0` with modalias, and binds [`driver::ServiceDriver`]s by id table;
//! * publishes a property block ordered like Linux 6.1 (spec 02 §9) with a
//!   random initial generation that grows by one per change (spec 02 §8.1).
//!
//! # Guarantees
//! * `no_std` + `alloc`, `#![forbid(unsafe_code)]`, no clocks, threads or sockets.
//! * No panics on any input; everything a peer controls is bounded:
//!   outstanding requests (≤ 2 per peer), the transmit and event queues
//!   ([`HostConfig::tx_queue`], [`HostConfig::event_queue`]; overflow is
//!   counted in [`Stats`]), peers, services per peer, blocks ≤ 500 dwords.
//!   A flood of PROPERTIES_CHANGED costs one reply each and at most one
//!   pending re-read.
//! * Deterministic: the same inputs at the same instants give the same outputs.
//!
//! # Call order
//! ```text
//! loop {
//!     on hot plug:      host.handle_xdomain_connected(now, route)
//!     on unplug:        host.handle_xdomain_disconnected(now, route)
//!     on a ring-0 frame: host.handle_frame(now, &frame)
//!     if now >= host.poll_timeout(): host.handle_timeout(now)
//!     while let Some(f) = host.poll_transmit() { put f on ring 0 }
//!     while let Some(e) = host.poll_event() { react }
//!     sleep until host.poll_timeout() or the next input
//! }
//! ```
//! After any `handle_*` call drain `poll_transmit` and `poll_event`, then
//! re-read `poll_timeout` (any input may move it).
//!
//! ```
//! use tblink_proto::{Host, HostConfig, Instant};
//! use tblink_wire::Route;
//!
//! let mut host = Host::new(HostConfig::default());
//! host.handle_xdomain_connected(Instant::ZERO, Route::from_raw(1)).unwrap();
//! // Discovery starts at once with a UUID request (spec 02 §11.1 layout).
//! let f = host.poll_transmit().unwrap();
//! assert_eq!(f.as_bytes()[31], 12);
//! assert!(host.poll_timeout().is_some());
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod config;
pub mod device;
pub mod driver;
mod engine;
mod error;
pub mod event;
pub mod example;
mod host;
mod local;
mod msg;
mod outbox;
mod rng;
mod time;
mod timer;

pub use config::{HostConfig, Timing};
pub use error::{MisuseError, PeerError, ProtoError, RequestKind};
pub use event::{DisconnectReason, Event};
pub use host::{DiscoveryState, Host};
pub use local::LocalService;
pub use outbox::Stats;
pub use time::{Duration, Instant};
