//! Interface statistics, named and counted like Linux's (spec 06 §14).

/// Transmit counters (spec 06 §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxStats {
    /// Packets handed to the TX ring.
    pub tx_packets: u64,
    /// Bytes of those packets (Ethernet frame length).
    pub tx_bytes: u64,
    /// Packets dropped on transmit: checksum completion impossible,
    /// oversize, empty, buffers too small.
    pub tx_errors: u64,
}

/// Receive counters (spec 06 §9, §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxStats {
    /// Packets that completed reassembly.
    pub rx_packets: u64,
    /// Bytes of those packets (Ethernet frame length).
    pub rx_bytes: u64,
    /// Checks 3, 4, 5a, 5c, 6a.
    pub rx_length_errors: u64,
    /// Check 2: descriptor buffer overrun.
    pub rx_over_errors: u64,
    /// Check 1: descriptor CRC error.
    pub rx_crc_errors: u64,
    /// Checks 5b, 6b, and partial packets abandoned when a new packet
    /// starts (frame_index 0) in the middle of one.
    pub rx_missed_errors: u64,
    /// Internal errors (Linux: packet buffer allocation failed).
    pub rx_errors_internal: u64,
}

impl RxStats {
    /// `rx_errors` as Linux reports it: internal + length + over + crc +
    /// missed (spec 06 §14).
    pub fn rx_errors(&self) -> u64 {
        self.rx_errors_internal
            + self.rx_length_errors
            + self.rx_over_errors
            + self.rx_crc_errors
            + self.rx_missed_errors
    }
}
