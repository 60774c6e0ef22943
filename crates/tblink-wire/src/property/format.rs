//! The formatter: spec 03 §6, byte-exact with Linux.

use alloc::vec;
use alloc::vec::Vec;

use super::tree::{Directory, Type, Value};
use super::{MAX_BLOCK_DWORDS, MAX_DEPTH, ROOT_MAGIC};
use crate::uuid::uuid_to_dwords;

/// Why a tree cannot be formatted (spec 03 §6, §9; 02 §4.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A key longer than 8 bytes (spec 03 §3, §5 rule 7).
    #[error("key of {len} bytes is longer than 8")]
    KeyTooLong {
        /// Length of the key in bytes.
        len: usize,
    },
    /// A key containing a NUL byte (the wire form ends keys at the first NUL).
    #[error("key contains a NUL byte")]
    KeyHasNul,
    /// A text or data payload, or a directory, whose length in dwords does
    /// not fit the 16-bit length field (spec 03 §3).
    #[error("{dwords} dwords do not fit a 16-bit length field")]
    LengthTooLarge {
        /// Length in dwords.
        dwords: usize,
    },
    /// Empty data: its entry would have length 0, which spec 03 §5 rule 4
    /// rejects.
    #[error("data property with no bytes")]
    EmptyData,
    /// The block would exceed 500 dwords (spec 02 §4.4, 03 §9).
    #[error("block of {dwords} dwords exceeds the limit of {max}")]
    TooLong {
        /// Length the block would have.
        dwords: usize,
        /// The limit.
        max: usize,
    },
    /// Sub-directories nested deeper than 8 levels (spec 03 §5 rule 9 would
    /// reject the block).
    #[error("directories nested deeper than 8 levels")]
    TooDeep,
    /// The root directory has a UUID (spec 03 §4: it has none on the wire).
    #[error("the root directory cannot have a UUID")]
    RootUuid,
    /// A sub-directory without a UUID (spec 03 §2: 4 UUID dwords are
    /// mandatory).
    #[error("sub-directory without a UUID")]
    MissingUuid,
    /// An [`Value::Unknown`] whose type byte is `D`, `d`, `t` or `v`.
    #[error("unknown-type entry with the known type byte {0:#04x}")]
    KnownTypeByte(u8),
}

/// Per-directory sizes of spec 03 §6.
struct Sizes {
    /// `dir_len`: header (2 or 4) + 4 × entries.
    dir_len: usize,
    /// `leaf_len`: Σ t/d payload lengths + 1 per `D` entry.
    leaf_len: usize,
}

/// Payload dwords of a text: `round_up(strlen + 1, 4) / 4` (spec 03 §3).
fn text_bytes(t: &[u8]) -> &[u8] {
    match t.iter().position(|&b| b == 0) {
        Some(nul) => &t[..nul],
        None => t,
    }
}

fn payload_dwords(v: &Value) -> Result<usize, FormatError> {
    let n = match v {
        Value::Text(t) => (text_bytes(t).len() + 1).div_ceil(4),
        Value::Data(d) if d.is_empty() => return Err(FormatError::EmptyData),
        Value::Data(d) => d.len().div_ceil(4),
        _ => return Ok(0),
    };
    if n > usize::from(u16::MAX) {
        return Err(FormatError::LengthTooLarge { dwords: n });
    }
    Ok(n)
}

fn sizes(dir: &Directory, root: bool) -> Result<Sizes, FormatError> {
    let hdr = if root { 2 } else { 4 };
    let dir_len = hdr + 4 * dir.entries.len();
    let mut leaf_len = 0usize;
    for e in &dir.entries {
        leaf_len += match &e.value {
            Value::Directory(_) => 1,
            v => payload_dwords(v)?,
        };
    }
    Ok(Sizes { dir_len, leaf_len })
}

/// Total length in dwords and validation of the whole tree, before any
/// dword is written: Σ over all directories of `dir_len + leaf_len`.
fn total_len(dir: &Directory, depth: usize) -> Result<usize, FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::TooDeep);
    }
    match (depth, dir.uuid) {
        (0, Some(_)) => return Err(FormatError::RootUuid),
        (1.., None) => return Err(FormatError::MissingUuid),
        _ => {}
    }
    let s = sizes(dir, depth == 0)?;
    let mut total = s.dir_len + s.leaf_len;
    for e in &dir.entries {
        match &e.value {
            Value::Directory(child) => {
                let child_dir_len = 4 + 4 * child.entries.len();
                if child_dir_len > usize::from(u16::MAX) {
                    return Err(FormatError::LengthTooLarge {
                        dwords: child_dir_len,
                    });
                }
                total = total.saturating_add(total_len(child, depth + 1)?);
            }
            Value::Unknown { type_byte, .. }
                if !matches!(Type::from_byte(*type_byte), Type::Unknown(_)) =>
            {
                return Err(FormatError::KnownTypeByte(*type_byte));
            }
            _ => {}
        }
    }
    Ok(total)
}

