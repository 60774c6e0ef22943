//! The only module with `unsafe` code: memory mappings and the lock-free
//! single-producer/single-consumer (SPSC) rings that live in them.
//!
//! A duplex region holds a 4 KiB header and two rings of fixed-size
//! slots, one per direction. Side 0 produces into ring 0 and consumes
//! ring 1; side 1 the reverse. Each side owns one [`DuplexEnd`].
//!
//! # Protocol
//! * Producer: writes slots in `[head, tail + slots)` (exclusive to it),
//!   then publishes with a release swap of `head` (one per batch).
//! * Consumer: reads slots in `[tail, head)` after an `Acquire` load of
//!   `head` (exclusive to it), then releases with a release swap of `tail`
//!   (one per batch).
//! * Sleeping: a side about to block sets the sleep bit (bit 31) of the
//!   index word it waits on with a read-modify-write and re-checks with the
//!   value it got back; the peer publishes and releases with a swap of that
//!   same word, so it sees the bit whenever the sleeper missed the new index.
//!   A wake-up is never lost (checked by the `loom` model below). The
//!   wake-up itself (an eventfd) is outside this module.
//!
//! Indices are free-running 31-bit counters; `slots` is a power of two and
//! the slot of index `i` is `i % slots`.
//! Values written by the peer are checked (`head - tail <= slots`); a
//! violation marks the channel as corrupt, which callers treat as unplug.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicU32, Ordering};

/// Size of the shared header in bytes (one page).
pub(crate) const HEADER_LEN: usize = 4096;
/// Magic value of an initialised header ("TBLK").
const MAGIC: u32 = 0x5442_4c4b;
/// Layout version.
const VERSION: u32 = 1;

/// One cache line holding one atomic word.
#[repr(C, align(64))]
struct Line {
    v: AtomicU32,
}

/// The shared header. In the real build it is read in place from the
/// mapping (an all-zero page is a valid value of it); under `loom` it is an
/// ordinary heap value.
#[repr(C)]
struct Header {
    magic: Line,
    version: Line,
    slots: Line,
    slot_size: Line,
    /// Producer index of ring 0 / ring 1.
    head: [Line; 2],
    /// Consumer index of ring 0 / ring 1.
    tail: [Line; 2],
    /// Side 0 / side 1 has closed its end.
    closed: [Line; 2],
}

const _: () = assert!(core::mem::size_of::<Header>() <= HEADER_LEN);

#[cfg(not(loom))]
mod mem {
    use super::{HEADER_LEN, Header};
    use core::ptr::NonNull;
    use rustix::mm::{MapFlags, ProtFlags};
    use std::io;
    use std::os::fd::BorrowedFd;

    /// A shared, read-write memory mapping, unmapped on drop.
    pub(crate) struct Region {
        ptr: NonNull<u8>,
        len: usize,
    }

    // SAFETY: a Region is plain memory with no thread affinity; all
    // concurrent access to it goes through atomics or through the SPSC
    // slot-ownership protocol of this module.
    unsafe impl Send for Region {}
    // SAFETY: as above; `&Region` only exposes the raw base pointer to this module.
    unsafe impl Sync for Region {}

    impl Region {
        /// Map `len` bytes of `fd` shared and read-write.
        pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Region> {
            // SAFETY: a fresh mapping at a kernel-chosen address; it aliases no
            // Rust object. The caller checked that the file is at least `len`
            // bytes long and sealed against shrinking, so no access faults.
            let p = unsafe {
                rustix::mm::mmap(
                    core::ptr::null_mut(),
                    len,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                    fd,
                    0,
                )
            }?;
            Self::from_raw(p, len)
        }

        /// An anonymous shared mapping of `len` zero bytes (in-process cables).
        pub(crate) fn anonymous(len: usize) -> io::Result<Region> {
            // SAFETY: a fresh anonymous mapping at a kernel-chosen address; it
            // aliases no Rust object.
            let p = unsafe {
                rustix::mm::mmap_anonymous(
                    core::ptr::null_mut(),
                    len,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                )
            }?;
            Self::from_raw(p, len)
        }

        fn from_raw(p: *mut core::ffi::c_void, len: usize) -> io::Result<Region> {
            let ptr = NonNull::new(p.cast::<u8>()).ok_or(io::ErrorKind::InvalidData)?;
            Ok(Region { ptr, len })
        }

        pub(crate) fn len(&self) -> usize {
            self.len
        }

