//! Arbitrary bytes as mapper configuration (JSON, the daemon's YAML, or a
//! raw regex / wildcard pattern with templates and names): building never
//! panics, invalid configuration is an error, and a built mapper answers
//! consistently (see `src/mapper_config.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dogstatsd_fuzz::mapper_config::check_mapper_input(data);
});
