//! The Agent's DDSketch for distributions (`../spec/sketch.md`).
//!
//! PLACEHOLDER: the real implementation is being written; this type only
//! exists so the flush types compile.

/// Agent-compatible DDSketch (placeholder).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentSketch {
    _private: (),
}

impl AgentSketch {
    /// Placeholder.
    pub fn insert_sampled(&mut self, _v: f64, _rate: f64) {}
    /// Placeholder.
    pub fn count(&self) -> u64 {
        0
    }
    /// Placeholder.
    pub fn sum(&self) -> f64 {
        0.0
    }
    /// Placeholder.
    pub fn min(&self) -> f64 {
        0.0
    }
    /// Placeholder.
    pub fn max(&self) -> f64 {
        0.0
    }
    /// Placeholder.
    pub fn avg(&self) -> f64 {
        0.0
    }
    /// Placeholder.
    pub fn quantile(&self, _q: f64) -> f64 {
        0.0
    }
}
