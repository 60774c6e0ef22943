//! `tblink props`: decode and encode XDomain property blocks (spec 03).
//!
//! `decode` reads a block (big-endian binary, or a hex text dump) and prints
//! it as an indented tree or as JSON; `encode` turns that JSON back into the
//! binary block. The JSON keeps everything the wire format carries (key
//! bytes, types, order, duplicates, data bytes, unknown entries), so
//! `decode --json | encode` reproduces every block laid out by the spec 03
//! §6 formatter byte for byte.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use tblink_wire::property::{Directory, Entry, Key, Type, Value};
use tblink_wire::uuid::Uuid;

/// Largest input read, in bytes; more is refused rather than read forever.
const MAX_INPUT: u64 = 64 << 20;

const DECODE_LONG: &str = "\
Decode an XDomain property block (spec 03) and print it.

INPUT is a file, or `-` for standard input. Two input forms are accepted and
told apart automatically:
  * binary: the block as big-endian dwords, exactly as carried in the data[]
    of PROPERTIES_RESPONSE pages;
  * hex text: ASCII made only of hex tokens, whitespace, commas and `#`
    comments (to end of line); tokens ending in `:` are offset labels and
    are skipped. Each token is one dword (`0x55584401`, `55584401`, `1c`),
    except when every token is exactly two hex digits without `0x`: then the
    tokens are bytes (`55 58 44 01 ...`), four to a dword, big-endian.
Anything else is read as binary.

The block is checked like Linux 6.1 does (spec 03 §5 rules 1-12). A block
Linux would reject exits with status 1 and one line on stderr naming the
rule and the dword offset. With --check-root, the root must also carry
`vendorid` and `deviceid` immediates (rule 14).

Output: an indented tree, one entry a line in block order: immediates in
hex, text quoted (\\xNN for bytes that are not UTF-8), data as dwords in hex,
sub-directories as `key/  {uuid}` with their entries indented below.

With --json, the JSON that `tblink props encode` reads (see its --help).";

const ENCODE_LONG: &str = "\
Encode JSON (as printed by `tblink props decode --json`) into a binary
property block: big-endian dwords, laid out byte-exact like Linux (spec 03
§6). INPUT is a file or `-` (default: standard input); the block goes to
--output or standard output. Blocks over 500 dwords are refused.

JSON schema:
  { \"entries\": [ ENTRY, ... ] }                      the root directory
  ENTRY, always: \"key\": \"text\" (UTF-8, at most 8 bytes, no NUL)
                 or \"key_hex\": \"6e6574\" (the key bytes in hex)
               and \"type\", one of:
    \"v\"  immediate:  \"value\": 32902 or \"0x8086\"
    \"t\"  text:       \"value\": \"Intel Corp.\" or \"hex\": \"c328\" (bytes)
    \"d\"  data:       \"hex\": \"496e7465\" (bytes; padded to whole dwords)
    \"D\"  directory:  \"uuid\": \"c66189ca-1cce-4195-bdb8-49592e5f5a4f\",
                     \"entries\": [ ENTRY, ... ]
    \"unknown\":       \"type_byte\", \"length\", \"value\" (numbers or \"0x..\"),
                     written back verbatim with no payload.
Entries keep their order; duplicate keys and one key with several types are
allowed. Numbers may be JSON integers or strings (\"0x..\" hex or decimal).
Text is written up to its first NUL. Fields not listed are refused.";

/// `tblink props` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PropsCmd {
    /// Decode a property block (binary or hex text) into a tree or JSON.
    #[command(long_about = DECODE_LONG)]
    Decode(DecodeArgs),
    /// Encode JSON into a binary property block.
    #[command(long_about = ENCODE_LONG)]
    Encode(EncodeArgs),
}

/// Arguments of `tblink props decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Print JSON (the input of `tblink props encode`) instead of a tree.
    #[arg(long)]
    json: bool,
    /// Also require the XDomain root properties (spec 03 §5 rule 14).
    #[arg(long)]
    check_root: bool,
    /// Property block file, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    input: String,
}

/// Arguments of `tblink props encode`.
#[derive(Debug, clap::Args)]
pub struct EncodeArgs {
    /// JSON file, or `-` for standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    input: String,
    /// Write the binary block here instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

/// Run a `tblink props` subcommand.
pub fn run(cmd: PropsCmd) -> Result<ExitCode> {
    match cmd {
        PropsCmd::Decode(args) => decode(&args),
        PropsCmd::Encode(args) => encode(&args),
    }
}

fn read_input(input: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if input == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
    } else {
        std::fs::File::open(input)
            .and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut buf))
            .with_context(|| format!("cannot read {input}"))?;
    }
    if buf.len() as u64 > MAX_INPUT {
        bail!("input is larger than {} MiB", MAX_INPUT >> 20);
    }
    Ok(buf)
}

