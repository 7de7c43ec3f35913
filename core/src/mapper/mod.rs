//! Mapper profiles (`dogstatsd_mapper_profiles`): rename dotted legacy
//! metric names into tagged ones, as the Agent's `mapper.go` does
//! (spec §8, with the refinements of §14 items 10 and 11).
//!
//! * **Validation** ([`Mapper::new`]) rejects exactly what the Agent
//!   rejects, stopping at the first error in profile then mapping order.
//! * **Compilation**: a wildcard pattern has every `.` escaped and every
//!   `*` replaced by `([^.]*)`; a regex pattern is used as written. Both are
//!   anchored by plain concatenation, `^` + pattern + `$`, so a regex with a
//!   top-level alternation `a|b` means "starts with `a` or ends with `b`".
//!   The anchored text is parsed with Go's regexp syntax and error rules
//!   (the `re2` module) and re-emitted as the equivalent, normalised
//!   pattern for the `regex-lite` crate, so the Agent's accept/refuse decisions and match semantics
//!   carry over (except Unicode classes such as `\pL`, refused here).
//!   Wildcard mappings are then matched by a direct segment matcher (the
//!   `wildcard` module) that gives the same captures as their regex, and
//!   every mapping first checks the literal prefix and suffix any match
//!   must have.
//! * **Matching** ([`Mapper::map`]): only the first profile whose prefix is
//!   `*` or a byte prefix of the name is tried; its first matching mapping
//!   wins; if none matches, the name is not mapped and no other profile is
//!   tried. Templates expand like Go's `Regexp.Expand` (see the `template`
//!   module).
//! * **Cache**: results of the chosen profile, misses included, go into an
//!   LRU keyed by the raw name bytes; names that no profile applies to are
//!   not cached. A hit allocates nothing.
//!
//! Names that are not valid UTF-8 are never mapped (they are cached as
//! misses of their profile, like any other miss).

mod case;
mod compile;
mod re2;
mod template;
mod wildcard;

use std::num::NonZeroUsize;

use lru::LruCache;

use crate::aggregate::inthash::BytesBuild;
use crate::config::MapperProfileConfig;

pub use compile::MappingErrorKind;

/// The result of a successful mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The new metric name.
    pub name: String,
    /// `key:value` tags to append to the message's own.
    pub tags: Vec<String>,
}

/// Why a mapper configuration is refused. Messages contain the Agent's own
/// wording so that operators can search for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapperError {
    /// A profile has no `name`.
    #[error("missing profile name {index}")]
    MissingProfileName {
        /// Position of the profile in the list.
        index: usize,
    },
    /// A profile has no `prefix`.
    #[error("missing prefix for profile: {profile} (profile {index})")]
    MissingPrefix {
        /// Position of the profile in the list.
        index: usize,
        /// The profile's name.
        profile: String,
    },
    /// A mapping of a profile is invalid.
    #[error("profile: {profile} (profile {profile_index}), mapping num {mapping}: {kind}")]
    Mapping {
        /// Position of the profile in the list.
        profile_index: usize,
        /// The profile's name.
        profile: String,
        /// Position of the mapping in the profile.
        mapping: usize,
        /// What is wrong with it.
        kind: MappingErrorKind,
    },
    /// `dogstatsd_mapper_cache_size` is zero or negative.
    #[error("mapper cache: must provide a positive size, got {size}")]
    CacheSize {
        /// The configured size.
        size: i64,
    },
}

/// Cache counters of a [`Mapper`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MapperStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that ran the profile's mappings (and then filled the cache).
    pub misses: u64,
    /// Entries in the cache now.
    pub cache_len: usize,
    /// Maximum entries in the cache.
    pub cache_capacity: usize,
}

/// A compiled mapper with its LRU cache.
#[derive(Debug)]
pub struct Mapper {
    profiles: Box<[compile::Profile]>,
    /// For each possible first byte of a name, the indices (in order) of
    /// the profiles that can apply to it: those whose prefix starts with
    /// that byte, and `*` profiles. Index 256 is for the empty name.
    candidates: Box<[Box<[u32]>]>,
    /// Raw name → result of its profile (`None` = not mapped).
    cache: LruCache<Vec<u8>, Option<Mapping>, BytesBuild>,
    hits: u64,
    misses: u64,
}

impl Mapper {
    /// Compiles and validates `profiles` with a cache of `cache_size`.
    ///
    /// Profiles are checked first (the first error aborts), then the cache
    /// size, which must be positive.
    pub fn new(profiles: &[MapperProfileConfig], cache_size: i64) -> Result<Self, MapperError> {
        let profiles = compile::compile(profiles)?.into_boxed_slice();
        let candidates = (0..=256)
            .map(|first| {
                let first = u8::try_from(first).ok();
                (0u32..)
                    .zip(profiles.iter())
                    .filter(|(_, p)| p.may_apply_to_first_byte(first))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        if cache_size <= 0 {
            return Err(MapperError::CacheSize { size: cache_size });
        }
        // Sizes beyond the address space cannot be reached anyway.
        let capacity = usize::try_from(cache_size)
            .ok()
            .and_then(NonZeroUsize::new)
            .unwrap_or(NonZeroUsize::MAX);
        Ok(Self {
            profiles,
            candidates,
            // Unbounded then resized, as `LruCache::sparse` (which has no
            // hasher argument) does: the map grows with use instead of
            // reserving the whole capacity up front. Core's byte hasher,
            // not SipHash: faster, and no SipHash is linked into wasm.
            cache: {
                let mut cache = LruCache::unbounded_with_hasher(BytesBuild::default());
                cache.resize(capacity);
                cache
            },
            hits: 0,
            misses: 0,
        })
    }

    /// Maps `name`, `None` when no mapping applies.
    pub fn map(&mut self, name: &[u8]) -> Option<&Mapping> {
        let candidates = &self.candidates[name.first().map_or(256, |&b| usize::from(b))];
        let profile = candidates
            .iter()
            .map(|&i| &self.profiles[i as usize])
            .find(|p| p.applies_to(name))?;
        let mut computed = false;
        let result = self.cache.get_or_insert_ref(name, || {
            computed = true;
            std::str::from_utf8(name)
                .ok()
                .and_then(|name| profile.map(name))
        });
        if computed {
            self.misses += 1;
        } else {
            self.hits += 1;
        }
        result.as_ref()
    }

    /// Cache counters.
    pub fn stats(&self) -> MapperStats {
        MapperStats {
            hits: self.hits,
            misses: self.misses,
            cache_len: self.cache.len(),
            cache_capacity: self.cache.cap().get(),
        }
    }

    /// Entries in the cache now.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Number of profiles.
    pub fn profile_count(&self) -> usize {
        self.profiles.len()
    }
}

#[cfg(test)]
mod go_vectors;
#[cfg(test)]
mod tests;
