//! Ring descriptors (spec 05 §3) and DMA buffers (spec 05 §6).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tblink_wire::Pdf;

/// Largest frame one descriptor carries (spec 05 §6); encoded as length 0.
pub const MAX_FRAME: usize = 4096;
/// RX buffer size of a raw-mode ring (spec 05 §5, 01 §2).
pub const RAW_BUFFER: usize = 256;

/// Descriptor flag values (the 12-bit field at bits 31:20 of dword 2, spec 05 §3).
pub mod flags {
    /// RX: frame CRC error (frame mode, written back). TX: isochronous (never set).
    pub const CRC_ERROR: u16 = 0x1;
    /// Completed (written back by hardware).
    pub const DONE: u16 = 0x2;
    /// Set by software when posting; on an RX write-back: buffer overrun.
    pub const POSTED: u16 = 0x4;
    /// RX write-back meaning of [`POSTED`].
    pub const OVERRUN: u16 = 0x4;
    /// Request an interrupt on completion.
    pub const INTERRUPT: u16 = 0x8;
}

/// One 16-byte ring descriptor in its little-endian wire layout (spec 05 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// Buffer physical address (bytes 0–7). The emulator stores a slot index.
    pub addr: u64,
    /// Dword 2: length (11:0), EOF PDF (15:12), SOF PDF (19:16), flags (31:20).
    pub word: u32,
    /// Dword 3: time, always 0.
    pub time: u32,
}

impl Descriptor {
    /// A descriptor as software posts it: flags `POSTED | INTERRUPT`, time 0
    /// (spec 05 §3 "Posting rules"). `len` 1..=4096.
    pub fn posted(addr: u64, len: usize, sof: Pdf, eof: Pdf) -> Self {
        let mut d = Descriptor {
            addr,
            word: 0,
            time: 0,
        };
        d.set_word(len, sof, eof, flags::POSTED | flags::INTERRUPT);
        d
    }

    /// Replace dword 2. `len` 4096 is encoded as 0 (spec 05 §3).
    pub fn set_word(&mut self, len: usize, sof: Pdf, eof: Pdf, flags: u16) {
        self.word = encode_len(len)
            | (u32::from(eof.value()) << 12)
            | (u32::from(sof.value()) << 16)
            | (u32::from(flags & 0xfff) << 20);
    }

    /// Length field decoded: 0 means 4096.
    pub fn len(&self) -> usize {
        decode_len(self.word & 0xfff)
    }

    /// Always false: a descriptor's length is 1..=4096.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// EOF PDF.
    pub fn eof(&self) -> Pdf {
        Pdf::new((self.word >> 12) as u8)
    }

    /// SOF PDF.
    pub fn sof(&self) -> Pdf {
        Pdf::new((self.word >> 16) as u8)
    }

    /// The 12-bit flags field.
    pub fn flags(&self) -> u16 {
        (self.word >> 20) as u16
    }

    /// Whether DONE is set.
    pub fn done(&self) -> bool {
        self.flags() & flags::DONE != 0
    }

    /// Encode as the 16 bytes hardware reads (little-endian).
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..12].copy_from_slice(&self.word.to_le_bytes());
        b[12..].copy_from_slice(&self.time.to_le_bytes());
        b
    }

    /// Decode from the 16-byte layout.
    pub fn decode(b: &[u8; 16]) -> Self {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[8..12]);
        let mut t = [0u8; 4];
        t.copy_from_slice(&b[12..]);
        Descriptor {
            addr: u64::from_le_bytes(a),
            word: u32::from_le_bytes(w),
            time: u32::from_le_bytes(t),
        }
    }
}

/// Length field encoding: 4096 → 0 (spec 05 §3).
pub fn encode_len(len: usize) -> u32 {
    (len & 0xfff) as u32
}

/// Length field decoding: 0 → 4096 (spec 05 §3).
pub fn decode_len(field: u32) -> usize {
    match field & 0xfff {
        0 => MAX_FRAME,
        n => n as usize,
    }
}

/// A 4 KiB DMA buffer: what a descriptor's address points at. Buffers are
/// allocated once and circulate between driver and controller (posted,
/// completed, reposted), so the data path never allocates per frame.
pub struct DmaBuf {
    data: Box<[u8; MAX_FRAME]>,
    tally: Option<Arc<AtomicUsize>>,
}

impl DmaBuf {
    /// A zeroed buffer not counted by any pool.
    pub fn new() -> Self {
        DmaBuf {
            data: Box::new([0u8; MAX_FRAME]),
            tally: None,
        }
    }

    /// The whole 4096 bytes.
    pub fn as_slice(&self) -> &[u8; MAX_FRAME] {
        &self.data
    }

    /// The whole 4096 bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8; MAX_FRAME] {
        &mut self.data
    }
}

impl Default for DmaBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        if let Some(t) = &self.tally {
            t.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaBuf({:p})", self.data.as_ptr())
    }
}

/// Allocates [`DmaBuf`]s and counts how many are alive (leak checks).
#[derive(Debug, Clone, Default)]
pub struct BufPool {
    live: Arc<AtomicUsize>,
}

impl BufPool {
    /// A new, empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocate one zeroed buffer counted by this pool.
    pub fn alloc(&self) -> DmaBuf {
        self.live.fetch_add(1, Ordering::Relaxed);
        DmaBuf {
            data: Box::new([0u8; MAX_FRAME]),
            tally: Some(self.live.clone()),
        }
    }

    /// Buffers of this pool not yet dropped.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_4096_and_layout() {
        let d = Descriptor::posted(0x1122_3344_5566_7788, 4096, Pdf::new(1), Pdf::new(2));
        assert_eq!(d.word & 0xfff, 0);
        assert_eq!(d.len(), 4096);
        assert_eq!(d.eof().value(), 2);
        assert_eq!(d.sof().value(), 1);
        assert_eq!(d.flags(), 0xc);
        assert_eq!(d.word, 0x00c1_2000);
        let b = d.encode();
        assert_eq!(&b[..8], &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&b[8..12], &[0x00, 0x20, 0xc1, 0x00]);
        assert_eq!(Descriptor::decode(&b), d);
        assert_eq!(decode_len(0x734), 1844);
        assert_eq!(encode_len(1844), 0x734);
    }

    #[test]
    fn pool_counts_live_buffers() {
        let p = BufPool::new();
        let a = p.alloc();
        let b = p.alloc();
        assert_eq!(p.live(), 2);
        drop(a);
        assert_eq!(p.live(), 1);
        drop(b);
        assert_eq!(p.live(), 0);
    }
}
