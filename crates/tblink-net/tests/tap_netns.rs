//! The TAP device in a fresh network namespace: name, MAC, MTU, up,
//! carrier, nonblocking I/O, oversize drops. Skipped (with a message) where
//! /dev/net/tun or namespaces are unavailable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(target_os = "linux")]

use std::io::IoSlice;
use std::process::Command;

use tblink_net::Offload;
use tblink_net::name::stable_name;
use tblink_net::sys::{TAP_MAX_FRAME, TAP_MAX_MTU, Tap, TapOptions, tun_available, unshare_netns};
use tblink_net::vnet::{self, VNET_HDR_LEN};
use tblink_wire::uuid::Uuid;

fn link_json(name: &str) -> serde_like::Link {
    let out = Command::new("ip")
        .args(["-j", "link", "show", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_like::parse(&String::from_utf8(out.stdout).unwrap())
}

/// Just enough JSON reading for `ip -j link show` (no serde dependency).
mod serde_like {
    #[derive(Debug)]
    pub struct Link {
        pub mtu: u32,
        pub address: String,
        pub flags: Vec<String>,
    }

    fn field<'a>(s: &'a str, key: &str) -> &'a str {
        let k = format!("\"{key}\":");
        let i = s.find(&k).unwrap_or_else(|| panic!("no {key} in {s}")) + k.len();
        &s[i..]
    }

    pub fn parse(s: &str) -> Link {
        let mtu = field(s, "mtu");
        let mtu = mtu[..mtu.find(|c: char| !c.is_ascii_digit()).unwrap()]
            .parse()
            .unwrap();
        let addr = field(s, "address");
        let address = addr[1..addr[1..].find('"').unwrap() + 1].to_string();
        let flags = field(s, "flags");
        let flags = flags[1..flags.find(']').unwrap()]
            .split(',')
            .map(|f| f.trim_matches('"').to_string())
            .collect();
        Link {
            mtu,
            address,
            flags,
        }
    }
}

/// Run `f` on a thread in a fresh network namespace, or say why the test
/// is skipped (no /dev/net/tun, no `ip`, no namespaces). unshare(CLONE_NEWNET)
/// affects only the calling thread; `ip` children spawned from it inherit
/// the namespace.
fn in_private_netns(f: impl FnOnce() + Send + 'static) {
    if !tun_available() {
        println!("skipped: /dev/net/tun is not available");
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        println!("skipped: `ip` (iproute2) is not installed");
        return;
    }
    std::thread::spawn(|| {
        if let Err(e) = unshare_netns() {
            println!("skipped: cannot create a network namespace: {e}");
            return;
        }
        f();
    })
    .join()
    .unwrap();
}

#[test]
fn tap_in_private_namespace() {
    in_private_netns(|| {
        let name = stable_name(&Uuid::from_u128(0x0b5e8f3a_7c2d_4e19_a6b4_5d3c2b1a0f9e));
        let mut tap = Tap::open(&name, TapOptions::default()).unwrap();
        assert_eq!(tap.name(), name);
        let mac = [0x12, 0x08, 0x73, 0x8e, 0x7d, 0xd9];
        tap.set_mac(mac).unwrap();
        tap.set_mtu(9000).unwrap();
        tap.set_carrier(false).unwrap();
        tap.set_up(true).unwrap();
        let l = link_json(&name);
        assert_eq!(l.address, "12:08:73:8e:7d:d9");
        assert_eq!(l.mtu, 9000);
        assert!(l.flags.iter().any(|f| f == "UP"), "{l:?}");
        assert!(l.flags.iter().any(|f| f == "NO-CARRIER"), "{l:?}");
        tap.set_carrier(true).unwrap();
        let l = link_json(&name);
        assert!(!l.flags.iter().any(|f| f == "NO-CARRIER"), "{l:?}");
        assert!(l.flags.iter().any(|f| f == "LOWER_UP"), "{l:?}");
        // The TAP's MTU stops one byte short of Linux's 65522.
        tap.set_mtu(TAP_MAX_MTU).unwrap();
        assert_eq!(link_json(&name).mtu, TAP_MAX_MTU);
        assert!(tap.set_mtu(TAP_MAX_MTU + 1).is_err());
        // Nonblocking I/O: write a frame to the host, read without blocking.
        tap.set_nonblocking(true).unwrap();
        let mut frame = vec![0xffu8; 6];
        frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
        frame.extend_from_slice(&[0u8; 46]);
        assert!(tap.send_to_host(&frame).unwrap());
        let mut buf = vec![0u8; TAP_MAX_FRAME];
        match tap.recv_from_host(&mut buf) {
            Ok(n) => assert!(n >= 14),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        }
        // A 65536-byte frame from a Linux peer does not fit: counted drop.
        assert!(!tap.send_to_host(&vec![0u8; 65536]).unwrap());
        assert_eq!(tap.oversize_drops(), 1);
        tap.set_up(false).unwrap();
        assert!(!link_json(&name).flags.iter().any(|f| f == "UP"));
        drop(tap);
        // Closing the (non-persistent) TAP removes the interface.
        let gone = Command::new("ip")
            .args(["link", "show", &name])
            .output()
            .unwrap();
        assert!(!gone.status.success());
    });
}

