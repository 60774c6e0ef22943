//! The one error type of the wire crate.
//!
//! Every parser in this crate returns [`Error`] (property blocks add their own
//! [`crate::property::ParseError`], which names the rule of spec 03 §5 that was
//! broken). Variants carry enough context for a one-line diagnostic.

/// Why a byte buffer could not be read as, or written into, a wire structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the structure needs.
    #[error("truncated: need {needed} bytes, have {got}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The buffer is longer than the format allows.
    #[error("too long: at most {max} bytes allowed, got {got}")]
    TooLong {
        /// Largest size the format allows.
        max: usize,
        /// Size of the buffer.
        got: usize,
    },
    /// A control frame whose length is not a whole number of dwords.
    #[error("length {len} is not a multiple of 4")]
    Unaligned {
        /// Length of the buffer in bytes.
        len: usize,
    },
    /// The CRC-32C trailer does not match the bytes it covers (spec 01 §5).
    #[error("CRC mismatch: trailer says {trailer:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// Value found in the trailer.
        trailer: u32,
        /// Value computed over the frame.
        computed: u32,
    },
    /// A length field disagrees with the size of the buffer that carries it.
    #[error("length field says {field} dwords, frame carries {actual}")]
    LengthMismatch {
        /// Value of the length field.
        field: usize,
        /// Length implied by the buffer.
        actual: usize,
    },
    /// The protocol UUID of an XDomain message is not the one this parser reads.
    #[error("message belongs to another protocol")]
    WrongProtocol,
    /// The message type field names another message than the one requested.
    #[error("message type {got} where {expected} was expected")]
    WrongType {
        /// Type this parser reads.
        expected: u32,
        /// Type found in the buffer.
        got: u32,
    },
    /// A field holds a value the format forbids.
    #[error("field `{field}` has invalid value {value:#x}")]
    InvalidField {
        /// Name of the field.
        field: &'static str,
        /// Value found.
        value: u64,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
