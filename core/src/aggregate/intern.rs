//! String interning for context names, hosts and tags, with reference
//! counts so strings of expired contexts are freed.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::inthash::BytesBuild;

/// An interned string: its text for output (invalid UTF-8 replaced) and,
/// only when that differs, the raw bytes it was received as.
#[derive(Debug, Clone)]
struct Key {
    text: Arc<str>,
    raw: Option<Box<[u8]>>,
}

impl Key {
    fn bytes(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.text.as_bytes())
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

#[derive(Debug)]
struct Entry {
    key: Key,
    refs: u32,
}

/// Interned string id.
pub(crate) type StrId = u32;

/// Reference-counted string interner.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<Key, StrId, BytesBuild>,
    entries: Vec<Option<Entry>>,
    free: Vec<StrId>,
}

impl Interner {
    /// Interns `bytes`, adding a reference.
    pub(crate) fn acquire(&mut self, bytes: &[u8]) -> StrId {
        if let Some(&id) = self.ids.get(bytes) {
            if let Some(e) = self.entries[id as usize].as_mut() {
                e.refs += 1;
            }
            return id;
        }
        let key = match std::str::from_utf8(bytes) {
            Ok(s) => Key {
                text: Arc::from(s),
                raw: None,
            },
            Err(_) => Key {
                text: Arc::from(String::from_utf8_lossy(bytes).as_ref()),
                raw: Some(bytes.into()),
            },
        };
        let entry = Entry {
            key: key.clone(),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                StrId::try_from(self.entries.len() - 1).unwrap_or(StrId::MAX)
            }
        };
        self.ids.insert(key, id);
        id
    }

    /// Drops a reference; the string is freed with its last one.
    pub(crate) fn release(&mut self, id: StrId) {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return;
        };
        let Some(e) = slot.as_mut() else {
            return;
        };
        e.refs -= 1;
        if e.refs == 0 {
            if let Some(e) = slot.take() {
                self.ids.remove(e.key.bytes());
            }
            self.free.push(id);
        }
    }

    /// Raw bytes of `id`.
    pub(crate) fn bytes(&self, id: StrId) -> &[u8] {
        self.entries[id as usize]
            .as_ref()
            .map_or(&[], |e| e.key.bytes())
    }

    /// Output text of `id`.
    pub(crate) fn text(&self, id: StrId) -> &Arc<str> {
        static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        self.entries[id as usize]
            .as_ref()
            .map_or_else(|| EMPTY.get_or_init(|| Arc::from("")), |e| &e.key.text)
    }

    /// Live strings.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcounts_free_and_reuse() {
        let mut i = Interner::default();
        let a = i.acquire(b"env:prod");
        let a2 = i.acquire(b"env:prod");
        assert_eq!(a, a2);
        let b = i.acquire(b"bad\xff");
        assert_eq!(i.bytes(b), b"bad\xff");
        assert_eq!(&**i.text(b), "bad\u{FFFD}");
        assert_eq!(i.len(), 2);
        i.release(a);
        assert_eq!(i.len(), 2);
        i.release(a);
        assert_eq!(i.len(), 1);
        let c = i.acquire(b"new");
        assert_eq!(c, a, "slot reused");
        assert_eq!(i.bytes(c), b"new");
    }
}
