//! The baseline the ThunderboltIP data path is measured against: a raw
//! TAP↔TAP relay that only copies frames, one thread per direction, one
//! blocking `read` and one `write` per frame, nothing else.
//!
//! It creates two TAP interfaces in the current network namespace with the
//! given MTU; move one of them into another namespace (`ip link set NAME
//! netns NS`: the open file stays attached) and run traffic between the
//! two. Stops when killed.
//!
//! Usage: `tap_relay NAME_A NAME_B MTU` (root, `/dev/net/tun`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use tblink_net::sys::{TAP_MAX_FRAME, Tap, TapOptions};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn open(name: &str, mtu: u32) -> Result<(Tap, File), Error> {
    let tap = Tap::open(name, TapOptions::default())?;
    tap.set_mtu(mtu)?;
    tap.set_carrier(true)?;
    let second = File::from(tap.as_fd().try_clone_to_owned()?);
    Ok((tap, second))
}

/// Copy frames from `from` to `to` until either fails.
fn pump(mut from: File, mut to: File) -> Result<(), std::io::Error> {
    let mut buf = vec![0u8; TAP_MAX_FRAME];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        // A frame the other side refuses is dropped, as a NIC would.
        let _ = to.write(&buf[..n]);
    }
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, mtu] = args.as_slice() else {
        return Err("usage: tap_relay NAME_A NAME_B MTU".into());
    };
    let mtu: u32 = mtu.parse()?;
    let (tap_a, a_read) = open(a, mtu)?;
    let (tap_b, b_read) = open(b, mtu)?;
    let a_write = File::from(tap_a.as_fd().try_clone_to_owned()?);
    let b_write = File::from(tap_b.as_fd().try_clone_to_owned()?);
    println!("relaying {} <-> {} (MTU {mtu})", tap_a.name(), tap_b.name());
    let t = std::thread::spawn(move || pump(b_read, a_write));
    pump(a_read, b_write)?;
    t.join().map_err(|_| "relay thread failed")??;
    drop((tap_a, tap_b));
    Ok(())
}
