//! An interface made of two bounded in-memory frame queues, for a network
//! stack running in the same process as the data path (a userspace TCP/IP
//! stack instead of the kernel behind a TAP).
//!
//! [`QueueDevices`] creates one [`QueueDevice`] per peer (the side the
//! [`NetPort`](crate::NetPort) pumps, a [`NetDevice`]) and keeps the
//! matching [`QueueEnd`] (the stack's side) where the stack can find it
//! with [`QueueDevices::interfaces`]. Both ends share one lock; nothing
//! blocks.
//!
//! Each direction holds at most `capacity` frames. A full queue refuses a
//! frame: towards the stack the port counts it as a host drop (as a TAP
//! whose reader fell behind), towards the wire [`QueueEnd::can_send`]
//! turns false so the stack holds it back. Frame buffers are recycled, so
//! a steady flow allocates nothing; at most `capacity` spare buffers are
//! kept per direction.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::device::{Devices, NetDevice};
use crate::port::{FrameIo, MAX_HOST_FRAME};

/// Frames per direction unless told otherwise: a little more than a TX
/// ring holds (255).
pub const DEFAULT_CAPACITY: usize = 512;

/// One direction.
#[derive(Debug)]
struct Fifo {
    frames: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    capacity: usize,
    /// Frames refused because the queue was full.
    dropped: u64,
}

impl Fifo {
    fn new(capacity: usize) -> Self {
        Fifo {
            frames: VecDeque::new(),
            spare: Vec::new(),
            capacity,
            dropped: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.frames.len() >= self.capacity
    }

    /// Queue a frame of `len` bytes written by `fill`. When the queue is
    /// full `fill` still runs (into a spare buffer) and the frame is
    /// dropped and counted; the flag says whether it was queued.
    fn push_with<R>(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> (R, bool) {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.resize(len, 0);
        let r = fill(&mut b);
        if self.is_full() {
            self.dropped += 1;
            self.recycle(b);
            (r, false)
        } else {
            self.frames.push_back(b);
            (r, true)
        }
    }

    fn recycle(&mut self, b: Vec<u8>) {
        if self.spare.len() < self.capacity {
            self.spare.push(b);
        }
    }
}

/// State shared by the two ends.
#[derive(Debug)]
struct Shared {
    mac: [u8; 6],
    mtu: u32,
    carrier: bool,
    /// Frames the stack sent, for the data path to transmit.
    to_wire: Fifo,
    /// Frames the data path received, for the stack.
    from_wire: Fifo,
}

fn lock(s: &Mutex<Shared>) -> io::Result<MutexGuard<'_, Shared>> {
    s.lock()
        .map_err(|_| io::Error::other("frame queue poisoned"))
}

/// The data path's side of a queue interface.
#[derive(Debug)]
pub struct QueueDevice {
    name: String,
    shared: Arc<Mutex<Shared>>,
}

impl FrameIo for QueueDevice {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = lock(&self.shared)?;
        let Some(f) = s.to_wire.frames.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let r = match buf.get_mut(..f.len()) {
            Some(dst) => {
                dst.copy_from_slice(&f);
                Ok(f.len())
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame of {} bytes does not fit", f.len()),
            )),
        };
        s.to_wire.recycle(f);
        r
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<bool> {
        let mut s = lock(&self.shared)?;
        Ok(s.from_wire
            .push_with(frame.len(), |b| b.copy_from_slice(frame))
            .1)
    }

