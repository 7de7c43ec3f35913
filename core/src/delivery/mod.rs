//! Delivery to an intake, sans IO: what an answer means
//! ([`status`]), how long to wait after failures ([`backoff`]), and the
//! per-endpoint retry queue, concurrency limit and disk-store decisions
//! ([`retry`]). The native forwarder drives these with real time, HTTP
//! and files; a wasm shell can drive them with its own `fetch`.

pub mod backoff;
pub mod queue;
pub mod retry;
pub mod status;
