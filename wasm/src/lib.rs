//! dogstatsd-wasm: the wasm-bindgen shell around `dogstatsd-core`.
//!
//! Placeholder until its own issue: it only proves core links into a
//! wasm32 `cdylib`.

/// The core crate this shell wraps, re-exported for Rust users.
pub use dogstatsd_core as core;
