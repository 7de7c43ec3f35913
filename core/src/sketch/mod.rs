//! The Agent's DDSketch for distributions (`../spec/sketch.md`).
//!
//! PLACEHOLDER: the real implementation is being written; this type only
//! exists so the flush types compile.

/// Agent-compatible DDSketch (placeholder).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentSketch {
    _private: (),
}