fn decode(args: &DecodeArgs) -> Result<ExitCode> {
    let input = read_input(&args.input)?;
    let parsed = match hex_text(&input) {
        Some(dwords) => Directory::parse_dwords(&dwords),
        None => Directory::parse(&input),
    };
    let root = parsed.context("invalid property block")?;
    if args.check_root {
        root.check_xdomain_root()
            .context("invalid property block")?;
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&JsonRoot {
            entries: root.iter().map(entry_to_json).collect(),
        })?;
        s.push('\n');
        s
    } else {
        let mut s = String::new();
        write_tree(&mut s, &root, &PROPS_STYLE);
        s
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write standard output")?;
    Ok(ExitCode::SUCCESS)
}

fn encode(args: &EncodeArgs) -> Result<ExitCode> {
    let input = read_input(&args.input)?;
    let json: JsonRoot = serde_json::from_slice(&input).context("invalid JSON")?;
    let root = Directory {
        uuid: None,
        entries: entries_from_json(&json.entries, "entries")?,
    };
    let bytes = root.format_bytes().context("cannot encode")?;
    match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .context("cannot write standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}

// ---- Input detection ----

/// The dwords of a hex text dump, or `None` if `input` is not one (see
/// `DECODE_LONG` for the accepted form).
fn hex_text(input: &[u8]) -> Option<Vec<u32>> {
    if !input.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(input).ok()?;
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for tok in line.split(|c: char| c.is_ascii_whitespace() || c == ',') {
            if tok.is_empty() {
                continue;
            }
            if let Some(label) = tok.strip_suffix(':') {
                if !label.is_empty() && label.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                return None;
            }
            let (prefixed, digits) = match tok.strip_prefix("0x").or_else(|| tok.strip_prefix("0X"))
            {
                Some(d) => (true, d),
                None => (false, tok),
            };
            if digits.is_empty()
                || digits.len() > 8
                || !digits.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return None;
            }
            tokens.push((prefixed, digits));
        }
    }
    let bytes_mode = !tokens.is_empty() && tokens.iter().all(|(p, d)| !p && d.len() == 2);
    let values: Vec<u32> = tokens
        .iter()
        .map(|(_, d)| u32::from_str_radix(d, 16).ok())
        .collect::<Option<_>>()?;
    if !bytes_mode {
        return Some(values);
    }
    if !values.len().is_multiple_of(4) {
        return None;
    }
    Some(
        values
            .chunks_exact(4)
            .map(|c| (c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3])
            .collect(),
    )
}

// ---- Tree output ----

/// How [`write_tree`] lays a tree out: the prefix of top-level lines, the
/// extra indent per directory level, and how a directory UUID is shown.
pub(crate) struct TreeStyle<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) step: &'a str,
    pub(crate) uuid: fn(&tblink_wire::uuid::Uuid) -> String,
}

/// The style of `tblink props decode`.
const PROPS_STYLE: TreeStyle<'static> = TreeStyle {
    prefix: "",
    step: "  ",
    uuid: |u| u.to_string(),
};

/// Print a property tree one entry a line, in block order.
pub(crate) fn write_tree(out: &mut String, dir: &Directory, style: &TreeStyle<'_>) {
    write_level(out, dir, style, style.prefix.to_string());
}

fn write_level(out: &mut String, dir: &Directory, style: &TreeStyle<'_>, indent: String) {
    for e in dir {
        let key = e.key.to_string();
        // Writing into a String cannot fail.
        let _ = match &e.value {
            Value::Immediate(v) => writeln!(out, "{indent}{key:<9} = {v:#x}"),
            Value::Text(t) => writeln!(out, "{indent}{key:<9} = \"{}\"", escape(t)),
            Value::Data(d) => writeln!(
                out,
                "{indent}{key:<9} = data[{}] {}",
                d.len(),
                dwords_hex(d)
            ),
            Value::Unknown {
                type_byte,
                length,
                value,
            } => writeln!(
                out,
                "{indent}{key:<9} = unknown type {type_byte:#04x} length {length:#x} value {value:#x}"
            ),
            Value::Directory(child) => {
                let name = format!("{key}/");
                let uuid = child.uuid.as_ref().map(style.uuid).unwrap_or_default();
                let r = writeln!(out, "{indent}{name:<9} {{{uuid}}}");
                // A parsed tree is at most 8 levels deep (spec 03 §5 rule 9).
                write_level(out, child, style, format!("{indent}{}", style.step));
                r
            }
        };
    }
}