        pub(super) fn header(&self) -> &Header {
            // SAFETY: the mapping is page aligned and at least HEADER_LEN bytes
            // (checked by `Shared::new`); `Header` is `repr(C)` made only of
            // `AtomicU32`s, for which every bit pattern (including the zero
            // page of a new memfd) is valid; all access is atomic, so sharing
            // it with the other process is sound.
            unsafe { &*self.ptr.as_ptr().cast::<Header>() }
        }

        /// Base pointer of byte `offset`; the caller keeps `offset + len` in bounds.
        pub(super) fn at(&self, offset: usize) -> *mut u8 {
            debug_assert!(offset >= HEADER_LEN && offset <= self.len);
            self.ptr.as_ptr().wrapping_add(offset)
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: `ptr`/`len` are exactly the mapping created in `map` or
            // `anonymous`; the Region is being dropped, so no reference into
            // it remains (all borrows are tied to `&self`).
            let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }

    impl core::fmt::Debug for Region {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "Region({:p}, {} bytes)", self.ptr, self.len)
        }
    }
}

#[cfg(not(loom))]
pub(crate) use mem::Region;

/// The memory behind a duplex channel: a header and `2 * slots` slots.
struct Shared {
    slots: u32,
    slot_size: usize,
    #[cfg(not(loom))]
    region: Region,
    #[cfg(loom)]
    header: Header,
    #[cfg(loom)]
    cells: Box<[loom::cell::UnsafeCell<Box<[u8]>>]>,
}

impl Shared {
    fn header(&self) -> &Header {
        #[cfg(not(loom))]
        {
            self.region.header()
        }
        #[cfg(loom)]
        {
            &self.header
        }
    }

    /// Run `f` on slot `idx` of `ring` mutably.
    /// Only called by the producer of `ring` for an index it owns.
    fn with_slot_mut<R>(&self, ring: usize, idx: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let n = ring * self.slots as usize + (idx % self.slots) as usize;
        #[cfg(not(loom))]
        {
            let p = self.region.at(HEADER_LEN + n * self.slot_size);
            // SAFETY: `Shared::new`/`attach` checked that the region holds
            // HEADER_LEN + 2 * slots * slot_size bytes, so the slot is in
            // bounds. The SPSC protocol makes the slot exclusive to this
            // producer until it publishes `head` past it, and `&mut self` on
            // `DuplexEnd` makes this the only live reference in this process.
            // (The peer process is our own code and follows the protocol; if
            // it did not, it could only garble bytes we then validate.)
            let s = unsafe { core::slice::from_raw_parts_mut(p, self.slot_size) };
            f(s)
        }
        #[cfg(loom)]
        {
            self.cells[n].with_mut(|p| {
                // SAFETY: loom tracks this access and reports any concurrent one.
                f(unsafe { &mut **p })
            })
        }
    }

    /// Run `f` on slot `idx` of `ring` shared.
    /// Only called by the consumer of `ring` for an index it owns.
    fn with_slot<R>(&self, ring: usize, idx: u32, f: impl FnOnce(&[u8]) -> R) -> R {
        let n = ring * self.slots as usize + (idx % self.slots) as usize;
        #[cfg(not(loom))]
        {
            let p = self.region.at(HEADER_LEN + n * self.slot_size);
            // SAFETY: in bounds as in `with_slot_mut`; the `Acquire` load of
            // `head` that made this index readable synchronises with the
            // producer's release swap, and the producer does not touch the
            // slot again until the consumer's release swap of `tail`.
            let s = unsafe { core::slice::from_raw_parts(p.cast_const(), self.slot_size) };
            f(s)
        }
        #[cfg(loom)]
        {
            self.cells[n].with(|p| {
                // SAFETY: loom tracks this access and reports any concurrent one.
                f(unsafe { &**p })
            })
        }
    }
}

/// Bytes of shared memory needed for a duplex channel.
pub(crate) const fn duplex_len(slots: u32, slot_size: usize) -> usize {
    HEADER_LEN + 2 * slots as usize * slot_size
}

/// Why a channel could not be created or attached.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SysError {
    #[error("shared memory: {0}")]
    Io(#[from] std::io::Error),
    #[error("shared memory region has a bad header or size")]
    BadLayout,
}

/// One side of a duplex SPSC channel.
pub(crate) struct DuplexEnd {
    shared: Arc<Shared>,
    side: usize,
    /// Producer state (ring `side`).
    head: u32,
    tail_cache: u32,
    published: u32,
    /// Consumer state (ring `1 - side`).
    tail: u32,
    head_cache: u32,
    released: u32,
    corrupt: bool,
}