impl Directory {
    /// Length in dwords of the block [`Directory::format`] would produce
    /// (spec 03 §6), or why it cannot be formatted. Does not apply the
    /// 500-dword limit.
    pub fn block_len(&self) -> Result<usize, FormatError> {
        total_len(self, 0)
    }

    /// Format this root directory as a block of dword values, byte-exact
    /// with Linux (spec 03 §6). Fails if the block would exceed 500 dwords
    /// (spec 02 §4.4) or the tree cannot be represented (see
    /// [`FormatError`]).
    pub fn format(&self) -> Result<Vec<u32>, FormatError> {
        let total = self.block_len()?;
        if total > MAX_BLOCK_DWORDS {
            return Err(FormatError::TooLong {
                dwords: total,
                max: MAX_BLOCK_DWORDS,
            });
        }
        let mut out = vec![0u32; total];
        let mut w = Writer { out: &mut out };
        w.place(self, 0, true);
        Ok(out)
    }

    /// [`Directory::format`] as big-endian bytes (the wire form, spec 03 §1).
    pub fn format_bytes(&self) -> Result<Vec<u8>, FormatError> {
        Ok(self
            .format()?
            .iter()
            .flat_map(|d| d.to_be_bytes())
            .collect())
    }
}

/// Writes into a buffer of exactly the validated total length; every index
/// stays inside it (offsets are those `total_len` counted), and a write
/// outside would be dropped rather than panic.
struct Writer<'a> {
    out: &'a mut [u32],
}

impl Writer<'_> {
    fn put(&mut self, at: usize, v: u32) {
        if let Some(slot) = self.out.get_mut(at) {
            *slot = v;
        }
    }

    /// Spec 03 §6 `place(dir, start) -> end`. Sizes were validated by
    /// `total_len`, so the casts to the 16-bit length fields do not truncate.
    fn place(&mut self, dir: &Directory, start: usize, root: bool) -> usize {
        let (dir_len, leaf_len) = match sizes(dir, root) {
            Ok(s) => (s.dir_len, s.leaf_len),
            Err(_) => return start,
        };
        let mut data_ptr = start + dir_len;
        let mut next_dir = start + dir_len + leaf_len;
        let hdr = if root {
            self.put(start, ROOT_MAGIC);
            self.put(start + 1, (4 * dir.entries.len()) as u32);
            2
        } else {
            let uuid = dir.uuid.map(|u| uuid_to_dwords(&u)).unwrap_or_default();
            for (i, d) in uuid.into_iter().enumerate() {
                self.put(start + i, d);
            }
            4
        };
        for (i, e) in dir.entries.iter().enumerate() {
            let at = start + hdr + 4 * i;
            let [k0, k1] = e.key.dwords();
            self.put(at, k0);
            self.put(at + 1, k1);
            let (ty, length, value) = match &e.value {
                Value::Immediate(v) => (Type::Immediate, 1, *v),
                Value::Text(t) => {
                    let bytes = text_bytes(t);
                    let n = (bytes.len() + 1).div_ceil(4);
                    self.payload(data_ptr, bytes);
                    let v = data_ptr as u32;
                    data_ptr += n;
                    (Type::Text, n, v)
                }
                Value::Data(d) => {
                    let n = d.len().div_ceil(4);
                    self.payload(data_ptr, d);
                    let v = data_ptr as u32;
                    data_ptr += n;
                    (Type::Data, n, v)
                }
                Value::Directory(child) => {
                    let v = next_dir as u32;
                    next_dir = self.place(child, next_dir, false);
                    (Type::Directory, 4 + 4 * child.entries.len(), v)
                }
                Value::Unknown {
                    type_byte,
                    length,
                    value,
                } => (Type::Unknown(*type_byte), usize::from(*length), *value),
            };
            self.put(
                at + 2,
                (u32::from(ty.byte()) << 24) | (length as u32 & 0xffff),
            );
            self.put(at + 3, value);
        }
        next_dir
    }

    /// `bytes` as big-endian dwords from `at`, the last one zero-padded.
    fn payload(&mut self, at: usize, bytes: &[u8]) {
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let mut b = [0u8; 4];
            b[..chunk.len()].copy_from_slice(chunk);
            self.put(at + i, u32::from_be_bytes(b));
        }
    }
}
