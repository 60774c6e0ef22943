//! Host configuration and timing (spec 02 §5.1 constants).

use alloc::string::String;

use tblink_wire::uuid::Uuid;

use crate::time::Duration;

/// Discovery timing. Defaults are Linux's (spec 02 §5.1, 01 §7.2), except
/// that the first attempt of every step is made at once: Linux's initial
/// 100 ms / 1000 ms delays are not copied, only its delay between a failed
/// attempt and the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Response timeout of one XDomain request (1000 ms, spec 01 §7.2).
    pub request_timeout: Duration,
    /// Delay after a failed attempt before the next (1000 ms, spec 02 §5.1).
    pub retry_delay: Duration,
    /// Attempts per discovery state: 1 + 10 retries (spec 02 §5.1).
    pub attempts: u8,
    /// Retransmissions of one request frame (same SN) before the attempt
    /// counts as failed. Linux makes none (0); retransmitting an
    /// idempotent request lets discovery survive heavy loss without
    /// changing what the peer sees beyond a duplicate request.
    pub retransmits: u8,
    /// Attempts of the PROPERTIES_CHANGED sender (1 + 10, spec 02 §5.4).
    pub notify_attempts: u8,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request_timeout: Duration::from_millis(1000),
            retry_delay: Duration::from_millis(1000),
            attempts: 11,
            retransmits: 2,
            notify_attempts: 11,
        }
    }
}

/// Configuration of one local domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Our domain UUID (sent as `src_uuid`; spec 04 §5.4 `unique_id`).
    pub uuid: Uuid,
    /// Host name published as root `deviceid` (t) (spec 02 §9).
    pub host_name: String,
    /// Root `vendorid` (v); Linux publishes 0x8086 (spec 02 §9).
    pub vendor_id: u32,
    /// Root `vendorid` (t); Linux publishes "Intel Corp.".
    pub vendor_name: String,
    /// Root `deviceid` (v); Linux publishes 0x1.
    pub device_id: u32,
    /// Root `devicerv` (v); Linux publishes 0x80000100.
    pub device_rev: u32,
    /// Root `maxhopid` (v): Max Input HopID of our lane adapter.
    pub max_hop_id: u32,
    /// Domain index used in device names (`0-1`; spec 04 §4).
    pub domain: u32,
    /// Timing.
    pub timing: Timing,
    /// Seed for the initial generation (random below 2^31, spec 02 §8.1).
    pub seed: u64,
    /// Most peers tracked at once (hot-plug events beyond are refused).
    pub max_peers: usize,
    /// Most services accepted in one peer block (more → discovery error).
    pub max_services: usize,
    /// Most local services.
    pub max_local_services: usize,
    /// Most registered drivers.
    pub max_drivers: usize,
    /// Transmit queue bound (frames beyond are dropped and counted).
    pub tx_queue: usize,
    /// Event queue bound (events beyond are dropped and counted).
    pub event_queue: usize,
    /// Serve all pages of one properties read from the block as it was at
    /// offset 0 (spec 02 §8.3 recommendation). Off: every page comes from
    /// the current block.
    pub serve_snapshots: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            uuid: Uuid::from_u128(0x5c1e_0000_0000_4000_8000_0000_0000_0001),
            host_name: String::from("tblink"),
            vendor_id: 0x8086,
            vendor_name: String::from("Intel Corp."),
            device_id: 0x1,
            device_rev: 0x8000_0100,
            max_hop_id: 15,
            domain: 0,
            timing: Timing::default(),
            seed: 0,
            max_peers: 64,
            max_services: 64,
            max_local_services: 32,
            max_drivers: 32,
            tx_queue: 1024,
            event_queue: 4096,
            serve_snapshots: true,
        }
    }
}