impl core::fmt::Debug for DuplexEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DuplexEnd")
            .field("side", &self.side)
            .field("slots", &self.shared.slots)
            .field("head", &self.head)
            .field("tail", &self.tail)
            .finish()
    }
}

/// Create a new duplex channel in `region` (side 0) and initialise its header.
#[cfg(not(loom))]
pub(crate) fn create(region: Region, slots: u32, slot_size: usize) -> Result<DuplexEnd, SysError> {
    if !slots.is_power_of_two()
        || !slot_size.is_multiple_of(64)
        || region.len() < duplex_len(slots, slot_size)
    {
        return Err(SysError::BadLayout);
    }
    let h = region.header();
    h.slots.v.store(slots, Ordering::Relaxed);
    h.slot_size.v.store(slot_size as u32, Ordering::Relaxed);
    h.version.v.store(VERSION, Ordering::Relaxed);
    h.magic.v.store(MAGIC, Ordering::Release);
    Ok(DuplexEnd::new(
        Arc::new(Shared {
            slots,
            slot_size,
            region,
        }),
        0,
    ))
}

/// Both ends of a new channel in `region` (both used in this process).
#[cfg(not(loom))]
pub(crate) fn create_pair(
    region: Region,
    slots: u32,
    slot_size: usize,
) -> Result<(DuplexEnd, DuplexEnd), SysError> {
    let a = create(region, slots, slot_size)?;
    let b = DuplexEnd::new(a.shared.clone(), 1);
    Ok((a, b))
}

/// Attach to a channel created by the peer (side 1); validates the header.
#[cfg(not(loom))]
pub(crate) fn attach(region: Region) -> Result<DuplexEnd, SysError> {
    if region.len() < HEADER_LEN {
        return Err(SysError::BadLayout);
    }
    let h = region.header();
    if h.magic.v.load(Ordering::Acquire) != MAGIC || h.version.v.load(Ordering::Relaxed) != VERSION
    {
        return Err(SysError::BadLayout);
    }
    let slots = h.slots.v.load(Ordering::Relaxed);
    let slot_size = h.slot_size.v.load(Ordering::Relaxed) as usize;
    if !slots.is_power_of_two() || slot_size < 64 || region.len() < duplex_len(slots, slot_size) {
        return Err(SysError::BadLayout);
    }
    Ok(DuplexEnd::new(
        Arc::new(Shared {
            slots,
            slot_size,
            region,
        }),
        1,
    ))
}

/// Both ends of a channel on the heap, for the `loom` model.
#[cfg(loom)]
pub(crate) fn loom_pair(slots: u32, slot_size: usize) -> (DuplexEnd, DuplexEnd) {
    let line = || Line {
        v: AtomicU32::new(0),
    };
    let header = Header {
        magic: line(),
        version: line(),
        slots: line(),
        slot_size: line(),
        head: [line(), line()],
        tail: [line(), line()],
        closed: [line(), line()],
    };
    let cells = (0..2 * slots)
        .map(|_| loom::cell::UnsafeCell::new(vec![0u8; slot_size].into_boxed_slice()))
        .collect();
    let shared = Arc::new(Shared {
        slots,
        slot_size,
        header,
        cells,
    });
    (DuplexEnd::new(shared.clone(), 0), DuplexEnd::new(shared, 1))
}

/// Bit 31 of a `head` word: its consumer sleeps; of a `tail` word: its producer sleeps.
const SLEEP: u32 = 1 << 31;
/// Indices are 31 bits wide.
const MASK: u32 = SLEEP - 1;

fn dist(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b) & MASK
}

impl DuplexEnd {
    fn new(shared: Arc<Shared>, side: usize) -> Self {
        let h = shared.header();
        // Resume from whatever the shared indices say (zero for a new channel).
        let head = h.head[side].v.load(Ordering::Acquire) & MASK;
        let tail = h.tail[1 - side].v.load(Ordering::Acquire) & MASK;
        DuplexEnd {
            side,
            head,
            tail_cache: h.tail[side].v.load(Ordering::Acquire) & MASK,
            published: head,
            tail,
            head_cache: h.head[1 - side].v.load(Ordering::Acquire) & MASK,
            released: tail,
            corrupt: false,
            shared,
        }
    }

    fn h(&self) -> &Header {
        self.shared.header()
    }

    /// Slot size in bytes.
    pub(crate) fn slot_size(&self) -> usize {
        self.shared.slot_size
    }

    /// Whether the peer wrote impossible indices.
    pub(crate) fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    fn used(&mut self, tail_word: u32) -> u32 {
        let used = dist(self.head, tail_word & MASK);
        if used > self.shared.slots {
            self.corrupt = true;
        }
        used
    }

