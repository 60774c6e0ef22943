//! The property tree: spec 03 §2–4 (model) and §8 (standard properties).

use alloc::vec::Vec;

use uuid::Uuid;

use super::FormatError;
use super::key::{Key, keys};

/// Entry type byte (spec 03 §3, entry dword 2 bits \[31:24\]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Type {
    /// `'D'` 0x44: sub-directory.
    Directory,
    /// `'d'` 0x64: data.
    Data,
    /// `'t'` 0x74: text.
    Text,
    /// `'v'` 0x76: immediate value.
    Immediate,
    /// Any other type byte (accepted by spec 03 §5 rule 6). Never one of the
    /// four bytes above.
    Unknown(u8),
}

impl Type {
    /// `'D'`, spec 03 §3.
    pub const DIRECTORY_BYTE: u8 = 0x44;
    /// `'d'`, spec 03 §3.
    pub const DATA_BYTE: u8 = 0x64;
    /// `'t'`, spec 03 §3.
    pub const TEXT_BYTE: u8 = 0x74;
    /// `'v'`, spec 03 §3.
    pub const IMMEDIATE_BYTE: u8 = 0x76;

    /// The type a type byte names (spec 03 §3, §5 rule 6).
    pub fn from_byte(b: u8) -> Self {
        match b {
            Self::DIRECTORY_BYTE => Type::Directory,
            Self::DATA_BYTE => Type::Data,
            Self::TEXT_BYTE => Type::Text,
            Self::IMMEDIATE_BYTE => Type::Immediate,
            other => Type::Unknown(other),
        }
    }

    /// The type byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Type::Directory => Self::DIRECTORY_BYTE,
            Type::Data => Self::DATA_BYTE,
            Type::Text => Self::TEXT_BYTE,
            Type::Immediate => Self::IMMEDIATE_BYTE,
            Type::Unknown(b) => b,
        }
    }
}

/// The value of one property (spec 03 §3 per-type table).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    /// `'v'`: a 32-bit immediate value.
    Immediate(u32),
    /// `'t'`: text, as raw bytes without the terminating NUL (not
    /// necessarily UTF-8; spec 03 §5 asks to check UTF-8 only when showing
    /// it). The formatter writes the bytes up to the first NUL, then a NUL
    /// and zero padding (spec 03 §3 text sizing).
    Text(Vec<u8>),
    /// `'d'`: data bytes. Parsed data is always a whole number of dwords
    /// (the exact byte length is not on the wire); the formatter pads with
    /// zeros to a dword boundary and refuses empty data.
    Data(Vec<u8>),
    /// `'D'`: a sub-directory (its `uuid` must be `Some`).
    Directory(Directory),
    /// Any other type byte (spec 03 §5 rule 6): the entry's length and value
    /// fields verbatim. The formatter writes the entry back as it was, with
    /// no payload and no space reserved for one.
    Unknown {
        /// Type byte; never `D`, `d`, `t` or `v`.
        type_byte: u8,
        /// Entry length field.
        length: u16,
        /// Entry value field.
        value: u32,
    },
}

impl Value {
    /// The entry type of this value.
    pub fn ty(&self) -> Type {
        match self {
            Value::Immediate(_) => Type::Immediate,
            Value::Text(_) => Type::Text,
            Value::Data(_) => Type::Data,
            Value::Directory(_) => Type::Directory,
            Value::Unknown { type_byte, .. } => Type::Unknown(*type_byte),
        }
    }
}

/// One directory entry: a key and its value (spec 03 §3).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The key.
    pub key: Key,
    /// The value; its variant is the entry type.
    pub value: Value,
}

impl Entry {
    /// The entry type.
    pub fn ty(&self) -> Type {
        self.value.ty()
    }
}

/// A directory: optional UUID and an ordered list of entries (spec 03 §2,
/// §4, §6 data model).
///
/// The root directory has no UUID; every sub-directory has one (its
/// protocol type, spec 03 §4). Entries keep their order, and duplicates and
/// one key with several types are allowed; lookups are by (key, type), first
/// match (spec 03 §3).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Directory {
    /// Directory UUID: `None` for the root, `Some` for sub-directories.
    pub uuid: Option<Uuid>,
    /// The entries, in order.
    pub entries: Vec<Entry>,
}

