//! Mapper profiles (`dogstatsd_mapper_profiles`): rename dotted legacy
//! metric names into tagged ones, as the Agent's `mapper.go` does.
//!
//! Placeholder interface; the implementation lands with its own issue.

use crate::config::MapperProfileConfig;

/// The result of a successful mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The new metric name.
    pub name: String,
    /// `key:value` tags to append to the message's own.
    pub tags: Vec<String>,
}

/// Why a mapper configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapperError {
    /// Not implemented yet.
    #[error("mapper profiles are not supported yet")]
    Unsupported,
}

/// A compiled mapper with its LRU cache.
#[derive(Debug)]
pub struct Mapper {
    _private: (),
}

impl Mapper {
    /// Compiles and validates `profiles` with a cache of `cache_size`.
    pub fn new(profiles: &[MapperProfileConfig], cache_size: i64) -> Result<Self, MapperError> {
        let _ = (profiles, cache_size);
        Err(MapperError::Unsupported)
    }

    /// Maps `name`, `None` when no mapping applies.
    pub fn map(&mut self, name: &[u8]) -> Option<&Mapping> {
        let _ = name;
        None
    }
}
