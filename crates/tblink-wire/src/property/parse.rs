//! The parser: spec 03 §5 rules 1–12, plus a bound on total work.

use alloc::vec::Vec;
use core::fmt;

use super::key::Key;
use super::tree::{Directory, Entry, Type, Value};
use super::{MAX_DEPTH, ROOT_MAGIC};
use crate::uuid::uuid_from_dwords;

/// Which validation rule a rejected block broke (spec 03 §5, numbered as
/// there; [`Rule::WorkLimit`] and [`Rule::Unaligned`] are this parser's own).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Rule {
    /// Rule 1: DW0 is not `0x55584401` (or the block is empty).
    Magic,
    /// Rule 2: the block has no DW1, or `L` > block length, or `2 + L` >
    /// block length.
    RootLength,
    /// Rule 4: a `D`, `d` or `t` entry with length 0.
    ZeroLength,
    /// Rule 4: a `D`, `d` or `t` entry whose length exceeds the block.
    LengthExceedsBlock,
    /// Rule 4: `value + length` of a `D`, `d` or `t` entry overflows 32 bits.
    OffsetOverflow,
    /// Rule 4: `value + length` of a `D`, `d` or `t` entry exceeds the block.
    OutOfBounds,
    /// Rule 5: a `v` entry whose length is not 1.
    ImmediateLength,
    /// Rule 8: a sub-directory length below 4.
    DirectoryTooShort,
    /// Rule 9: a sub-directory nested deeper than 8 levels below the root.
    TooDeep,
    /// Not a Linux rule: the parser visited more than its work bound
    /// ([`work_limit`]); only blocks that reference the same directory or
    /// payload from several entries can hit it.
    WorkLimit,
    /// Not a Linux rule: a byte buffer whose length is not a multiple of 4.
    Unaligned,
}

impl Rule {
    /// The rule number in spec 03 §5, if it is one of those rules.
    pub fn number(self) -> Option<u8> {
        match self {
            Rule::Magic => Some(1),
            Rule::RootLength => Some(2),
            Rule::ZeroLength
            | Rule::LengthExceedsBlock
            | Rule::OffsetOverflow
            | Rule::OutOfBounds => Some(4),
            Rule::ImmediateLength => Some(5),
            Rule::DirectoryTooShort => Some(8),
            Rule::TooDeep => Some(9),
            Rule::WorkLimit | Rule::Unaligned => None,
        }
    }

    /// A short description, as printed in parentheses after the number.
    pub fn description(self) -> &'static str {
        match self {
            Rule::Magic => "bad root magic",
            Rule::RootLength => "root length exceeds block",
            Rule::ZeroLength => "entry length is zero",
            Rule::LengthExceedsBlock => "entry length exceeds block",
            Rule::OffsetOverflow => "entry offset + length overflows",
            Rule::OutOfBounds => "entry out of bounds",
            Rule::ImmediateLength => "immediate length is not 1",
            Rule::DirectoryTooShort => "directory length < 4",
            Rule::TooDeep => "directory nested deeper than 8",
            Rule::WorkLimit => "too many entries visited",
            Rule::Unaligned => "not a whole number of dwords",
        }
    }
}

/// `rule N (description)`, or `work limit (...)` / `alignment (...)` for the
/// parser's own checks.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.number(), self) {
            (Some(n), _) => write!(f, "rule {n} ({})", self.description()),
            (None, Rule::Unaligned) => write!(f, "alignment ({})", self.description()),
            (None, _) => write!(f, "work limit ({})", self.description()),
        }
    }
}

/// A rejected property block: the rule broken and the dword offset of the
/// field that broke it (spec 03 §5).
///
/// Offsets: rule 1 → 0; rule 2 → 1; rules 4 and 5, length checks → entry
/// dword 2 (type/length); rule 4 bounds → entry dword 3 (value); rule 8 →
/// the parent entry's dword 2; rule 9 → the parent entry's dword 3; work
/// limit → dword 0 of the entry at which it was exceeded; alignment → the
/// partial dword.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
#[error("{rule} at dword {offset} ({offset:#x})")]
pub struct ParseError {
    /// The rule broken.
    pub rule: Rule,
    /// Dword offset from the start of the block.
    pub offset: usize,
}

impl ParseError {
    fn new(rule: Rule, offset: usize) -> Self {
        ParseError { rule, offset }
    }
}

/// The work bound (spec 03 §5 "Rust guidance") of a block of `block_len`
/// dwords: at most
/// `4 × max(block_len, 500)` dwords of entries (4 each), sub-directory UUIDs
/// (4 each) and text/data payloads (their length) are visited in total.
///
/// A formatted block (spec 03 §6) places every entry, UUID and payload at
/// its own dwords, so its total is at most `block_len`; only blocks whose
/// entries share a directory or payload can exceed the bound.
pub fn work_limit(block_len: usize) -> usize {
    block_len.max(super::MAX_BLOCK_DWORDS).saturating_mul(4)
}

impl Directory {
    /// Parse a block given as big-endian bytes (as carried in
    /// PROPERTIES_RESPONSE pages, spec 02 §4.4), by spec 03 §5 rules 1–12.
    ///
    /// A length that is not a multiple of 4 is rejected ([`Rule::Unaligned`]).
    pub fn parse(bytes: &[u8]) -> Result<Directory, ParseError> {
        let chunks = bytes.chunks_exact(4);
        if !chunks.remainder().is_empty() {
            return Err(ParseError::new(Rule::Unaligned, bytes.len() / 4));
        }
        let dwords: Vec<u32> = chunks
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Self::parse_dwords(&dwords)
    }

