//! `tblink tbip`: ThunderboltIP debugging tools (spec 06).
//!
//! `replay` feeds received DMA frames through the same
//! [`tblink_net::Reassembler`] the data path uses and prints what it
//! delivers, with Linux's receive counters.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use tblink_net::{Reassembler, RxConfig, RxFlags, RxOutcome};
use tblink_wire::tbip::FRAME_SIZE;

const REPLAY_LONG: &str = "\
Replay received ThunderboltIP DMA frames through the receive reassembler
(spec 06 §9) and print the Ethernet frames it delivers.

INPUT is a file, or `-` for standard input: one RX descriptor per line,
  FLAGS HEX
FLAGS is `-` or a comma-separated list of `crc` and `overrun` (the
descriptor's error flags). HEX is the frame exactly as written into the RX
buffer: the 12-byte little-endian header, then the payload; its length in
bytes (1..=4096) is the descriptor length. Blank lines and lines starting
with `#` are ignored.

Output: one line `packet LEN HEX` per delivered Ethernet frame, in order,
then one line
  stats rx_packets=N rx_bytes=N rx_length_errors=N rx_over_errors=N rx_crc_errors=N rx_missed_errors=N

A malformed input line is an error naming its line number (exit status 1).
By default a frame_index 0 in the middle of a packet drops the partial
packet and starts a new one (spec 06 §9 recommendation); --linux replays
exactly as Linux 6.1.y, which drops that frame too.";

/// `tblink tbip` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TbipCmd {
    /// Replay received DMA frames through the reassembler.
    #[command(long_about = REPLAY_LONG)]
    Replay(ReplayArgs),
}

/// Arguments of `tblink tbip replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Input file, or `-` for standard input.
    pub input: PathBuf,
    /// Exactly Linux 6.1.y: no restart on frame_index 0 mid-packet.
    #[arg(long)]
    pub linux: bool,
}

/// Run a `tbip` subcommand.
pub fn run(cmd: TbipCmd) -> Result<ExitCode> {
    match cmd {
        TbipCmd::Replay(args) => replay(&args),
    }
}

/// One parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The descriptor's flags.
    pub flags: RxFlags,
    /// The buffer contents, as long as the descriptor length.
    pub frame: Vec<u8>,
}

/// Parse one line; `Ok(None)` for blank and comment lines.
pub fn parse_line(line: &str) -> Result<Option<Descriptor>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (Some(flags), Some(hex), None) = (words.next(), words.next(), words.next()) else {
        bail!("expected `FLAGS HEX`");
    };
    let mut f = RxFlags::default();
    if flags != "-" {
        for flag in flags.split(',') {
            match flag {
                "crc" => f.crc_error = true,
                "overrun" => f.overrun = true,
                other => bail!("unknown flag {other:?} (expected `-`, `crc`, `overrun`)"),
            }
        }
    }
    let frame = decode_hex(hex)?;
    if frame.is_empty() || frame.len() > FRAME_SIZE {
        bail!(
            "frame of {} bytes: a descriptor holds 1..={FRAME_SIZE}",
            frame.len()
        );
    }
    Ok(Some(Descriptor { flags: f, frame }))
}

fn decode_hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| anyhow!("bad hex digits {:?}", String::from_utf8_lossy(p)))
        })
        .collect()
}

fn replay(args: &ReplayArgs) -> Result<ExitCode> {
    let input: Box<dyn Read> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.input)
                .with_context(|| format!("cannot open {}", args.input.display()))?,
        )
    };
    let mut rx = Reassembler::new(RxConfig {
        restart_on_first_frame: !args.linux,
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut line_buf = String::new();
    for (n, line) in BufReader::new(input).lines().enumerate() {
        let line = line.with_context(|| format!("line {}: cannot read", n + 1))?;
        let Some(d) = parse_line(&line).with_context(|| format!("line {}", n + 1))? else {
            continue;
        };
        let len_field = (d.frame.len() & 0xfff) as u16;
        if let RxOutcome::Packet(p) = rx.push(&d.frame, len_field, d.flags) {
            line_buf.clear();
            let _ = write!(line_buf, "packet {} ", p.len());
            for b in p {
                let _ = write!(line_buf, "{b:02x}");
            }
            writeln!(out, "{line_buf}")?;
        }
    }
    let s = rx.stats();
    writeln!(
        out,
        "stats rx_packets={} rx_bytes={} rx_length_errors={} rx_over_errors={} rx_crc_errors={} rx_missed_errors={}",
        s.rx_packets,
        s.rx_bytes,
        s.rx_length_errors,
        s.rx_over_errors,
        s.rx_crc_errors,
        s.rx_missed_errors
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse_line("").unwrap(), None);
        assert_eq!(parse_line("  # x").unwrap(), None);
        let d = parse_line("crc,overrun 0a0b").unwrap().unwrap();
        assert!(d.flags.crc_error && d.flags.overrun);
        assert_eq!(d.frame, [10, 11]);
        assert_eq!(parse_line("- FF").unwrap().unwrap().frame, [255]);
        assert!(parse_line("- 0").is_err());
        assert!(parse_line("- zz").is_err());
        assert!(parse_line("bad 00").is_err());
        assert!(parse_line("-").is_err());
        assert!(parse_line("- 00 00").is_err());
        let too_long = format!("- {}", "00".repeat(4097));
        assert!(parse_line(&too_long).is_err());
    }
}
