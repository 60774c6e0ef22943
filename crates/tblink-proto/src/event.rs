//! Events the stack reports through [`crate::Host::poll_event`].

use alloc::string::String;

use tblink_wire::Route;
use tblink_wire::uuid::Uuid;

use crate::device::Key;
use crate::driver::DriverId;
use crate::error::ProtoError;

/// Why an XDomain went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The cable was unplugged ([`crate::Host::handle_xdomain_disconnected`]).
    Unplugged,
    /// Another UUID answered on the same route (spec 02 §5.2, 04 §3).
    UuidChanged,
}

/// Something that happened in the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A host appeared at `route`; discovery started.
    Plugged {
        /// Our route to the peer.
        route: Route,
    },
    /// The peer's UUID is known (UUID_RESPONSE or its own requests, spec 02 §6).
    UuidLearned {
        /// Route of the peer.
        route: Route,
        /// Its domain UUID.
        uuid: Uuid,
    },
    /// First successful properties read: the XDomain device exists (spec 04 §3).
    Connected {
        /// Route of the peer.
        route: Route,
        /// Device name, e.g. `0-1`.
        name: String,
        /// Peer UUID.
        uuid: Uuid,
        /// Generation of the block read.
        generation: u32,
    },
    /// A later read returned another generation (Linux's `change` uevent).
    Changed {
        /// Route of the peer.
        route: Route,
        /// The new generation.
        generation: u32,
    },
    /// The XDomain device and its services are gone.
    Disconnected {
        /// Route of the peer.
        route: Route,
        /// Device name.
        name: String,
        /// Why.
        reason: DisconnectReason,
    },
    /// A service device was created (spec 04 §3).
    ServiceAdded {
        /// Route of the peer.
        route: Route,
        /// Service device name, e.g. `0-1.0`.
        name: String,
        /// Directory key.
        key: Key,
        /// Device modalias (spec 04 §2.1).
        modalias: String,
    },
    /// A service device was removed.
    ServiceRemoved {
        /// Route of the peer.
        route: Route,
        /// Service device name.
        name: String,
        /// Directory key.
        key: Key,
    },
    /// A driver's probe accepted a service.
    DriverBound {
        /// Route of the peer.
        route: Route,
        /// Service device name.
        service: String,
        /// The driver.
        driver: DriverId,
    },
    /// A driver's probe refused a service.
    DriverProbeFailed {
        /// Route of the peer.
        route: Route,
        /// Service device name.
        service: String,
        /// The driver.
        driver: DriverId,
        /// The driver's reason.
        reason: String,
    },
    /// A driver was detached from a service (before the service is removed).
    DriverUnbound {
        /// Route of the peer.
        route: Route,
        /// Service device name.
        service: String,
        /// The driver.
        driver: DriverId,
    },
    /// Discovery of the peer at `route` stopped in the ERROR state (spec 02 §5.2).
    DiscoveryFailed {
        /// Route of the peer.
        route: Route,
        /// Why.
        error: ProtoError,
    },
    /// Our sending of PROPERTIES_CHANGED to `route` gave up (spec 02 §5.4).
    NotifyFailed {
        /// Route of the peer.
        route: Route,
        /// Why.
        error: ProtoError,
    },
    /// Our own property block changed.
    LocalGenerationChanged {
        /// The new generation.
        generation: u32,
    },
    /// A driver-defined notice ([`crate::driver::DriverContext::notify`]).
    DriverNotice {
        /// The driver.
        driver: DriverId,
        /// Route it concerns.
        route: Route,
        /// Driver-defined code.
        code: u32,
    },
}