    /// Parse a block given as dword values, by spec 03 §5 rules 1–12.
    ///
    /// Blocks longer than 500 dwords are accepted (for offline decoding);
    /// the work is bounded by [`work_limit`] regardless of the contents.
    pub fn parse_dwords(block: &[u32]) -> Result<Directory, ParseError> {
        let mut p = Parser {
            block,
            budget: work_limit(block.len()),
        };
        // Rule 1 (an empty block has no magic either).
        if block.first() != Some(&ROOT_MAGIC) {
            return Err(ParseError::new(Rule::Magic, 0));
        }
        // Rule 2.
        let len = block.len() as u64;
        let l = match block.get(1) {
            Some(&l) if u64::from(l) <= len && 2 + u64::from(l) <= len => l as usize,
            _ => return Err(ParseError::new(Rule::RootLength, 1)),
        };
        // Rule 3: floor(L / 4) entries from offset 2.
        p.entries(2, l / 4, 0, None)
    }
}

struct Parser<'a> {
    block: &'a [u32],
    budget: usize,
}

impl Parser<'_> {
    fn dw(&self, off: usize) -> u32 {
        // Every caller has checked `off` against the block (rules 2 and 4);
        // a zero here would only hide a bug, never read out of bounds.
        self.block.get(off).copied().unwrap_or(0)
    }

    fn spend(&mut self, cost: usize, at: usize) -> Result<(), ParseError> {
        match self.budget.checked_sub(cost) {
            Some(rest) => {
                self.budget = rest;
                Ok(())
            }
            None => Err(ParseError::new(Rule::WorkLimit, at)),
        }
    }

    /// `count` entries from dword `start` of a directory at `depth`.
    fn entries(
        &mut self,
        start: usize,
        count: usize,
        depth: usize,
        uuid: Option<uuid::Uuid>,
    ) -> Result<Directory, ParseError> {
        let mut dir = Directory {
            uuid,
            entries: Vec::new(),
        };
        for i in 0..count {
            let at = start + 4 * i;
            self.spend(4, at)?;
            dir.entries.push(self.entry(at, depth)?);
        }
        Ok(dir)
    }

    /// The entry at dword `at` of a directory at `depth`.
    fn entry(&mut self, at: usize, depth: usize) -> Result<Entry, ParseError> {
        let block_len = self.block.len() as u64;
        let mut wire = [0u8; 8];
        wire[..4].copy_from_slice(&self.dw(at).to_be_bytes());
        wire[4..].copy_from_slice(&self.dw(at + 1).to_be_bytes());
        // Rule 7.
        let key = Key::from_wire(wire);
        let tl = self.dw(at + 2);
        let ty = Type::from_byte((tl >> 24) as u8);
        let length = (tl & 0xffff) as u16;
        let value = self.dw(at + 3);

        // Rules 4 and 5.
        match ty {
            Type::Directory | Type::Data | Type::Text => {
                if length == 0 {
                    return Err(ParseError::new(Rule::ZeroLength, at + 2));
                }
                if u64::from(length) > block_len {
                    return Err(ParseError::new(Rule::LengthExceedsBlock, at + 2));
                }
                let end = value
                    .checked_add(u32::from(length))
                    .ok_or(ParseError::new(Rule::OffsetOverflow, at + 3))?;
                if u64::from(end) > block_len {
                    return Err(ParseError::new(Rule::OutOfBounds, at + 3));
                }
            }
            Type::Immediate if length != 1 => {
                return Err(ParseError::new(Rule::ImmediateLength, at + 2));
            }
            _ => {}
        }

        let off = value as usize;
        let len = usize::from(length);
        let value = match ty {
            Type::Immediate => Value::Immediate(value),
            // Rule 6.
            Type::Unknown(type_byte) => Value::Unknown {
                type_byte,
                length,
                value,
            },
            // Rule 12.
            Type::Data => {
                self.spend(len, at)?;
                Value::Data(self.payload(off, len))
            }
            // Rule 11: the last byte is forced to NUL; the string ends at
            // the first NUL.
            Type::Text => {
                self.spend(len, at)?;
                let mut text = self.payload(off, len);
                text.pop();
                if let Some(nul) = text.iter().position(|&b| b == 0) {
                    text.truncate(nul);
                }
                Value::Text(text)
            }
            Type::Directory => {
                // Rule 9, then rule 8.
                if depth + 1 > MAX_DEPTH {
                    return Err(ParseError::new(Rule::TooDeep, at + 3));
                }
                if len < 4 {
                    return Err(ParseError::new(Rule::DirectoryTooShort, at + 2));
                }
                // Rule 10.
                self.spend(4, at)?;
                let uuid = uuid_from_dwords([
                    self.dw(off),
                    self.dw(off + 1),
                    self.dw(off + 2),
                    self.dw(off + 3),
                ]);
                Value::Directory(self.entries(off + 4, (len - 4) / 4, depth + 1, Some(uuid))?)
            }
        };
        Ok(Entry { key, value })
    }

    /// `len` dwords from `off` as big-endian bytes (bounds checked by rule 4).
    fn payload(&self, off: usize, len: usize) -> Vec<u8> {
        let words = self.block.get(off..off.saturating_add(len)).unwrap_or(&[]);
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }
}
