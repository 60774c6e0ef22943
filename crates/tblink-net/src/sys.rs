//! The TAP device (Linux): the interface the host's network stack sees.
//!
//! The only module of the crate with `unsafe` code: thin wrappers around
//! `open(/dev/net/tun)` and the `ioctl`s that configure a TAP interface
//! (`TUNSETIFF` with `IFF_TAP | IFF_NO_PI` [| `IFF_VNET_HDR`],
//! `TUNSETCARRIER`, `TUNSETOFFLOAD`, and `SIOCSIFHWADDR` / `SIOCSIFMTU` / `SIOCGIFFLAGS` /
//! `SIOCSIFFLAGS` on a control socket). Reads and writes move whole
//! Ethernet frames.
//!
//! # The one-byte size gap
//! Linux's `thunderboltN` accepts an MTU up to 65522 and its peers send
//! Ethernet frames up to 65536 bytes (spec 06 §11), which the
//! [`crate::rx::Reassembler`] delivers. A TAP interface's MTU is capped at
//! [`TAP_MAX_MTU`] = 65521 (`MAX_MTU` 65535 − 14), so the largest frame
//! handed to a TAP is [`TAP_MAX_FRAME`] = 65535 bytes. [`Tap::send_to_host`]
//! drops (and counts in [`Tap::oversize_drops`]) the rare 65536-byte frame
//! from a Linux peer that runs MTU 65522 with TSO; TCP recovers by
//! retransmitting, and a peer at MTU ≤ 65521 never sends one.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::name::is_valid_name;

/// Largest MTU of a TAP interface: `MAX_MTU` (65535) − `ETH_HLEN` (14).
pub const TAP_MAX_MTU: u32 = 65521;
/// Largest Ethernet frame a TAP interface takes: MTU + 14 = 65535.
pub const TAP_MAX_FRAME: usize = TAP_MAX_MTU as usize + 14;
/// Path of the TUN/TAP clone device.
pub const TUN_PATH: &str = "/dev/net/tun";

/// How to open the TAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TapOptions {
    /// Prefix every frame with a `virtio_net_hdr` (`IFF_VNET_HDR`); the
    /// caller then parses it (e.g. into [`crate::Offload::Partial`]).
    pub vnet_hdr: bool,
}

