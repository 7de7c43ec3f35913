//! Fuzzing support for dogstatsd-core: the invariant checks the targets
//! call. `core/tests/fuzz_corpus.rs` and `core/tests/proptest_parse.rs`
//! compile these files too, so the stable test suite runs the same oracles
//! over the committed seed corpus.

#![forbid(unsafe_code)]

pub mod checks;
pub mod mapper_config;
pub mod push_flush;