    /// Free slots in the outgoing ring (refreshes the cached tail when needed).
    pub(crate) fn free(&mut self) -> u32 {
        let slots = self.shared.slots;
        if dist(self.head, self.tail_cache) >= slots {
            self.tail_cache = self.h().tail[self.side].v.load(Ordering::Acquire) & MASK;
        }
        let used = self.used(self.tail_cache);
        slots.saturating_sub(used)
    }

    /// Write the next outgoing slot with `f`; not visible to the peer until
    /// [`DuplexEnd::publish`]. `false` if the ring is full.
    pub(crate) fn try_write(&mut self, f: impl FnOnce(&mut [u8])) -> bool {
        if self.corrupt || self.free() == 0 {
            return false;
        }
        self.shared.with_slot_mut(self.side, self.head, f);
        self.head = self.head.wrapping_add(1) & MASK;
        true
    }

    /// Slots written but not yet published.
    pub(crate) fn unpublished(&self) -> u32 {
        dist(self.head, self.published)
    }

    /// Slots consumed but not yet released.
    pub(crate) fn unreleased(&self) -> u32 {
        dist(self.tail, self.released)
    }

    /// Make written slots visible. Returns whether the peer is asleep and
    /// must be woken.
    pub(crate) fn publish(&mut self) -> bool {
        if self.published == self.head {
            return false;
        }
        self.published = self.head;
        // One read-modify-write per batch: it both publishes the index and
        // takes the consumer's sleep bit, ordered against its `fetch_or`.
        let old = self.h().head[self.side].v.swap(self.head, Ordering::AcqRel);
        old & SLEEP != 0
    }