/// An open TAP interface. Closing it removes the interface (it is not
/// made persistent).
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    oversize_drops: u64,
    /// Bytes of `virtio_net_hdr` before every frame (0 without `IFF_VNET_HDR`).
    hdr_len: usize,
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if !is_valid_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    // SAFETY: `ifreq` is a plain C struct (a name array and a union of
    // plain data); all-zero bytes are a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A datagram socket for the `SIOC*` interface ioctls.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; no pointers.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Tap {
    /// Create the TAP interface `name` (`IFF_TAP | IFF_NO_PI`, plus
    /// `IFF_VNET_HDR` if asked). The kernel may adjust a name containing
    /// `%d`; [`Tap::name`] returns the name it chose.
    pub fn open(name: &str, opts: TapOptions) -> io::Result<Tap> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(TUN_PATH)?;
        let mut req = ifreq(name)?;
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if opts.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        req.ifr_ifru.ifru_flags = flags as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`; `req` is a
        // valid, initialised ifreq that outlives the call; the fd is open.
        check(unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) })?;
        let name: String = req
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8 as char)
            .collect();
        Ok(Tap {
            file,
            name,
            oversize_drops: 0,
            hdr_len: if opts.vnet_hdr {
                crate::vnet::VNET_HDR_LEN
            } else {
                0
            },
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames [`Tap::send_to_host`] dropped for exceeding [`TAP_MAX_FRAME`].
    pub fn oversize_drops(&self) -> u64 {
        self.oversize_drops
    }

    fn sioc(&self, request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
        let sock = control_socket()?;
        // SAFETY: the SIOC*IF* requests used here read/write one `struct
        // ifreq`; `req` is valid for the duration of the call.
        check(unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) })?;
        Ok(())
    }

    /// Set the MAC address (`SIOCSIFHWADDR`, ARPHRD_ETHER).
    pub fn set_mac(&self, mac: [u8; 6]) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        // SAFETY: writing plain-data fields of the union member `sockaddr`;
        // every bit pattern is valid for it.
        unsafe {
            req.ifr_ifru.ifru_hwaddr.sa_family = libc::ARPHRD_ETHER;
            for (d, &s) in req.ifr_ifru.ifru_hwaddr.sa_data.iter_mut().zip(&mac) {
                *d = s as libc::c_char;
            }
        }
        self.sioc(libc::SIOCSIFHWADDR, &mut req)
    }

    /// Set the MTU (`SIOCSIFMTU`); at most [`TAP_MAX_MTU`].
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU too large"))?;
        self.sioc(libc::SIOCSIFMTU, &mut req)
    }

    /// Set the transmit queue length (`SIOCSIFTXQLEN`): how many frames
    /// the kernel holds for the reader before dropping.
    pub fn set_txqueuelen(&self, len: u32) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        // `ifr_qlen` is the union's plain `int` member, like `ifru_metric`.
        req.ifr_ifru.ifru_metric = libc::c_int::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "queue length too large"))?;
        self.sioc(libc::SIOCSIFTXQLEN, &mut req)
    }

    /// Bring the interface administratively up or down (`IFF_UP`).
    pub fn set_up(&self, up: bool) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        self.sioc(libc::SIOCGIFFLAGS, &mut req)?;
        // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member just read.
        let mut flags = unsafe { req.ifr_ifru.ifru_flags };
        if up {
            flags |= libc::IFF_UP as libc::c_short;
        } else {
            flags &= !(libc::IFF_UP as libc::c_short);
        }
        req.ifr_ifru.ifru_flags = flags;
        self.sioc(libc::SIOCSIFFLAGS, &mut req)
    }

    /// Carrier on or off (`TUNSETCARRIER`): on only while the link is
    /// logged in both ways with paths up (spec 06 §6).
    pub fn set_carrier(&self, on: bool) -> io::Result<()> {
        let v: libc::c_int = on.into();
        // SAFETY: TUNSETCARRIER reads one `int` through the pointer, which
        // points at a live local.
        check(unsafe { libc::ioctl(self.file.as_raw_fd(), libc::TUNSETCARRIER, &v) })?;
        Ok(())
    }

    /// Tell the kernel which offloads it may leave to us
    /// (`TUNSETOFFLOAD`); only for a TAP opened with `IFF_VNET_HDR`, whose
    /// frames then carry the request in their `virtio_net_hdr`
    /// ([`crate::vnet`]). `csum`: checksums may be left partial
    /// (`TUN_F_CSUM`); `tso` (implies `csum`): TCP segments of up to 64 KiB
    /// over IPv4 and IPv6, with ECN (`TUN_F_TSO4 | TUN_F_TSO6 |
    /// TUN_F_TSO_ECN`), which the transmitter sends unsegmented (spec 06
    /// §12). Both off: every frame arrives complete.
    pub fn set_offload(&self, csum: bool, tso: bool) -> io::Result<()> {
        let mut flags: libc::c_uint = 0;
        if csum || tso {
            flags |= libc::TUN_F_CSUM;
        }
        if tso {
            flags |= libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;
        }
        // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned
        // long of flags), no pointer; the fd is open.
        check(unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(flags),
            )
        })?;
        Ok(())
    }

    /// Switch `O_NONBLOCK` on or off.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on an fd we own, integer arguments only.
        let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        let flags = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        // SAFETY: as above.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) })?;
        Ok(())
    }

    /// Read one frame the host sent into the interface (to transmit to
    /// the peer). `buf` should hold [`TAP_MAX_FRAME`] bytes (plus the
    /// vnet header if enabled). `WouldBlock` when nonblocking and empty.
    pub fn recv_from_host(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }

    /// Hand one received Ethernet frame (preceded by its vnet header if
    /// enabled) to the host. Frames above [`TAP_MAX_FRAME`] are dropped and
    /// counted; returns whether it was written.
    pub fn send_to_host(&mut self, frame: &[u8]) -> io::Result<bool> {
        if frame.len() > TAP_MAX_FRAME + self.hdr_len {
            self.oversize_drops += 1;
            return Ok(false);
        }
        self.file.write(frame).map(|_| true)
    }
}

impl Tap {
    /// [`Tap::recv_from_host`] into several buffers in order (the vnet
    /// header, if enabled, lands at the start of the first): one `readv`.
    pub fn recv_from_host_vectored(
        &mut self,
        parts: &mut [io::IoSliceMut<'_>],
    ) -> io::Result<usize> {
        self.file.read_vectored(parts)
    }

    /// [`Tap::send_to_host`] for a frame in parts (its vnet header first
    /// if enabled): one `writev`, nothing joined first.
    pub fn send_to_host_vectored(&mut self, parts: &[io::IoSlice<'_>]) -> io::Result<bool> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len < self.hdr_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "shorter than the vnet header",
            ));
        }
        if len - self.hdr_len > TAP_MAX_FRAME {
            self.oversize_drops += 1;
            return Ok(false);
        }
        self.file.write_vectored(parts).map(|_| true)
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Move the calling thread into a new network namespace
/// (`unshare(CLONE_NEWNET)`); needs `CAP_SYS_ADMIN`. Meant for tests and
/// tools that want a private set of interfaces.
pub fn unshare_netns() -> io::Result<()> {
    // SAFETY: plain syscall with a constant flag; affects only this thread.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Whether `/dev/net/tun` can be opened.
pub fn tun_available() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN_PATH)
        .is_ok()
}