    fn send_frame_vectored(&mut self, parts: &[io::IoSlice<'_>]) -> io::Result<bool> {
        let len = parts.iter().map(|p| p.len()).sum();
        let mut s = lock(&self.shared)?;
        Ok(s.from_wire
            .push_with(len, |b| {
                let mut at = 0;
                for p in parts {
                    b[at..at + p.len()].copy_from_slice(p);
                    at += p.len();
                }
            })
            .1)
    }

    fn set_carrier(&mut self, on: bool) -> io::Result<()> {
        lock(&self.shared)?.carrier = on;
        Ok(())
    }
}

impl NetDevice for QueueDevice {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_mac(&mut self, mac: [u8; 6]) -> io::Result<()> {
        lock(&self.shared)?.mac = mac;
        Ok(())
    }
}

/// The stack's side of a queue interface (cheap to clone; clones share
/// the queues).
#[derive(Debug, Clone)]
pub struct QueueEnd {
    name: String,
    shared: Arc<Mutex<Shared>>,
}

impl QueueEnd {
    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MAC address (spec 06 §13).
    pub fn mac(&self) -> [u8; 6] {
        self.shared.lock().map_or([0; 6], |s| s.mac)
    }

    /// The MTU.
    pub fn mtu(&self) -> u32 {
        self.shared.lock().map_or(0, |s| s.mtu)
    }

    /// Carrier: the peer is logged in and the paths are up.
    pub fn carrier(&self) -> bool {
        self.shared.lock().is_ok_and(|s| s.carrier)
    }

    /// Whether [`QueueEnd::send_with`] has room for a frame now.
    pub fn can_send(&self) -> bool {
        self.shared.lock().is_ok_and(|s| !s.to_wire.is_full())
    }

    /// Queue one frame of `len` bytes for transmission, written in place
    /// by `fill`, which always runs. The flag is false (frame dropped)
    /// when the queue is full (check [`QueueEnd::can_send`] first) or
    /// `len` exceeds [`MAX_HOST_FRAME`].
    pub fn send_with<R>(&self, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> (R, bool) {
        match self.shared.lock() {
            Ok(mut s) if len <= MAX_HOST_FRAME => s.to_wire.push_with(len, fill),
            _ => (fill(&mut vec![0u8; len.min(MAX_HOST_FRAME)]), false),
        }
    }

    /// Take the oldest received frame; give it back with
    /// [`QueueEnd::recycle`] when done.
    pub fn recv(&self) -> Option<Vec<u8>> {
        self.shared.lock().ok()?.from_wire.frames.pop_front()
    }

    /// Return a buffer from [`QueueEnd::recv`] for reuse.
    pub fn recycle(&self, frame: Vec<u8>) {
        if let Ok(mut s) = self.shared.lock() {
            s.from_wire.recycle(frame);
        }
    }

    /// Frames waiting for the data path and for the stack.
    pub fn queued(&self) -> (usize, usize) {
        self.shared.lock().map_or((0, 0), |s| {
            (s.to_wire.frames.len(), s.from_wire.frames.len())
        })
    }

    /// Frames refused for a full queue: towards the wire, towards the
    /// stack.
    pub fn dropped(&self) -> (u64, u64) {
        self.shared
            .lock()
            .map_or((0, 0), |s| (s.to_wire.dropped, s.from_wire.dropped))
    }
}

/// Creates queue interfaces and keeps their stack-side ends. Clones share
/// the list, so keep one to find the interfaces the other creates.
#[derive(Debug, Clone)]
pub struct QueueDevices {
    capacity: usize,
    made: Arc<Mutex<Vec<QueueEnd>>>,
}

impl Default for QueueDevices {
    fn default() -> Self {
        QueueDevices::new(DEFAULT_CAPACITY)
    }
}

impl QueueDevices {
    /// Interfaces whose queues hold at most `capacity` frames per
    /// direction (at least 1).
    pub fn new(capacity: usize) -> Self {
        QueueDevices {
            capacity: capacity.max(1),
            made: Arc::default(),
        }
    }

