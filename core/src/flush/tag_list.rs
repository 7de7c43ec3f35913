//! [`TagList`]: the owned tags of a buffered event or service check.

use crate::enrich::{UnmappedTags, is_special};

/// The byte after each tag in a [`TagList`]'s buffer: the tag field's own
/// separator, so a field is copied as it came.
const SEP: u8 = b',';

/// An owned tag list, usually in one allocation: every tag followed by a
/// `,` in one `String`. Events and service checks are buffered until a
/// flush; a `Vec<String>` would cost an allocation per tag (20 and more on
/// busy hosts). The separator lets a tag field be copied in one piece,
/// and makes one UTF-8 check of the whole buffer prove every tag valid on
/// its own (each is bounded by ASCII bytes). Only when some tag contains a
/// `,` (an extra tag, a decoded payload) are the tag ends kept as well: a
/// second allocation. No allocation when empty.
///
/// The form is canonical (ends kept exactly when some tag has a `,`), so
/// equal tag sequences are equal lists, field by field.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TagList {
    /// All tags, each followed by [`SEP`].
    buf: String,
    /// Empty, or (when some tag contains [`SEP`]) the offset in `buf` of
    /// each tag's separator.
    ends: Vec<u32>,
    /// Number of tags.
    len: u32,
}

impl TagList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `tags` tags of `bytes` bytes in total.
    pub fn with_capacity(tags: usize, bytes: usize) -> Self {
        Self {
            buf: String::with_capacity(bytes + tags),
            ..Self::default()
        }
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there is no tag (an empty tag still counts).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Tag `i`, if there are more than `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.iter().nth(i)
    }

    /// The tags in order.
    pub fn iter(&self) -> TagIter<'_> {
        TagIter {
            buf: &self.buf,
            ends: self.ends.iter(),
            indexed: !self.ends.is_empty(),
            start: 0,
            left: self.len(),
        }
    }

    /// Appends a tag.
    pub fn push(&mut self, tag: &str) {
        self.push_with(tag.as_bytes(), |buf| buf.push_str(tag));
    }

    /// Appends a tag given as bytes, invalid UTF-8 replaced as
    /// [`String::from_utf8_lossy`] does, without an intermediate copy.
    pub fn push_lossy(&mut self, tag: &[u8]) {
        self.push_with(tag, |buf| push_lossy(buf, tag));
    }

    /// Appends the tag `write` writes (`raw` is its bytes before any
    /// replacement, which keeps every `,`).
    fn push_with(&mut self, raw: &[u8], write: impl FnOnce(&mut String)) {
        let indexed = !self.ends.is_empty() || memchr::memchr(SEP, raw).is_some();
        if indexed && self.ends.is_empty() {
            // The first tag with a `,`: the ends so far, from the separators.
            self.ends = memchr::memchr_iter(SEP, self.buf.as_bytes())
                .map(end_offset)
                .collect();
        }
        write(&mut self.buf);
        if indexed {
            self.ends.push(end_offset(self.buf.len()));
        }
        self.buf.push(SEP as char);
        self.len += 1;
    }

    /// Tags given as bytes, each read as [`String::from_utf8_lossy`]
    /// reads it. The iterator is walked twice (sizes, then bytes): one
    /// exactly-sized allocation and one UTF-8 validation for the whole
    /// list. A tag that is not UTF-8 or holds a `,` costs a walk more.
    pub fn from_lossy<'a, I>(tags: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let tags = tags.into_iter();
        let (mut n, mut bytes) = (0, 0);
        let mut raw = Vec::new();
        // One loop run twice (sizes, then bytes), not two loops: the tag
        // iterator is inlined once, which keeps the size-optimised wasm
        // build smaller.
        for sizing in [true, false] {
            if !sizing {
                raw.reserve_exact(bytes + n);
            }
            for t in tags.clone() {
                if sizing {
                    n += 1;
                    bytes += t.len();
                } else {
                    raw.extend_from_slice(t);
                    raw.push(SEP);
                }
            }
        }
        // Every tag is followed by an ASCII byte: the whole buffer is
        // UTF-8 only when each tag is UTF-8 by itself; and it has one
        // separator per tag only when no tag holds one.
        if memchr::memchr_iter(SEP, &raw).count() == n
            && let Ok(buf) = String::from_utf8(raw)
        {
            return Self {
                buf,
                ends: Vec::new(),
                len: end_offset(n),
            };
        }
        let mut list = Self::with_capacity(n, bytes);
        for t in tags {
            list.push_lossy(t);
        }
        list
    }

    /// Tags with nothing mapped, when their field is UTF-8 (else `None`):
    /// the field is validated once and copied in as few pieces as there
    /// are runs of kept tags (one, unless special tags are dropped), then
    /// the extra tags.
    pub(crate) fn from_unmapped(tags: UnmappedTags<'_>) -> Option<Self> {
        let field = std::str::from_utf8(tags.own.as_bytes()).ok()?;
        let bytes = field.as_bytes();
        let extra_bytes: usize = tags.extra.iter().map(|t| t.len() + 1).sum();
        let own_bytes = if field.is_empty() { 0 } else { field.len() + 1 };
        let mut list = Self {
            buf: String::with_capacity(own_bytes + extra_bytes),
            ..Self::default()
        };
        match tags.drop_special {
            _ if field.is_empty() => {}
            None => {
                list.buf.push_str(field);
                list.buf.push(SEP as char);
                list.len = end_offset(memchr::memchr_iter(SEP, bytes).count() + 1);
            }
            Some(keep_card) => {
                // A run of kept tags is copied whole, separators included.
                let (mut start, mut run, mut kept) = (0, 0, 0);
                for end in memchr::memchr_iter(SEP, bytes).chain(std::iter::once(bytes.len())) {
                    if is_special(&bytes[start..end], keep_card) {
                        list.buf.push_str(crate::text::substr(field, run..start));
                        run = end + 1;
                    } else {
                        kept += 1;
                    }
                    start = end + 1;
                }
                // The last tag was kept: its run has no separator yet.
                if run <= bytes.len() {
                    list.buf.push_str(crate::text::substr(field, run..));
                    list.buf.push(SEP as char);
                }
                list.len = end_offset(kept);
            }
        }
        for t in tags.extra {
            list.push(t);
        }
        Some(list)
    }

    /// The tags of a slice, in exactly-sized buffers.
    fn from_slice<S: AsRef<str>>(tags: &[S]) -> Self {
        let bytes = tags.iter().map(|t| t.as_ref().len()).sum();
        let mut list = Self::with_capacity(tags.len(), bytes);
        list.extend(tags);
        list
    }
}

/// Iterator over a [`TagList`]'s tags.
#[derive(Debug, Clone)]
pub struct TagIter<'a> {
    buf: &'a str,
    ends: std::slice::Iter<'a, u32>,
    /// Whether tags end where `ends` says, not at the next separator.
    indexed: bool,
    start: usize,
    left: usize,
}

impl<'a> Iterator for TagIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let end = if self.indexed {
            *self.ends.next()? as usize
        } else {
            let rest = self.buf.as_bytes().get(self.start..)?;
            self.start + memchr::memchr(SEP, rest)?
        };
        let tag = crate::text::substr(self.buf, self.start..end);
        self.start = end + 1;
        self.left -= 1;
        Some(tag)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for TagIter<'_> {}

impl std::iter::FusedIterator for TagIter<'_> {}

impl<'a> IntoIterator for &'a TagList {
    type Item = &'a str;
    type IntoIter = TagIter<'a>;

    fn into_iter(self) -> TagIter<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for TagList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for TagList {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for TagList {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for TagList {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> Extend<S> for TagList {
    fn extend<I: IntoIterator<Item = S>>(&mut self, tags: I) {
        for t in tags {
            self.push(t.as_ref());
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for TagList {
    fn from_iter<I: IntoIterator<Item = S>>(tags: I) -> Self {
        let mut list = Self::new();
        list.extend(tags);
        list
    }
}

impl From<Vec<String>> for TagList {
    fn from(tags: Vec<String>) -> Self {
        Self::from_slice(&tags)
    }
}

impl<S: AsRef<str>> From<&[S]> for TagList {
    fn from(tags: &[S]) -> Self {
        Self::from_slice(tags)
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for TagList {
    fn from(tags: [S; N]) -> Self {
        Self::from_slice(&tags)
    }
}

fn end_offset(len: usize) -> u32 {
    u32::try_from(len).expect("tag list under 4 GiB")
}

/// Appends `b` as [`String::from_utf8_lossy`] reads it.
pub(super) fn push_lossy(buf: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => buf.push_str(s),
        Err(_) => {
            for chunk in b.utf8_chunks() {
                buf.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    buf.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
}