impl Directory {
    /// An empty root directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty sub-directory with the given UUID (spec 03 §4).
    pub fn with_uuid(uuid: Uuid) -> Self {
        Directory {
            uuid: Some(uuid),
            entries: Vec::new(),
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> core::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the directory has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// First entry with this key and type (spec 03 §3: lookups are by
    /// (key, type) → first match). Keys longer than 8 bytes match nothing.
    pub fn find(&self, key: impl AsRef<[u8]>, ty: Type) -> Option<&Entry> {
        let key = key.as_ref();
        self.entries
            .iter()
            .find(|e| e.key.as_bytes() == key && e.ty() == ty)
    }

    /// Mutable access to the first entry with this key and type.
    pub fn find_mut(&mut self, key: impl AsRef<[u8]>, ty: Type) -> Option<&mut Entry> {
        let key = key.as_ref();
        self.entries
            .iter_mut()
            .find(|e| e.key.as_bytes() == key && e.ty() == ty)
    }

    /// The first immediate value with this key.
    pub fn immediate(&self, key: impl AsRef<[u8]>) -> Option<u32> {
        match self.find(key, Type::Immediate)?.value {
            Value::Immediate(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of the first text with this key (without NUL).
    pub fn text(&self, key: impl AsRef<[u8]>) -> Option<&[u8]> {
        match &self.find(key, Type::Text)?.value {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The bytes of the first data with this key.
    pub fn data(&self, key: impl AsRef<[u8]>) -> Option<&[u8]> {
        match &self.find(key, Type::Data)?.value {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    /// The first sub-directory with this key.
    pub fn directory(&self, key: impl AsRef<[u8]>) -> Option<&Directory> {
        match &self.find(key, Type::Directory)?.value {
            Value::Directory(d) => Some(d),
            _ => None,
        }
    }

    /// The first sub-directory with this key, mutably.
    pub fn directory_mut(&mut self, key: impl AsRef<[u8]>) -> Option<&mut Directory> {
        match &mut self.find_mut(key, Type::Directory)?.value {
            Value::Directory(d) => Some(d),
            _ => None,
        }
    }

    /// Append an entry.
    pub fn push(&mut self, key: Key, value: Value) -> &mut Self {
        self.entries.push(Entry { key, value });
        self
    }

    /// Append an immediate (`v`) property.
    pub fn add_immediate(
        &mut self,
        key: impl AsRef<[u8]>,
        value: u32,
    ) -> Result<&mut Self, FormatError> {
        Ok(self.push(Key::new(key)?, Value::Immediate(value)))
    }

    /// Append a text (`t`) property.
    pub fn add_text(
        &mut self,
        key: impl AsRef<[u8]>,
        text: impl AsRef<[u8]>,
    ) -> Result<&mut Self, FormatError> {
        Ok(self.push(Key::new(key)?, Value::Text(text.as_ref().to_vec())))
    }

    /// Append a data (`d`) property.
    pub fn add_data(
        &mut self,
        key: impl AsRef<[u8]>,
        data: impl AsRef<[u8]>,
    ) -> Result<&mut Self, FormatError> {
        Ok(self.push(Key::new(key)?, Value::Data(data.as_ref().to_vec())))
    }

    /// Append a sub-directory (`D`) with the given UUID and return it for
    /// filling in.
    pub fn add_directory(
        &mut self,
        key: impl AsRef<[u8]>,
        uuid: Uuid,
    ) -> Result<&mut Directory, FormatError> {
        let key = Key::new(key)?;
        self.entries.push(Entry {
            key,
            value: Value::Directory(Directory::with_uuid(uuid)),
        });
        match self.entries.last_mut().map(|e| &mut e.value) {
            Some(Value::Directory(d)) => Ok(d),
            // Unreachable: the entry was pushed just above.
            _ => Err(FormatError::MissingUuid),
        }
    }

    /// Remove every entry with this key (any type, or only `ty`); returns
    /// how many were removed.
    pub fn remove(&mut self, key: impl AsRef<[u8]>, ty: Option<Type>) -> usize {
        let key = key.as_ref();
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.key.as_bytes() == key && ty.is_none_or(|t| e.ty() == t)));
        before - self.entries.len()
    }

    // ---- Standard root properties, spec 03 §8.1 / 02 §9 ----

    /// `vendorid` (`v`): numeric vendor id (03 §8.1; mandatory, §5 rule 14).
    pub fn vendor_id(&self) -> Option<u32> {
        self.immediate(keys::VENDOR_ID.as_bytes())
    }

    /// `vendorid` (`t`): vendor name (03 §8.1; optional, §5 rule 15).
    pub fn vendor_name(&self) -> Option<&[u8]> {
        self.text(keys::VENDOR_ID.as_bytes())
    }

    /// `deviceid` (`v`): numeric model id (03 §8.1; mandatory, §5 rule 14).
    pub fn device_id(&self) -> Option<u32> {
        self.immediate(keys::DEVICE_ID.as_bytes())
    }

    /// `deviceid` (`t`): model or host name (03 §8.1; optional, §5 rule 15).
    pub fn device_name(&self) -> Option<&[u8]> {
        self.text(keys::DEVICE_ID.as_bytes())
    }

    /// `devicerv` (`v`): device revision (03 §8.1).
    pub fn device_revision(&self) -> Option<u32> {
        self.immediate(keys::DEVICE_RV.as_bytes())
    }

    /// `maxhopid` (`v`), or 15 when absent (03 §8.1, §5 rule 15).
    pub fn max_hop_id(&self) -> u32 {
        self.immediate(keys::MAX_HOP_ID.as_bytes())
            .unwrap_or(DEFAULT_MAX_HOP_ID)
    }

    /// Spec 03 §5 rules 14–15: the discovery layer's check of a parsed root
    /// directory. Rule 14: `vendorid` and `deviceid` of type `v` must be
    /// present. Rule 15 items are optional and never fail.
    pub fn check_xdomain_root(&self) -> Result<XdomainRoot, MissingProperty> {
        let vendor_id = self.vendor_id().ok_or(MissingProperty(keys::VENDOR_ID))?;
        let device_id = self.device_id().ok_or(MissingProperty(keys::DEVICE_ID))?;
        Ok(XdomainRoot {
            vendor_id,
            device_id,
            max_hop_id: self.max_hop_id(),
        })
    }

    // ---- Service directory properties, spec 03 §8.2 ----

    /// `prtcid`: protocol id, 0 when absent (03 §8.2).
    pub fn prtcid(&self) -> u32 {
        self.immediate(keys::PRTC_ID.as_bytes()).unwrap_or(0)
    }

    /// `prtcvers`: protocol version, 0 when absent (03 §8.2).
    pub fn prtcvers(&self) -> u32 {
        self.immediate(keys::PRTC_VERS.as_bytes()).unwrap_or(0)
    }

    /// `prtcrevs`: protocol revision, 0 when absent (03 §8.2).
    pub fn prtcrevs(&self) -> u32 {
        self.immediate(keys::PRTC_REVS.as_bytes()).unwrap_or(0)
    }

    /// `prtcstns`: protocol settings, 0 when absent (03 §8.2).
    pub fn prtcstns(&self) -> u32 {
        self.immediate(keys::PRTC_STNS.as_bytes()).unwrap_or(0)
    }

    /// The service directories of a root: every `D` entry, in order, with
    /// its key (03 §8.2).
    pub fn services(&self) -> impl Iterator<Item = (&Key, &Directory)> {
        self.entries.iter().filter_map(|e| match &e.value {
            Value::Directory(d) => Some((&e.key, d)),
            _ => None,
        })
    }

    /// A service directory as Linux publishes it (03 §8.2): UUID and the
    /// four `v` entries `prtcid`, `prtcvers`, `prtcrevs`, `prtcstns` in
    /// that order.
    pub fn service(uuid: Uuid, prtcid: u32, prtcvers: u32, prtcrevs: u32, prtcstns: u32) -> Self {
        let mut d = Directory::with_uuid(uuid);
        d.push(keys::PRTC_ID, Value::Immediate(prtcid))
            .push(keys::PRTC_VERS, Value::Immediate(prtcvers))
            .push(keys::PRTC_REVS, Value::Immediate(prtcrevs))
            .push(keys::PRTC_STNS, Value::Immediate(prtcstns));
        d
    }
}

impl<'a> IntoIterator for &'a Directory {
    type Item = &'a Entry;
    type IntoIter = core::slice::Iter<'a, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// `maxhopid` assumed for peers that do not publish it (spec 03 §8.1).
pub const DEFAULT_MAX_HOP_ID: u32 = 15;

/// The mandatory and defaulted root properties (spec 03 §5 rules 14–15).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct XdomainRoot {
    /// `vendorid` (`v`).
    pub vendor_id: u32,
    /// `deviceid` (`v`).
    pub device_id: u32,
    /// `maxhopid` (`v`) or 15.
    pub max_hop_id: u32,
}

/// Spec 03 §5 rule 14: a mandatory root property of type `v` is missing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("rule 14 (missing XDomain property `{0}` of type v)")]
pub struct MissingProperty(pub Key);