    /// The stack-side ends of every interface created so far, oldest
    /// first.
    pub fn interfaces(&self) -> Vec<QueueEnd> {
        self.made.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Devices for QueueDevices {
    type Device = QueueDevice;

    fn name_in_use(&self, _name: &str) -> bool {
        false
    }

    fn create(&mut self, name: &str, mac: [u8; 6], mtu: u32) -> io::Result<QueueDevice> {
        let shared = Arc::new(Mutex::new(Shared {
            mac,
            mtu,
            carrier: false,
            to_wire: Fifo::new(self.capacity),
            from_wire: Fifo::new(self.capacity),
        }));
        let end = QueueEnd {
            name: name.to_string(),
            shared: shared.clone(),
        };
        self.made
            .lock()
            .map_err(|_| io::Error::other("interface list poisoned"))?
            .push(end);
        Ok(QueueDevice {
            name: name.to_string(),
            shared,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_both_ways_and_queues_are_bounded() {
        let mut devs = QueueDevices::new(2);
        let mut dev = devs
            .create("thunderbolt0", [2, 0, 0, 0, 0, 1], 1500)
            .unwrap();
        let end = devs.interfaces().pop().unwrap();
        assert_eq!(end.name(), "thunderbolt0");
        assert_eq!(end.mac(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(end.mtu(), 1500);

        // Stack → wire: two fit, the third is refused.
        let mut buf = [0u8; 64];
        assert_eq!(
            dev.recv_frame(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(end.send_with(3, |b| b.copy_from_slice(b"abc")).1);
        assert!(end.send_with(2, |b| b.copy_from_slice(b"de")).1);
        assert!(!end.can_send());
        assert_eq!(end.send_with(1, |b| b.len()), (1, false));
        assert_eq!(end.dropped(), (1, 0));
        assert_eq!(dev.recv_frame(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        assert!(end.can_send());
        assert_eq!(dev.recv_frame(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"de");

        // A frame larger than the reader's buffer is an error, not a hang.
        assert!(end.send_with(65, |_| ()).1);
        assert_eq!(
            dev.recv_frame(&mut buf).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(!end.send_with(MAX_HOST_FRAME + 1, |_| ()).1);

        // Wire → stack: refused when full, in order, buffers recycled.
        assert!(dev.send_frame(b"one").unwrap());
        assert!(dev.send_frame(b"two").unwrap());
        assert!(!dev.send_frame(b"three").unwrap());
        assert_eq!(end.queued(), (0, 2));
        let f = end.recv().unwrap();
        assert_eq!(f, b"one");
        end.recycle(f);
        assert_eq!(end.recv().unwrap(), b"two");
        assert!(end.recv().is_none());
        assert_eq!(end.dropped().1, 1);

        // Carrier and MAC changes are seen by the stack.
        assert!(!end.carrier());
        dev.set_carrier(true).unwrap();
        assert!(end.carrier());
        dev.set_mac([2, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(end.mac(), [2, 0, 0, 0, 0, 9]);
        assert_eq!(dev.name(), "thunderbolt0");
    }

    #[test]
    fn vectored_send_joins_the_parts_into_one_frame() {
        let mut devs = QueueDevices::new(1);
        let mut dev = devs
            .create("thunderbolt0", [2, 0, 0, 0, 0, 1], 1500)
            .unwrap();
        let end = devs.interfaces().pop().unwrap();
        let parts = [
            io::IoSlice::new(b""),
            io::IoSlice::new(b"head"),
            io::IoSlice::new(b"-payload"),
        ];
        assert!(dev.send_frame_vectored(&parts).unwrap());
        assert!(!dev.send_frame_vectored(&parts).unwrap());
        assert_eq!(end.recv().unwrap(), b"head-payload");
        assert_eq!(end.dropped().1, 1);
    }

    #[test]
    fn spare_buffers_are_bounded() {
        let mut f = Fifo::new(2);
        for _ in 0..5 {
            f.recycle(vec![0; 10]);
        }
        assert_eq!(f.spare.len(), 2);
        assert_eq!(f.push_with(4, |b| b.len()), (4, true));
        assert_eq!(f.spare.len(), 1);
    }
}
