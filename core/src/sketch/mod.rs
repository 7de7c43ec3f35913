//! The Agent's DDSketch for distributions (placeholder; see its issue).
