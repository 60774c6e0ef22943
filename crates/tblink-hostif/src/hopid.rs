//! HopID and ring-number allocation (spec 05 §7.1, §12).

use crate::hostif::Error;

/// A set of allocated numbers in `[min, max]` with Linux's rules: automatic
/// allocation returns the lowest free value, an explicit value must be in
/// range and free.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdPool {
    used: Vec<u64>,
}

impl IdPool {
    fn is_used(&self, v: u16) -> bool {
        self.used
            .get(v as usize / 64)
            .is_some_and(|w| w & (1 << (v % 64)) != 0)
    }

    fn set(&mut self, v: u16, on: bool) {
        let i = v as usize / 64;
        if self.used.len() <= i {
            self.used.resize(i + 1, 0);
        }
        if let Some(w) = self.used.get_mut(i) {
            if on {
                *w |= 1 << (v % 64);
            } else {
                *w &= !(1 << (v % 64));
            }
        }
    }

    /// Allocate `want` (or the lowest free value) within `[min, max]`.
    pub(crate) fn alloc(&mut self, min: u16, max: u16, want: Option<u16>) -> Result<u16, Error> {
        match want {
            Some(h) if h < min || h > max => Err(Error::HopIdOutOfRange { hop: h, min, max }),
            Some(h) if self.is_used(h) => Err(Error::HopIdTaken(h)),
            Some(h) => {
                self.set(h, true);
                Ok(h)
            }
            None => {
                let h = (min..=max)
                    .find(|&h| !self.is_used(h))
                    .ok_or(Error::NoFreeHopId)?;
                self.set(h, true);
                Ok(h)
            }
        }
    }

    /// Release `v` (no-op if free).
    pub(crate) fn release(&mut self, v: u16) {
        self.set(v, false);
    }

    /// Release everything.
    pub(crate) fn clear(&mut self) {
        self.used.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_explicit_exhaustion() {
        let mut p = IdPool::default();
        assert_eq!(p.alloc(8, 10, None), Ok(8));
        assert_eq!(p.alloc(8, 10, Some(10)), Ok(10));
        assert_eq!(p.alloc(8, 10, Some(10)), Err(Error::HopIdTaken(10)));
        assert_eq!(
            p.alloc(8, 10, Some(7)),
            Err(Error::HopIdOutOfRange {
                hop: 7,
                min: 8,
                max: 10
            })
        );
        assert_eq!(
            p.alloc(8, 10, Some(11)),
            Err(Error::HopIdOutOfRange {
                hop: 11,
                min: 8,
                max: 10
            })
        );
        assert_eq!(p.alloc(8, 10, None), Ok(9));
        assert_eq!(p.alloc(8, 10, None), Err(Error::NoFreeHopId));
        p.release(9);
        assert_eq!(p.alloc(8, 10, None), Ok(9));
        p.clear();
        assert_eq!(p.alloc(8, 10, None), Ok(8));
    }
}
