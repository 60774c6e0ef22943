//! The local domain: our identity and the property block we serve
//! (spec 02 §9, 03 §8.1), with its generation (spec 02 §8.1).

use alloc::sync::Arc;
use alloc::vec::Vec;

use tblink_wire::property::{Directory, MAX_BLOCK_DWORDS, Value};
use tblink_wire::uuid::Uuid;
use tblink_wire::xdomain::{LINUX_MIN_PROPERTIES_CHUNK, MAX_PROPERTIES_DATA};

use crate::config::HostConfig;
use crate::device::Key;
use crate::driver::DriverId;
use crate::error::MisuseError;

/// A service we publish: a root sub-directory of our block (spec 03 §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalService {
    /// Directory key, e.g. `network`.
    pub key: Key,
    /// The directory (its `uuid` must be set).
    pub dir: Directory,
}

impl LocalService {
    /// A service directory as Linux publishes one: UUID and `prtcid`,
    /// `prtcvers`, `prtcrevs`, `prtcstns` in that order (spec 03 §8.2).
    pub fn standard(
        key: Key,
        uuid: Uuid,
        prtcid: u32,
        prtcvers: u32,
        prtcrevs: u32,
        prtcstns: u32,
    ) -> Self {
        LocalService {
            key,
            dir: Directory::service(uuid, prtcid, prtcvers, prtcrevs, prtcstns),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) service: LocalService,
    pub(crate) owner: Option<DriverId>,
}

/// Our block and its generation.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) uuid: Uuid,
    cfg: HostConfig,
    pub(crate) services: Vec<Published>,
    pub(crate) generation: u32,
    pub(crate) block: Arc<[u32]>,
}

impl Local {
    pub(crate) fn new(cfg: &HostConfig, generation: u32) -> Self {
        let mut l = Local {
            uuid: cfg.uuid,
            cfg: cfg.clone(),
            services: Vec::new(),
            generation,
            block: Arc::from(Vec::new()),
        };
        // The base block (no services) always fits; if the host name made it
        // too long the block stays empty and we serve nothing.
        if let Ok(b) = l.format(&l.services) {
            l.block = Arc::from(b);
        }
        l
    }

    /// The root directory in Linux 6.1's order (spec 02 §9): vendorid v,
    /// vendorid t, deviceid v, devicerv v, services in registration order,
    /// deviceid t, maxhopid v.
    pub(crate) fn root(&self, services: &[Published]) -> Result<Directory, MisuseError> {
        let mut root = Directory::new();
        let bad = |_| MisuseError::InvalidKey;
        root.add_immediate("vendorid", self.cfg.vendor_id)
            .map_err(bad)?;
        root.add_text("vendorid", self.cfg.vendor_name.as_bytes())
            .map_err(bad)?;
        root.add_immediate("deviceid", self.cfg.device_id)
            .map_err(bad)?;
        root.add_immediate("devicerv", self.cfg.device_rev)
            .map_err(bad)?;
        for p in services {
            let key = tblink_wire::property::Key::new(p.service.key.as_bytes()).map_err(bad)?;
            root.push(key, Value::Directory(p.service.dir.clone()));
        }
        root.add_text("deviceid", self.cfg.host_name.as_bytes())
            .map_err(bad)?;
        root.add_immediate("maxhopid", self.cfg.max_hop_id)
            .map_err(bad)?;
        Ok(root)
    }

    fn format(&self, services: &[Published]) -> Result<Vec<u32>, MisuseError> {
        let b = self
            .root(services)?
            .format()
            .map_err(|_| MisuseError::BlockTooLarge)?;
        if b.len() > MAX_BLOCK_DWORDS {
            return Err(MisuseError::BlockTooLarge);
        }
        Ok(b)
    }

