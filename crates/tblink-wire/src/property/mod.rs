//! XDomain property blocks (spec 03): parser, tree and byte-exact formatter.
//!
//! A property block describes a host (vendor, device/host name, max HopID)
//! and the services it offers, one sub-directory per service. It travels in
//! pages in PROPERTIES_RESPONSE messages (spec 02 §4.4); this module sees the
//! assembled block.
//!
//! * Model (03 §2–4, §9): [`Directory`] = optional UUID + ordered
//!   [`Entry`] list; [`Key`] (0–8 bytes, verbatim); [`Value`] =
//!   immediate, text, data, sub-directory or unknown type.
//! * Parser (03 §5 rules 1–12): [`Directory::parse`] (big-endian bytes),
//!   [`Directory::parse_dwords`]; errors are [`ParseError`] naming the
//!   [`Rule`] and the dword offset, e.g. `rule 4 (entry out of bounds) at
//!   dword 21 (0x15)`.
//! * Discovery check (03 §5 rules 14–15): [`Directory::check_xdomain_root`].
//! * Formatter (03 §6): [`Directory::format`] (dword values),
//!   [`Directory::format_bytes`] (wire bytes); errors are [`FormatError`].
//! * Standard properties (03 §8): [`Directory::vendor_id`],
//!   [`Directory::vendor_name`], [`Directory::device_id`],
//!   [`Directory::device_name`], [`Directory::device_revision`],
//!   [`Directory::max_hop_id`] (default 15), and for service directories
//!   [`Directory::prtcid`], [`Directory::prtcvers`], [`Directory::prtcrevs`],
//!   [`Directory::prtcstns`] (0 when absent); keys in [`keys`].
//!
//! ```
//! use tblink_wire::property::{Directory, Rule};
//! use tblink_wire::uuid::NETWORK_DIRECTORY;
//!
//! let mut root = Directory::new();
//! root.add_immediate("vendorid", 0x8086)?.add_immediate("deviceid", 1)?;
//! root.add_directory("network", NETWORK_DIRECTORY)?.add_immediate("prtcid", 1)?;
//! let block = root.format()?;
//! assert_eq!(block.len(), 2 + 3 * 4 + 1 + 4 + 4);
//! let parsed = Directory::parse_dwords(&block)?;
//! assert_eq!(parsed, root);
//! assert_eq!(parsed.check_xdomain_root()?.max_hop_id, 15);
//!
//! let mut bad = block.clone();
//! bad[13] = 0x100; // the `network` entry's offset
//! let e = Directory::parse_dwords(&bad).unwrap_err();
//! assert_eq!((e.rule, e.offset), (Rule::OutOfBounds, 13));
//! assert_eq!(e.to_string(), "rule 4 (entry out of bounds) at dword 13 (0xd)");
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # What the parser accepts and rejects (spec 03 §5, Linux 6.1.y)
//!
//! Offsets and lengths are in dwords from the root magic. A rejection
//! rejects the whole block. The reported offset is that of the dword whose
//! field broke the rule.
//!
//! | Rule | Check | On failure ([`Rule`], offset) |
//! |---|---|---|
//! | 1 | DW0 = `0x55584401` | `Magic`, 0 (also for an empty block) |
//! | 2 | the block has DW1 = `L`; `L` ≤ len and `2 + L` ≤ len | `RootLength`, 1 |
//! | 3 | `floor(L / 4)` root entries from offset 2; a remainder of `L` is ignored | — |
//! | 4 | `D`/`d`/`t`: length ≠ 0 | `ZeroLength`, entry + 2 |
//! | 4 | `D`/`d`/`t`: length ≤ len | `LengthExceedsBlock`, entry + 2 |
//! | 4 | `D`/`d`/`t`: `value + length` fits 32 bits | `OffsetOverflow`, entry + 3 |
//! | 4 | `D`/`d`/`t`: `value + length` ≤ len | `OutOfBounds`, entry + 3 |
//! | 5 | `v`: length = 1, value unrestricted | `ImmediateLength`, entry + 2 |
//! | 6 | any other type byte: accepted as [`Value::Unknown`] | — |
//! | 7 | key = the 8 key bytes up to the first NUL, no character check | — |
//! | 9 | a sub-directory at depth > 8 (root = 0) | `TooDeep`, parent entry + 3 |
//! | 8 | sub-directory length < 4 | `DirectoryTooShort`, parent entry + 2 |
//! | 10 | UUID = 4 dwords at the offset; `floor((len − 4) / 4)` entries after it | — |
//! | 11 | text: `length` dwords, last byte forced to NUL, string up to the first NUL | — |
//! | 12 | data: `length` dwords as bytes | — |
//! | 13 | overlaps, duplicate keys, UUIDs, padding, unused space: not checked | — |
//!
//! Entries are checked in block order, depth first (a sub-directory is
//! parsed completely before the next entry of its parent); the first
//! failure is reported. Within one entry the checks run in the table's
//! order; for a `D` entry rule 9 is checked before rule 8.
//!
//! Choices where Linux has no rule:
//! * **Short blocks.** Linux reads DW0/DW1 without a length check; here an
//!   empty block fails rule 1 at dword 0, a 1-dword block with the magic
//!   fails rule 2 at dword 1.
//! * **Byte input** whose length is not a multiple of 4: [`Rule::Unaligned`]
//!   at the partial dword ([`Directory::parse`] only).
//! * **Long blocks.** Linux's requester refuses `data_length` > 500 before
//!   parsing. The parser accepts longer blocks for offline decoding; its
//!   work stays linear in the block length (next point).
//! * **Work bound.** A directory (or payload) may be referenced by many
//!   entries; with 8 levels of nesting allowed, a 500-dword block could
//!   make the tree exponentially large. The parser counts 4 per entry and
//!   per sub-directory UUID, and the length of each text/data payload it
//!   copies, and fails with [`Rule::WorkLimit`] past [`work_limit`]`(len)`
//!   = `4 × max(len, 500)` dwords. A block produced by the formatter uses
//!   each dword once, so its count is at most `len`: no formatted block,
//!   Linux's or ours, ever hits the bound.
//! * **UTF-8** is not checked (03 §5 guidance): keys and text keep raw
//!   bytes; only presentation decides how to show non-UTF-8.
//!
//! The discovery layer's rules live in [`Directory::check_xdomain_root`]:
//! rule 14 (`vendorid` `v` and `deviceid` `v` present, else
//! [`MissingProperty`]) and rule 15 (`maxhopid` `v` defaults to 15).
//!
//! # What the formatter does (spec 03 §6)
//!
//! Entries in insertion order; leaf payloads of a directory right after its
//! entries, in entry order; then one zero dword per `D` entry; then the
//! child directories, pre-order depth first. Text takes
//! `round_up(strlen + 1, 4) / 4` dwords; data `round_up(len, 4) / 4`.
//! It refuses ([`FormatError`]): a block over 500 dwords; a payload or
//! directory length over 16 bits; empty data (its length 0 would break rule
//! 4); nesting deeper than 8 (rule 9); a root with a UUID or a
//! sub-directory without one; an unknown-type entry carrying a known type
//! byte. Keys longer than 8 bytes or with a NUL cannot be built
//! ([`Key::new`]).
//!
//! [`Value::Unknown`] entries are written back with their type byte, length
//! and value verbatim, no payload and no leaf space; so
//! `format(parse(b)) == b` holds for every canonical block (one laid out by
//! §6), unknown entries included.
//!
//! Normalisation in `parse(format(t))`: text is cut at its first NUL
//! (C-string semantics, as Linux's `strlen`); data is zero-padded to a
//! whole number of dwords. Everything else (order, duplicates, keys, UUIDs,
//! unknown entries) comes back unchanged.
//!
//! # Tests
//!
//! `tests/property_golden.rs`:
//! * the spec 03 §7 57-dword block, parse → exact tree and tree → exact
//!   dwords and wire bytes; the same tree built with the tree API;
//! * the `network` (06 §2) and `dma_test` (07 §1) 20-dword directories as
//!   formatted sub-blocks;
//! * the Mac-like KUnit block (03 §7): 53 dwords, values found, no
//!   `deviceid` in `network`, round trip and deep-copy format;
//! * tree API: find by (key, type), duplicates, remove, `directory_mut`,
//!   standard accessors and defaults, rules 14–15.
//!
//! `tests/property_malformed.rs` (each asserts the exact rule and offset):
//! bad magic; truncated blocks of 0 and 1 dwords; `L` > block; `2 + L` >
//! block; entry out of bounds; `value + length` overflowing u32; length 0
//! for `D`, `d` and `t`; length > block; `v` with length 0 and 2; directory
//! length < 4; depth exactly 8 accepted and depth 9 rejected;
//! self-referencing directory; a directory referenced many times (work
//! bound, fast); unknown type byte accepted and reformatted; unterminated
//! text losing its last character (rule 11); text cut at an inner NUL;
//! non-UTF-8 key and text accepted; `L` not a multiple of 4 (extra dwords
//! ignored); unaligned byte input; blocks longer than 500 dwords parsed;
//! formatter limits (500 dwords, 16-bit lengths, empty data, depth, UUIDs,
//! keys longer than 8 bytes).
//!
//! `tests/property_proptest.rs`: random trees → `parse(format(t)) == t`
//! (after the normalisation above) and `format(parse(format(t))) ==
//! format(t)`; random bytes and random mutations of valid blocks → the
//! parser returns without panicking.
//!
//! The `tblink props` command (binary crate) has its own tests in
//! `crates/tblink/tests/props_cli.rs`: the `examples/linuxbox.props` block
//! decoded, `decode --json | encode` byte-identical, hex input detection,
//! one-line rule/offset errors, and random garbage never crashing it.

mod format;
mod key;
mod parse;
mod tree;

pub use format::FormatError;
pub use key::{Key, keys};
pub use parse::{ParseError, Rule, work_limit};
pub use tree::{DEFAULT_MAX_HOP_ID, Directory, Entry, MissingProperty, Type, Value, XdomainRoot};

/// Root directory magic `0x55584401`, "UXD" + 0x01 (spec 03 §2).
pub const ROOT_MAGIC: u32 = 0x5558_4401;

/// Largest block Linux requests and the formatter writes, in dwords
/// (spec 02 §4.4 `TB_XDP_PROPERTIES_MAX_LENGTH`, 03 §9).
pub const MAX_BLOCK_DWORDS: usize = 500;

/// Deepest sub-directory level accepted below the root (spec 03 §5 rule 9).
pub const MAX_DEPTH: usize = 8;