#[test]
fn invalid_names_are_refused() {
    if !tun_available() {
        println!("skipped: /dev/net/tun is not available");
        return;
    }
    assert!(Tap::open("a/b", TapOptions::default()).is_err());
    assert!(Tap::open("thunderbolt01234", TapOptions::default()).is_err());
}

/// With `IFF_VNET_HDR`, `set_offload` decides whether the kernel leaves
/// checksums to us: a UDP datagram sent through the TAP arrives with
/// `NEEDS_CSUM` only after `set_offload(true, _)`. A full-size frame goes
/// back with its header in one write (the header does not count against
/// the frame limit).
#[test]
fn vnet_tap_offloads() {
    in_private_netns(|| {
        let name = "tbvnet0";
        let mut tap = Tap::open(name, TapOptions { vnet_hdr: true }).unwrap();
        tap.set_carrier(true).unwrap();
        tap.set_up(true).unwrap();
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        ip(&["addr", "add", "10.99.0.1/24", "dev", name]);
        ip(&[
            "neigh",
            "add",
            "10.99.0.2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            name,
        ]);
        tap.set_nonblocking(true).unwrap();
        let sock = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();
        let mut buf = vec![0u8; VNET_HDR_LEN + TAP_MAX_FRAME];
        // Reads until the UDP datagram to port 9 shows up; returns its offload.
        let mut udp_offload = |tap: &mut Tap| {
            sock.send_to(&[7u8; 100], "10.99.0.2:9").unwrap();
            for _ in 0..1000 {
                match tap.recv_from_host(&mut buf) {
                    Ok(n) => {
                        let (o, frame) = vnet::parse(&buf[..n]).unwrap();
                        // IPv4 (EtherType 0x0800), protocol UDP (17).
                        if frame.len() > 34 && frame[12..14] == [8, 0] && frame[23] == 17 {
                            return o;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("no UDP frame");
        };
        tap.set_offload(false, false).unwrap();
        assert_eq!(udp_offload(&mut tap), Offload::None);
        tap.set_offload(true, true).unwrap();
        assert_eq!(
            udp_offload(&mut tap),
            Offload::Partial {
                csum_start: 34,
                csum_offset: 6
            }
        );
        let hdr = [0u8; VNET_HDR_LEN];
        let write = |tap: &mut Tap, parts: &[&[u8]]| {
            let v: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            tap.send_to_host_vectored(&v)
        };
        let half = vec![0u8; TAP_MAX_FRAME / 2];
        assert!(write(&mut tap, &[&hdr, &half, &half, &[0]]).unwrap());
        assert!(!write(&mut tap, &[&hdr, &half, &half, &[0, 0]]).unwrap());
        assert_eq!(tap.oversize_drops(), 1);
        assert!(write(&mut tap, &[&hdr[..2]]).is_err());
    });
}
