//! The protocol error enum: every failure is either the peer's fault, a
//! timeout, or a misuse of the API by the caller.

use tblink_wire::Route;

/// Which request timed out or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// UUID_REQUEST (type 12), spec 02 §4.1.
    Uuid,
    /// PROPERTIES_REQUEST (type 3), spec 02 §4.3.
    Properties,
    /// PROPERTIES_CHANGED_REQUEST (type 5), spec 02 §4.5.
    PropertiesChanged,
}

/// How a peer broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer answered with ERROR_RESPONSE (spec 02 §4.7).
    #[error("peer answered with error code {code}")]
    ErrorResponse {
        /// The error code of DW8.
        code: u32,
    },
    /// A router answered with a PDF 3 ERROR packet (spec 01 §6.2, §8.1).
    #[error("router error packet, code {code}")]
    RouterError {
        /// Error code (DW2 bits 3:0).
        code: u8,
    },
    /// `data_length` outside 2..=500 dwords (spec 02 §4.4).
    #[error("property block length {len} dwords out of range")]
    BlockLength {
        /// The advertised length.
        len: u16,
    },
    /// A page carried another `data_length` or generation than the first
    /// page of the same read (spec 02 §8.3).
    #[error("property block changed during the read")]
    InconsistentPages,
    /// A page had no data, too much data, or data past the block end (spec 02 §4.4).
    #[error("bad property page: {dwords} dwords at offset {offset}")]
    BadPage {
        /// Offset of the page.
        offset: u16,
        /// Dwords it carried.
        dwords: usize,
    },
    /// The assembled block does not parse (spec 03 §5).
    #[error("property block does not parse: {0}")]
    Parse(tblink_wire::property::ParseError),
    /// The root directory lacks `vendorid` or `deviceid` immediates (spec 03 §5 rule 14).
    #[error("missing XDomain properties (vendorid/deviceid) in the root directory")]
    MissingIds,
    /// More services than [`crate::HostConfig::max_services`] in one block.
    #[error("{count} services exceed the limit")]
    TooManyServices {
        /// Services in the block.
        count: usize,
    },
    /// The UUID learned now differs from the one learned before (spec 02 §5.2).
    #[error("peer UUID changed")]
    UuidChanged,
}

/// Ways a caller can misuse the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// A key longer than 8 bytes, empty, or containing NUL (spec 03 §3).
    #[error("invalid property key")]
    InvalidKey,
    /// A local service with this key already exists.
    #[error("service key already published")]
    DuplicateService,
    /// No local service with this key.
    #[error("no such local service")]
    NoSuchService,
    /// The local property block would exceed 500 dwords (spec 03 §9).
    #[error("local property block too large")]
    BlockTooLarge,
    /// The route does not name a connected peer.
    #[error("no peer at route {0}")]
    NoSuchPeer(Route),
    /// A frame a driver tried to send is not an XDomain frame of its protocol.
    #[error("frame rejected: {0}")]
    BadFrame(&'static str),
    /// The transmit queue is full; the frame was not queued.
    #[error("transmit queue full")]
    QueueFull,
    /// Too many drivers or too many local services.
    #[error("limit reached")]
    Limit,
    /// Another driver already handles this protocol UUID.
    #[error("protocol UUID already claimed")]
    ProtocolClaimed,
}

/// The error type of the stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The peer misbehaved.
    #[error("peer error: {0}")]
    Peer(#[from] PeerError),
    /// All attempts of a request timed out (spec 02 §5.1: 11 attempts).
    #[error("{kind:?} request timed out after {attempts} attempts")]
    Timeout {
        /// The request.
        kind: RequestKind,
        /// Attempts made.
        attempts: u8,
    },
    /// The caller misused the API.
    #[error("API misuse: {0}")]
    Misuse(#[from] MisuseError),
}