    /// Make written slots visible without taking the consumer's sleep bit:
    /// a sleeping consumer stays asleep and is still woken by the next
    /// [`DuplexEnd::publish`].
    pub(crate) fn publish_quiet(&mut self) {
        if self.published == self.head {
            return;
        }
        self.published = self.head;
        let head = self.head;
        let _ =
            self.h().head[self.side]
                .v
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                    Some(head | (old & SLEEP))
                });
    }

    /// Slots available to read (refreshes the cached head when needed).
    pub(crate) fn available(&mut self) -> u32 {
        if self.tail == self.head_cache {
            self.head_cache = self.h().head[1 - self.side].v.load(Ordering::Acquire) & MASK;
        }
        self.check_avail()
    }

    fn check_avail(&mut self) -> u32 {
        let n = dist(self.head_cache, self.tail);
        if n > self.shared.slots {
            self.corrupt = true;
            self.head_cache = self.tail;
            return 0;
        }
        n
    }

    /// Read the next incoming slot with `f`; the slot is consumed if `f`
    /// returns `true` (else it stays for the next call). `None` if empty.
    pub(crate) fn try_read(&mut self, f: impl FnOnce(&[u8]) -> bool) -> Option<bool> {
        if self.corrupt || self.available() == 0 {
            return None;
        }
        let consumed = self.shared.with_slot(1 - self.side, self.tail, f);
        if consumed {
            self.tail = self.tail.wrapping_add(1) & MASK;
        }
        Some(consumed)
    }

    /// Hand consumed slots back to the producer. Returns whether the peer is
    /// asleep and must be woken.
    pub(crate) fn release(&mut self) -> bool {
        if self.released == self.tail {
            return false;
        }
        self.released = self.tail;
        let old = self.h().tail[1 - self.side]
            .v
            .swap(self.tail, Ordering::AcqRel);
        old & SLEEP != 0
    }

    /// Announce that this side is about to sleep, then re-check. Returns
    /// `true` if it may sleep (nothing to read, no room wanted or none
    /// available, peer not closed); `false` if it must not (the announcement
    /// is then withdrawn).
    ///
    /// The sleep bits live in the index words the peer swaps when it
    /// publishes or releases, so the two read-modify-writes are totally
    /// ordered: either the peer sees the bit (and wakes us) or we see its
    /// new index (and do not sleep).
    pub(crate) fn prepare_sleep(&mut self, want_send: bool) -> bool {
        let h = &self.shared.header().head[1 - self.side].v;
        let old = h.fetch_or(SLEEP, Ordering::AcqRel);
        self.head_cache = old & MASK;
        let mut busy = self.check_avail() > 0 || self.peer_closed() || self.corrupt;
        if !busy && want_send {
            let t = &self.shared.header().tail[self.side].v;
            let old = t.fetch_or(SLEEP, Ordering::AcqRel);
            self.tail_cache = old & MASK;
            let used = self.used(old);
            busy = used < self.shared.slots || self.corrupt;
        }
        if busy {
            self.end_sleep();
        }
        !busy
    }

    /// Withdraw this side's sleep bits.
    pub(crate) fn end_sleep(&self) {
        let h = self.h();
        h.head[1 - self.side].v.fetch_and(MASK, Ordering::AcqRel);
        h.tail[self.side].v.fetch_and(MASK, Ordering::AcqRel);
    }

    /// Mark this side closed (the peer sees it as unplug).
    pub(crate) fn close(&self) {
        self.h().closed[self.side].v.store(1, Ordering::Release);
    }

    /// Whether the peer closed its side.
    pub(crate) fn peer_closed(&self) -> bool {
        self.h().closed[1 - self.side].v.load(Ordering::Acquire) != 0
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Model checks of the SPSC rings and the sleep/wake protocol.
    //! Run: `RUSTFLAGS="--cfg loom" cargo test -p tblink-hostif --release --lib loom`
    use super::*;
    use loom::sync::{Condvar, Mutex};

    /// An eventfd stand-in: a counter with blocking wait.
    #[derive(Default)]
    struct Bell {
        rung: Mutex<bool>,
        cv: Condvar,
    }
    impl Bell {
        fn ring(&self) {
            let mut g = self.rung.lock().unwrap();
            *g = true;
            self.cv.notify_one();
        }
        fn wait(&self) {
            let mut g = self.rung.lock().unwrap();
            while !*g {
                g = self.cv.wait(g).unwrap();
            }
            *g = false;
        }
    }

    /// Read the next slot if there is one; it must hold the value `got`,
    /// which then counts up.
    fn take_next(b: &mut DuplexEnd, got: &mut u8) -> bool {
        let want = *got;
        let r = b.try_read(|s| {
            assert_eq!(s[0], want);
            true
        });
        if r.is_some() {
            *got += 1;
        }
        r.is_some()
    }

    /// Producer pushes `n` values through a ring of 2 slots (so it fills up
    /// and must sleep), consumer sleeps when empty; every value arrives once,
    /// in order, and nobody sleeps forever (loom reports a deadlock if a
    /// wake-up is lost).
    fn run(n: u8, batch: bool) {
        let (mut a, mut b) = loom_pair(2, 8);
        let bell_a = Arc::new(Bell::default());
        let bell_b = Arc::new(Bell::default());
        let (ba, bb) = (bell_a.clone(), bell_b.clone());
        let prod = loom::thread::spawn(move || {
            let mut v = 0u8;
            while v < n {
                if a.try_write(|s| s[0] = v) {
                    v += 1;
                    if !batch || v == n {
                        if a.publish() {
                            bb.ring();
                        }
                    }
                    continue;
                }
                if a.publish() {
                    bb.ring();
                }
                if a.prepare_sleep(true) {
                    ba.wait();
                    a.end_sleep();
                }
            }
        });
        let mut got = 0u8;
        while got < n {
            if take_next(&mut b, &mut got) {
                continue;
            }
            if b.release() {
                bell_a.ring();
            }
            if b.prepare_sleep(false) {
                bell_b.wait();
                b.end_sleep();
            }
        }
        if b.release() {
            bell_a.ring();
        }
        prod.join().unwrap();
    }

    #[test]
    fn loom_spsc_no_lost_wakeup() {
        loom::model(|| run(3, false));
    }

    #[test]
    fn loom_spsc_batched_publish() {
        loom::model(|| run(3, true));
    }

    /// A quiet publish (no ring) followed by a normal one: the consumer,
    /// asleep or falling asleep at any point, gets both and is woken by
    /// the second. Would deadlock if the quiet publish took the sleep bit.
    #[test]
    fn loom_quiet_publish_keeps_the_sleeper() {
        loom::model(|| {
            let (mut a, mut b) = loom_pair(2, 8);
            let bell_b = Arc::new(Bell::default());
            let bb = bell_b.clone();
            let prod = loom::thread::spawn(move || {
                assert!(a.try_write(|s| s[0] = 0));
                a.publish_quiet();
                assert!(a.try_write(|s| s[0] = 1));
                if a.publish() {
                    bb.ring();
                }
            });
            let mut got = 0u8;
            while got < 2 {
                if take_next(&mut b, &mut got) {
                    continue;
                }
                if b.prepare_sleep(false) {
                    bell_b.wait();
                    b.end_sleep();
                }
            }
            prod.join().unwrap();
        });
    }
}