/// Text for display: UTF-8 as is (with Rust-style escapes for quotes,
/// backslashes and control characters), other bytes as `\xNN`.
fn escape(t: &[u8]) -> String {
    let mut s = String::new();
    for chunk in t.utf8_chunks() {
        for c in chunk.valid().chars() {
            s.extend(c.escape_debug());
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

fn dwords_hex(d: &[u8]) -> String {
    d.chunks(4).map(hex).collect::<Vec<_>>().join(" ")
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 * b.len());
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("{what}: odd number of hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| anyhow!("{what}: not hex: {s:?}"))
        })
        .collect()
}

// ---- JSON ----

/// The root object: `{"entries": [...]}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRoot {
    entries: Vec<JsonEntry>,
}

/// One entry; which fields are present depends on `type` (see `ENCODE_LONG`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    #[serde(rename = "type")]
    ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    type_byte: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    length: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<Vec<JsonEntry>>,
}

fn hex_num(v: u64) -> serde_json::Value {
    serde_json::Value::String(format!("{v:#x}"))
}

fn entry_to_json(e: &Entry) -> JsonEntry {
    let mut j = JsonEntry::default();
    match e.key.as_str() {
        Some(k) => j.key = Some(k.to_owned()),
        None => j.key_hex = Some(hex(e.key.as_bytes())),
    }
    match &e.value {
        Value::Immediate(v) => {
            j.ty = "v".into();
            j.value = Some(hex_num(u64::from(*v)));
        }
        Value::Text(t) => {
            j.ty = "t".into();
            match std::str::from_utf8(t) {
                Ok(s) => j.value = Some(serde_json::Value::String(s.to_owned())),
                Err(_) => j.hex = Some(hex(t)),
            }
        }
        Value::Data(d) => {
            j.ty = "d".into();
            j.hex = Some(hex(d));
        }
        Value::Directory(d) => {
            j.ty = "D".into();
            j.uuid = d.uuid.map(|u| u.to_string());
            j.entries = Some(d.iter().map(entry_to_json).collect());
        }
        Value::Unknown {
            type_byte,
            length,
            value,
        } => {
            j.ty = "unknown".into();
            j.type_byte = Some(hex_num(u64::from(*type_byte)));
            j.length = Some(hex_num(u64::from(*length)));
            j.value = Some(hex_num(u64::from(*value)));
        }
    }
    j
}

/// A number field: a JSON integer or a string `"0x…"` / decimal, within `max`.
fn number(v: Option<&serde_json::Value>, what: &str, max: u64) -> Result<u64> {
    let n = match v {
        None => bail!("{what}: missing"),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| anyhow!("{what}: not a non-negative integer: {n}"))?,
        Some(serde_json::Value::String(s)) => {
            let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse::<u64>(),
            };
            r.map_err(|_| anyhow!("{what}: not a number: {s:?}"))?
        }
        Some(other) => bail!("{what}: expected a number, got {other}"),
    };
    if n > max {
        bail!("{what}: {n:#x} is larger than {max:#x}");
    }
    Ok(n)
}

fn entries_from_json(entries: &[JsonEntry], path: &str) -> Result<Vec<Entry>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, j)| entry_from_json(j, &format!("{path}[{i}]")))
        .collect()
}