    pub(crate) fn add(
        &mut self,
        service: LocalService,
        owner: Option<DriverId>,
    ) -> Result<(), MisuseError> {
        if self.services.iter().any(|p| p.service.key == service.key) {
            return Err(MisuseError::DuplicateService);
        }
        if self.services.len() >= self.cfg.max_local_services {
            return Err(MisuseError::Limit);
        }
        if service.dir.uuid.is_none() {
            return Err(MisuseError::BadFrame("service directory without UUID"));
        }
        let mut next = self.services.clone();
        next.push(Published { service, owner });
        let block = self.format(&next)?;
        self.commit(next, block);
        Ok(())
    }

    pub(crate) fn remove(&mut self, key: &Key) -> Result<(), MisuseError> {
        let mut next = self.services.clone();
        let before = next.len();
        next.retain(|p| &p.service.key != key);
        if next.len() == before {
            return Err(MisuseError::NoSuchService);
        }
        let block = self.format(&next)?;
        self.commit(next, block);
        Ok(())
    }

    fn commit(&mut self, services: Vec<Published>, block: Vec<u32>) {
        self.services = services;
        self.block = Arc::from(block);
        // Spec 02 §8.1: +1 per change, never wrapping within a connection
        // (starts below 2^31).
        self.generation = self.generation.wrapping_add(1);
    }
}

/// Chunk size for serving `offset` of a `len`-dword block: at most 45
/// dwords, never leaving a final page of 1–2 dwords (spec 02 §4.4).
pub(crate) fn page_len(len: usize, offset: usize) -> usize {
    let rest = len.saturating_sub(offset);
    if rest <= MAX_PROPERTIES_DATA {
        return rest;
    }
    let after = rest - MAX_PROPERTIES_DATA;
    if after < LINUX_MIN_PROPERTIES_CHUNK {
        rest - LINUX_MIN_PROPERTIES_CHUNK
    } else {
        MAX_PROPERTIES_DATA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use tblink_wire::uuid::NETWORK_DIRECTORY;

    /// Spec 03 §7: the 57-dword block of a Linux host named `linuxbox`.
    #[test]
    fn linux_block_byte_exact() {
        let cfg = HostConfig {
            host_name: String::from("linuxbox"),
            max_hop_id: 19,
            ..HostConfig::default()
        };
        let mut l = Local::new(&cfg, 0x5a3c9e16);
        let net =
            LocalService::standard(Key::new(b"network").unwrap(), NETWORK_DIRECTORY, 1, 1, 1, 7);
        l.add(net.clone(), None).unwrap();
        assert_eq!(l.generation, 0x5a3c9e17);
        assert_eq!(l.block.len(), 57);
        assert_eq!(&l.block[..2], &[0x55584401, 0x1c]);
        assert_eq!(l.block[0x14], 0x44000014);
        assert_eq!(l.block[0x15], 0x25);
        assert_eq!(l.block[0x25], 0xca8961c6);
        assert_eq!(l.block[56], 7);
        assert_eq!(l.add(net, None), Err(MisuseError::DuplicateService));
        l.remove(&Key::new(b"network").unwrap()).unwrap();
        assert_eq!(l.generation, 0x5a3c9e18);
        assert_eq!(
            l.remove(&Key::new(b"network").unwrap()),
            Err(MisuseError::NoSuchService)
        );
    }

    #[test]
    fn paging_never_leaves_one_or_two() {
        assert_eq!(page_len(57, 0), 45);
        assert_eq!(page_len(57, 45), 12);
        assert_eq!(page_len(46, 0), 43);
        assert_eq!(page_len(46, 43), 3);
        assert_eq!(page_len(47, 0), 44);
        assert_eq!(page_len(48, 0), 45);
        assert_eq!(page_len(10, 20), 0);
        for len in 3..=500 {
            let mut off = 0;
            while off < len {
                let n = page_len(len, off);
                assert!((3..=45).contains(&n), "len {len} off {off} n {n}");
                off += n;
            }
            assert_eq!(off, len);
        }
    }
}