fn entry_from_json(j: &JsonEntry, path: &str) -> Result<Entry> {
    let key = match (&j.key, &j.key_hex) {
        (Some(k), None) => Key::new(k),
        (None, Some(h)) => Key::new(unhex(h, &format!("{path}.key_hex"))?),
        _ => bail!("{path}: exactly one of \"key\" and \"key_hex\" is needed"),
    }
    .with_context(|| format!("{path}: bad key"))?;

    // Fields each type may carry (besides key/key_hex/type).
    let allowed: &[&str] = match j.ty.as_str() {
        "v" => &["value"],
        "t" => &["value", "hex"],
        "d" => &["hex"],
        "D" => &["uuid", "entries"],
        "unknown" => &["type_byte", "length", "value"],
        other => bail!("{path}.type: {other:?} is not one of v, t, d, D, unknown"),
    };
    let present = [
        ("type_byte", j.type_byte.is_some()),
        ("length", j.length.is_some()),
        ("value", j.value.is_some()),
        ("hex", j.hex.is_some()),
        ("uuid", j.uuid.is_some()),
        ("entries", j.entries.is_some()),
    ];
    for (name, is) in present {
        if is && !allowed.contains(&name) {
            bail!(
                "{path}: field \"{name}\" does not belong to type {:?}",
                j.ty
            );
        }
    }

    let value = match j.ty.as_str() {
        "v" => Value::Immediate(
            number(j.value.as_ref(), &format!("{path}.value"), u32::MAX.into())? as u32,
        ),
        "t" => match (&j.value, &j.hex) {
            (Some(serde_json::Value::String(s)), None) => Value::Text(s.as_bytes().to_vec()),
            (None, Some(h)) => Value::Text(unhex(h, &format!("{path}.hex"))?),
            (Some(_), None) => bail!("{path}.value: text must be a string"),
            _ => bail!("{path}: text needs exactly one of \"value\" and \"hex\""),
        },
        "d" => match &j.hex {
            Some(h) => Value::Data(unhex(h, &format!("{path}.hex"))?),
            None => bail!("{path}.hex: missing"),
        },
        "D" => {
            let uuid = match &j.uuid {
                Some(u) => Uuid::parse_str(u).map_err(|e| anyhow!("{path}.uuid: {e}"))?,
                None => bail!("{path}.uuid: missing"),
            };
            let entries = match &j.entries {
                Some(e) => entries_from_json(e, &format!("{path}.entries"))?,
                None => bail!("{path}.entries: missing"),
            };
            Value::Directory(Directory {
                uuid: Some(uuid),
                entries,
            })
        }
        _ => {
            let type_byte = number(j.type_byte.as_ref(), &format!("{path}.type_byte"), 0xff)? as u8;
            if !matches!(Type::from_byte(type_byte), Type::Unknown(_)) {
                bail!("{path}.type_byte: {type_byte:#04x} is a known type; use its type letter");
            }
            Value::Unknown {
                type_byte,
                length: number(j.length.as_ref(), &format!("{path}.length"), 0xffff)? as u16,
                value: number(j.value.as_ref(), &format!("{path}.value"), u32::MAX.into())? as u32,
            }
        }
    };
    Ok(Entry { key, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_detection() {
        assert_eq!(hex_text(b"0x55584401 0x0\n"), Some(vec![0x55584401, 0]));
        assert_eq!(
            hex_text(b"55584401,1c # root\n"),
            Some(vec![0x55584401, 0x1c])
        );
        assert_eq!(
            hex_text(b"0000: 55 58 44 01 00 00 00 00\n"),
            Some(vec![0x55584401, 0])
        );
        assert_eq!(hex_text(b""), Some(vec![]));
        assert_eq!(hex_text(b"UXD\x01"), None);
        assert_eq!(hex_text(b"123456789"), None);
        assert_eq!(hex_text(b"0xzz"), None);
        assert_eq!(hex_text(b"55 58 44"), None);
        assert_eq!(hex_text(&[0xff, 0x30]), None);
    }

    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = Key> {
        prop::collection::vec(1u8..=255, 0..=8).prop_map(|k| Key::new(k).unwrap())
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<u32>().prop_map(Value::Immediate),
            prop::collection::vec(1u8..=255, 0..12).prop_map(Value::Text),
            prop::collection::vec(any::<u8>(), 1..12).prop_map(Value::Data),
            (0x77u8..=0xff, any::<u16>(), any::<u32>()).prop_map(|(type_byte, length, value)| {
                Value::Unknown {
                    type_byte,
                    length,
                    value,
                }
            }),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            (any::<u128>(), prop::collection::vec((key(), inner), 0..4)).prop_map(|(u, es)| {
                Value::Directory(Directory {
                    uuid: Some(Uuid::from_u128(u)),
                    entries: es
                        .into_iter()
                        .map(|(key, value)| Entry { key, value })
                        .collect(),
                })
            })
        })
    }

    proptest! {
        /// JSON keeps every entry exactly: tree → JSON text → tree.
        #[test]
        fn json_round_trip(es in prop::collection::vec((key(), value()), 0..8)) {
            let entries: Vec<Entry> =
                es.into_iter().map(|(key, value)| Entry { key, value }).collect();
            let json = serde_json::to_string(&JsonRoot {
                entries: entries.iter().map(entry_to_json).collect(),
            })
            .unwrap();
            let back: JsonRoot = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(entries_from_json(&back.entries, "entries").unwrap(), entries);
        }
    }

    #[test]
    fn escape_shows_bytes() {
        assert_eq!(escape(b"a\"b\xc3\x28\n"), "a\\\"b\\xc3(\\n");
    }
}
